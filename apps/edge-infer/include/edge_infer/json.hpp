// JSON Lines output: one object per frame. Numbers are printed with a fixed precision and
// the C locale, so the output is byte-stable across machines.
#pragma once

#include <string>
#include <vector>

#include "edge_infer/types.hpp"

namespace edge_infer {

struct FrameResult {
    long long index = 0;
    double timestamp = 0;   // seconds from the stream's start
    std::vector<Detection> detections;
};

std::string json_escape(const std::string& s);
std::string to_json_line(const FrameResult& r);

}  // namespace edge_infer
