// When each job was accepted, without a field in the job's record: job ids grow with
// time, so a short list of (first id, time) samples answers "when was job N accepted"
// for every job at once (the time of the last sample at or before N).
//
// A sample is taken at most once a millisecond, and only when jobs arrive. The list is
// bounded: when full, every other sample goes and the spacing doubles, so a backlog of
// any age costs at most kMaxSamples entries and loses resolution only for its oldest
// jobs. A job older than every sample (recovered from a journal, say) is reported as
// accepted at the first sample. Pure state: the caller passes the time.
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

  // When job `id` was accepted (at most the sample spacing early); `fallback` when
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
    if (it == samples_.begin()) return;
    samples_.erase(samples_.begin(), std::prev(it));
  }

  [[nodiscard]] std::size_t samples() const noexcept { return samples_.size(); }

 private:
  struct Sample {
    std::uint64_t id;
    TimePoint at;
  };
  void thin() {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < samples_.size(); i += 2) samples_[kept++] = samples_[i];
    samples_.resize(kept);
    spacing_ *= 2;
  }

  std::vector<Sample> samples_;
  std::chrono::steady_clock::duration spacing_ = std::chrono::milliseconds(1);
};

}  // namespace proletariat::monitor
