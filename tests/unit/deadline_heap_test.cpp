// detail::DeadlineHeap: due entries come out in deadline order, forgotten ones never
// do, and the heap stays within twice the live count however many are forgotten.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <vector>

#include "detail/deadline_heap.hpp"

namespace proletariat::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(DeadlineHeap, DueEntriesComeOutInOrderAndForgottenOnesNever) {
  const auto t0 = Clock::time_point{} + milliseconds(1000);
  std::map<int, Clock::time_point> live;  // what the owner still waits for
  const auto stands = [&](Clock::time_point when, int key) {
    auto it = live.find(key);
    return it != live.end() && it->second == when;
  };
  DeadlineHeap<int> heap;
  for (int key : {5, 1, 4, 2, 3}) {
    live[key] = t0 + milliseconds(key * 10);
    heap.push(live[key], key);
  }
  live.erase(2);  // answered before its deadline
  live[4] = t0 + milliseconds(100);  // re-armed: the old entry must not fire
  heap.push(live[4], 4);

  EXPECT_EQ(heap.next(stands), t0 + milliseconds(10));
  std::vector<int> fired;
  while (auto key = heap.pop_due(t0 + milliseconds(60), stands)) {
    fired.push_back(*key);
    live.erase(*key);
  }
  EXPECT_EQ(fired, (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(heap.next(stands), t0 + milliseconds(100));
  EXPECT_FALSE(heap.pop_due(t0 + milliseconds(99), stands));
  EXPECT_EQ(heap.pop_due(t0 + milliseconds(100), stands), 4);
  live.erase(4);
  EXPECT_FALSE(heap.next(stands));
}

TEST(DeadlineHeap, ForgottenEntriesAreCompactedAway) {
  const auto t0 = Clock::time_point{} + milliseconds(1000);
  std::map<int, Clock::time_point> live;
  const auto stands = [&](Clock::time_point when, int key) {
    auto it = live.find(key);
    return it != live.end() && it->second == when;
  };
  DeadlineHeap<int> heap;
  // A steady flow: ten in flight, each answered long before its far deadline.
  for (int key = 0; key < 100000; ++key) {
    live[key] = t0 + milliseconds(1000000 + key);
    heap.push(live[key], key);
    if (key >= 10) {
      live.erase(key - 10);
      heap.forgot(live.size(), stands);
    }
    ASSERT_LE(heap.size(), 2 * live.size() + 65) << "after " << key;
  }
  EXPECT_EQ(heap.next(stands), live.begin()->second);
}

}  // namespace
}  // namespace proletariat::detail
