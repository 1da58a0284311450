// A latency histogram with fixed buckets, in the shape Prometheus wants: cumulative
// counts per upper bound, a sum and a count. Fixed bounds keep an observation to a
// few comparisons and the metric's series stable across restarts.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace proletariat::monitor {

// Upper bounds in seconds: from a fast job's sub-millisecond hop to a batch job's
// minutes.
inline constexpr std::array<double, 18> kSecondsBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                           1,      2.5,     5,      10,    60,     300};

class Histogram {
 public:
  void observe(double seconds) noexcept {
    const auto it = std::lower_bound(kSecondsBuckets.begin(), kSecondsBuckets.end(), seconds);
    ++counts_[static_cast<std::size_t>(it - kSecondsBuckets.begin())];  // the last is +Inf
    sum_ += seconds;
    ++count_;
  }
  [[nodiscard]] static std::span<const double> bounds() noexcept { return kSecondsBuckets; }
  // Observations in each bucket (not cumulative); one more than bounds(): +Inf.
  [[nodiscard]] std::span<const std::uint64_t> counts() const noexcept { return counts_; }
  [[nodiscard]] double sum() const noexcept { return sum_; }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

 private:
  std::array<std::uint64_t, kSecondsBuckets.size() + 1> counts_{};
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace proletariat::monitor
