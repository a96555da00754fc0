// The detectors and the video source against real files (the ONNX model shipped in model/).
#include <gtest/gtest.h>

#include <fstream>

#include "edge_infer/detector.hpp"
#include "edge_infer/video_source.hpp"

using namespace edge_infer;

static std::string write_file(const std::string& name, const std::string& bytes) {
    std::string path = std::string(EDGE_INFER_TEST_DIR) + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

static ExitCode error_code(const Options& o) {
    try {
        make_detector(o);
    } catch (const AppError& e) {
        return e.code;
    }
    return kOk;
}

TEST(DnnDetector, ShippedModelLoadsAndFindsNothingInAnEmptyFrame) {
    Options o;
    o.model = EDGE_INFER_MODEL;
    auto d = make_detector(o);
    StageTimes t;
    cv::Mat grey(576, 768, CV_8UC3, cv::Scalar::all(128));
    EXPECT_TRUE(d->detect(grey, t).empty());
    EXPECT_GT(t.inference_ms, 0);
}

TEST(DnnDetector, BadModelsAreModelErrors) {
    Options o;
    o.model = "/nonexistent/model.onnx";
    EXPECT_EQ(error_code(o), kModelError);
    o.model = write_file("empty.onnx", "");
    EXPECT_EQ(error_code(o), kModelError);
    o.model = write_file("garbage.onnx", std::string(4096, 'x'));
    EXPECT_EQ(error_code(o), kModelError);
    o.model = EDGE_INFER_MODEL;
    o.input_width = 100;  // 13x13 grid out, 12x12 expected: a shape mismatch
    o.input_height = 100;
    EXPECT_EQ(error_code(o), kModelError);
}

TEST(HaarDetector, BadCascadeIsAModelError) {
    Options o;
    o.backend = Backend::Haar;
    o.cascade = write_file("not-a-cascade.xml", "<?xml version=\"1.0\"?><opencv_storage></opencv_storage>");
    EXPECT_EQ(error_code(o), kModelError);
}

TEST(VideoSource, MissingAndGarbageFilesAreInputErrors) {
    try {
        VideoSource s("/nonexistent/clip.mp4", 1.0);
        FAIL() << "opened a missing file";
    } catch (const AppError& e) {
        EXPECT_EQ(e.code, kInputError);
        EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos);
    }
    std::string junk(64 * 1024, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = char((i * 7919) >> 3);
    EXPECT_THROW(VideoSource(write_file("junk.mp4", junk), 1.0), AppError);
}
