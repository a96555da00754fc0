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

TEST(StageStats, MemoryIsBoundedOnEndlessStreams) {
    StageStats s;
    const long long n = 3 * (long long)StageStats::kRetained;
    for (long long i = 0; i < n; ++i) s.add(double(i % 100));
    EXPECT_EQ(s.count(), n);
    EXPECT_EQ(s.retained(), StageStats::kRetained);
    EXPECT_NEAR(s.mean(), 49.5, 0.01);  // exact sum, whatever was retained
    EXPECT_NEAR(s.percentile(95), 94, 1.0);
    EXPECT_NEAR(s.percentile(50), 49, 1.0);
}

TEST(StageStats, PeakRssIsReported) {
    EXPECT_GT(peak_rss_kb(), 100);
}
