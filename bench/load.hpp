// Load through the public C++ API: proletariat::Worker objects doing no-op jobs and
// proletariat::Client objects each keeping a window of jobs outstanding.
//
// Threading: every Worker and Client here is an object in the bench process with
// its own threads (a Worker: an I/O thread and one handler thread; a Client: an I/O
// thread), exactly as in an application. The window is kept from the Client's
// callbacks: each result records its push-to-result latency and pushes the next
// job, on the client's I/O thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <proletariat/client.hpp>
#include <proletariat/worker.hpp>

#include "forwarder.hpp"

namespace proletariat::bench {

// What the --features run switches on, per job and per worker.
struct Features {
  bool on = false;
  // Jobs alternate between priority 0 and kHighPriority; workers guarantee a quarter
  // of their slots to the range starting at 1.
  static constexpr double kHighPriority = 2;
  // Client timeout, assign timeout and run timeout on every job: long enough never to
  // fire, so only their bookkeeping is measured.
  static constexpr std::chrono::milliseconds kTimeout{120000};
  // Job lifecycle (PROTOCOL §14) configured but never triggered: a retry policy on
  // every job (they all succeed), a delay of 0, and a group among `groups`.
  bool lifecycle = false;
  // Jobs go round-robin to this many groups (0: none); the manager's limits for them
  // are the caller's (--manager-arg).
  std::size_t groups = 0;
};

class LibraryWorkers {
 public:
  LibraryWorkers(const std::string& endpoint, std::size_t count, unsigned slots, unsigned handler_threads,
                 std::size_t result_bytes, const Features& features,
                 const std::optional<CurveOptions>& curve = std::nullopt);
  ~LibraryWorkers();
  // True once every worker's offer was accepted.
  [[nodiscard]] bool wait_ready(std::chrono::milliseconds timeout);

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
};

class LibraryClients {
 public:
  LibraryClients(const std::string& endpoint, std::size_t count,
                 const std::optional<CurveOptions>& curve = std::nullopt);
  ~LibraryClients();
  [[nodiscard]] bool wait_connected(std::chrono::milliseconds timeout);
  // Every client pushes jobs / count jobs (the first ones get the remainder), keeping
  // `window` outstanding; returns when all finished or at `deadline`.
  LoadResult run(std::size_t jobs, std::size_t window, std::size_t bytes, const Features& features,
                 std::chrono::steady_clock::time_point deadline);
  [[nodiscard]] Client& first() { return *clients_.front(); }

 private:
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace proletariat::bench
