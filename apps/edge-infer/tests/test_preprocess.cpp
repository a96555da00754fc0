#include <gtest/gtest.h>

#include "edge_infer/preprocess.hpp"

using namespace edge_infer;

TEST(Letterbox, WideFramePadsTopAndBottom) {
    cv::Mat frame(100, 400, CV_8UC3, cv::Scalar(10, 20, 30));
    Letterbox lb;
    cv::Mat out = letterbox(frame, cv::Size(200, 200), lb);
    EXPECT_EQ(out.size(), cv::Size(200, 200));
    EXPECT_FLOAT_EQ(lb.scale, 0.5f);
    EXPECT_EQ(lb.pad_x, 0);
    EXPECT_EQ(lb.pad_y, 75);
    EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(114, 114, 114));     // padding
    EXPECT_EQ(out.at<cv::Vec3b>(100, 100), cv::Vec3b(10, 20, 30));    // image
    EXPECT_EQ(out.at<cv::Vec3b>(199, 199), cv::Vec3b(114, 114, 114));
}

TEST(Letterbox, SameAspectIsAPlainResize) {
    cv::Mat frame(576, 768, CV_8UC3, cv::Scalar(1, 2, 3));
    Letterbox lb;
    cv::Mat out = letterbox(frame, cv::Size(256, 192), lb);
    EXPECT_EQ(lb.pad_x, 0);
    EXPECT_EQ(lb.pad_y, 0);
    EXPECT_NEAR(lb.scale, 1 / 3.f, 1e-6);
    Box b = lb.to_frame({10, 20, 30, 40});
    EXPECT_NEAR(b.x, 30, 1e-3);
    EXPECT_NEAR(b.h, 120, 1e-3);
}

TEST(Letterbox, BilinearResizeIsBitExact) {
    // known answer computed once; OpenCV's 8-bit bilinear path is fixed-point, so every
    // architecture (NEON, SSE, scalar) must give exactly these pixels
    cv::Mat frame(4, 4, CV_8UC3);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) frame.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 60, y * 60, 255 - x * 30);
    Letterbox lb;
    cv::Mat out = letterbox(frame, cv::Size(2, 2), lb);
    EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 30, 240));
    EXPECT_EQ(out.at<cv::Vec3b>(1, 1), cv::Vec3b(150, 150, 180));
}

TEST(Blob, NormalisesAndSwapsChannels) {
    cv::Mat img(2, 3, CV_8UC3, cv::Scalar(255, 127.5, 0));  // B G R -> 255 128 0
    cv::Mat blob = to_blob(img, Normalisation{});
    ASSERT_EQ(blob.dims, 4);
    EXPECT_EQ(blob.size[0], 1);
    EXPECT_EQ(blob.size[1], 3);
    EXPECT_EQ(blob.size[2], 2);
    EXPECT_EQ(blob.size[3], 3);
    const float* p = blob.ptr<float>();
    EXPECT_FLOAT_EQ(p[0], (0 - 127.5f) / 64.f);        // channel 0 is R
    EXPECT_FLOAT_EQ(p[2 * 2 * 3], (255 - 127.5f) / 64.f);  // channel 2 is B
}
