// Priority ranges and the slot pools of one worker (SPEC 3).
//
// A worker offers `slots` and guarantees some of them to priority ranges
// ({1: 30, 2: 20} with 100 slots gives pools 0:50, 1:30, 2:20). A job of priority p
// belongs to the range with the largest start <= p. Slots have no identity; a pool is
// only a limit, and admission is a test on the counts of running jobs per range:
//
//  - default mode: a job of range k fits if, for every range i >= k, the jobs of
//    ranges 0..i (this one included) stay within the slots of pools 0..i. Lower
//    ranges can never crowd out the guarantees above them; higher ranges may use
//    everything below.
//  - sacred mode: a job of range k > 0 may use only its own pool or pool 0, so it
//    fits if its own pool has room, or if the overflow of all ranges above 0 into
//    pool 0, plus range 0's own jobs, stays within pool 0.
//
// Pure value type: no clock, no I/O.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace proletariat::broker {

struct PoolUsage {
  double start;    // lowest priority of the range
  unsigned slots;  // the pool's size
  unsigned used;   // jobs of this range running
};

class SlotPools {
 public:
  // The offer must have passed protocol::validate_offer(). A guarantee for start 0 is
  // allowed and ignored: pool 0 is always what the other guarantees leave.
  SlotPools(unsigned slots, const std::map<double, unsigned>& priority_slots);

  // Index of the range a job of this priority belongs to.
  [[nodiscard]] std::size_t range_of(double priority) const noexcept;
  // Whether one more job of range `range` fits now.
  [[nodiscard]] bool admits(std::size_t range, bool sacred) const noexcept;
  // How many more jobs of range `range` would fit now (0 when admits() is false).
  [[nodiscard]] unsigned free_for(std::size_t range, bool sacred) const noexcept;
  // free_for() of every range at once, in O(ranges) rather than O(ranges^2):
  // out[k] = free_for(k, sacred). `out` must hold pools().size() entries.
  void free_for_each(bool sacred, std::span<unsigned> out) const noexcept;
  // Count a job of the range as running / no longer running.
  void take(std::size_t range) noexcept;
  void give(std::size_t range) noexcept;

  [[nodiscard]] unsigned slots() const noexcept { return slots_; }
  [[nodiscard]] unsigned running() const noexcept { return running_; }
  [[nodiscard]] std::span<const PoolUsage> pools() const noexcept { return pools_; }

 private:
  unsigned slots_ = 0;
  unsigned running_ = 0;
  std::vector<PoolUsage> pools_;  // sorted by start; pools_[0].start == 0
};

}  // namespace proletariat::broker
