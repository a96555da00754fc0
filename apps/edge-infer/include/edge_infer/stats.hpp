// Per-stage latency statistics for --summary.
#pragma once

#include <string>
#include <vector>

namespace edge_infer {

class StageStats {
public:
    void add(double ms) { samples_.push_back(ms); }
    std::size_t count() const { return samples_.size(); }
    double mean() const;
    // nearest-rank percentile, p in (0, 100]
    double percentile(double p) const;

private:
    std::vector<double> samples_;
};

long peak_rss_kb();  // VmHWM of this process, -1 if unknown

}  // namespace edge_infer
