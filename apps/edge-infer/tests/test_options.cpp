#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "edge_infer/options.hpp"
#include "edge_infer/types.hpp"

using namespace edge_infer;

static std::string usage_error(const std::vector<std::string>& args) {
    try {
        parse_args(args);
    } catch (const AppError& e) {
        EXPECT_EQ(e.code, kUsage);
        return e.what();
    }
    ADD_FAILURE() << "no error for the arguments";
    return "";
}

TEST(Options, Defaults) {
    Options o = parse_args({"--model", "m.onnx", "in.mp4"});
    EXPECT_EQ(o.input, "in.mp4");
    EXPECT_EQ(o.backend, Backend::Dnn);
    EXPECT_EQ(o.model, "m.onnx");
    EXPECT_EQ(o.output, "-");
    EXPECT_EQ(o.input_width, 256);
    EXPECT_EQ(o.input_height, 192);
    EXPECT_FLOAT_EQ(o.score_threshold, 0.5f);
    EXPECT_EQ(o.max_frames, -1);
    EXPECT_FALSE(o.summary);
}

TEST(Options, EveryOptionWithSeparateAndInlineValues) {
    Options o = parse_args({"--backend=hog", "--output", "out.jsonl", "--input-size", "320x240",
                            "--score-threshold=0.25", "--nms-threshold", "0.6", "--threads", "3",
                            "--queue", "8", "--max-frames", "100", "--timeout", "1.5",
                            "--keep-going", "--summary", "rtsp://cam.local/stream"});
    EXPECT_EQ(o.backend, Backend::Hog);
    EXPECT_EQ(o.output, "out.jsonl");
    EXPECT_EQ(o.input_width, 320);
    EXPECT_EQ(o.input_height, 240);
    EXPECT_FLOAT_EQ(o.score_threshold, 0.25f);
    EXPECT_FLOAT_EQ(o.nms_threshold, 0.6f);
    EXPECT_EQ(o.threads, 3);
    EXPECT_EQ(o.queue_size, 8);
    EXPECT_EQ(o.max_frames, 100);
    EXPECT_DOUBLE_EQ(o.timeout_s, 1.5);
    EXPECT_TRUE(o.keep_going);
    EXPECT_TRUE(o.summary);
    EXPECT_EQ(o.input, "rtsp://cam.local/stream");
}

TEST(Options, DropPolicy) {
    EXPECT_EQ(parse_args({"--backend", "none", "x"}).drop, DropPolicy::Auto);
    EXPECT_EQ(parse_args({"--backend", "none", "--drop-frames", "yes", "x"}).drop, DropPolicy::Yes);
    EXPECT_EQ(parse_args({"--backend", "none", "--drop-frames=no", "x"}).drop, DropPolicy::No);
    EXPECT_NE(usage_error({"--backend", "none", "--drop-frames", "sometimes", "x"})
                  .find("--drop-frames: expected auto, yes or no, got 'sometimes'"),
              std::string::npos);
}

TEST(Options, FrameLimitIs64BitOnEveryTarget) {
    // long is 32 bits on armhf: the limit must still take values above 2^32
    EXPECT_EQ(parse_args({"--backend", "none", "--max-frames", "5000000000", "x"}).max_frames, 5000000000LL);
    EXPECT_EQ(parse_args({"--backend", "none", "--max-frames", "1099511627776", "x"}).max_frames, 1LL << 40);
}

TEST(Options, VersionAndHelpNeedNoInput) {
    EXPECT_TRUE(parse_args({"--version"}).version);
    EXPECT_EQ(parse_args({"--backend", "none", "x"}).backend, Backend::None);
    EXPECT_TRUE(parse_args({"-h"}).help);
}

TEST(Options, ErrorsNameTheArgument) {
    EXPECT_NE(usage_error({"--frobnicate", "x"}).find("unknown option '--frobnicate'"), std::string::npos);
    EXPECT_NE(usage_error({"--backend", "yolo", "x"}).find("unknown backend 'yolo'"), std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog"}).find("no input given"), std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "a", "b"}).find("more than one input"), std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--threads"}).find("--threads needs a value"),
              std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--threads", "two"}).find("expected an integer, got 'two'"),
              std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--score-threshold", "1.5"}).find("out of range"),
              std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--score-threshold", "nan"}).find("expected a number"),
              std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--input-size", "250x190"}).find("multiple of"),
              std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--input-size", "big"}).find("expected WxH"),
              std::string::npos);
    EXPECT_NE(usage_error({"--summary=yes", "--backend", "hog", "x"}).find("takes no value"),
              std::string::npos);
    EXPECT_NE(usage_error({"--backend", "hog", "x", "--max-frames", "0"}).find("out of range"),
              std::string::npos);
}

namespace {
std::string defaults_error(const std::vector<std::string>& args, const std::string& share) {
    try {
        with_installed_defaults(parse_args(args), share);
    } catch (const AppError& e) {
        EXPECT_EQ(e.code, kUsage);
        return e.what();
    }
    return "";
}
}  // namespace

TEST(Options, InstalledProgramFindsItsOwnModelAndCascade) {
    EXPECT_EQ(installed_share_dir("/opt/edge-infer/bin/edge-infer"),
              "/opt/edge-infer/bin/../share/edge-infer");
    const std::string share = std::string(EDGE_INFER_TEST_DIR) + "/installed-share";
    ASSERT_EQ(std::system(("mkdir -p '" + share + "'").c_str()), 0);
    std::ofstream(share + "/" + kInstalledModel) << "onnx";
    std::ofstream(share + "/" + kInstalledCascade) << "xml";
    EXPECT_EQ(with_installed_defaults(parse_args({"in.mp4"}), share).model,
              share + "/" + kInstalledModel);
    EXPECT_EQ(with_installed_defaults(parse_args({"--backend", "haar", "x"}), share).cascade,
              share + "/" + kInstalledCascade);
    // a model given on the command line wins over the installed one
    EXPECT_EQ(with_installed_defaults(parse_args({"--model", "m.onnx", "x"}), share).model, "m.onnx");
    EXPECT_EQ(with_installed_defaults(parse_args({"--backend", "hog", "x"}), share).model, "");
}

TEST(Options, WithoutAnInstalledModelTheBackendStillNeedsOne) {
    const std::string empty = std::string(EDGE_INFER_TEST_DIR) + "/no-share-here";
    EXPECT_NE(defaults_error({"x.mp4"}, empty).find("--backend dnn needs --model FILE (no "
                                                    "pedestrian-grid.onnx installed in " + empty),
              std::string::npos);
    EXPECT_NE(defaults_error({"--backend", "haar", "x"}, empty).find("needs --cascade"),
              std::string::npos);
}
