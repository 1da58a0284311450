// A real proletariatd for a test: started on two ports the kernel picks (--port 0),
// which it announces on stdout (--announce) once bound, so no test probes for a free
// port and races another process for it (issue 10). Its stdin is a pipe the test
// holds; with --parent-watch, closing it stops the daemon.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

extern char** environ;

namespace proletariat::testing {

class Daemon {
 public:
  // `extra`: more flags. Throws std::runtime_error if it does not announce in time.
  explicit Daemon(const std::string& program, std::vector<std::string> extra = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::vector<std::string> args = {program, "--port", "0", "--announce"};
    args.insert(args.end(), extra.begin(), extra.end());
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) posix_spawn_file_actions_addclose(&actions, fd);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in_pipe[0]);
    close(out_pipe[1]);
    stdin_ = in_pipe[1];
    stdout_ = out_pipe[0];
    if (spawned != 0) throw std::runtime_error("cannot run " + program);
    const auto line = read_line(timeout);
    const auto ready = nlohmann::json::parse(line.value_or(""), nullptr, false);
    if (!line || ready.is_discarded() || ready.value("event", "") != "ready") {
      stop();
      throw std::runtime_error(program + " did not announce its endpoints: '" + line.value_or("") + "'");
    }
    port_ = ready.at("port").get<unsigned>();
    pub_port_ = ready.at("pub_port").get<unsigned>();
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(port_);
  }
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  [[nodiscard]] unsigned port() const { return port_; }
  [[nodiscard]] unsigned pub_port() const { return pub_port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }

  void close_stdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // The exit code once it exited by itself within `timeout`; nullopt if it did not
  // (it is then killed) or died of a signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        stop();
        return std::nullopt;
      }
      pollfd none{-1, 0, 0};
      poll(&none, 0, 5);  // the child gives no fd to wait on; its exit is polled
    }
    pid_ = -1;
    close_stdin();
    if (!WIFEXITED(status)) return std::nullopt;
    return WEXITSTATUS(status);
  }
  // SIGKILL: the crash a journal must survive.
  void kill_hard() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    stop();
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    close_stdin();
    if (stdout_ >= 0) close(stdout_);
    stdout_ = -1;
  }

 private:
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd fd{stdout_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (poll(&fd, 1, static_cast<int>(std::max<long long>(left.count(), 1))) <= 0) continue;
      char c = 0;
      if (read(stdout_, &c, 1) != 1) return std::nullopt;
      if (c == '\n') return line;
      line.push_back(c);
    }
    return std::nullopt;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  unsigned port_ = 0;
  unsigned pub_port_ = 0;
  std::string endpoint_;
};

}  // namespace proletariat::testing
