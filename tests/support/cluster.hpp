// Fixtures for integration tests: a manager on loopback with short heartbeats, and
// waiting for conditions instead of sleeping.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <proletariat/proletariat.hpp>

namespace proletariat::testing {

using namespace std::chrono_literals;

// Polls `condition` until true or `timeout`; true if it became true.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Options for a manager on an ephemeral loopback port with heartbeats fast enough
// that failures are noticed within ~500 ms.
inline ManagerOptions loopback_options(std::string endpoint = "tcp://127.0.0.1:*") {
  ManagerOptions o;
  o.endpoint = std::move(endpoint);
  o.pub_endpoint = "tcp://127.0.0.1:*";
  o.heartbeat_interval = 50ms;
  o.heartbeat_liveness = 10;  // 500 ms: dead peers are noticed fast, a loaded CI machine is not mistaken for one
  o.avail_threshold = 0;
  return o;
}

inline WorkerOptions worker_options(const std::string& endpoint, unsigned slots = 4) {
  WorkerOptions o;
  o.endpoint = endpoint;
  o.slots = slots;
  o.con_retry_time = 50ms;
  o.handler_threads = 2;
  return o;
}

inline ClientOptions client_options(const std::string& endpoint, bool keep_state = false) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.con_retry_time = 50ms;
  o.keep_state = keep_state;
  return o;
}

// A worker that answers {"echo": args} at once.
inline std::unique_ptr<Worker> echo_worker(const std::string& endpoint, unsigned slots = 4) {
  auto w = std::make_unique<Worker>(worker_options(endpoint, slots));
  w->on_work([](const JobPtr& job) { job->reply(Payload::json({{"echo", job->args().to_json()}})); });
  w->start();
  return w;
}

}  // namespace proletariat::testing
