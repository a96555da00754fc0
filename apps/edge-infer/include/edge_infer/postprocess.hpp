// Network output -> detections: grid decoding, score threshold, non-maximum suppression.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "edge_infer/preprocess.hpp"
#include "edge_infer/types.hpp"

namespace edge_infer {

// The order detections are reported in: score descending, then class, then position
// (y, x, h, w). A total order on what a detection is, so neither the input order nor how a
// detector's threads happened to interleave (OpenCV's cascade and HOG detectors collect
// candidates in parallel) shows in the output.
bool reported_before(const Detection& a, const Detection& b);
void canonical_order(std::vector<Detection>& dets);

// Greedy NMS per class: keeps the highest-scoring box and drops those overlapping it by more
// than `iou_threshold`, visiting boxes in canonical order (equal scores: by position), so the
// result does not depend on the input order.
std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold);

// Decode the detector's 1x5xGHxGW grid (objectness logit, sigmoid x/y offsets in the cell,
// log(w/stride), log(h/stride)) into boxes in network-input pixels.
std::vector<Detection> decode_grid(const cv::Mat& grid, int stride, float score_threshold);

// Network-input boxes -> frame boxes (undo the letterbox), drop degenerate ones.
std::vector<Detection> to_frame(const std::vector<Detection>& dets, const Letterbox& lb);

}  // namespace edge_infer
