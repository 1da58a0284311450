#include "systems.hpp"

#include <stdexcept>

namespace proletariat::bench {
namespace {

constexpr std::chrono::seconds kStartTimeout{15};

}  // namespace

ManagerProcess::ManagerProcess(const std::string& daemon, const std::vector<std::string>& extra_args,
                               const std::string& log_path) {
  std::vector<std::string> argv = {
      daemon, "--endpoint", "tcp://127.0.0.1:*", "--pub-endpoint", "tcp://127.0.0.1:*", "--log-level", "info"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv, log_path);
  // The daemon logs "manager listening on tcp://127.0.0.1:PORT (system messages on ...)".
  const std::string marker = "manager listening on ";
  auto line = wait_for_line_in_file(log_path, marker, kStartTimeout, child_.get());
  if (!line) throw std::runtime_error("the manager did not come up; see " + log_path);
  auto begin = line->find(marker) + marker.size();
  auto end = line->find(' ', begin);
  endpoint_ = line->substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

ForwarderProcess::ForwarderProcess() {
  child_ = std::make_unique<Child>(
      std::vector<std::string>{self_path(), "--internal", "forwarder", "--endpoint", "tcp://127.0.0.1:*"});
  auto line = child_->read_line(kStartTimeout);
  if (!line || line->rfind("ENDPOINT ", 0) != 0) throw std::runtime_error("the baseline forwarder did not come up");
  endpoint_ = line->substr(9);
}

FakeWorkerProcesses::FakeWorkerProcesses(const std::string& endpoint, std::size_t count, unsigned slots,
                                         unsigned priority_slots, std::size_t result_bytes) {
  std::size_t left = count;
  while (left > 0) {
    const std::size_t n = std::min(left, kFakesPerProcess);
    left -= n;
    children_.push_back(std::make_unique<Child>(
        std::vector<std::string>{self_path(), "--internal", "fakes", "--endpoint", endpoint, "--count",
                                 std::to_string(n), "--slots", std::to_string(slots), "--priority-slots",
                                 std::to_string(priority_slots), "--bytes", std::to_string(result_bytes)}));
  }
}

FakeWorkerProcesses::~FakeWorkerProcesses() {
  for (auto& c : children_) (void)c->finish();
}

std::vector<pid_t> FakeWorkerProcesses::pids() const {
  std::vector<pid_t> out;
  for (const auto& c : children_) out.push_back(c->pid());
  return out;
}

bool FakeWorkerProcesses::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& c : children_) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto line = c->read_line(left);
      if (!line) return false;
      if (line->rfind("READY", 0) == 0) break;
    }
  }
  return true;
}

}  // namespace proletariat::bench
