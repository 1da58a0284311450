// Slot pools and admission (SPEC 3). See priority.hpp for the rules.
//
// Both modes reduce to closed forms on the per-range counts, so no assignment of jobs
// to pools is ever searched for:
//  - default mode: jobs of range k may use pools 0..k. By Hall's theorem a state is
//    feasible iff every prefix 0..i of ranges stays within the prefix 0..i of pools;
//    n more jobs of range k fit iff n <= slack(i) = prefix_slots(i) - prefix_used(i)
//    for every i >= k, so free_for(k) = min over i >= k of slack(i).
//  - sacred mode: jobs of range k > 0 may use pool k or pool 0; a state is feasible
//    iff the overflows max(0, used_k - slots_k) plus used_0 fit in pool 0. With
//    spare0 = slots_0 - used_0 - sum of overflows, free_for(0) = spare0 and
//    free_for(k) = max(0, slots_k - used_k) + spare0.
#include "scheduler/priority.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace proletariat::broker {

namespace {

unsigned clamp_to_unsigned(std::int64_t value) noexcept {
  if (value <= 0) return 0;
  if (value > std::int64_t{std::numeric_limits<unsigned>::max()}) return std::numeric_limits<unsigned>::max();
  return static_cast<unsigned>(value);
}

}  // namespace

SlotPools::SlotPools(unsigned slots, const std::map<double, unsigned>& priority_slots) : slots_(slots) {
  pools_.reserve(priority_slots.size() + 1);
  pools_.push_back(PoolUsage{0.0, 0, 0});
  unsigned guaranteed = 0;
  for (const auto& [start, count] : priority_slots) {
    if (!(start > 0)) continue;  // start 0 (or anything validate_offer refused) is pool 0
    pools_.push_back(PoolUsage{start, count, 0});
    guaranteed += count;
  }
  pools_[0].slots = guaranteed <= slots ? slots - guaranteed : 0;
}

std::size_t SlotPools::range_of(double priority) const noexcept {
  // Largest start <= priority; anything below 0 (or NaN) belongs to range 0.
  const auto it = std::upper_bound(pools_.begin() + 1, pools_.end(), priority,
                                   [](double p, const PoolUsage& pool) { return p < pool.start; });
  return static_cast<std::size_t>(it - pools_.begin()) - 1;
}

void SlotPools::free_for_each(bool sacred, std::span<unsigned> out) const noexcept {
  const std::size_t n = std::min(out.size(), pools_.size());
  if (n == 0) return;
  if (!sacred) {
    // Walk down from the last range: `prefix` is slack(i), `slack_min` the minimum
    // of slack(j) over j >= i, which is free_for(i).
    std::int64_t prefix = 0;
    for (const PoolUsage& pool : pools_) prefix += std::int64_t{pool.slots} - std::int64_t{pool.used};
    std::int64_t slack_min = prefix;
    for (std::size_t i = pools_.size(); i-- > 0;) {
      slack_min = std::min(slack_min, prefix);
      if (i < n) out[i] = clamp_to_unsigned(slack_min);
      prefix -= std::int64_t{pools_[i].slots} - std::int64_t{pools_[i].used};
    }
    return;
  }
  std::int64_t overflow = 0;
  for (std::size_t j = 1; j < pools_.size(); ++j) {
    overflow += std::max<std::int64_t>(0, std::int64_t{pools_[j].used} - std::int64_t{pools_[j].slots});
  }
  const std::int64_t spare0 = std::int64_t{pools_[0].slots} - std::int64_t{pools_[0].used} - overflow;
  out[0] = clamp_to_unsigned(spare0);
  for (std::size_t k = 1; k < n; ++k) {
    const std::int64_t own = std::max<std::int64_t>(0, std::int64_t{pools_[k].slots} - std::int64_t{pools_[k].used});
    out[k] = spare0 < 0 ? 0 : clamp_to_unsigned(own + spare0);
  }
}

unsigned SlotPools::free_for(std::size_t range, bool sacred) const noexcept {
  if (range >= pools_.size()) return 0;
  if (!sacred) {
    std::int64_t prefix_slots = 0;
    std::int64_t prefix_used = 0;
    std::int64_t slack_min = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < pools_.size(); ++i) {
      prefix_slots += pools_[i].slots;
      prefix_used += pools_[i].used;
      if (i >= range) slack_min = std::min(slack_min, prefix_slots - prefix_used);
    }
    return clamp_to_unsigned(slack_min);
  }
  std::int64_t overflow = 0;
  for (std::size_t j = 1; j < pools_.size(); ++j) {
    overflow += std::max<std::int64_t>(0, std::int64_t{pools_[j].used} - std::int64_t{pools_[j].slots});
  }
  const std::int64_t spare0 = std::int64_t{pools_[0].slots} - std::int64_t{pools_[0].used} - overflow;
  if (spare0 < 0) return 0;
  if (range == 0) return clamp_to_unsigned(spare0);
  const std::int64_t own =
      std::max<std::int64_t>(0, std::int64_t{pools_[range].slots} - std::int64_t{pools_[range].used});
  return clamp_to_unsigned(own + spare0);
}

bool SlotPools::admits(std::size_t range, bool sacred) const noexcept { return free_for(range, sacred) > 0; }

void SlotPools::take(std::size_t range) noexcept {
  if (range >= pools_.size()) return;
  ++pools_[range].used;
  ++running_;
}

void SlotPools::give(std::size_t range) noexcept {
  if (range >= pools_.size() || pools_[range].used == 0) return;
  --pools_[range].used;
  --running_;
}

}  // namespace proletariat::broker
