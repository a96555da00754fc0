#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace edge_infer {

struct Box {
    float x = 0, y = 0, w = 0, h = 0;  // top-left corner and size, in frame pixels
};

struct Detection {
    Box box;
    float score = 0;
    int class_id = 0;
    std::string label;
};

// Exit codes, documented in the README and --help
enum ExitCode : int {
    kOk = 0,
    kInternal = 1,
    kUsage = 2,
    kInputError = 3,     // missing/unreadable file, unreachable stream, timeout
    kDamagedInput = 4,   // the stream decoded with errors (corrupt or truncated)
    kModelError = 5,     // missing or invalid model/cascade file
};

// An error with the exit code it maps to; the message is what the user reads.
struct AppError : std::runtime_error {
    AppError(ExitCode c, const std::string& msg) : std::runtime_error(msg), code(c) {}
    ExitCode code;
};

float iou(const Box& a, const Box& b);

}  // namespace edge_infer
