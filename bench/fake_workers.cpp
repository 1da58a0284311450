#include "fake_workers.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "protocol/codec.hpp"

namespace proletariat::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace protocol = proletariat::protocol;

// How often heartbeats are checked; the manager's interval is 1000 ms by default.
constexpr std::chrono::milliseconds kTick{100};
constexpr std::uint64_t kStdin = ~std::uint64_t{0};

struct Fake {
  enum class State { closed, hello_sent, offer_sent, ready };
  std::unique_ptr<zmq::socket_t> socket;
  State state = State::closed;
  Clock::time_point last_send{};
  std::chrono::milliseconds heartbeat{1000};
};

class FakeSet {
 public:
  explicit FakeSet(const FakeWorkerOptions& options) : options_(options), result_(options.result_bytes, 'r') {
    context_.set(zmq::ctxopt::max_sockets, static_cast<int>(options.count + 64));
    fakes_.resize(options.count);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kStdin;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
  }
  ~FakeSet() {
    for (auto& f : fakes_) f.socket.reset();
    close(epoll_);
  }

  int run() {
    std::vector<epoll_event> events(512);
    auto next_tick = Clock::now() + kTick;
    bool announced = false;
    for (;;) {
      open_more();
      if (!announced && ready_ == fakes_.size()) {
        std::printf("READY %zu\n", ready_);
        std::fflush(stdout);
        announced = true;
      }
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), static_cast<int>(kTick.count()));
      for (int i = 0; i < n; ++i) {
        if (events[static_cast<std::size_t>(i)].data.u64 == kStdin) {
          char buf[64];
          if (read(STDIN_FILENO, buf, sizeof buf) <= 0) return finish();
          continue;
        }
        service(static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64));
      }
      const auto now = Clock::now();
      if (now >= next_tick) {
        next_tick = now + kTick;
        heartbeats(now);
      }
    }
  }

 private:
  int finish() {
    std::printf("DONE %llu %llu\n", static_cast<unsigned long long>(jobs_), static_cast<unsigned long long>(errors_));
    std::fflush(stdout);
    return 0;
  }

  void open_more() {
    while (connecting_ < options_.max_connecting && next_ < fakes_.size()) {
      const std::size_t i = next_++;
      Fake& f = fakes_[i];
      f.socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
      f.socket->set(zmq::sockopt::linger, 0);
      f.socket->connect(options_.endpoint);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(epoll_, EPOLL_CTL_ADD, f.socket->get(zmq::sockopt::fd), &ev);
      ++connecting_;
      f.state = Fake::State::hello_sent;
      send(f, protocol::encode(protocol::Hello{"fake-" + std::to_string(i), "c++"}));
      service(i);
    }
  }

  void send(Fake& f, protocol::Frames frames) {
    f.last_send = Clock::now();
    for (std::size_t k = 0; k < frames.size(); ++k) {
      const auto flags =
          k + 1 < frames.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait : zmq::send_flags::dontwait;
      if (!f.socket->send(frames[k], flags)) {
        ++errors_;
        return;
      }
    }
  }

  // Reads everything the socket has (ZMQ_FD is edge-triggered: after any send or
  // receive the events must be read again).
  void service(std::size_t i) {
    Fake& f = fakes_[i];
    while (f.socket && (f.socket->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0) {
      protocol::Frames frames;
      if (!zmq::recv_multipart(*f.socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
      handle(f, frames);
    }
  }

  void handle(Fake& f, protocol::Frames& frames) {
    auto decoded = protocol::decode_from_manager(frames, 0);
    if (std::holds_alternative<protocol::DecodeError>(decoded)) {
      ++errors_;
      return;
    }
    auto& msg = std::get<protocol::ManagerMessage>(decoded);
    if (auto* welcome = std::get_if<protocol::Welcome>(&msg)) {
      f.heartbeat = std::chrono::milliseconds(std::max<std::uint64_t>(welcome->heartbeat_ms, 10));
      protocol::Offer offer;
      offer.slots = options_.slots;
      if (options_.priority_slots > 0) offer.priority_slots[1.0] = options_.priority_slots;
      f.state = Fake::State::offer_sent;
      send(f, protocol::encode(offer));
    } else if (std::holds_alternative<protocol::Offered>(msg)) {
      if (f.state != Fake::State::ready) {
        f.state = Fake::State::ready;
        ++ready_;
        --connecting_;
      }
    } else if (auto* jobs = std::get_if<protocol::Jobs>(&msg)) {
      protocol::WorkerResults results;
      results.results.reserve(jobs->jobs.size());
      results.payloads.reserve(jobs->jobs.size());
      for (const auto& job : jobs->jobs) {
        results.results.push_back(protocol::WorkerResult{job.id, job.attempt, std::nullopt, false});
        results.payloads.emplace_back(result_.data(), result_.size());
      }
      jobs_ += jobs->jobs.size();
      send(f, protocol::encode(std::move(results)));
    } else if (std::holds_alternative<protocol::ErrorReply>(msg)) {
      ++errors_;
    }
  }

  void heartbeats(Clock::time_point now) {
    for (std::size_t i = 0; i < next_; ++i) {
      Fake& f = fakes_[i];
      if (f.state != Fake::State::ready || now - f.last_send < f.heartbeat) continue;
      send(f, protocol::encode(protocol::Heartbeat{}));
      service(i);
    }
  }

  FakeWorkerOptions options_;
  std::string result_;
  zmq::context_t context_{1};
  std::vector<Fake> fakes_;
  int epoll_ = -1;
  std::size_t next_ = 0;
  std::size_t connecting_ = 0;
  std::size_t ready_ = 0;
  std::uint64_t jobs_ = 0;
  std::uint64_t errors_ = 0;
};

// Receives the next message whose command frame is `command` (skipping heartbeats
// and anything else); false on timeout.
bool receive_command(zmq::socket_t& socket, std::string_view command, protocol::Frames& frames, long timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (Clock::now() < deadline) {
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    while (true) {
      frames.clear();
      if (!zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
      if (frames.size() > 2 && frames[2].to_string_view() == command) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<double> raw_status_round_trips(const std::string& endpoint, std::size_t count, long timeout_ms) {
  std::vector<double> out;
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  auto send = [&](protocol::Frames frames) {
    for (std::size_t k = 0; k < frames.size(); ++k) {
      (void)socket.send(frames[k], k + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  };
  protocol::Frames frames;
  send(protocol::encode(protocol::Hello{"bench-status", "c++"}));
  if (!receive_command(socket, "WELCOME", frames, timeout_ms)) return out;
  for (std::size_t i = 0; i < count; ++i) {
    const auto t0 = Clock::now();
    send(protocol::encode(protocol::StatusRequest{i + 1, false}));
    if (!receive_command(socket, "STATUS", frames, timeout_ms)) break;
    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  send(protocol::encode(protocol::Bye{}));
  return out;
}

int run_fake_workers(const FakeWorkerOptions& options) {
  FakeSet set(options);
  return set.run();
}

}  // namespace proletariat::bench
