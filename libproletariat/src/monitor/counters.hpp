// What the manager counts for its operators (metrics, docs/OPERATIONS.md): totals
// since the start and latency histograms. The dispatcher adds to them as things
// happen, on the loop thread; the HTTP thread only ever sees copies (snapshot.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "monitor/histogram.hpp"

namespace proletariat::monitor {

// How a job ended, as a metric label: a bounded set, whatever codes handlers use.
enum class Outcome : std::uint8_t {
  ok,             // the handler returned a result
  handler_error,  // the handler failed with its own error code
  run_timeout,    // ETO
  assign_timeout, // EATO
  aborted,        // by its client, or gone with a client that left
  poison,         // EPOISON
  internal,       // EINTERNAL
  count_
};

[[nodiscard]] std::string_view outcome_name(Outcome outcome) noexcept;
// The outcome of a job whose error code is `code` ("" for a result).
[[nodiscard]] Outcome outcome_of(std::string_view code) noexcept;

struct Counters {
  std::uint64_t jobs_received = 0;  // accepted pushes' jobs
  std::array<std::uint64_t, static_cast<std::size_t>(Outcome::count_)> jobs_finished{};
  // ERROR replies by code (the codes are the protocol's: a small set).
  std::map<std::string, std::uint64_t, std::less<>> rejected_by_code;
  // Results and rejects of an attempt that was no longer the job's current one.
  std::uint64_t stale_results_fenced = 0;
  // Job lifecycle (PROTOCOL §14): retries scheduled, progress entries forwarded to
  // clients and dropped (stale attempt, or nobody to hand them to).
  std::uint64_t retries = 0;
  std::uint64_t progress_forwarded = 0;
  std::uint64_t progress_dropped = 0;
  std::uint64_t dead_letters = 0;  // jobs that became dead letters
  Histogram wait_seconds;  // accepted -> sent to a worker
  Histogram run_seconds;   // sent to a worker -> its result (with --http only)
  // The journal's group commits that ran an fdatasync, and how long each took.
  Histogram journal_sync_seconds;

  void finished(Outcome outcome) noexcept { ++jobs_finished[static_cast<std::size_t>(outcome)]; }
  void rejected(std::string_view code) {
    auto it = rejected_by_code.find(code);
    if (it == rejected_by_code.end()) it = rejected_by_code.emplace(std::string(code), 0).first;
    ++it->second;
  }
};

}  // namespace proletariat::monitor
