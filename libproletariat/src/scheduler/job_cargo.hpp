// What the manager sends with a job besides its scheduling data: the payload frame,
// forwarded untouched (as an OpaqueFrame: no ZeroMQ header here), and the options
// that travel in JOBS. The scheduler stores it
// in its own job record and never reads it, so that each job costs one record in one
// table (issue 6: a second table in the dispatcher cost ~280 bytes per queued job).
#pragma once

#include <cstdint>
#include <cstddef>
#include <optional>
#include <utility>

#include <proletariat/job.hpp>

#include "detail/opaque_frame.hpp"

namespace proletariat::broker {

// A push's retry policy (PROTOCOL §14.1), shared by its jobs. The count is not atomic:
// only the manager's loop thread holds jobs, and a shared_ptr's atomic count and
// control block cost every job of a busy stream (issue 14's benchmark).
class RetryRef {
 public:
  RetryRef() = default;
  explicit RetryRef(RetryPolicy policy) : node_(new Node{std::move(policy), 1}) {}
  RetryRef(const RetryRef& other) noexcept : node_(other.node_) {
    if (node_ != nullptr) ++node_->refs;
  }
  RetryRef(RetryRef&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  RetryRef& operator=(RetryRef other) noexcept {
    std::swap(node_, other.node_);
    return *this;
  }
  ~RetryRef() {
    if (node_ != nullptr && --node_->refs == 0) delete node_;
  }
  explicit operator bool() const noexcept { return node_ != nullptr; }
  const RetryPolicy& operator*() const noexcept { return node_->policy; }
  const RetryPolicy* operator->() const noexcept { return &node_->policy; }

 private:
  struct Node {
    RetryPolicy policy;
    std::size_t refs;
  };
  Node* node_ = nullptr;
};

struct JobCargo {
  detail::OpaqueFrame payload;
  // Only jobs pushed with a retry policy have one (one pointer for the others).
  RetryRef retry;
  // Failed attempts retried so far. Mutable: the dispatcher counts them through the
  // scheduler's const view of the job (the scheduler never reads the cargo).
  [[nodiscard]] unsigned retried() const noexcept { return retried_; }
  void count_retry() const noexcept { ++retried_; }
  void set_retried(unsigned n) noexcept { retried_ = n & kRetriedMask; }

  [[nodiscard]] bool raw() const noexcept { return raw_ != 0; }
  void set_raw(bool raw) noexcept { raw_ = raw ? 1 : 0; }
  [[nodiscard]] std::optional<std::uint64_t> run_timeout() const {
    return has_run_timeout_ != 0 ? std::optional<std::uint64_t>(run_timeout_ms_) : std::nullopt;
  }
  void set_run_timeout(std::optional<std::uint64_t> ms) noexcept {
    has_run_timeout_ = ms ? 1 : 0;
    run_timeout_ms_ = ms.value_or(0) & kRunTimeoutMask;  // the codec bounds it to 2^53
  }

 private:
  // One word for the options keeps the cargo at 80 bytes (issue 6: the job record's size).
  // The codec bounds timeouts to 2^53 (54 bits); retries to max_retries, 100 (8 bits).
  static constexpr std::uint64_t kRunTimeoutMask = (std::uint64_t{1} << 54) - 1;
  static constexpr unsigned kRetriedMask = (1U << 8) - 1;
  std::uint64_t run_timeout_ms_ : 54 = 0;
  std::uint64_t has_run_timeout_ : 1 = 0;
  std::uint64_t raw_ : 1 = 0;
  mutable std::uint64_t retried_ : 8 = 0;
};

static_assert(sizeof(JobCargo) == sizeof(detail::OpaqueFrame) + 16, "JobCargo grew: the job record is sized for it");

}  // namespace proletariat::broker
