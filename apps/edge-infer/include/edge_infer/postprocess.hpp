// Network output -> detections: grid decoding, score threshold, non-maximum suppression.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "edge_infer/preprocess.hpp"
#include "edge_infer/types.hpp"

namespace edge_infer {

// Greedy NMS per class: keeps the highest-scoring box and drops those overlapping it by more
// than `iou_threshold`. Ties are broken by input order, so the result is deterministic.
std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold);

// Decode the detector's 1x5xGHxGW grid (objectness logit, sigmoid x/y offsets in the cell,
// log(w/stride), log(h/stride)) into boxes in network-input pixels.
std::vector<Detection> decode_grid(const cv::Mat& grid, int stride, float score_threshold);

// Network-input boxes -> frame boxes (undo the letterbox), drop degenerate ones.
std::vector<Detection> to_frame(const std::vector<Detection>& dets, const Letterbox& lb);

}  // namespace edge_infer
