// When each job was accepted, without a field in the job's record: job ids grow with
// time, so a short list of (first id, time) samples answers "when was job N accepted"
// for every job at once (the time of the last sample at or before N: never later than
// the real acceptance, earlier by less than twice the spacing of the samples).
//
// A sample is taken at most once a spacing (1 ms at first), and only when jobs arrive.
// The list is bounded: when full, the spacing doubles and samples closer than it to the
// sample kept before them go, so a backlog of any age costs at most kMaxSamples entries
// and only its dense stretches lose resolution; a sample after a quiet hour stays. Once
// old samples are forgotten (their jobs ended) the spacing shrinks again. A job older
// than every sample (recovered from a journal) is reported as accepted at the first
// sample. Pure state: the caller passes the time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace proletariat::monitor {

class AcceptanceClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kMaxSamples = 1 << 16;

  // Jobs from `first_id` on are accepted from `now` on.
  void accepted(std::uint64_t first_id, TimePoint now) {
    if (!samples_.empty() && (now - samples_.back().at < spacing_ || first_id <= samples_.back().id)) return;
    if (samples_.size() == kMaxSamples) thin();
    samples_.push_back({first_id, now});
  }

  // When job `id` was accepted (less than twice the spacing early); `fallback` when
  // nothing was sampled yet.
  [[nodiscard]] TimePoint accepted_at(std::uint64_t id, TimePoint fallback) const {
    if (samples_.empty()) return fallback;
    auto it = std::upper_bound(samples_.begin(), samples_.end(), id,
                               [](std::uint64_t value, const Sample& s) { return value < s.id; });
    if (it == samples_.begin()) return samples_.front().at;
    return std::prev(it)->at;
  }

  // Forgets the samples no job at or after `oldest_live_id` needs.
  void forget_before(std::uint64_t oldest_live_id) {
    auto it = std::upper_bound(samples_.begin(), samples_.end(), oldest_live_id,
                               [](std::uint64_t value, const Sample& s) { return value < s.id; });
    if (it != samples_.begin()) samples_.erase(samples_.begin(), std::prev(it));
    while (spacing_ > kFinest && samples_.size() < kMaxSamples / 4) spacing_ /= 2;
  }
  [[nodiscard]] std::chrono::steady_clock::duration spacing() const noexcept { return spacing_; }

  [[nodiscard]] std::size_t samples() const noexcept { return samples_.size(); }

 private:
  struct Sample {
    std::uint64_t id;
    TimePoint at;
  };
  // Until at most half the list is left: double the spacing, and drop each sample
  // closer than it to the last one kept (the first always stays).
  void thin() {
    while (samples_.size() > kMaxSamples / 2) {
      spacing_ *= 2;
      std::size_t kept = 1;
      for (std::size_t i = 1; i < samples_.size(); ++i) {
        if (samples_[i].at - samples_[kept - 1].at >= spacing_) samples_[kept++] = samples_[i];
      }
      samples_.resize(kept);
    }
  }

  static constexpr std::chrono::steady_clock::duration kFinest = std::chrono::milliseconds(1);
  std::vector<Sample> samples_;
  std::chrono::steady_clock::duration spacing_ = kFinest;
};

}  // namespace proletariat::monitor
