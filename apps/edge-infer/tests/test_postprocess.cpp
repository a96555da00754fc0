#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <opencv2/dnn.hpp>

#include "edge_infer/postprocess.hpp"

using namespace edge_infer;

static Detection det(float x, float y, float w, float h, float s, int cls = 0) {
    return {{x, y, w, h}, s, cls, "person"};
}

TEST(Iou, KnownValues) {
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {20, 20, 5, 5}), 0.f);
    EXPECT_NEAR(iou({0, 0, 10, 10}, {5, 0, 10, 10}), 50.f / 150.f, 1e-6);
    EXPECT_FLOAT_EQ(iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.f);  // degenerate, no NaN
}

TEST(Nms, KeepsBestOfOverlappingAndSeparateBoxes) {
    auto keep = nms({det(0, 0, 10, 10, 0.6f), det(1, 1, 10, 10, 0.9f), det(50, 50, 10, 10, 0.7f)}, 0.45f);
    ASSERT_EQ(keep.size(), 2u);
    EXPECT_FLOAT_EQ(keep[0].score, 0.9f);
    EXPECT_FLOAT_EQ(keep[1].score, 0.7f);
}

TEST(Nms, ThresholdIsExclusiveAndPerClass) {
    // IoU exactly 1/3: suppressed above 0.3, kept at 0.34
    std::vector<Detection> d = {det(0, 0, 10, 10, 0.9f), det(5, 0, 10, 10, 0.8f)};
    EXPECT_EQ(nms(d, 0.3f).size(), 1u);
    EXPECT_EQ(nms(d, 0.34f).size(), 2u);
    d[1].class_id = 1;
    EXPECT_EQ(nms(d, 0.3f).size(), 2u);
}

TEST(Nms, EqualScoresAreDecidedByPositionNotInputOrder) {
    for (auto keep : {nms({det(1, 0, 10, 10, 0.5f), det(0, 0, 10, 10, 0.5f)}, 0.5f),
                      nms({det(0, 0, 10, 10, 0.5f), det(1, 0, 10, 10, 0.5f)}, 0.5f)}) {
        ASSERT_EQ(keep.size(), 1u);
        EXPECT_FLOAT_EQ(keep[0].box.x, 0.f);
    }
}

TEST(CanonicalOrder, EveryInputOrderGivesTheSameOutput) {
    // the Haar backend's case: equal scores, the candidates' order set by thread scheduling
    std::vector<Detection> d = {det(422, 196, 74, 74, 1.f), det(218, 175, 136, 136, 1.f),
                                det(123, 369, 80, 80, 1.f), det(218, 175, 130, 136, 1.f),
                                det(5, 5, 9, 9, 0.7f, 1), det(5, 5, 9, 9, 0.7f, 0)};
    std::vector<Detection> first;
    std::vector<int> perm = {0, 1, 2, 3, 4, 5};
    do {
        std::vector<Detection> shuffled;
        for (int i : perm) shuffled.push_back(d[i]);
        canonical_order(shuffled);
        if (first.empty()) first = shuffled;
        for (std::size_t i = 0; i < d.size(); ++i) {
            EXPECT_EQ(shuffled[i].box.x, first[i].box.x);
            EXPECT_EQ(shuffled[i].box.w, first[i].box.w);
            EXPECT_EQ(shuffled[i].class_id, first[i].class_id);
        }
    } while (std::next_permutation(perm.begin(), perm.end()));
    // score first, then top to bottom, then left to right, then size; class before position
    EXPECT_EQ(first[0].box.y, 175.f);
    EXPECT_EQ(first[0].box.w, 130.f);
    EXPECT_EQ(first[1].box.w, 136.f);
    EXPECT_EQ(first[2].box.x, 422.f);
    EXPECT_EQ(first[3].box.x, 123.f);
    EXPECT_EQ(first[4].class_id, 0);
    EXPECT_EQ(first[5].class_id, 1);
}

TEST(Nms, AgreesWithOpenCV) {
    cv::RNG rng(7);
    std::vector<Detection> dets;
    std::vector<cv::Rect2d> rects;
    std::vector<float> scores;
    for (int i = 0; i < 200; ++i) {
        float x = rng.uniform(0.f, 200.f), y = rng.uniform(0.f, 200.f);
        float w = rng.uniform(10.f, 60.f), h = rng.uniform(10.f, 60.f), s = rng.uniform(0.f, 1.f);
        dets.push_back(det(x, y, w, h, s));
        rects.emplace_back(x, y, w, h);
        scores.push_back(s);
    }
    std::vector<int> idx;
    cv::dnn::NMSBoxes(rects, scores, 0.f, 0.45f, idx);
    auto keep = nms(dets, 0.45f);
    ASSERT_EQ(keep.size(), idx.size());
    for (std::size_t i = 0; i < idx.size(); ++i) EXPECT_FLOAT_EQ(keep[i].score, scores[idx[i]]);
}

TEST(DecodeGrid, OneCellAboveThreshold) {
    int sz[] = {1, 5, 3, 4};
    cv::Mat grid(4, sz, CV_32F, cv::Scalar(-10.f));
    auto at = [&](int c, int y, int x) -> float& { return grid.ptr<float>()[(c * 3 + y) * 4 + x]; };
    at(0, 1, 2) = 2.f;            // score sigmoid(2) = 0.8808
    at(1, 1, 2) = 0.f;            // centre in the middle of the cell
    at(2, 1, 2) = 0.f;
    at(3, 1, 2) = std::log(2.f);  // w = 2 * stride
    at(4, 1, 2) = std::log(4.f);  // h = 4 * stride
    for (int c = 1; c < 5; ++c) at(c, 0, 0) = 0;  // below threshold, ignored
    auto dets = decode_grid(grid, 8, 0.5f);
    ASSERT_EQ(dets.size(), 1u);
    EXPECT_NEAR(dets[0].score, 0.8808f, 1e-4);
    EXPECT_NEAR(dets[0].box.x, 2.5f * 8 - 8, 1e-4);
    EXPECT_NEAR(dets[0].box.y, 1.5f * 8 - 16, 1e-4);
    EXPECT_NEAR(dets[0].box.w, 16.f, 1e-4);
    EXPECT_NEAR(dets[0].box.h, 32.f, 1e-4);
    EXPECT_TRUE(decode_grid(grid, 8, 0.9f).empty());
}

TEST(DecodeGrid, RejectsWrongShape) {
    int sz[] = {1, 4, 3, 3};
    cv::Mat grid(4, sz, CV_32F, cv::Scalar(0.f));
    EXPECT_THROW(decode_grid(grid, 8, 0.5f), cv::Exception);
}

TEST(ToFrame, UndoesLetterboxAndClips) {
    Letterbox lb;
    lb.scale = 0.5f;
    lb.pad_x = 0;
    lb.pad_y = 10;
    lb.frame = cv::Size(100, 60);
    auto out = to_frame({det(10, 20, 20, 10, 0.9f), det(-30, 10, 10, 10, 0.8f)}, lb);
    ASSERT_EQ(out.size(), 1u);  // the second box lies entirely left of the frame
    EXPECT_FLOAT_EQ(out[0].box.x, 20.f);
    EXPECT_FLOAT_EQ(out[0].box.y, 20.f);
    EXPECT_FLOAT_EQ(out[0].box.w, 40.f);
    EXPECT_FLOAT_EQ(out[0].box.h, 20.f);
}
