// What the manager sends with a job besides its scheduling data: the payload frame,
// forwarded untouched (as an OpaqueFrame: no ZeroMQ header here), and the options
// that travel in JOBS. The scheduler stores it
// in its own job record and never reads it, so that each job costs one record in one
// table (issue 6: a second table in the dispatcher cost ~280 bytes per queued job).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <proletariat/job.hpp>

#include "detail/opaque_frame.hpp"

namespace proletariat::broker {

// A job pushed with a retry policy (PROTOCOL §14.1): the policy, shared by the jobs of
// its push, and the failed attempts that were retried so far.
struct RetryState {
  std::shared_ptr<const RetryPolicy> policy;
  unsigned retried = 0;
};

struct JobCargo {
  detail::OpaqueFrame payload;
  // Only jobs pushed with a retry policy have one (one pointer for the others).
  std::unique_ptr<RetryState> retry;

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
  static constexpr std::uint64_t kRunTimeoutMask = (std::uint64_t{1} << 62) - 1;
  std::uint64_t run_timeout_ms_ : 62 = 0;
  std::uint64_t has_run_timeout_ : 1 = 0;
  std::uint64_t raw_ : 1 = 0;
};

static_assert(sizeof(JobCargo) == sizeof(detail::OpaqueFrame) + 16, "JobCargo grew: the job record is sized for it");

}  // namespace proletariat::broker
