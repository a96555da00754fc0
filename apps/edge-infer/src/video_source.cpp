#include "edge_infer/video_source.hpp"

#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

#include "edge_infer/types.hpp"

namespace edge_infer {
namespace {

using Clock = std::chrono::steady_clock;

std::string av_error(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, buf, sizeof buf);
    return buf;
}

bool is_sdp_file(const std::string& url) {
    if (url.find("://") != std::string::npos || url.size() < 4) return false;
    std::string ext = url.substr(url.size() - 4);
    for (auto& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".sdp";
}

// A live source: reads can block forever, so every open and read gets a deadline, and a
// failed read is an input error rather than the end of a damaged file. An .sdp file
// describes an RTP session: the file is local, the stream is not.
bool is_live(const std::string& url) {
    if (is_sdp_file(url)) return true;
    auto p = url.find("://");
    if (p == std::string::npos) return false;
    return url.substr(0, p) != "file";
}

// FFmpeg reports damage (concealed macroblocks, truncated packets) through its log, not
// always through return codes: count error-level messages while a source is open.
std::mutex g_log_mutex;
long g_log_errors = 0;
std::string g_first_log_error;
bool g_verbose = std::getenv("EDGE_INFER_FFMPEG_LOG") != nullptr;

void log_callback(void* avcl, int level, const char* fmt, va_list vl) {
    if (level > AV_LOG_ERROR && !g_verbose) return;
    char line[1024];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    if (g_verbose) std::fputs(line, stderr);
    if (level > AV_LOG_ERROR) return;
    std::lock_guard<std::mutex> lock(g_log_mutex);
    if (g_log_errors++ == 0) {
        g_first_log_error = line;
        while (!g_first_log_error.empty() &&
               (g_first_log_error.back() == '\n' || g_first_log_error.back() == ' '))
            g_first_log_error.pop_back();
    }
}

void reset_log_errors() {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_log_errors = 0;
    g_first_log_error.clear();
}

}  // namespace

struct VideoSource::Impl {
    std::string url;
    double timeout_s = 5;
    bool network = false;
    std::atomic<long long> deadline_ns{0};
    bool timed_out = false;
    bool opening = true;

    AVFormatContext* fmt = nullptr;
    AVCodecContext* dec = nullptr;
    AVPacket* pkt = nullptr;
    AVFrame* frame = nullptr;
    SwsContext* sws = nullptr;
    int stream = -1;
    bool draining = false, finished = false;
    long long index = 0;
    long decode_errors = 0;
    // a live stream is joined wherever it happens to be
    bool joined = false;
    long long skipped = 0;
    Clock::time_point join_deadline{};
    std::string first_decode_error;
    SourceInfo info;

    static int interrupt(void* opaque) {
        auto* self = static_cast<Impl*>(opaque);
        long long dl = self->deadline_ns.load();
        if (dl && Clock::now().time_since_epoch().count() > dl) {
            self->timed_out = true;
            return 1;
        }
        return 0;
    }

    void arm() {
        if (network)
            deadline_ns = (Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(timeout_s)))
                              .time_since_epoch()
                              .count();
    }

    [[noreturn]] void fail(const std::string& what, int err) {
        std::string reason = timed_out ? "no answer within " + std::to_string(int(timeout_s)) +
                                             " s (--timeout)"
                                       : av_error(err);
        // FFmpeg's return codes are generic ("Invalid data found"); the first error it logged
        // says what went wrong (a protocol refused, a payload type without its SDP ...)
        std::string logged;
        if (opening && !timed_out) {
            std::lock_guard<std::mutex> lock(g_log_mutex);
            logged = g_first_log_error;
        }
        if (!logged.empty()) reason += " (" + logged + ")";
        throw AppError(kInputError, what + " '" + url + "': " + reason);
    }

    void note_error(const std::string& why) {
        if (decode_errors++ == 0) first_decode_error = why;
    }

    ~Impl() {
        sws_freeContext(sws);
        av_frame_free(&frame);
        av_packet_free(&pkt);
        avcodec_free_context(&dec);
        avformat_close_input(&fmt);
    }
};

VideoSource::VideoSource(const std::string& url, double timeout_s) : impl_(new Impl) {
    static std::once_flag once;
    std::call_once(once, [] {
        avformat_network_init();
        av_log_set_callback(log_callback);
    });
    reset_log_errors();
    Impl& s = *impl_;
    s.url = url;
    s.timeout_s = timeout_s;
    s.network = is_live(url);
    s.fmt = avformat_alloc_context();
    if (!s.fmt) throw std::bad_alloc();
    s.fmt->interrupt_callback = {&Impl::interrupt, &s};
    AVDictionary* opts = nullptr;
    if (is_sdp_file(url)) {
        // the session's media arrive over RTP/UDP: FFmpeg allows only file access to a
        // local file's nested URLs unless told otherwise
        av_dict_set(&opts, "protocol_whitelist", "file,udp,rtp", 0);
    } else if (s.network) {
        auto us = std::to_string(static_cast<long long>(timeout_s * 1e6));
        av_dict_set(&opts, "rw_timeout", us.c_str(), 0);
        av_dict_set(&opts, "timeout", us.c_str(), 0);
    }
    s.arm();
    int err = avformat_open_input(&s.fmt, url.c_str(), nullptr, &opts);
    av_dict_free(&opts);
    if (err < 0) s.fail("cannot open input", err);  // fmt freed by FFmpeg on failure
    s.arm();
    if ((err = avformat_find_stream_info(s.fmt, nullptr)) < 0) s.fail("cannot read streams of", err);
    // The deadline can cut a live source's probing short without an error: fine if what
    // decoding needs was found, "no answer" if not.
    auto no_answer = [&] {
        if (s.timed_out) s.fail("cannot read streams of", AVERROR_EXIT);
    };
    const AVCodec* codec = nullptr;
    s.stream = av_find_best_stream(s.fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (s.stream == AVERROR_DECODER_NOT_FOUND) {
        auto id = s.fmt->streams[0]->codecpar->codec_id;
        throw AppError(kInputError, "no decoder for the video codec (" +
                                        std::string(avcodec_get_name(id)) + ") of '" + url +
                                        "' in this FFmpeg build");
    }
    if (s.stream < 0) {
        no_answer();
        throw AppError(kInputError, "no video stream in '" + url + "'");
    }
    AVStream* st = s.fmt->streams[s.stream];
    const auto* par = st->codecpar;
    if (par->width == 0 || par->height == 0) {
        no_answer();
        throw AppError(kInputError, "'" + url + "': no picture size in the stream's headers" +
                                        (s.network ? " (a live stream joined between key frames "
                                                     "whose codec headers come only at its start?)"
                                                   : ""));
    }
    s.timed_out = false;
    if (par->width < 0 || par->height < 0 || par->width > 16384 || par->height > 16384)
        throw AppError(kInputError, "'" + url + "': implausible frame size " +
                                        std::to_string(par->width) + "x" + std::to_string(par->height));
    s.dec = avcodec_alloc_context3(codec);
    if (!s.dec) throw std::bad_alloc();
    if ((err = avcodec_parameters_to_context(s.dec, par)) < 0) s.fail("bad codec parameters in", err);
    s.dec->thread_count = 0;  // FFmpeg picks; frame threading keeps the output bit-exact
    // Same pixels on every CPU: MPEG-4 part 2 / DivX leave the IDCT's rounding to the decoder,
    // and FFmpeg's NEON IDCT rounds differently from its C and x86 ones. The "simple" IDCT is
    // the C reference on aarch64 and its bit-exact SSE2 version on x86 (h264/hevc are exact
    // by specification anyway).
    s.dec->flags |= AV_CODEC_FLAG_BITEXACT;
    s.dec->idct_algo = FF_IDCT_SIMPLE;
    if ((err = avcodec_open2(s.dec, codec, nullptr)) < 0) s.fail("cannot open the decoder for", err);
    // Errors FFmpeg logged while opening were recovered from (an RTSP server refusing UDP with
    // 461 before the TCP fall-back, probing past a bad packet): not damage. The decode loop
    // reads every packet stream-info probing read again, so damage in them is still counted.
    reset_log_errors();
    s.opening = false;
    s.pkt = av_packet_alloc();
    s.frame = av_frame_alloc();
    if (!s.pkt || !s.frame) throw std::bad_alloc();
    s.info.format = s.fmt->iformat->name;
    s.info.codec = codec->name;
    s.info.width = par->width;
    s.info.height = par->height;
    AVRational r = av_guess_frame_rate(s.fmt, st, nullptr);
    s.info.fps = r.num > 0 && r.den > 0 ? av_q2d(r) : 0;
    s.join_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(timeout_s));
}

VideoSource::~VideoSource() = default;

const SourceInfo& VideoSource::info() const { return impl_->info; }

bool VideoSource::live() const { return impl_->network; }

long long VideoSource::skipped_joining() const { return impl_->skipped; }

long VideoSource::errors() const {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    return impl_->decode_errors + g_log_errors;
}

const std::string& VideoSource::first_error() const {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    return impl_->first_decode_error.empty() ? g_first_log_error : impl_->first_decode_error;
}

std::optional<DecodedFrame> VideoSource::next() {
    Impl& s = *impl_;
    while (!s.finished) {
        if (s.network && !s.joined && Clock::now() > s.join_deadline) {
            std::lock_guard<std::mutex> lock(g_log_mutex);
            const std::string& why = s.first_decode_error.empty() ? g_first_log_error
                                                                  : s.first_decode_error;
            throw AppError(kDamagedInput,
                           "'" + s.url + "': no key frame decoded cleanly within " +
                               std::to_string(int(s.timeout_s)) + " s (--timeout) of opening (" +
                               std::to_string(s.skipped) + " frames skipped" +
                               (why.empty() ? std::string() : ", first error: " + why) + ")");
        }
        int err = avcodec_receive_frame(s.dec, s.frame);
        if (err == 0) {
            const bool damaged = (s.frame->flags & AV_FRAME_FLAG_CORRUPT) || s.frame->decode_error_flags;
            if (s.network && !s.joined) {
                // Until the first key frame that decodes cleanly, a receiver that joined a
                // running stream decodes pictures whose references it never saw: skipped,
                // and what FFmpeg complained about meanwhile is not damage.
                if (!s.frame->key_frame || damaged) {
                    ++s.skipped;
                    av_frame_unref(s.frame);
                    continue;
                }
                s.joined = true;
                s.decode_errors = 0;
                s.first_decode_error.clear();
                reset_log_errors();
            }
            if (damaged) s.note_error("frame " + std::to_string(s.index) + " decoded with errors");
            const int w = s.frame->width, h = s.frame->height;
            DecodedFrame out;
            out.index = s.index++;
            const auto fmt = AVPixelFormat(s.frame->format);
            if ((fmt == AV_PIX_FMT_YUV420P || fmt == AV_PIX_FMT_YUVJ420P) && w % 2 == 0 &&
                h % 2 == 0) {
                // the common case: OpenCV's fixed-point I420 -> BGR, bit-exact on every CPU
                // (libswscale's unscaled YUV -> RGB fast paths differ between NEON and x86)
                cv::Mat i420(h * 3 / 2, w, CV_8UC1);
                for (int y = 0; y < h; ++y)
                    std::memcpy(i420.ptr(y), s.frame->data[0] + y * s.frame->linesize[0], w);
                uint8_t* u = i420.ptr(h);
                uint8_t* v = u + (w / 2) * (h / 2);
                for (int y = 0; y < h / 2; ++y) {
                    std::memcpy(u + y * (w / 2), s.frame->data[1] + y * s.frame->linesize[1], w / 2);
                    std::memcpy(v + y * (w / 2), s.frame->data[2] + y * s.frame->linesize[2], w / 2);
                }
                cv::cvtColor(i420, out.bgr, cv::COLOR_YUV2BGR_I420);
            } else {
            s.sws = sws_getCachedContext(s.sws, w, h, AVPixelFormat(s.frame->format), w, h,
                                         AV_PIX_FMT_BGR24,
                                         SWS_BILINEAR | SWS_ACCURATE_RND | SWS_BITEXACT,
                                         nullptr, nullptr, nullptr);
            if (!s.sws) throw AppError(kInputError, "cannot convert pixel format " +
                                                        std::string(av_get_pix_fmt_name(
                                                            AVPixelFormat(s.frame->format))));
            out.bgr.create(h, w, CV_8UC3);
            uint8_t* dst[4] = {out.bgr.data, nullptr, nullptr, nullptr};
            int stride[4] = {int(out.bgr.step[0]), 0, 0, 0};
            sws_scale(s.sws, s.frame->data, s.frame->linesize, 0, h, dst, stride);
            }
            AVStream* st = s.fmt->streams[s.stream];
            int64_t pts = s.frame->best_effort_timestamp;
            if (pts != AV_NOPTS_VALUE) {
                int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
                out.timestamp = double(pts - start) * av_q2d(st->time_base);
            } else if (s.info.fps > 0) {
                out.timestamp = double(out.index) / s.info.fps;
            }
            av_frame_unref(s.frame);
            return out;
        }
        if (err == AVERROR_EOF) {
            s.finished = true;
            break;
        }
        if (err != AVERROR(EAGAIN)) {
            s.note_error("decoding failed: " + av_error(err));
            if (s.draining) { s.finished = true; break; }
        }
        if (s.draining) { s.finished = true; break; }
        // the decoder wants input
        s.arm();
        err = av_read_frame(s.fmt, s.pkt);
        if (err == AVERROR_EOF) {
            s.draining = true;
            avcodec_send_packet(s.dec, nullptr);
            continue;
        }
        if (err < 0) {
            if (s.network || s.timed_out) s.fail("reading failed from", err);
            // a file that ends mid-packet or holds garbage: what decoded so far stays valid
            s.note_error("reading failed: " + av_error(err));
            s.draining = true;
            avcodec_send_packet(s.dec, nullptr);
            continue;
        }
        if (s.pkt->stream_index == s.stream) {
            if (s.pkt->flags & AV_PKT_FLAG_CORRUPT) s.note_error("corrupt packet");
            err = avcodec_send_packet(s.dec, s.pkt);
            if (err < 0 && err != AVERROR(EAGAIN)) s.note_error("packet rejected: " + av_error(err));
        }
        av_packet_unref(s.pkt);
    }
    return std::nullopt;
}

std::string ffmpeg_version() {
    auto v = [](unsigned x) {
        return std::to_string(x >> 16) + "." + std::to_string((x >> 8) & 0xff) + "." +
               std::to_string(x & 0xff);
    };
    return std::string(av_version_info()) + " (libavformat " + v(avformat_version()) +
           ", libavcodec " + v(avcodec_version()) + ", libswscale " + v(swscale_version()) + ")";
}

}  // namespace edge_infer
