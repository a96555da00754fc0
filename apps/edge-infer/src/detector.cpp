#include "edge_infer/detector.hpp"

#include <chrono>
#include <fstream>

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "edge_infer/postprocess.hpp"

namespace edge_infer {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void require_readable(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw AppError(kModelError, std::string("cannot read ") + what + " '" + path + "'");
    if (f.peek() == std::ifstream::traits_type::eof())
        throw AppError(kModelError, std::string(what) + " '" + path + "' is empty");
}

constexpr int kStride = 8;

// classical detectors' rectangles (and scores, where they give them) -> detections
std::vector<Detection> from_rects(const std::vector<cv::Rect>& found,
                                  const std::vector<double>& weights, const char* label) {
    std::vector<Detection> dets;
    for (std::size_t i = 0; i < found.size(); ++i) {
        const auto& r = found[i];
        dets.push_back({{float(r.x), float(r.y), float(r.width), float(r.height)},
                        float(i < weights.size() ? weights[i] : 1.0), 0, label});
    }
    return dets;
}

class DnnDetector : public Detector {
public:
    explicit DnnDetector(const Options& o)
        : size_(o.input_width, o.input_height), score_(o.score_threshold), nms_(o.nms_threshold) {
        require_readable(o.model, "model");
        try {
            net_ = cv::dnn::readNetFromONNX(o.model);
        } catch (const cv::Exception& e) {
            throw AppError(kModelError, "'" + o.model + "' is not a usable ONNX model: " + e.msg);
        }
        if (net_.empty()) throw AppError(kModelError, "'" + o.model + "' holds no network");
        net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        // one forward pass on a blank frame proves the model's input and output shapes now,
        // with a message, instead of failing on the first real frame
        cv::Mat probe(size_, CV_8UC3, cv::Scalar::all(114));
        cv::Mat grid;
        try {
            net_.setInput(to_blob(probe, norm_));
            grid = net_.forward();
        } catch (const cv::Exception& e) {
            throw AppError(kModelError, "model '" + o.model + "' does not accept a 1x3x" +
                                            std::to_string(size_.height) + "x" +
                                            std::to_string(size_.width) + " input: " + e.msg);
        }
        const int gh = size_.height / kStride, gw = size_.width / kStride;
        if (grid.dims != 4 || grid.size[0] != 1 || grid.size[1] != 5 || grid.size[2] != gh ||
            grid.size[3] != gw) {
            std::string shape;
            for (int i = 0; i < grid.dims; ++i) shape += (i ? "x" : "") + std::to_string(grid.size[i]);
            throw AppError(kModelError, "model '" + o.model + "' outputs " + shape +
                                            ", expected a 1x5x" + std::to_string(gh) + "x" +
                                            std::to_string(gw) + " detection grid (stride 8)");
        }
        name_ = "dnn (" + o.model + ", input " + std::to_string(size_.width) + "x" +
                std::to_string(size_.height) + ")";
    }

    std::vector<Detection> detect(const cv::Mat& bgr, StageTimes& t) override {
        auto t0 = Clock::now();
        Letterbox lb;
        cv::Mat blob = to_blob(letterbox(bgr, size_, lb), norm_);
        t.preprocess_ms = ms_since(t0);
        t0 = Clock::now();
        net_.setInput(blob);
        cv::Mat grid = net_.forward();
        t.inference_ms = ms_since(t0);
        t0 = Clock::now();
        auto dets = to_frame(nms(decode_grid(grid, kStride, score_), nms_), lb);
        t.postprocess_ms = ms_since(t0);
        return dets;
    }

    std::string describe() const override { return name_; }

private:
    cv::dnn::Net net_;
    cv::Size size_;
    Normalisation norm_;
    float score_, nms_;
    std::string name_;
};

// OpenCV's HOG people detector (Dalal-Triggs, the SVM ships inside OpenCV): needs no file.
class HogDetector : public Detector {
public:
    explicit HogDetector(const Options& o) : nms_(o.nms_threshold) {
        hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
    }

    std::vector<Detection> detect(const cv::Mat& bgr, StageTimes& t) override {
        auto t0 = Clock::now();
        cv::Mat gray;
        cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
        t.preprocess_ms = ms_since(t0);
        t0 = Clock::now();
        std::vector<cv::Rect> found;
        std::vector<double> weights;
        hog_.detectMultiScale(gray, found, weights, 0.0, cv::Size(8, 8), cv::Size(8, 8), 1.05, 2.0);
        t.inference_ms = ms_since(t0);
        t0 = Clock::now();
        auto out = nms(from_rects(found, weights, "person"), nms_);
        t.postprocess_ms = ms_since(t0);
        return out;
    }

    std::string describe() const override { return "hog (OpenCV default people detector)"; }

private:
    cv::HOGDescriptor hog_;
    float nms_;
};

class HaarDetector : public Detector {
public:
    explicit HaarDetector(const Options& o) : path_(o.cascade) {
        require_readable(o.cascade, "cascade");
        bool ok = false;
        try {
            ok = cascade_.load(o.cascade);
        } catch (const cv::Exception& e) {
            throw AppError(kModelError, "'" + o.cascade + "' is not a Haar cascade: " + e.msg);
        }
        if (!ok || cascade_.empty())
            throw AppError(kModelError, "'" + o.cascade + "' is not a Haar cascade OpenCV can load");
    }

    std::vector<Detection> detect(const cv::Mat& bgr, StageTimes& t) override {
        auto t0 = Clock::now();
        cv::Mat gray;
        cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
        cv::equalizeHist(gray, gray);
        t.preprocess_ms = ms_since(t0);
        t0 = Clock::now();
        std::vector<cv::Rect> found;
        cascade_.detectMultiScale(gray, found, 1.1, 4, 0, cv::Size(24, 24));
        t.inference_ms = ms_since(t0);
        t0 = Clock::now();
        auto dets = from_rects(found, {}, "face");
        t.postprocess_ms = ms_since(t0);
        return dets;
    }

    std::string describe() const override { return "haar (" + path_ + ")"; }

private:
    cv::CascadeClassifier cascade_;
    std::string path_;
};

class NoDetector : public Detector {
public:
    std::vector<Detection> detect(const cv::Mat&, StageTimes&) override { return {}; }
    std::string describe() const override { return "none (decode only)"; }
};

}  // namespace

std::unique_ptr<Detector> make_detector(const Options& o) {
    switch (o.backend) {
        case Backend::Dnn: return std::make_unique<DnnDetector>(o);
        case Backend::Hog: return std::make_unique<HogDetector>(o);
        case Backend::Haar: return std::make_unique<HaarDetector>(o);
        case Backend::None: return std::make_unique<NoDetector>();
    }
    throw AppError(kUsage, "unknown backend");
}

}  // namespace edge_infer
