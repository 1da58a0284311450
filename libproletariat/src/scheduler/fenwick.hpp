// A Fenwick (binary indexed) tree of non-negative counts that can grow and shrink at
// the end, used by the scheduler for the weighted-random choice of worker: one tree
// per (service, merged priority range), one element per worker offering the service,
// value = slots that worker has free for that range.
//
// All operations are O(log n) except build() (O(n)). Values are kept modulo 2^64, so
// add() takes a delta already converted to unsigned (two's complement): the sums stay
// exact as long as every element is non-negative, which the scheduler guarantees.
// The caller keeps the element values themselves (the tree stores partial sums only).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace proletariat::broker {

class Fenwick {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return tree_.size(); }
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }

  // Replaces the contents with `values` in O(n).
  void build(std::span<const std::uint64_t> values) {
    tree_.assign(values.begin(), values.end());
    total_ = 0;
    for (const std::uint64_t value : values) total_ += value;
    for (std::size_t i = 1; i <= tree_.size(); ++i) {
      const std::size_t parent = i + (i & (~i + 1));
      if (parent <= tree_.size()) tree_[parent - 1] += tree_[i - 1];
    }
  }

  // Appends an element: node n covers (n - lowbit(n), n], so it is the value plus the
  // elements (n - lowbit(n), n - 1], read as a difference of prefix sums.
  void push_back(std::uint64_t value) {
    const std::size_t n = tree_.size() + 1;
    const std::size_t low = n & (~n + 1);
    tree_.push_back(value + prefix(n - 1) - prefix(n - low));
    total_ += value;
  }

  // Removes the last element, whose value the caller passes back. No other node
  // covers the last position, so nothing else changes.
  void pop_back(std::uint64_t value) noexcept {
    tree_.pop_back();
    total_ -= value;
  }

  // Adds `delta` (mod 2^64) to element `index` (0-based).
  void add(std::size_t index, std::uint64_t delta) noexcept {
    total_ += delta;
    for (std::size_t i = index + 1; i <= tree_.size(); i += i & (~i + 1)) tree_[i - 1] += delta;
  }

  // Sum of the first `count` elements.
  [[nodiscard]] std::uint64_t prefix(std::size_t count) const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t i = count; i > 0; i -= i & (~i + 1)) sum += tree_[i - 1];
    return sum;
  }

  // The 0-based index of the element in which the cumulative sum first exceeds
  // `point`, for point < total(): drawing point uniformly from [0, total()) picks an
  // element with probability value / total(). Zero-valued elements are never picked.
  [[nodiscard]] std::size_t find(std::uint64_t point) const noexcept {
    std::size_t pos = 0;
    std::uint64_t rest = point;
    for (std::size_t step = std::bit_floor(tree_.size()); step > 0; step >>= 1) {
      if (pos + step <= tree_.size() && tree_[pos + step - 1] <= rest) {
        pos += step;
        rest -= tree_[pos - 1];
      }
    }
    return pos;
  }

  void shrink_to_fit() { tree_.shrink_to_fit(); }

 private:
  std::vector<std::uint64_t> tree_;  // tree_[i - 1] is node i (1-based)
  std::uint64_t total_ = 0;
};

}  // namespace proletariat::broker
