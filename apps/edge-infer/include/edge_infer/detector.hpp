#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edge_infer/options.hpp"
#include "edge_infer/preprocess.hpp"
#include "edge_infer/types.hpp"

namespace edge_infer {

struct StageTimes {
    double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

class Detector {
public:
    virtual ~Detector() = default;
    virtual std::vector<Detection> detect(const cv::Mat& bgr, StageTimes& t) = 0;
    virtual std::string describe() const = 0;
};

// Throws AppError(kModelError) when the model/cascade is missing or not what we expect.
std::unique_ptr<Detector> make_detector(const Options& o);

}  // namespace edge_infer
