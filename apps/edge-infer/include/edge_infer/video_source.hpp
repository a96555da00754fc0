// FFmpeg input: libavformat demuxing (files, .sdp sessions, rtsp/rtp/udp/tcp URLs), libavcodec decoding,
// libswscale conversion to BGR24 (bit-exact, so every architecture sees the same pixels).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <opencv2/core.hpp>

namespace edge_infer {

struct DecodedFrame {
    long long index = 0;
    double timestamp = 0;
    cv::Mat bgr;
};

struct SourceInfo {
    std::string format, codec;
    int width = 0, height = 0;
    double fps = 0;
};

class VideoSource {
public:
    // Throws AppError(kInputError) with FFmpeg's reason; network inputs give up after
    // `timeout_s` (opening, and every read) instead of hanging.
    VideoSource(const std::string& url, double timeout_s);
    ~VideoSource();
    VideoSource(const VideoSource&) = delete;
    VideoSource& operator=(const VideoSource&) = delete;

    const SourceInfo& info() const;
    // a camera or network stream (URL or .sdp session) rather than a file
    bool live() const;
    // frames of a live stream decoded before its first clean key frame, not delivered
    long long skipped_joining() const;
    // next frame, nullopt at the end of the stream
    std::optional<DecodedFrame> next();
    // packets/frames the decoder rejected so far, and the first reason
    long errors() const;
    const std::string& first_error() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::string ffmpeg_version();

}  // namespace edge_infer
