#include "edge_infer/preprocess.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

namespace edge_infer {

Box Letterbox::to_frame(const Box& b) const {
    float x0 = (b.x - pad_x) / scale, y0 = (b.y - pad_y) / scale;
    float x1 = (b.x + b.w - pad_x) / scale, y1 = (b.y + b.h - pad_y) / scale;
    x0 = std::clamp(x0, 0.f, float(frame.width));
    x1 = std::clamp(x1, 0.f, float(frame.width));
    y0 = std::clamp(y0, 0.f, float(frame.height));
    y1 = std::clamp(y1, 0.f, float(frame.height));
    return {x0, y0, x1 - x0, y1 - y0};
}

cv::Mat letterbox(const cv::Mat& frame, cv::Size size, Letterbox& info, uchar pad) {
    CV_Assert(!frame.empty() && frame.type() == CV_8UC3);
    CV_Assert(size.width > 0 && size.height > 0);
    info.frame = frame.size();
    info.scale = std::min(float(size.width) / frame.cols, float(size.height) / frame.rows);
    int w = std::max(1, int(std::lround(frame.cols * info.scale)));
    int h = std::max(1, int(std::lround(frame.rows * info.scale)));
    info.pad_x = (size.width - w) / 2;
    info.pad_y = (size.height - h) / 2;
    cv::Mat out(size, CV_8UC3, cv::Scalar(pad, pad, pad));
    cv::Mat roi = out(cv::Rect(info.pad_x, info.pad_y, w, h));
    if (w == frame.cols && h == frame.rows)
        frame.copyTo(roi);
    else  // 8-bit bilinear is OpenCV's bit-exact fixed-point path: same pixels on every CPU
        cv::resize(frame, roi, roi.size(), 0, 0, cv::INTER_LINEAR);
    return out;
}

cv::Mat to_blob(const cv::Mat& letterboxed, const Normalisation& n) {
    // blobFromImage computes (pixel - mean) * scale, swaps R and B, and transposes to NCHW
    return cv::dnn::blobFromImage(letterboxed, n.scale, cv::Size(),
                                  cv::Scalar(n.mean, n.mean, n.mean), n.swap_rb, false, CV_32F);
}

}  // namespace edge_infer
