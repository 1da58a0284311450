// The Worker and Client libraries against a fake manager: a raw ROUTER socket on
// tcp://127.0.0.1:* that speaks the protocol through the codec, so every test states
// exactly which frames the peer must send and how it must react to what it gets.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <iterator>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <proletariat/client.hpp>
#include <proletariat/error.hpp>
#include <proletariat/worker.hpp>

#include "protocol/codec.hpp"


namespace proletariat {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
namespace proto = protocol;

// Every wait for something that must happen.
constexpr milliseconds kTimeout{3000};
// How long "nothing more arrives" is watched for, where a test must prove a negative.
constexpr milliseconds kQuiet{150};

const char* name_of(const proto::PeerMessage& msg) {
  return std::visit(
      [](const auto& m) -> const char* {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, proto::Hello>) return "HELLO";
        if constexpr (std::is_same_v<T, proto::Offer>) return "OFFER";
        if constexpr (std::is_same_v<T, proto::Push>) return "PUSH";
        if constexpr (std::is_same_v<T, proto::ClientAbort>) return "ABORT";
        if constexpr (std::is_same_v<T, proto::WorkerResults>) return "RESULT";
        if constexpr (std::is_same_v<T, proto::Reject>) return "REJECT";
        if constexpr (std::is_same_v<T, proto::Drain>) return "DRAIN";
        if constexpr (std::is_same_v<T, proto::Heartbeat>) return "HEARTBEAT";
        if constexpr (std::is_same_v<T, proto::Bye>) return "BYE";
        return "?";
      },
      msg);
}

template <typename T>
const char* name_of_type() {
  return name_of(proto::PeerMessage{T{}});
}

// A manager that is only a ROUTER socket and the codec. Single-threaded: the test
// thread drives it.
class FakeManager {
 public:
  struct Incoming {
    std::string from;
    proto::PeerMessage msg;
  };

  FakeManager() : socket_(context_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::router_mandatory, 1);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }

  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  [[nodiscard]] int heartbeats() const { return heartbeats_; }

  // The next message, heartbeats skipped (and counted) unless asked for.
  std::optional<Incoming> receive(milliseconds timeout, bool skip_heartbeats = true) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      zmq_pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if ((item.revents & ZMQ_POLLIN) == 0) continue;
      proto::Frames frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) continue;
      if (frames.empty()) throw std::runtime_error("fake manager: empty message");
      auto decoded = proto::decode_from_peer(frames, 1, proto::Limits{});
      if (auto* err = std::get_if<proto::DecodeError>(&decoded)) {
        throw std::runtime_error("fake manager: peer sent an undecodable message: " + std::string(err->code) + " " +
                                 err->message);
      }
      Incoming in{frames[0].to_string(), std::get<proto::PeerMessage>(std::move(decoded))};
      if (std::holds_alternative<proto::Heartbeat>(in.msg) && skip_heartbeats) {
        ++heartbeats_;
        continue;
      }
      return in;
    }
  }

  // The next non-heartbeat message, which must be a T; throws (failing the test with
  // the message) on timeout or on another command.
  template <typename T>
  T expect(std::string* from = nullptr, milliseconds timeout = kTimeout) {
    auto in = receive(timeout, !std::is_same_v<T, proto::Heartbeat>);
    if (!in) {
      throw std::runtime_error(std::string("fake manager: no ") + name_of_type<T>() + " within " +
                               std::to_string(timeout.count()) + " ms");
    }
    if (!std::holds_alternative<T>(in->msg)) {
      throw std::runtime_error(std::string("fake manager: expected ") + name_of_type<T>() + ", got " +
                               name_of(in->msg));
    }
    if (from != nullptr) *from = in->from;
    return std::get<T>(std::move(in->msg));
  }

  // True if nothing but heartbeats arrives for `period`.
  bool quiet(milliseconds period = kQuiet) {
    auto in = receive(period);
    if (in) ADD_FAILURE() << "fake manager: unexpected " << name_of(in->msg);
    return !in.has_value();
  }

  void send(const std::string& to, proto::Frames frames) {
    proto::Frames out;
    out.emplace_back(to.data(), to.size());
    for (auto& f : frames) out.push_back(std::move(f));
    zmq::send_multipart(socket_, out);
  }
  void send_raw(const std::string& to, const std::vector<std::string>& parts) {
    proto::Frames out;
    out.emplace_back(to.data(), to.size());
    for (const auto& p : parts) out.emplace_back(p.data(), p.size());
    zmq::send_multipart(socket_, out);
  }

  // Waits for HELLO, answers WELCOME; returns the peer's routing id.
  std::string welcome(const std::string& id, milliseconds heartbeat = 10000ms, unsigned liveness = 5,
                      proto::Hello* hello = nullptr) {
    proto::Welcome w;
    w.id = id;
    w.heartbeat_ms = static_cast<std::uint64_t>(heartbeat.count());
    w.liveness = liveness;
    w.max_message_bytes = 64u << 20;
    w.max_frames = 100004;
    return welcome_as(w, hello);
  }

  // Answers the next HELLO with `w`; returns the peer's routing id.
  std::string welcome_as(const proto::Welcome& w, proto::Hello* hello = nullptr) {
    std::string from;
    auto h = expect<proto::Hello>(&from);
    if (hello != nullptr) *hello = h;
    send(from, proto::encode(w));
    return from;
  }

  // HELLO/WELCOME then OFFER/OFFERED; returns the routing id.
  std::string register_worker(const std::string& id = "w.1", milliseconds heartbeat = 10000ms, unsigned liveness = 5,
                              proto::Offer* offer = nullptr) {
    const auto from = welcome(id, heartbeat, liveness);
    std::string offer_from;
    auto o = expect<proto::Offer>(&offer_from);
    EXPECT_EQ(offer_from, from);
    if (offer != nullptr) *offer = o;
    send(from, proto::encode(proto::Offered{o.slots, {{0, o.slots}}}));
    return from;
  }

  void send_jobs(const std::string& to, std::vector<proto::JobAssignment> jobs, std::vector<Payload> payloads) {
    proto::Jobs msg;
    msg.jobs = std::move(jobs);
    for (const auto& p : payloads) msg.payloads.push_back(proto::to_frame(p));
    send(to, proto::encode(std::move(msg)));
  }

  void send_results(const std::string& to, std::vector<proto::ClientResult> results, std::vector<Payload> payloads) {
    proto::ClientResults msg;
    msg.results = std::move(results);
    for (const auto& p : payloads) msg.payloads.push_back(proto::to_frame(p));
    send(to, proto::encode(std::move(msg)));
  }

  void send_error(const std::string& to, std::string_view code, std::optional<std::uint64_t> req = std::nullopt,
                  std::string command = {}) {
    send(to, proto::encode(proto::ErrorReply{std::string(code), "from the fake manager", std::move(command), req}));
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  int heartbeats_ = 0;
};

// A thread-safe list the test can wait on.
template <typename T>
class Collector {
 public:
  void add(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    cv_.notify_all();
  }
  // Waits until at least n items are in; returns a copy of them (fails if not).
  std::vector<T> wait(std::size_t n, milliseconds timeout = kTimeout) {
    std::unique_lock lock(mutex_);
    const bool ok = cv_.wait_for(lock, timeout, [&] { return items_.size() >= n; });
    EXPECT_TRUE(ok) << "waited for " << n << " items, have " << items_.size();
    return items_;
  }
  std::vector<T> items() {
    std::lock_guard lock(mutex_);
    return items_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

proto::JobAssignment assignment(std::uint64_t id, unsigned attempt = 1,
                                std::optional<std::uint64_t> run_timeout_ms = std::nullopt) {
  proto::JobAssignment a;
  a.id = id;
  a.attempt = attempt;
  a.run_timeout_ms = run_timeout_ms;
  a.client = "c.1";
  return a;
}

WorkerOptions worker_options(const FakeManager& mgr) {
  WorkerOptions o;
  o.endpoint = mgr.endpoint();
  o.slots = 4;
  o.con_retry_time = 50ms;
  o.name = "test-worker";
  return o;
}

ClientOptions client_options(const FakeManager& mgr, bool keep_state = false) {
  ClientOptions o;
  o.endpoint = mgr.endpoint();
  o.keep_state = keep_state;
  o.con_retry_time = 50ms;
  o.name = "test-client";
  return o;
}

// Blocks the calling handler until the job is cancelled.
void wait_cancelled(const JobPtr& job) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait(lock, job->stop_token(), [] { return false; });
}

// For state that no callback announces (a counter of the library): checks it every
// millisecond until it holds or kTimeout passes.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

template <typename T>
T get(std::future<T>& future) {
  if (future.wait_for(kTimeout) != std::future_status::ready) throw std::runtime_error("result not delivered in time");
  return future.get();
}

// ---------------------------------------------------------------- worker

TEST(Worker, SaysHelloThenOffersItsSlotsAndServices) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.slots = 10;
  options.priority_slots = {{1.5, 3}, {2, 2}};
  options.services = {"resize", "ocr"};
  Worker worker(options);
  worker.start();

  proto::Hello hello;
  const auto peer = mgr.welcome("w.7", 10000ms, 5, &hello);
  EXPECT_EQ(hello.name, "test-worker");
  EXPECT_EQ(hello.lang, "c++");
  std::string from;
  auto offer = mgr.expect<proto::Offer>(&from);
  EXPECT_EQ(from, peer);
  EXPECT_EQ(offer.slots, 10u);
  EXPECT_EQ(offer.priority_slots, (std::map<double, unsigned>{{1.5, 3}, {2, 2}}));
  EXPECT_EQ(offer.services, (std::vector<std::string>{"resize", "ocr"}));
  EXPECT_FALSE(worker.wait_ready(0ms));
  mgr.send(peer, proto::encode(proto::Offered{10, {{0, 5}, {1.5, 3}, {2, 2}}}));
  EXPECT_TRUE(worker.wait_ready(kTimeout));
  EXPECT_EQ(worker.id(), "w.7");
}

TEST(Worker, StartRefusesABadOffer) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.slots = 10;
  options.priority_slots = {{1, 6}, {2, 5}};
  Worker too_many(options);
  try {
    too_many.start();
    FAIL() << "start() accepted guarantees above slots";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::kBadOffer);
  }
  options.priority_slots.clear();
  options.slots = 0;
  Worker no_slots(options);
  EXPECT_THROW(no_slots.start(), Error);
  options.slots = 1;
  options.priority_slots = {{-1, 1}};
  Worker negative(options);
  EXPECT_THROW(negative.start(), Error);
}

TEST(Worker, RunsJobsAndAnswersWithIdAttemptAndData) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.handler_threads = 2;
  Worker worker(options);
  worker.on_work([](const JobPtr& job) {
    const auto args = job->args().to_json();
    if (args == "throw") throw std::runtime_error("handler exploded");
    if (args == "fail") return job->fail("EMINE", "my own error");
    if (job->args().is_raw()) return job->reply(Payload::raw(job->args().str() + "!"));
    job->reply(Payload::json({{"echo", args}, {"attempt", job->attempt()}, {"key", job->key()}}));
  });
  worker.start();
  const auto peer = mgr.register_worker();
  ASSERT_TRUE(worker.wait_ready(kTimeout));

  auto a1 = assignment(101, 1);
  a1.key = "k1";
  auto a4 = assignment(104, 1);
  a4.raw = true;
  mgr.send_jobs(peer, {a1, assignment(102, 3), assignment(103, 2), a4},
                {Payload::json({1, 2}), Payload::json("throw"), Payload::json("fail"), Payload::raw("\x01\x02")});

  std::map<std::uint64_t, std::pair<proto::WorkerResult, Payload>> got;
  while (got.size() < 4) {
    auto results = mgr.expect<proto::WorkerResults>();
    for (std::size_t i = 0; i < results.results.size(); ++i) {
      const auto& r = results.results[i];
      got[r.id] = {r, proto::from_frame(std::move(results.payloads[i]), r.raw)};
    }
  }
  EXPECT_EQ(got[101].first.attempt, 1u);
  EXPECT_FALSE(got[101].first.err);
  EXPECT_EQ(got[101].second.to_json(), (nlohmann::json{{"echo", {1, 2}}, {"attempt", 1}, {"key", "k1"}}));
  EXPECT_EQ(got[102].first.attempt, 3u);
  ASSERT_TRUE(got[102].first.err);
  EXPECT_EQ(got[102].first.err->code, errc::kHandler);
  EXPECT_EQ(got[102].first.err->message, "handler exploded");
  EXPECT_EQ(got[103].first.attempt, 2u);
  ASSERT_TRUE(got[103].first.err);
  EXPECT_EQ(got[103].first.err->code, "EMINE");
  EXPECT_TRUE(got[104].first.raw);
  EXPECT_EQ(got[104].second, Payload::raw("\x01\x02!"));
  EXPECT_EQ(worker.running(), 0u);
}

// handler_threads = 0: handlers run on the I/O thread, so the answers to one JOBS
// message leave in one RESULT; a handler may still keep a job and answer later from
// another thread.
TEST(Worker, InlineHandlersAnswerAJobsMessageInOneResult) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.handler_threads = 0;
  Worker worker(options);
  Collector<JobPtr> deferred;
  std::set<std::thread::id> threads;  // written by the I/O thread only
  worker.on_work([&](const JobPtr& job) {
    threads.insert(std::this_thread::get_id());
    if (job->args().to_json() == "later") return deferred.add(job);
    job->reply(Payload::json(job->args().to_json().get<int>() * 10));
  });
  worker.start();
  const auto peer = mgr.register_worker();
  ASSERT_TRUE(worker.wait_ready(kTimeout));

  mgr.send_jobs(peer, {assignment(1), assignment(2), assignment(3)},
                {Payload::json(1), Payload::json(2), Payload::json(3)});
  auto batch = mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(batch.results.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(batch.results[i].id, i + 1);
    EXPECT_EQ(proto::from_frame(std::move(batch.payloads[i]), false).to_json(), static_cast<int>(i + 1) * 10);
  }

  mgr.send_jobs(peer, {assignment(4)}, {Payload::json("later")});
  auto kept = deferred.wait(1);
  EXPECT_TRUE(mgr.quiet());
  std::thread([job = kept[0]] { job->reply(Payload::json("done")); }).join();
  auto late = mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(late.results.size(), 1u);
  EXPECT_EQ(late.results[0].id, 4u);
  EXPECT_EQ(proto::from_frame(std::move(late.payloads[0]), false).to_json(), "done");
  worker.stop();
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(Worker, RejectsJobsBeyondItsSlots) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.slots = 2;
  Collector<JobPtr> jobs;
  Worker worker(options);
  worker.on_work([&](const JobPtr& job) { jobs.add(job); });
  worker.start();
  const auto peer = mgr.register_worker();

  mgr.send_jobs(peer, {assignment(1), assignment(2), assignment(3, 4)},
                {Payload::json(1), Payload::json(2), Payload::json(3)});
  auto reject = mgr.expect<proto::Reject>();
  ASSERT_EQ(reject.jobs.size(), 1u);
  EXPECT_EQ(reject.jobs[0].id, 3u);
  EXPECT_EQ(reject.jobs[0].attempt, 4u);
  EXPECT_EQ(worker.running(), 2u);
  jobs.wait(2);
  for (const auto& job : jobs.items()) job->reply(Payload::json("ok"));
  std::size_t answered = 0;
  while (answered < 2) answered += mgr.expect<proto::WorkerResults>().results.size();
}

TEST(Worker, RunTimeoutAnswersEtoAndDropsTheLateReply) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.handler_threads = 1;
  Collector<std::pair<std::uint64_t, std::string>> aborted;
  Worker worker(options);
  worker.on_work([](const JobPtr& job) {
    if (job->args().to_json() == "slow") {
      wait_cancelled(job);
      job->reply(Payload::json("late"));  // must go nowhere
      return;
    }
    job->reply(Payload::json("quick"));
  });
  worker.on_abort([&](const JobPtr& job, const std::string& reason) { aborted.add({job->id(), reason}); });
  worker.start();
  const auto peer = mgr.register_worker();

  const auto sent = std::chrono::steady_clock::now();
  mgr.send_jobs(peer, {assignment(7, 2, 60)}, {Payload::json("slow")});
  auto eto = mgr.expect<proto::WorkerResults>();
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 60ms);
  ASSERT_EQ(eto.results.size(), 1u);
  EXPECT_EQ(eto.results[0].id, 7u);
  EXPECT_EQ(eto.results[0].attempt, 2u);
  ASSERT_TRUE(eto.results[0].err);
  EXPECT_EQ(eto.results[0].err->code, errc::kRunTimeout);
  EXPECT_EQ(aborted.wait(1)[0], (std::pair<std::uint64_t, std::string>{7, "ETO"}));

  // The handler thread replied "late" before taking the next job, so a leaked late
  // reply would arrive before (or with) this one.
  mgr.send_jobs(peer, {assignment(8)}, {Payload::json("fast")});
  auto next = mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(next.results.size(), 1u);
  EXPECT_EQ(next.results[0].id, 8u);
  EXPECT_EQ(proto::from_frame(std::move(next.payloads[0]), false).to_json(), "quick");
}

TEST(Worker, AbortReachesTheHandlerAndSendsNoResult) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.handler_threads = 1;
  Collector<std::string> events;
  Worker worker(options);
  worker.on_work([&](const JobPtr& job) {
    if (job->args().to_json() == "long") {
      events.add("started");
      wait_cancelled(job);
      events.add("handler saw stop");
      job->reply(Payload::json("after abort"));
      return;
    }
    job->reply(Payload::json("short"));
  });
  worker.on_abort([&](const JobPtr& job, const std::string& reason) {
    events.add(reason + " " + std::to_string(job->id()));
  });
  worker.start();
  const auto peer = mgr.register_worker();

  mgr.send_jobs(peer, {assignment(11)}, {Payload::json("long")});
  events.wait(1);  // the handler runs
  mgr.send(peer, proto::encode(proto::WorkerAbort{{{11, 1}}}));
  auto seen = events.wait(3);
  EXPECT_NE(std::find(seen.begin(), seen.end(), "abort 11"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "handler saw stop"), seen.end());
  EXPECT_EQ(worker.running(), 0u);

  mgr.send_jobs(peer, {assignment(12)}, {Payload::json("short")});
  auto next = mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(next.results.size(), 1u);
  EXPECT_EQ(next.results[0].id, 12u);
}

TEST(Worker, BatchesResultsUpToTheAnswerThreshold) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.answer_threshold = 2;
  options.answer_delay_max = 10s;
  Collector<JobPtr> jobs;
  Worker worker(options);
  worker.on_work([&](const JobPtr& job) { jobs.add(job); });
  worker.start();
  const auto peer = mgr.register_worker();

  mgr.send_jobs(peer, {assignment(1), assignment(2), assignment(3), assignment(4)},
                {Payload::json(1), Payload::json(2), Payload::json(3), Payload::json(4)});
  auto running = jobs.wait(4);
  std::sort(running.begin(), running.end(), [](const JobPtr& a, const JobPtr& b) { return a->id() < b->id(); });
  running[0]->reply(Payload::json("r1"));
  EXPECT_TRUE(mgr.quiet()) << "one result was sent alone below the threshold";
  running[1]->reply(Payload::json("r2"));
  auto batch = mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(batch.results.size(), 2u);
  EXPECT_EQ(batch.results[0].id, 1u);
  EXPECT_EQ(batch.results[1].id, 2u);
  // Below the threshold, but the worker goes idle: the batch leaves.
  running[2]->fail("EX", "x");
  running[3]->reply(Payload::json("r4"));
  std::size_t rest = 0;
  while (rest < 2) rest += mgr.expect<proto::WorkerResults>().results.size();
}

TEST(Worker, SendsAWaitingBatchAfterAnswerDelayMax) {
  FakeManager mgr;
  auto options = worker_options(mgr);
  options.answer_threshold = 10;
  options.answer_delay_max = 50ms;
  Collector<JobPtr> jobs;
  Worker worker(options);
  worker.on_work([&](const JobPtr& job) { jobs.add(job); });
  worker.start();
  const auto peer = mgr.register_worker();

  mgr.send_jobs(peer, {assignment(1), assignment(2)}, {Payload::json(1), Payload::json(2)});
  auto running = jobs.wait(2);
  const auto replied = std::chrono::steady_clock::now();
  running[0]->reply(Payload::json("first"));
  auto batch = mgr.expect<proto::WorkerResults>();
  EXPECT_GE(std::chrono::steady_clock::now() - replied, 50ms);
  EXPECT_EQ(batch.results.size(), 1u);
  running[1]->reply(Payload::json("second"));
  EXPECT_EQ(mgr.expect<proto::WorkerResults>().results.size(), 1u);
}

TEST(Worker, RegistersAgainAndReoffersAfterEnohello) {
  FakeManager mgr;
  Collector<std::string> reasons;
  Worker worker(worker_options(mgr));
  worker.on_work([](const JobPtr&) {});  // keeps every job running
  worker.on_abort([&](const JobPtr&, const std::string& reason) { reasons.add(reason); });
  worker.start();
  const auto first = mgr.register_worker("w.1");
  ASSERT_TRUE(worker.wait_ready(kTimeout));
  mgr.send_jobs(first, {assignment(5)}, {Payload::json(5)});

  mgr.send_error(first, errc::kNoHello, std::nullopt, "HEARTBEAT");
  EXPECT_EQ(reasons.wait(1)[0], "reconnect");
  proto::Offer offer;
  const auto second = mgr.register_worker("w.2", 10000ms, 5, &offer);
  EXPECT_NE(second, first) << "a new session uses a new socket";
  EXPECT_EQ(offer.slots, 4u);
  ASSERT_TRUE(worker.wait_ready(kTimeout));
  EXPECT_EQ(worker.id(), "w.2");
  EXPECT_EQ(worker.running(), 0u);
}

TEST(Worker, ReconnectsWhenTheManagerFallsSilent) {
  FakeManager mgr;
  Collector<std::string> reasons;
  Worker worker(worker_options(mgr));
  worker.on_work([](const JobPtr&) {});
  worker.on_abort([&](const JobPtr&, const std::string& reason) { reasons.add(reason); });
  worker.start();
  const auto first = mgr.register_worker("w.1", 50ms, 3);
  mgr.send_jobs(first, {assignment(9)}, {Payload::json(9)});
  // Now the fake says nothing: after 3 x 50 ms the worker gives up on it, waits its
  // con_retry_time (50 ms) and says HELLO on a new socket.
  std::string from;
  const auto silent_since = std::chrono::steady_clock::now();
  mgr.expect<proto::Hello>(&from);
  EXPECT_GE(std::chrono::steady_clock::now() - silent_since, 150ms);
  EXPECT_NE(from, first);
  EXPECT_GT(mgr.heartbeats(), 0) << "the worker heartbeats while it has nothing else to say";
  EXPECT_EQ(reasons.wait(1)[0], "reconnect");
}

// A worker registered with a fake manager and running job 1 (by default until it is
// cancelled), for the stop tests; the reasons of its aborts are collected. The worker
// is declared last: it is destroyed first.
struct RunningJob {
  explicit RunningJob(Worker::WorkHandler handler = wait_cancelled) : worker(worker_options(mgr)) {
    worker.on_work(std::move(handler));
    worker.on_abort([this](const JobPtr&, const std::string& reason) { reasons.add(reason); });
    worker.start();
    peer = mgr.register_worker();
    mgr.send_jobs(peer, {assignment(1)}, {Payload::json(1)});
    running = eventually([this] { return worker.running() == 1; });
  }
  FakeManager mgr;
  Collector<std::string> reasons;
  std::string peer;
  bool running = false;
  Worker worker;
};

TEST(Worker, HardStopSaysByeAndCancelsRunningJobs) {
  RunningJob w;
  ASSERT_TRUE(w.running);
  w.worker.stop(0ms);  // no DRAIN: BYE at once
  w.worker.stop();     // idempotent
  w.mgr.expect<proto::Bye>();
  EXPECT_EQ(w.reasons.items(), std::vector<std::string>{"stop"});
}

// A graceful stop (PROTOCOL §4 DRAIN): DRAIN first, jobs that still arrive are
// rejected, the running job finishes and its result is sent, then BYE.
TEST(Worker, StopDrainsRejectsLateJobsAndSaysByeOnceTheRunningJobsAreAnswered) {
  std::promise<void> release;
  auto released = release.get_future().share();
  RunningJob w([released](const JobPtr& job) {
    released.wait();
    job->reply(job->args());
  });
  ASSERT_TRUE(w.running);

  auto stopped = std::async(std::launch::async, [&] { w.worker.stop(); });
  w.mgr.expect<proto::Drain>();
  w.mgr.send_jobs(w.peer, {assignment(2), assignment(3)}, {Payload::json(2), Payload::json(3)});
  const auto reject = w.mgr.expect<proto::Reject>();
  ASSERT_EQ(reject.jobs.size(), 2u);
  EXPECT_EQ(reject.jobs[0].id, 2u);
  EXPECT_EQ(reject.jobs[1].id, 3u);
  EXPECT_EQ(stopped.wait_for(0ms), std::future_status::timeout);

  release.set_value();
  const auto result = w.mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(result.results.size(), 1u);
  EXPECT_EQ(result.results[0].id, 1u);
  w.mgr.expect<proto::Bye>();
  ASSERT_EQ(stopped.wait_for(kTimeout), std::future_status::ready);
  EXPECT_TRUE(w.reasons.items().empty());
}

// A manager that does not know DRAIN answers ERROR: the worker stops at once.
TEST(Worker, StopIsImmediateWhenTheManagerRefusesDrain) {
  RunningJob w;  // drain_timeout 30 s
  ASSERT_TRUE(w.running);
  auto stopped = std::async(std::launch::async, [&] { w.worker.stop(); });
  w.mgr.expect<proto::Drain>();
  w.mgr.send_error(w.peer, "EUNKNOWNCMD", std::nullopt, "DRAIN");
  w.mgr.expect<proto::Bye>();
  ASSERT_EQ(stopped.wait_for(kTimeout), std::future_status::ready);
  EXPECT_EQ(w.reasons.items(), std::vector<std::string>{"stop"});
}

// The session is lost while the worker drains: the manager requeued its jobs, so the
// stop ends without waiting, and the worker offers nothing to a new session.
TEST(Worker, LostSessionDuringADrainEndsTheStopWithoutANewOffer) {
  RunningJob w;
  ASSERT_TRUE(w.running);
  auto stopped = std::async(std::launch::async, [&] { w.worker.stop(); });
  w.mgr.expect<proto::Drain>();
  w.mgr.send_error(w.peer, "ENOHELLO");
  ASSERT_EQ(stopped.wait_for(kTimeout), std::future_status::ready);
  EXPECT_EQ(w.reasons.items(), std::vector<std::string>{"reconnect"});
  // Whatever the worker still said (a HELLO at most), it offered nothing.
  while (auto in = w.mgr.receive(kQuiet)) {
    EXPECT_FALSE(std::holds_alternative<proto::Offer>(in->msg)) << "a stopping worker offered its slots again";
  }
}

// stop() from a handler, on a handler thread or inline on the I/O thread, returns at
// once: the worker stops in the background, after the calling job's answer.
TEST(Worker, StopFromAHandlerReturnsAndStopsInTheBackground) {
  for (const unsigned threads : {1U, 0U}) {
    SCOPED_TRACE(threads);
    FakeManager mgr;
    auto options = worker_options(mgr);
    options.handler_threads = threads;
    Worker worker(options);
    std::atomic<bool> returned{false};
    worker.on_work([&](const JobPtr& job) {
      worker.stop();
      returned = true;
      job->reply(job->args());
    });
    worker.start();
    const auto peer = mgr.register_worker();
    mgr.send_jobs(peer, {assignment(1)}, {Payload::json(1)});
    // The answer may overtake the DRAIN (the stop begins on its own thread); the BYE
    // comes after both.
    std::vector<std::string> seen;
    while (seen.empty() || seen.back() != "BYE") {
      auto in = mgr.receive(kTimeout);
      ASSERT_TRUE(in.has_value()) << "no BYE";
      seen.emplace_back(name_of(in->msg));
      if (auto* result = std::get_if<proto::WorkerResults>(&in->msg)) {
        ASSERT_EQ(result->results.size(), 1u);
        EXPECT_FALSE(result->results[0].err.has_value()) << result->results[0].err->code;
      }
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::string>{"BYE", "DRAIN", "RESULT"}));
    EXPECT_TRUE(returned.load());
  }
}

TEST(Worker, DropsBadMessagesFromTheManagerAndCarriesOn) {
  FakeManager mgr;
  Worker worker(worker_options(mgr));
  worker.on_work([](const JobPtr& job) { job->reply(job->args()); });
  worker.start();
  const auto peer = mgr.register_worker();
  mgr.send_raw(peer, {"", "PRO9", "JOBS", "{}"});
  mgr.send_raw(peer, {"", "PRO1", "JOBS", "{not json"});
  mgr.send_raw(peer, {"", "PRO1", "JOBS", R"({"jobs":[{"id":1,"attempt":1}]})"});  // payload missing
  mgr.send_raw(peer, {"", "PRO1", "NONSENSE", ""});
  mgr.send_raw(peer, {"only one frame"});
  mgr.send_jobs(peer, {assignment(42)}, {Payload::json("still alive")});
  auto result = mgr.expect<proto::WorkerResults>();
  ASSERT_EQ(result.results.size(), 1u);
  EXPECT_EQ(result.results[0].id, 42u);
}

// ---------------------------------------------------------------- client

TEST(Client, PushesFramesAndDeliversResultsInOrder) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  ASSERT_TRUE(client.wait_connected(kTimeout));
  EXPECT_EQ(client.id(), "c.1");

  JobSpec keyed(nlohmann::json{{"n", 1}});
  keyed.key = "img-42";
  keyed.service = "resize";
  WorkOptions options;
  options.priority = 1.5;
  options.run_timeout = 500ms;
  options.assign_timeout = 2000ms;
  options.timeout = 10s;
  auto future = client.work(std::vector<JobSpec>{keyed, JobSpec(nlohmann::json(2)), JobSpec(Payload::raw(std::string("\x00\xff", 2)))},
                            options);
  EXPECT_EQ(client.pending(), 3u);

  std::string from;
  auto push = mgr.expect<proto::Push>(&from);
  EXPECT_EQ(from, peer);
  EXPECT_EQ(push.priority, 1.5);
  EXPECT_EQ(push.run_timeout_ms, 500u);
  EXPECT_EQ(push.assign_timeout_ms, 2000u);
  ASSERT_EQ(push.jobs.size(), 3u);
  EXPECT_EQ(push.jobs[0].key, "img-42");
  EXPECT_EQ(push.jobs[0].service, "resize");
  EXPECT_FALSE(push.jobs[0].raw);
  EXPECT_TRUE(push.jobs[1].key.empty());
  EXPECT_TRUE(push.jobs[2].raw);
  ASSERT_EQ(push.payloads.size(), 3u);
  EXPECT_EQ(proto::from_frame(std::move(push.payloads[0]), false).to_json(), (nlohmann::json{{"n", 1}}));
  EXPECT_EQ(proto::from_frame(std::move(push.payloads[1]), false).to_json(), 2);
  EXPECT_EQ(proto::from_frame(std::move(push.payloads[2]), true), Payload::raw(std::string("\x00\xff", 2)));

  mgr.send(peer, proto::encode(proto::Accepted{push.req, {101, 102, 103}}));
  // Results arrive out of order, in two messages; work() gives them in job order.
  mgr.send_results(peer, {{103, std::nullopt, true}, {101, JobError{"EMINE", "no"}, false}},
                   {Payload::raw("bin"), Payload{}});
  mgr.send_results(peer, {{102, std::nullopt, false}}, {Payload::json("two")});
  auto results = get(future);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].err);
  EXPECT_EQ(results[0].err->code, "EMINE");
  EXPECT_TRUE(results[1].ok());
  EXPECT_EQ(results[1].data.to_json(), "two");
  EXPECT_EQ(results[2].data, Payload::raw("bin"));
  EXPECT_EQ(client.pending(), 0u);
}

TEST(Client, SingleJobGivesASingleResult) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  std::promise<Result> promise;
  const auto req = client.work(JobSpec(nlohmann::json("one")), WorkOptions{},
                               Client::SingleCallback([&](Result r) { promise.set_value(std::move(r)); }));
  auto push = mgr.expect<proto::Push>();
  EXPECT_EQ(push.req, req);
  ASSERT_EQ(push.jobs.size(), 1u);
  EXPECT_FALSE(push.run_timeout_ms);
  EXPECT_FALSE(push.assign_timeout_ms);
  mgr.send(peer, proto::encode(proto::Accepted{push.req, {7}}));
  mgr.send_results(peer, {{7, std::nullopt, false}}, {Payload::json(1)});
  auto future = promise.get_future();
  EXPECT_EQ(get(future).data.to_json(), 1);
}

TEST(Client, WorkIndividualReportsInFinishingOrder) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  Collector<std::pair<std::size_t, std::uint64_t>> each;
  std::promise<void> done;
  const auto req = client.work_individual(
      {JobSpec(nlohmann::json(0)), JobSpec(nlohmann::json(1)), JobSpec(nlohmann::json(2))}, WorkOptions{},
      [&](const Result& r, const JobRef& ref) {
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.data.to_json(), ref.index);
        each.add({ref.index, ref.id});
      },
      [&] { done.set_value(); });
  auto push = mgr.expect<proto::Push>();
  EXPECT_EQ(push.req, req);
  mgr.send(peer, proto::encode(proto::Accepted{push.req, {50, 51, 52}}));
  mgr.send_results(peer, {{52, std::nullopt, false}}, {Payload::json(2)});
  mgr.send_results(peer, {{50, std::nullopt, false}}, {Payload::json(0)});
  mgr.send_results(peer, {{51, std::nullopt, false}}, {Payload::json(1)});
  auto finished = done.get_future();
  ASSERT_EQ(finished.wait_for(kTimeout), std::future_status::ready);
  EXPECT_EQ(each.items(), (std::vector<std::pair<std::size_t, std::uint64_t>>{{2, 52}, {0, 50}, {1, 51}}));
}

TEST(Client, TimeoutGivesEcstoAndAbortsOnTheManager) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  WorkOptions options;
  options.timeout = 100ms;
  const auto called = std::chrono::steady_clock::now();
  auto future = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json(1)), JobSpec(nlohmann::json(2))}, options);
  auto push = mgr.expect<proto::Push>();
  mgr.send(peer, proto::encode(proto::Accepted{push.req, {31, 32}}));
  mgr.send_results(peer, {{32, std::nullopt, false}}, {Payload::json("done in time")});
  auto results = get(future);
  EXPECT_GE(std::chrono::steady_clock::now() - called, 100ms);
  ASSERT_TRUE(results[0].err);
  EXPECT_EQ(results[0].err->code, errc::kClientTimeout);
  EXPECT_TRUE(results[1].ok());
  auto abort = mgr.expect<proto::ClientAbort>();
  EXPECT_EQ(abort.ids, std::vector<std::uint64_t>{31});
}

TEST(Client, TimeoutBeforeAcceptedAbortsTheIdsWhenTheyArrive) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  WorkOptions options;
  options.timeout = 30ms;
  auto future = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json(1))}, options);
  auto push = mgr.expect<proto::Push>();
  auto results = get(future);
  EXPECT_EQ(results[0].err->code, errc::kClientTimeout);
  mgr.send(peer, proto::encode(proto::Accepted{push.req, {77}}));
  EXPECT_EQ(mgr.expect<proto::ClientAbort>().ids, std::vector<std::uint64_t>{77});
}

TEST(Client, AbortFinishesJobsWithEabortedAndTellsTheManager) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  Collector<std::pair<std::size_t, std::string>> each;
  std::promise<void> done;
  const auto req = client.work_individual(
      {JobSpec(nlohmann::json(0)), JobSpec(nlohmann::json(1)), JobSpec(nlohmann::json(2))}, WorkOptions{},
      [&](const Result& r, const JobRef& ref) { each.add({ref.index, r.ok() ? "ok" : r.err->code}); },
      [&] { done.set_value(); });
  auto push = mgr.expect<proto::Push>();
  mgr.send(peer, proto::encode(proto::Accepted{push.req, {61, 62, 63}}));
  // The ACCEPTED is in once the client aborts id 62 on the manager.
  client.abort(req, {1});
  EXPECT_EQ(mgr.expect<proto::ClientAbort>().ids, std::vector<std::uint64_t>{62});
  EXPECT_EQ(each.wait(1)[0], (std::pair<std::size_t, std::string>{1, std::string(errc::kAborted)}));
  // A result for the aborted job that crossed the ABORT on the wire is dropped.
  mgr.send_results(peer, {{62, std::nullopt, false}, {61, std::nullopt, false}}, {Payload{}, Payload{}});
  each.wait(2);       // 61 is in
  client.abort(req);  // the rest
  EXPECT_EQ(mgr.expect<proto::ClientAbort>().ids, std::vector<std::uint64_t>{63});
  auto finished = done.get_future();
  ASSERT_EQ(finished.wait_for(kTimeout), std::future_status::ready);
  EXPECT_EQ(each.items(), (std::vector<std::pair<std::size_t, std::string>>{
                              {1, std::string(errc::kAborted)}, {0, "ok"}, {2, std::string(errc::kAborted)}}));
  EXPECT_EQ(client.pending(), 0u);
}

TEST(Client, ErrorWithReqFailsThatPush) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  auto refused = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json(1)), JobSpec(nlohmann::json(2))});
  WorkOptions other;  // another priority: never in the same PUSH as the refused request
  other.priority = 1;
  auto fine = client.work(JobSpec(nlohmann::json(3)), other);
  auto push1 = mgr.expect<proto::Push>();
  auto push2 = mgr.expect<proto::Push>();
  ASSERT_EQ(push1.jobs.size(), 2u);
  ASSERT_EQ(push2.jobs.size(), 1u);
  mgr.send_error(peer, errc::kLimit, push1.req, "PUSH");
  mgr.send(peer, proto::encode(proto::Accepted{push2.req, {5}}));
  mgr.send_results(peer, {{5, std::nullopt, false}}, {Payload::json("ok")});
  auto results = get(refused);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].err->code, errc::kLimit);
  EXPECT_EQ(results[1].err->code, errc::kLimit);
  EXPECT_TRUE(get(fine).ok());
}

TEST(Client, QueuesWorkUntilRegistered) {
  FakeManager mgr;
  Client client(client_options(mgr));
  auto future = client.work(JobSpec(nlohmann::json("early")));
  std::string from;
  mgr.expect<proto::Hello>(&from);
  EXPECT_FALSE(client.wait_connected(0ms));
  proto::Welcome welcome;
  welcome.id = "c.9";
  mgr.send(from, proto::encode(welcome));
  auto push = mgr.expect<proto::Push>();
  ASSERT_EQ(push.jobs.size(), 1u);
  mgr.send(from, proto::encode(proto::Accepted{push.req, {1}}));
  mgr.send_results(from, {{1, std::nullopt, false}}, {Payload::json("late")});
  EXPECT_EQ(get(future).data.to_json(), "late");
}

// Requests that share their push options travel in one PUSH, and the ids of its
// ACCEPTED go back to the right request; other options travel apart.
TEST(Client, CoalescesRequestsWithTheSameOptionsIntoOnePush) {
  FakeManager mgr;
  Client client(client_options(mgr));
  // Queued before WELCOME, so all four are pushed in the same step.
  auto a = client.work(JobSpec(nlohmann::json("a")));
  auto bc = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json("b")), JobSpec(nlohmann::json("c"))});
  WorkOptions urgent;
  urgent.priority = 3;
  auto u = client.work(JobSpec(nlohmann::json("u")), urgent);
  auto d = client.work(JobSpec(nlohmann::json("d")));
  proto::Welcome welcome;
  welcome.id = "c.1";
  const std::string from = mgr.welcome_as(welcome);

  auto plain = mgr.expect<proto::Push>();
  auto high = mgr.expect<proto::Push>();
  ASSERT_EQ(plain.jobs.size(), 4u);
  EXPECT_EQ(plain.priority, 0);
  std::vector<nlohmann::json> order;
  for (auto& frame : plain.payloads) order.push_back(proto::from_frame(std::move(frame), false).to_json());
  EXPECT_EQ(order, (std::vector<nlohmann::json>{"a", "b", "c", "d"}));
  ASSERT_EQ(high.jobs.size(), 1u);
  EXPECT_EQ(high.priority, 3);
  EXPECT_NE(plain.req, high.req);

  mgr.send(from, proto::encode(proto::Accepted{high.req, {50}}));
  mgr.send(from, proto::encode(proto::Accepted{plain.req, {10, 11, 12, 13}}));
  mgr.send_results(from, {{13, std::nullopt, false}, {11, std::nullopt, false}, {50, std::nullopt, false}},
                   {Payload::json("D"), Payload::json("B"), Payload::json("U")});
  mgr.send_results(from, {{12, std::nullopt, false}, {10, std::nullopt, false}},
                   {Payload::json("C"), Payload::json("A")});
  EXPECT_EQ(get(a).data.to_json(), "A");
  auto group = get(bc);
  ASSERT_EQ(group.size(), 2u);
  EXPECT_EQ(group[0].data.to_json(), "B");
  EXPECT_EQ(group[1].data.to_json(), "C");
  EXPECT_EQ(get(u).data.to_json(), "U");
  EXPECT_EQ(get(d).data.to_json(), "D");
}

// A manager that announces entry_options gets one PUSH for every priority and
// timeout: the header carries the first job's, entries carry what differs.
TEST(Client, WithEntryOptionsOnePushCarriesEveryPriority) {
  FakeManager mgr;
  Client client(client_options(mgr));
  auto low = client.work(JobSpec(nlohmann::json("low")));
  WorkOptions urgent;
  urgent.priority = 3;
  urgent.run_timeout = 700ms;
  auto high = client.work(JobSpec(nlohmann::json("high")), urgent);
  auto low2 = client.work(JobSpec(nlohmann::json("low2")));
  proto::Welcome welcome;
  welcome.id = "c.1";
  welcome.entry_options = true;
  const std::string from = mgr.welcome_as(welcome);

  auto push = mgr.expect<proto::Push>();
  EXPECT_TRUE(mgr.quiet()) << "a second PUSH for the other priority";
  ASSERT_EQ(push.jobs.size(), 3u);
  EXPECT_EQ(push.priority, 0);
  EXPECT_FALSE(push.run_timeout_ms);
  EXPECT_FALSE(push.jobs[0].priority);
  EXPECT_EQ(push.jobs[1].priority, 3.0);
  EXPECT_EQ(push.jobs[1].run_timeout_ms, 700u);
  EXPECT_FALSE(push.jobs[2].priority);
  EXPECT_FALSE(push.jobs[2].run_timeout_ms);
  mgr.send(from, proto::encode(proto::Accepted{push.req, {1, 2, 3}}));
  mgr.send_results(from, {{2, std::nullopt, false}, {1, std::nullopt, false}, {3, std::nullopt, false}},
                   {Payload::json("H"), Payload::json("L"), Payload::json("L2")});
  EXPECT_EQ(get(high).data.to_json(), "H");
  EXPECT_EQ(get(low).data.to_json(), "L");
  EXPECT_EQ(get(low2).data.to_json(), "L2");
}

TEST(Client, KeepStateRepushesUnfinishedJobsAfterEnohello) {
  FakeManager mgr;
  Client client(client_options(mgr, true));
  const auto first = mgr.welcome("c.1");
  WorkOptions options;
  options.priority = 2;
  options.run_timeout = 700ms;
  auto future = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json("a")), JobSpec(nlohmann::json("b"))}, options);
  auto push = mgr.expect<proto::Push>();
  mgr.send(first, proto::encode(proto::Accepted{push.req, {1, 2}}));
  mgr.send_results(first, {{1, std::nullopt, false}}, {Payload::json("A")});
  mgr.send_error(first, errc::kNoHello, std::nullopt, "HEARTBEAT");

  const auto second = mgr.welcome("c.2");
  EXPECT_NE(second, first);
  auto again = mgr.expect<proto::Push>();
  EXPECT_NE(again.req, push.req);  // a push number is never reused
  EXPECT_EQ(again.priority, 2);
  EXPECT_EQ(again.run_timeout_ms, 700u);
  ASSERT_EQ(again.jobs.size(), 1u);
  EXPECT_EQ(proto::from_frame(std::move(again.payloads[0]), false).to_json(), "b");
  mgr.send(second, proto::encode(proto::Accepted{again.req, {2}}));  // a restarted manager may reuse ids
  mgr.send_results(second, {{2, std::nullopt, false}}, {Payload::json("B")});
  auto results = get(future);
  EXPECT_EQ(results[0].data.to_json(), "A");
  EXPECT_EQ(results[1].data.to_json(), "B");
}

TEST(Client, WithoutKeepStateUnfinishedJobsFailWithEconnlost) {
  FakeManager mgr;
  Client client(client_options(mgr, false));
  const auto first = mgr.welcome("c.1");
  auto future = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json("a")), JobSpec(nlohmann::json("b"))});
  auto push = mgr.expect<proto::Push>();
  mgr.send(first, proto::encode(proto::Accepted{push.req, {1, 2}}));
  mgr.send_results(first, {{1, std::nullopt, false}}, {Payload::json("A")});
  mgr.send_error(first, errc::kNoHello);
  auto results = get(future);
  EXPECT_TRUE(results[0].ok());
  ASSERT_TRUE(results[1].err);
  EXPECT_EQ(results[1].err->code, errc::kConnectionLost);
  mgr.welcome("c.2");
  EXPECT_TRUE(client.wait_connected(kTimeout));
  EXPECT_TRUE(mgr.quiet()) << "nothing is pushed again";
}

TEST(Client, ReconnectsWhenTheManagerFallsSilentAndRepushes) {
  FakeManager mgr;
  Client client(client_options(mgr, true));
  const auto first = mgr.welcome("c.1", 50ms, 3);
  auto future = client.work(JobSpec(nlohmann::json("x")));
  auto push = mgr.expect<proto::Push>();
  mgr.send(first, proto::encode(proto::Accepted{push.req, {1}}));
  // Silence from here on; the client must come back with a new HELLO and push again.
  const auto second = mgr.welcome("c.2");
  EXPECT_NE(second, first);
  EXPECT_GT(mgr.heartbeats(), 0);
  auto again = mgr.expect<proto::Push>();
  EXPECT_NE(again.req, push.req);  // a push number is never reused
  mgr.send(second, proto::encode(proto::Accepted{again.req, {9}}));
  mgr.send_results(second, {{9, std::nullopt, false}}, {Payload::json("X")});
  EXPECT_EQ(get(future).data.to_json(), "X");
}

TEST(Client, ReconnectsAfterManagerBye) {
  FakeManager mgr;
  Client client(client_options(mgr, true));
  const auto first = mgr.welcome("c.1");
  mgr.send(first, proto::encode(proto::Bye{"shutdown"}));
  const auto second = mgr.welcome("c.2");
  EXPECT_NE(second, first);
  EXPECT_TRUE(client.wait_connected(kTimeout));
}

TEST(Client, DestructorAbortsUnfinishedJobsAndSaysBye) {
  FakeManager mgr;
  std::future<std::vector<Result>> future;
  {
    Client client(client_options(mgr));
    const auto peer = mgr.welcome("c.1");
    future = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json(1)), JobSpec(nlohmann::json(2))});
    auto push = mgr.expect<proto::Push>();
    mgr.send(peer, proto::encode(proto::Accepted{push.req, {3, 4}}));
    mgr.send_results(peer, {{3, std::nullopt, false}}, {Payload::json("three")});
    // Wait until the client has the result for 3 (it is then done with the ACCEPTED).
    ASSERT_TRUE(eventually([&] { return client.pending() == 1; }));
  }
  EXPECT_EQ(mgr.expect<proto::ClientAbort>().ids, std::vector<std::uint64_t>{4});
  mgr.expect<proto::Bye>();
  auto results = get(future);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].err->code, errc::kAborted);
}

TEST(Client, SplitsARequestUnderTheManagersFrameLimit) {
  FakeManager mgr;
  Client client(client_options(mgr));
  proto::Welcome welcome;
  welcome.id = "c.1";
  welcome.heartbeat_ms = 10000;
  welcome.max_frames = proto::kFixedFrames + 2;  // two jobs per PUSH
  const std::string peer = mgr.welcome_as(welcome);
  ASSERT_TRUE(client.wait_connected(kTimeout));

  std::vector<JobSpec> jobs;
  for (int i = 0; i < 5; ++i) jobs.emplace_back(nlohmann::json(i));
  auto future = client.work(std::move(jobs));
  std::vector<std::size_t> sizes;
  std::uint64_t next_id = 10;
  std::vector<proto::ClientResult> results;
  std::vector<Payload> payloads;
  while (std::accumulate(sizes.begin(), sizes.end(), std::size_t{0}) < 5) {
    auto push = mgr.expect<proto::Push>();
    sizes.push_back(push.jobs.size());
    proto::Accepted accepted{push.req, {}};
    for (std::size_t i = 0; i < push.jobs.size(); ++i) {
      accepted.ids.push_back(next_id);
      // Each job answers with its own argument, so the order can be checked.
      results.push_back({next_id++, std::nullopt, false});
      payloads.push_back(proto::from_frame(std::move(push.payloads[i]), false));
    }
    mgr.send(peer, proto::encode(accepted));
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));
  std::reverse(results.begin(), results.end());
  std::reverse(payloads.begin(), payloads.end());
  mgr.send_results(peer, results, payloads);
  auto got = get(future);
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].data.to_json(), i);
}

// A request larger than the window of unacknowledged pushes is fed to the manager as
// it accepts: at most 8 pushes wait for ACCEPTED at a time.
TEST(Client, KeepsAtMostEightPushesWaitingForAccepted) {
  FakeManager mgr;
  Client client(client_options(mgr));
  proto::Welcome welcome;
  welcome.id = "c.1";
  welcome.heartbeat_ms = 10000;
  welcome.max_frames = proto::kFixedFrames + 2;  // two jobs per PUSH
  const std::string peer = mgr.welcome_as(welcome);
  ASSERT_TRUE(client.wait_connected(kTimeout));

  std::vector<JobSpec> jobs;
  for (int i = 0; i < 21; ++i) jobs.emplace_back(nlohmann::json(i));
  auto future = client.work(std::move(jobs));
  std::vector<proto::Push> waiting;
  for (int i = 0; i < 8; ++i) waiting.push_back(mgr.expect<proto::Push>());
  EXPECT_TRUE(mgr.quiet()) << "a ninth push went out before any ACCEPTED";

  std::uint64_t next_id = 1;
  std::vector<proto::ClientResult> results;
  std::vector<Payload> payloads;
  std::size_t pushed = 0;
  const auto accept = [&](const proto::Push& push) {
    proto::Accepted accepted{push.req, {}};
    for (std::size_t i = 0; i < push.jobs.size(); ++i) {
      accepted.ids.push_back(next_id);
      results.push_back({next_id++, std::nullopt, false});
      zmq::message_t frame;
      frame.copy(const_cast<zmq::message_t&>(push.payloads[i]));
      payloads.push_back(proto::from_frame(std::move(frame), false));
    }
    pushed += push.jobs.size();
    mgr.send(peer, proto::encode(accepted));
  };
  accept(waiting.front());
  waiting.erase(waiting.begin());
  waiting.push_back(mgr.expect<proto::Push>());  // the window moved by one
  EXPECT_TRUE(mgr.quiet());
  while (!waiting.empty()) {
    accept(waiting.front());
    waiting.erase(waiting.begin());
    if (pushed + 2 * waiting.size() < 21) waiting.push_back(mgr.expect<proto::Push>());
  }
  EXPECT_EQ(pushed, 21u);
  mgr.send_results(peer, results, payloads);
  auto got = get(future);
  ASSERT_EQ(got.size(), 21u);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].data.to_json(), i);
}

TEST(Client, RefusesBadOptions) {
  FakeManager mgr;
  Client client(client_options(mgr));
  WorkOptions options;
  options.priority = -1;
  EXPECT_THROW((void)client.work(JobSpec(nlohmann::json(1)), options), Error);
  options.priority = 0;
  options.timeout = -5ms;
  EXPECT_THROW((void)client.work(JobSpec(nlohmann::json(1)), options), Error);
  JobSpec not_utf8(nlohmann::json(1));
  not_utf8.key = "\xff";
  EXPECT_THROW((void)client.work(not_utf8), Error);
  not_utf8.key.clear();
  not_utf8.service = "caf\xc3";  // cut inside a sequence
  EXPECT_THROW((void)client.work(not_utf8), Error);
  EXPECT_EQ(client.pending(), 0u);
}

// A PUSH refused before its header was read (ETOOBIG) names no req, only its command:
// it is the oldest push still waiting, and only its jobs fail.
TEST(Client, TooBigWithoutReqFailsTheOldestWaitingPush) {
  FakeManager mgr;
  Client client(client_options(mgr));
  const auto peer = mgr.welcome("c.1");
  auto first = client.work(JobSpec(nlohmann::json(1)));
  const auto push1 = mgr.expect<proto::Push>();
  auto second = client.work(JobSpec(nlohmann::json(2)));
  const auto push2 = mgr.expect<proto::Push>();
  ASSERT_LT(push1.req, push2.req);
  mgr.send_error(peer, errc::kTooBig, std::nullopt, "PUSH");
  const auto refused = get(first);
  ASSERT_TRUE(refused.err);
  EXPECT_EQ(refused.err->code, errc::kTooBig);
  mgr.send(peer, proto::encode(proto::Accepted{push2.req, {7}}));
  mgr.send_results(peer, {{7, std::nullopt, false}}, {Payload::json("ok")});
  EXPECT_TRUE(get(second).ok());
}

// A refused PUSH that carried several requests fails none of them: each goes again in
// a push of its own, and only the request the manager refuses alone fails.
TEST(Client, RefusedSharedPushIsRetriedOneRequestPerPush) {
  FakeManager mgr;
  Client client(client_options(mgr));
  auto big = client.work(std::vector<JobSpec>{JobSpec(nlohmann::json("b1")), JobSpec(nlohmann::json("b2"))});
  auto small = client.work(JobSpec(nlohmann::json("s")));
  proto::Welcome welcome;
  welcome.id = "c.1";
  const std::string from = mgr.welcome_as(welcome);  // both requests were waiting: one shared PUSH
  const auto shared = mgr.expect<proto::Push>();
  ASSERT_EQ(shared.jobs.size(), 3u);
  mgr.send_error(from, errc::kLimit, shared.req, "PUSH");

  auto alone1 = mgr.expect<proto::Push>();
  auto alone2 = mgr.expect<proto::Push>();
  ASSERT_EQ(alone1.jobs.size(), 2u);  // the big request, in order
  ASSERT_EQ(alone2.jobs.size(), 1u);
  mgr.send_error(from, errc::kLimit, alone1.req, "PUSH");
  mgr.send(from, proto::encode(proto::Accepted{alone2.req, {9}}));
  mgr.send_results(from, {{9, std::nullopt, false}}, {Payload::json("S")});
  EXPECT_EQ(get(small).data.to_json(), "S");
  const auto failed = get(big);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0].err->code, errc::kLimit);
  EXPECT_EQ(failed[1].err->code, errc::kLimit);
}

TEST(Client, EmptyGroupFinishesAtOnce) {
  FakeManager mgr;
  Client client(client_options(mgr));
  auto future = client.work(std::vector<JobSpec>{});
  EXPECT_TRUE(get(future).empty());
}

}  // namespace
}  // namespace proletariat
