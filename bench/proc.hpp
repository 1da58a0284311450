// Child processes and what /proc says about them: the bench runs the manager
// (proletariatd), the baseline forwarder and the fake-worker sets as processes of
// their own, so their CPU time and memory can be read without counting the load
// generators that share the machine.
//
// Threading: a Child is used by the thread that made it. The /proc readers are
// plain functions, safe from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

namespace proletariat::bench {

// CPU time of a process split by thread kind: ZeroMQ's background threads (named
// "ZMQbg/...") move bytes between sockets and TCP; every other thread is the
// program's own (the manager's loop, the forwarder's loop).
struct CpuTimes {
  double total_s = 0;
  double zmq_io_s = 0;  // threads named ZMQbg/*
  [[nodiscard]] double own_s() const { return total_s - zmq_io_s; }
};

// CPU seconds of a process's threads, summed by thread name (prlt-client,
// prlt-worker, ZMQbg/IO/0, raw-worker, ...): where the load generators spend.
[[nodiscard]] std::map<std::string, double> cpu_by_thread_name(pid_t pid);

// Summed over /proc/<pid>/task/*/schedstat (nanoseconds on a CPU), falling back to
// utime + stime in clock ticks where schedstat is missing.
[[nodiscard]] CpuTimes process_cpu(pid_t pid);
// VmRSS and VmHWM (peak) of /proc/<pid>/status, in KiB; 0 if unknown.
[[nodiscard]] long rss_kib(pid_t pid);
[[nodiscard]] long peak_rss_kib(pid_t pid);

// A process started by posix_spawn with its stdin and stdout on pipes (or stdout on
// a file). Closing stdin is how the bench tells its own helpers to finish; the
// destructor does that, then SIGTERM, then waits (SIGKILL after a grace period).
class Child {
 public:
  // argv[0] is the path. With `log_path`, stdout and stderr go to that file (a
  // daemon that logs must never block on a full pipe); otherwise stdout is a pipe
  // readable with read_line() and stderr is inherited.
  Child(std::vector<std::string> argv, std::optional<std::string> log_path = std::nullopt);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // The next line of the child's stdout, without the newline; nullopt on EOF or
  // when `timeout` passes first.
  [[nodiscard]] std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Closes the child's stdin (EOF), waits up to `grace` for it to exit, then kills.
  // Returns the exit status (or -1 when killed or never spawned).
  int finish(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // SIGTERM, wait up to `grace`, then SIGKILL.
  int terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  [[nodiscard]] bool running();
  // Sends `sig` (perf record ends its recording cleanly on SIGINT).
  void signal(int sig);

 private:
  int wait_for_exit(std::chrono::milliseconds grace);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  bool exited_ = false;
  int status_ = -1;
};

// Waits until `path` holds a line containing `needle` and returns that line.
[[nodiscard]] std::optional<std::string> wait_for_line_in_file(const std::string& path, const std::string& needle,
                                                               std::chrono::milliseconds timeout,
                                                               Child* must_live = nullptr);

// The absolute path of this executable (to start helpers as `self --internal ...`).
[[nodiscard]] std::string self_path();

// Raises the soft limit of open files to the hard limit (10,000 connections need it).
void raise_fd_limit();
[[nodiscard]] std::uint64_t fd_limit();

}  // namespace proletariat::bench
