// Per-stage latency statistics for --summary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace edge_infer {

// Memory stays bounded on a camera stream that runs for months: the mean is exact, the
// percentiles are exact up to kRetained samples and then come from a uniform sample of that
// size (reservoir sampling with a fixed seed, so the same run reports the same figures).
class StageStats {
public:
    static constexpr std::size_t kRetained = std::size_t(1) << 16;

    void add(double ms);
    long long count() const { return count_; }
    std::size_t retained() const { return samples_.size(); }
    double mean() const { return count_ ? sum_ / double(count_) : 0; }
    // nearest-rank percentile, p in (0, 100]
    double percentile(double p) const;

private:
    std::vector<double> samples_;
    long long count_ = 0;
    double sum_ = 0;
    std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
};

long peak_rss_kb();  // VmHWM of this process, -1 if unknown

}  // namespace edge_infer
