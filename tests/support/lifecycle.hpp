// Helpers of the job lifecycle tests (PROTOCOL §14): what a worker's handler saw and
// when, concurrency per group, policies and workers for tests, lookups in STATUS lists,
// and a peer that speaks the wire protocol by hand.
#pragma once

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <proletariat/curve.hpp>

#include "support/cluster.hpp"

namespace proletariat::testing {

using Steady = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;
using nlohmann::json;

inline std::int64_t wall_ms(Wall::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline std::int64_t wall_ms_now() {
  return wall_ms(Wall::now());
}

// A policy that retries at once (10 ms, no jitter): for tests about what is retried.
inline RetryPolicy quick_retry(unsigned max, std::vector<std::string> codes = {}) {
  RetryPolicy policy;
  policy.max = max;
  policy.codes = std::move(codes);
  policy.initial = 10ms;
  policy.factor = 1;
  policy.jitter = 0;
  return policy;
}

// Every call of a worker's handler: which job, which attempt, its args, when.
struct Calls {
  struct Call {
    std::uint64_t id = 0;
    unsigned attempt = 0;
    json args;
    Steady::time_point started;
    Wall::time_point started_wall;
  };
  // Records a call; returns how many calls its job has had, this one included.
  unsigned add(const JobPtr& job) {
    Call call{job->id(), job->attempt(), job->args().to_json(), Steady::now(), Wall::now()};
    std::lock_guard lock(mutex);
    calls.push_back(std::move(call));
    return static_cast<unsigned>(
        std::count_if(calls.begin(), calls.end(), [&](const Call& c) { return c.id == job->id(); }));
  }
  std::vector<Call> all() {
    std::lock_guard lock(mutex);
    return calls;
  }
  std::vector<Call> of(std::uint64_t id) {
    std::lock_guard lock(mutex);
    std::vector<Call> out;
    for (const auto& c : calls) {
      if (c.id == id) out.push_back(c);
    }
    return out;
  }
  std::vector<Call> with_args(const json& args) {
    std::lock_guard lock(mutex);
    std::vector<Call> out;
    for (const auto& c : calls) {
      if (c.args == args) out.push_back(c);
    }
    return out;
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return calls.size();
  }
  std::mutex mutex;
  std::vector<Call> calls;
};

// Concurrency per label, as the worker's handlers see it: the most ever at once.
struct Concurrency {
  void enter(const std::string& label) {
    std::lock_guard lock(mutex);
    most[label] = std::max(most[label], ++now[label]);
  }
  void leave(const std::string& label) {
    std::lock_guard lock(mutex);
    --now[label];
  }
  int current(const std::string& label) {
    std::lock_guard lock(mutex);
    return now[label];
  }
  int highest(const std::string& label) {
    std::lock_guard lock(mutex);
    return most[label];
  }
  std::mutex mutex;
  std::map<std::string, int> now;
  std::map<std::string, int> most;
};

inline WorkerOptions lifecycle_worker_options(const std::string& endpoint, unsigned slots) {
  auto options = worker_options(endpoint, slots);
  options.handler_threads = slots;  // a handler that waits does not hold up the others
  options.drain_timeout = 0ms;      // the end of a test stops it at once; handlers honour cancellation
  return options;
}

inline std::unique_ptr<Worker> start_worker(const std::string& endpoint, Worker::WorkHandler handler,
                                            unsigned slots = 4, std::vector<std::string> services = {}) {
  auto options = lifecycle_worker_options(endpoint, slots);
  options.services = std::move(services);
  auto worker = std::make_unique<Worker>(options);
  worker->on_work(std::move(handler));
  worker->start();
  EXPECT_TRUE(worker->wait_ready(5s)) << "the worker never registered";
  return worker;
}

template <typename T>
inline T get_within(std::future<T>& future, std::chrono::milliseconds timeout = 10s) {
  if (future.wait_for(timeout) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within " << timeout.count() << " ms";
    return T{};
  }
  return future.get();
}

// A JSON entry of a list whose `field` is `value`; null if none.
inline const json* entry_of(const json& list, const char* field, const json& value) {
  if (!list.is_array()) return nullptr;
  for (const auto& entry : list) {
    if (entry.contains(field) && entry[field] == value) return &entry;
  }
  return nullptr;
}

// The same entry as a value: null if there is none (so that a missing one fails an
// expectation instead of the test process).
inline json entry(const json& list, const char* field, const json& value) {
  const json* found = entry_of(list, field, value);
  return found != nullptr ? *found : json();
}

// One message as a raw peer sees it: command, header, payload frames.
struct WireMessage {
  std::string command;
  json header;
  std::vector<std::string> payloads;
};

// A peer that speaks the wire protocol by hand on a DEALER socket (frames built as
// PROTOCOL §2 gives them), for what the libraries never send. It answers the
// manager's heartbeats while it waits for a message.
class Wire {
 public:
  explicit Wire(const std::string& endpoint, const std::optional<CurveOptions>& curve = std::nullopt)
      : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (curve) {
      socket_.set(zmq::sockopt::curve_serverkey, curve->server_public_key);
      socket_.set(zmq::sockopt::curve_publickey, curve->keys.public_key);
      socket_.set(zmq::sockopt::curve_secretkey, curve->keys.secret_key);
    }
    socket_.connect(endpoint);
  }

  void send(const std::string& command, const json& header, const std::vector<std::string>& payloads = {}) {
    std::vector<std::string> parts = {"", "PRO1", command, text_of(header)};
    parts.insert(parts.end(), payloads.begin(), payloads.end());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      zmq::message_t frame(parts[i].data(), parts[i].size());
      (void)socket_.send(frame, i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  // The header's text with "req" first, as the libraries write it: the manager reads a
  // header in one pass and names the req of a refused command only if it came before the
  // field it refuses (nlohmann::json would put it after "delay" or "at").
  static std::string text_of(const json& header) {
    if (!header.is_object() || !header.contains("req")) return header.dump();
    json rest = header;
    rest.erase("req");
    const std::string tail = rest.dump();
    return "{\"req\":" + header["req"].dump() + (tail == "{}" ? "}" : "," + tail.substr(1));
  }

  // The next message other than HEARTBEAT, within `timeout`.
  std::optional<WireMessage> next(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Steady::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
      if (left.count() <= 0) return std::nullopt;
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, left) <= 0) continue;
      std::vector<std::string> frames;
      bool more = true;
      while (more) {
        zmq::message_t frame;
        if (!socket_.recv(frame, zmq::recv_flags::none)) return std::nullopt;
        more = frame.more();
        frames.push_back(frame.to_string());
      }
      if (frames.size() < 4) {
        ADD_FAILURE() << "the manager sent a message of " << frames.size() << " frames";
        return std::nullopt;
      }
      if (frames[2] == "HEARTBEAT") {
        send("HEARTBEAT", json::object());
        continue;
      }
      WireMessage msg;
      msg.command = frames[2];
      msg.header = frames[3].empty() ? json::object() : json::parse(frames[3], nullptr, false);
      msg.payloads.assign(frames.begin() + 4, frames.end());
      return msg;
    }
  }

  // The next message, which must be `command`; an empty one (and a failure) otherwise.
  WireMessage expect(const std::string& command, std::chrono::milliseconds timeout = 5s) {
    auto msg = next(timeout);
    if (!msg) {
      ADD_FAILURE() << "no " << command << " within " << timeout.count() << " ms";
      return {};
    }
    if (msg->command != command) {
      ADD_FAILURE() << "expected " << command << ", got " << msg->command << " " << msg->header.dump();
      return {};
    }
    return *msg;
  }

  // An ERROR; returns its code (and checks its command and req when given).
  std::string expect_error(const std::string& command, std::optional<std::uint64_t> req = std::nullopt) {
    const auto msg = expect("ERROR");
    if (msg.command.empty()) return {};
    EXPECT_EQ(msg.header.value("command", ""), command) << msg.header.dump();
    if (req) {
      EXPECT_EQ(msg.header.value("req", std::uint64_t{0}), *req) << msg.header.dump();
    }
    return msg.header.value("code", "");
  }

  json hello(const std::string& name, json extra = json::object()) {
    extra["name"] = name;
    extra["lang"] = "test";
    extra["sysmsg"] = false;
    send("HELLO", extra);
    return expect("WELCOME").header;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

}  // namespace proletariat::testing
