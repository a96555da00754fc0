#include "edge_infer/postprocess.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace edge_infer {

float iou(const Box& a, const Box& b) {
    float ix = std::max(0.f, std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x));
    float iy = std::max(0.f, std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y));
    float inter = ix * iy;
    float uni = a.w * a.h + b.w * b.h - inter;
    return uni > 0 ? inter / uni : 0.f;
}

bool reported_before(const Detection& a, const Detection& b) {
    return std::tie(b.score, a.class_id, a.box.y, a.box.x, a.box.h, a.box.w) <
           std::tie(a.score, b.class_id, b.box.y, b.box.x, b.box.h, b.box.w);
}

void canonical_order(std::vector<Detection>& dets) {
    std::sort(dets.begin(), dets.end(), reported_before);
}

std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold) {
    canonical_order(dets);
    std::vector<Detection> keep;
    for (const Detection& d : dets) {
        bool suppressed = std::any_of(keep.begin(), keep.end(), [&](const Detection& k) {
            return k.class_id == d.class_id && iou(k.box, d.box) > iou_threshold;
        });
        if (!suppressed) keep.push_back(d);
    }
    return keep;
}

static float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

std::vector<Detection> decode_grid(const cv::Mat& grid, int stride, float score_threshold) {
    CV_Assert(grid.dims == 4 && grid.size[0] == 1 && grid.size[1] == 5 && grid.type() == CV_32F);
    const int gh = grid.size[2], gw = grid.size[3];
    const float* data = grid.ptr<float>();
    auto at = [&](int c, int y, int x) { return data[(c * gh + y) * gw + x]; };
    // score >= t  <=>  logit >= log(t / (1 - t)): skip the exp for the vast majority of cells
    const float t = std::clamp(score_threshold, 1e-6f, 1 - 1e-6f);
    const float logit_threshold = std::log(t / (1 - t));
    std::vector<Detection> out;
    for (int y = 0; y < gh; ++y) {
        for (int x = 0; x < gw; ++x) {
            float logit = at(0, y, x);
            if (logit < logit_threshold) continue;
            float cx = (x + sigmoid(at(1, y, x))) * stride;
            float cy = (y + sigmoid(at(2, y, x))) * stride;
            float w = std::exp(std::min(at(3, y, x), 10.f)) * stride;
            float h = std::exp(std::min(at(4, y, x), 10.f)) * stride;
            out.push_back({{cx - w / 2, cy - h / 2, w, h}, sigmoid(logit), 0, "person"});
        }
    }
    return out;
}

std::vector<Detection> to_frame(const std::vector<Detection>& dets, const Letterbox& lb) {
    std::vector<Detection> out;
    out.reserve(dets.size());
    for (const auto& d : dets) {
        Detection f = d;
        f.box = lb.to_frame(d.box);
        if (f.box.w >= 1 && f.box.h >= 1) out.push_back(f);
    }
    return out;
}

}  // namespace edge_infer
