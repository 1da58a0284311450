// The systems under test, each as processes the bench starts and measures:
//  - ManagerProcess: proletariatd, the real manager daemon;
//  - ForwarderProcess: the raw ZeroMQ baseline (this executable, --internal forwarder);
//  - FakeWorkerProcesses: sets of lightweight protocol-speaking workers (this
//    executable, --internal fakes), at most kFakesPerProcess per process.
//
// Threading: used from the bench's main thread only.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proc.hpp"

namespace proletariat::bench {

// Two file descriptors per DEALER socket (its TCP connection and its ZeroMQ
// mailbox) must fit under the open-files limit of each helper process.
inline constexpr std::size_t kFakesPerProcess = 5000;

class ManagerProcess {
 public:
  // Starts `daemon` bound to an ephemeral loopback port, logging to `log_path`, and
  // waits until it listens. Throws std::runtime_error when it does not come up.
  ManagerProcess(const std::string& daemon, const std::vector<std::string>& extra_args, const std::string& log_path);
  [[nodiscard]] pid_t pid() const noexcept { return child_->pid(); }
  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] bool running() { return child_->running(); }

 private:
  std::unique_ptr<Child> child_;
  std::string endpoint_;
};

class ForwarderProcess {
 public:
  ForwarderProcess();
  [[nodiscard]] pid_t pid() const noexcept { return child_->pid(); }
  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }

 private:
  std::unique_ptr<Child> child_;
  std::string endpoint_;
};

class FakeWorkerProcesses {
 public:
  FakeWorkerProcesses(const std::string& endpoint, std::size_t count, unsigned slots, unsigned priority_slots,
                      std::size_t result_bytes);
  ~FakeWorkerProcesses();
  // True once every fake worker's offer was accepted.
  [[nodiscard]] bool wait_ready(std::chrono::milliseconds timeout);
  [[nodiscard]] std::vector<pid_t> pids() const;

 private:
  std::vector<std::unique_ptr<Child>> children_;
};

}  // namespace proletariat::bench
