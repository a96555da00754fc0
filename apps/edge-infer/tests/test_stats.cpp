#include <gtest/gtest.h>

#include "edge_infer/stats.hpp"

using namespace edge_infer;

TEST(StageStats, MeanAndNearestRankPercentile) {
    StageStats s;
    EXPECT_EQ(s.mean(), 0);
    EXPECT_EQ(s.percentile(95), 0);
    for (int i = 1; i <= 100; ++i) s.add(i);
    EXPECT_DOUBLE_EQ(s.mean(), 50.5);
    EXPECT_DOUBLE_EQ(s.percentile(95), 95);
    EXPECT_DOUBLE_EQ(s.percentile(100), 100);
    StageStats one;
    one.add(7);
    EXPECT_DOUBLE_EQ(one.percentile(95), 7);
}

TEST(StageStats, PeakRssIsReported) {
    EXPECT_GT(peak_rss_kb(), 100);
}
