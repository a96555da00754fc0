#include "edge_infer/app.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>

#include "edge_infer/bounded_queue.hpp"
#include "edge_infer/detector.hpp"
#include "edge_infer/json.hpp"
#include "edge_infer/postprocess.hpp"
#include "edge_infer/stats.hpp"
#include "edge_infer/types.hpp"
#include "edge_infer/video_source.hpp"
#include "edge_infer_version.hpp"

namespace edge_infer {
namespace {

using Clock = std::chrono::steady_clock;

std::string compiler() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#else
    return "unknown";
#endif
}

struct Item {
    DecodedFrame frame;
    double decode_ms = 0;
};

std::string fmt(double v, int decimals = 2) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(decimals) << v;
    return os.str();
}

}  // namespace

std::string version_text() {
    std::ostringstream os;
    os << "edge-infer " << EDGE_INFER_VERSION << "\n"
       << "board: " << EDGE_INFER_BOARD << " (" << EDGE_INFER_SYSTEM_PROCESSOR << ")\n"
       << "compiler: " << compiler() << "\n"
       << "build type: " << EDGE_INFER_BUILD_TYPE << "\n"
       << "git revision: " << EDGE_INFER_GIT_REVISION << "\n"
       << "opencv: " << cv::getVersionString() << " (built against " << CV_VERSION << ")\n"
       << "ffmpeg: " << ffmpeg_version() << "\n";
    return os.str();
}

int run(const Options& o, std::ostream& err) {
    if (o.threads > 0) cv::setNumThreads(o.threads);
    // the model is checked before the input is opened: a bad model fails in milliseconds
    auto detector = make_detector(o);
    VideoSource source(o.input, o.timeout_s);

    std::ofstream file;
    std::ostream* out = &std::cout;
    std::string tmp_path;
    if (o.output != "-") {
        // written aside and renamed at the end: a failed run leaves no half-written result
        tmp_path = o.output + ".part";
        file.open(tmp_path, std::ios::binary | std::ios::trunc);
        if (!file) throw AppError(kInputError, "cannot write '" + o.output + "'");
        out = &file;
    }

    BoundedQueue<Item> queue(std::size_t(o.queue_size));
    const bool drop = o.drop == DropPolicy::Yes || (o.drop == DropPolicy::Auto && source.live());
    long long decoded = 0, dropped = 0;  // the decode thread's; read after join()
    std::exception_ptr decode_error;
    const auto t_start = Clock::now();
    std::thread decoder([&] {
        try {
            while (o.max_frames < 0 || decoded < o.max_frames) {
                auto t0 = Clock::now();
                auto f = source.next();
                if (!f) break;
                Item item{std::move(*f),
                          std::chrono::duration<double, std::milli>(Clock::now() - t0).count()};
                ++decoded;
                if (!(drop ? queue.push_latest(std::move(item), dropped)
                           : queue.push(std::move(item))))
                    break;
            }
        } catch (...) {
            decode_error = std::current_exception();
        }
        queue.close();
    });

    StageStats decode, pre, infer, post;
    long long frames = 0, detections = 0;
    std::exception_ptr infer_error;
    try {
        while (auto item = queue.pop()) {
            StageTimes t;
            FrameResult r;
            r.index = item->frame.index;
            r.timestamp = item->frame.timestamp;
            r.detections = detector->detect(item->frame.bgr, t);
            canonical_order(r.detections);
            *out << to_json_line(r) << '\n';
            decode.add(item->decode_ms);
            pre.add(t.preprocess_ms);
            infer.add(t.inference_ms);
            post.add(t.postprocess_ms);
            ++frames;
            detections += static_cast<long long>(r.detections.size());
        }
    } catch (...) {
        infer_error = std::current_exception();
        queue.close();
    }
    decoder.join();
    if (infer_error) std::rethrow_exception(infer_error);
    if (decode_error) std::rethrow_exception(decode_error);
    out->flush();
    if (!*out) throw AppError(kInputError, "writing the results failed (disk full?)");
    const double wall = std::chrono::duration<double>(Clock::now() - t_start).count();

    int code = kOk;
    const long errors = source.errors();
    if (frames == 0) {
        err << "edge-infer: error: no frame could be decoded from '" << o.input << "'"
            << (errors ? ": " + source.first_error() : std::string()) << "\n";
        code = errors ? kDamagedInput : kInputError;
    } else if (errors) {
        err << "edge-infer: " << (o.keep_going ? "warning" : "error") << ": '" << o.input
            << "' is damaged: " << errors << " decode error(s), first: " << source.first_error()
            << (o.keep_going ? "" : " (--keep-going accepts damaged input)") << "\n";
        if (!o.keep_going) code = kDamagedInput;
    }
    if (dropped)
        err << "edge-infer: note: " << dropped << " of " << decoded << " frames dropped: the "
            << "detector was slower than the live source (--drop-frames no waits instead)\n";
    if (file.is_open()) {
        file.close();
        if (code == kOk) {
            if (std::rename(tmp_path.c_str(), o.output.c_str()) != 0)
                throw AppError(kInputError, "cannot rename '" + tmp_path + "' to '" + o.output + "'");
        } else {
            std::remove(tmp_path.c_str());
        }
    }
    if (o.summary) {
        const auto& info = source.info();
        auto stage = [&](const char* name, const StageStats& s) {
            return std::string("\"") + name + "\":{\"mean_ms\":" + fmt(s.mean(), 3) +
                   ",\"p95_ms\":" + fmt(s.percentile(95), 3) + "}";
        };
        err << "{\"summary\":{\"input\":\"" << json_escape(o.input) << "\",\"format\":\""
            << info.format << "\",\"codec\":\"" << info.codec << "\",\"width\":" << info.width
            << ",\"height\":" << info.height << ",\"backend\":\"" << backend_name(o.backend)
            << "\",\"frames\":" << frames << ",\"dropped\":" << dropped
            << ",\"skipped_before_key_frame\":" << source.skipped_joining()
            << ",\"detections\":" << detections
            << ",\"decode_errors\":" << errors << ",\"wall_s\":" << fmt(wall, 3)
            << ",\"fps\":" << fmt(wall > 0 ? frames / wall : 0, 2) << ",\"stages\":{"
            << stage("decode", decode) << "," << stage("preprocess", pre) << ","
            << stage("inference", infer) << "," << stage("postprocess", post)
            << "},\"queue_high_water\":" << queue.high_water()
            << ",\"peak_rss_mb\":" << fmt(double(peak_rss_kb()) / 1024.0, 1) << "}}\n";
        err << "edge-infer: " << frames << " frames in " << fmt(wall) << " s ("
            << fmt(wall > 0 ? frames / wall : 0) << " FPS); per frame mean/p95 ms: decode "
            << fmt(decode.mean()) << "/" << fmt(decode.percentile(95)) << ", preprocess "
            << fmt(pre.mean()) << "/" << fmt(pre.percentile(95)) << ", inference "
            << fmt(infer.mean()) << "/" << fmt(infer.percentile(95)) << ", postprocess "
            << fmt(post.mean()) << "/" << fmt(post.percentile(95)) << "\n";
    }
    return code;
}

}  // namespace edge_infer
