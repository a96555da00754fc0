#include "edge_infer/stats.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

namespace edge_infer {

void StageStats::add(double ms) {
    ++count_;
    sum_ += ms;
    if (samples_.size() < kRetained) {
        samples_.push_back(ms);
        return;
    }
    rng_ ^= rng_ << 13;  // xorshift64
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    auto slot = rng_ % std::uint64_t(count_);
    if (slot < kRetained) samples_[std::size_t(slot)] = ms;
}

double StageStats::percentile(double p) const {
    if (samples_.empty()) return 0;
    std::vector<double> s = samples_;
    std::sort(s.begin(), s.end());
    auto rank = std::size_t(std::ceil(p / 100.0 * double(s.size())));
    rank = std::clamp<std::size_t>(rank, 1, s.size());
    return s[rank - 1];
}

long peak_rss_kb() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmHWM:") {
            long kb = -1;
            status >> kb;
            return kb;
        }
        status.ignore(4096, '\n');
    }
    return -1;
}

}  // namespace edge_infer
