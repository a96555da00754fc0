// Frame -> network input: letterbox (aspect-preserving resize + constant padding), colour
// conversion and normalisation into an NCHW float blob.
#pragma once

#include <opencv2/core.hpp>

#include "edge_infer/types.hpp"

namespace edge_infer {

struct Letterbox {
    float scale = 1;      // frame pixels * scale = network pixels
    int pad_x = 0, pad_y = 0;
    cv::Size frame;       // original frame size

    // network-input box -> frame box, clipped to the frame
    Box to_frame(const Box& b) const;
};

// Resize `frame` (BGR, 8UC3) into a `size` canvas filled with `pad` (bit-exact bilinear).
cv::Mat letterbox(const cv::Mat& frame, cv::Size size, Letterbox& info, uchar pad = 114);

struct Normalisation {
    double mean = 127.5;   // subtracted from every channel
    double scale = 1 / 64.0;
    bool swap_rb = true;   // the network wants RGB
};

// 1x3xHxW CV_32F blob
cv::Mat to_blob(const cv::Mat& letterboxed, const Normalisation& n);

}  // namespace edge_infer
