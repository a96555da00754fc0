// Command-line options: parsing is a pure function so it is unit-tested without a process.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace edge_infer {

enum class Backend { Dnn, Hog, Haar, None };  // None: decode only (measures the decode stage)

// What the decode thread does when the detector falls behind: wait (files: every frame is
// processed) or drop the oldest waiting frame (live sources: a camera does not wait, and a
// reader that stops reading loses packets in the socket instead, damaging frames).
enum class DropPolicy { Auto, Yes, No };  // Auto: drop for live sources only

struct Options {
    std::string input;                  // file path or rtsp://, rtp://, udp://, tcp:// URL
    Backend backend = Backend::Dnn;
    std::string model;                  // ONNX file (dnn)
    std::string cascade;                // Haar cascade XML (haar)
    std::string output = "-";           // JSON Lines destination, "-" = stdout
    int input_width = 256, input_height = 192;
    float score_threshold = 0.5f;
    float nms_threshold = 0.45f;
    int threads = 0;                    // OpenCV threads, 0 = OpenCV's default
    int queue_size = 4;
    DropPolicy drop = DropPolicy::Auto;
    long long max_frames = -1;               // -1 = whole stream
    double timeout_s = 5.0;             // open/read timeout for network inputs
    bool keep_going = false;            // damaged frames are not an error
    bool summary = false;
    bool version = false;
    bool help = false;
};

// Throws AppError(kUsage) with a message naming the argument.
Options parse_args(const std::vector<std::string>& args);

// Files the installed program ships in <prefix>/share/edge-infer (beside bin/).
inline constexpr const char* kInstalledModel = "pedestrian-grid.onnx";
inline constexpr const char* kInstalledCascade = "haarcascade_frontalface_default.xml";

// The folder an installed program's data lives in: <dir of the executable>/../share/edge-infer.
std::string installed_share_dir(const std::string& executable);

// Fills --model (dnn) and --cascade (haar) from `share_dir` when they were not given and the
// installed file exists there; throws AppError(kUsage) when the backend still lacks its file.
Options with_installed_defaults(Options o, const std::string& share_dir);

// The running program's own path (/proc/self/exe), or "" when it cannot be read.
std::string self_executable();

std::string usage();
const char* backend_name(Backend b);

}  // namespace edge_infer
