// Deadlines of many short-lived things (a client's request timeouts, a worker's run
// timeouts), kept without a tree node per entry.
//
// A std::set cost an allocation and a rebalance to insert and again to erase, for
// every job, although nearly every deadline is cancelled long before it is due. Here a
// cancelled deadline is simply forgotten by its owner and skipped when it reaches the
// top (the owner's `live` predicate says whether an entry still stands); the heap is
// rebuilt when dead entries outnumber live ones, so its size stays within twice the
// owner's live count.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace proletariat::detail {

template <typename Key, typename Clock = std::chrono::steady_clock>
class DeadlineHeap {
 public:
  using TimePoint = typename Clock::time_point;

  void push(TimePoint when, Key key) {
    entries_.push_back({when, std::move(key)});
    std::push_heap(entries_.begin(), entries_.end(), later_first);
  }

  // The earliest deadline that still stands. `live(when, key)`.
  template <typename Live>
  std::optional<TimePoint> next(Live&& live) {
    drop_dead_top(live);
    if (entries_.empty()) return std::nullopt;
    return entries_.front().when;
  }

  // Takes the earliest standing entry if it is due by `now`.
  template <typename Live>
  std::optional<Key> pop_due(TimePoint now, Live&& live) {
    drop_dead_top(live);
    if (entries_.empty() || entries_.front().when > now) return std::nullopt;
    std::pop_heap(entries_.begin(), entries_.end(), later_first);
    Key key = std::move(entries_.back().key);
    entries_.pop_back();
    return key;
  }

  // The owner forgot an entry; `live_count` bounds how many still stand.
  template <typename Live>
  void forgot(std::size_t live_count, Live&& live) {
    if (entries_.size() <= 2 * live_count + kSlack) return;
    std::erase_if(entries_, [&](const Entry& e) { return !live(e.when, e.key); });
    std::make_heap(entries_.begin(), entries_.end(), later_first);
  }

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  void clear() noexcept { entries_.clear(); }

 private:
  struct Entry {
    TimePoint when;
    Key key;
  };
  static constexpr std::size_t kSlack = 64;

  static bool later_first(const Entry& a, const Entry& b) { return a.when > b.when; }

  template <typename Live>
  void drop_dead_top(Live& live) {
    while (!entries_.empty() && !live(entries_.front().when, entries_.front().key)) {
      std::pop_heap(entries_.begin(), entries_.end(), later_first);
      entries_.pop_back();
    }
  }

  std::vector<Entry> entries_;
};

}  // namespace proletariat::detail
