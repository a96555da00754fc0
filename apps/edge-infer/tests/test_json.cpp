#include <gtest/gtest.h>

#include "edge_infer/json.hpp"

using namespace edge_infer;

TEST(Json, FrameWithoutDetections) {
    FrameResult r;
    r.index = 3;
    r.timestamp = 0.12;
    EXPECT_EQ(to_json_line(r), R"({"frame":3,"timestamp":0.120,"detections":[]})");
}

TEST(Json, DetectionsAreFixedPrecision) {
    FrameResult r;
    r.index = 0;
    r.detections = {{{1.25f, 2.0f, 30.04f, 60.96f}, 0.87654f, 0, "person"},
                    {{0, -0.01f, 1, 1}, 1.0f, 1, "face"}};
    EXPECT_EQ(to_json_line(r),
              R"({"frame":0,"timestamp":0.000,"detections":[)"
              R"({"class":0,"label":"person","score":0.8765,"box":[1.2,2.0,30.0,61.0]},)"
              R"({"class":1,"label":"face","score":1.0000,"box":[0.0,0.0,1.0,1.0]}]})");
}

TEST(Json, EscapesStrings) {
    EXPECT_EQ(json_escape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
}
