#include "forwarder.hpp"

#include <pthread.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>

namespace proletariat::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Messages drained per wake-up, as the manager's event loop does (kMaxBatch).
constexpr std::size_t kMaxBatch = 512;

zmq::message_t tagged(char tag, std::uint64_t id) {
  zmq::message_t msg(9);
  auto* p = msg.data<char>();
  p[0] = tag;
  std::memcpy(p + 1, &id, 8);
  return msg;
}

std::uint64_t id_of(const zmq::message_t& msg) {
  std::uint64_t id = 0;
  if (msg.size() >= 9) std::memcpy(&id, msg.data<char>() + 1, 8);
  return id;
}

char tag_of(const zmq::message_t& msg) {
  return msg.size() > 0 ? msg.data<char>()[0] : '\0';
}

struct Waiting {
  zmq::message_t client;
  zmq::message_t header;
  zmq::message_t payload;
};

}  // namespace

int run_forwarder(const std::string& endpoint) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::router_mandatory, true);
  router.set(zmq::sockopt::sndhwm, 0);
  router.set(zmq::sockopt::rcvhwm, 0);
  router.set(zmq::sockopt::linger, 0);
  router.bind(endpoint);
  std::printf("ENDPOINT %s\n", router.get(zmq::sockopt::last_endpoint).c_str());
  std::fflush(stdout);

  std::deque<std::string> credits;  // one routing id per free worker slot
  std::deque<Waiting> waiting;      // jobs without a slot, FIFO
  std::vector<zmq::message_t> frames;
  frames.reserve(8);

  auto send_job = [&](const std::string& worker, zmq::message_t& header, zmq::message_t& client,
                      zmq::message_t& payload) {
    zmq::message_t rid(worker.data(), worker.size());
    (void)router.send(rid, zmq::send_flags::sndmore);
    (void)router.send(header, zmq::send_flags::sndmore);
    (void)router.send(client, zmq::send_flags::sndmore);
    (void)router.send(payload, zmq::send_flags::none);
  };

  zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, STDIN_FILENO, ZMQ_POLLIN, 0}};
  for (;;) {
    zmq::poll(items, 2, std::chrono::milliseconds(-1));
    if (items[1].revents & ZMQ_POLLIN) {
      char buf[64];
      if (read(STDIN_FILENO, buf, sizeof buf) <= 0) break;
    }
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    for (std::size_t n = 0; n < kMaxBatch; ++n) {
      frames.clear();
      zmq::message_t first;
      if (!router.recv(first, zmq::recv_flags::dontwait)) break;
      frames.push_back(std::move(first));
      while (frames.back().more()) {
        zmq::message_t next;
        (void)router.recv(next, zmq::recv_flags::none);
        frames.push_back(std::move(next));
      }
      if (frames.size() < 2) continue;
      try {
        switch (tag_of(frames[1])) {
          case 'J':  // [client][J+id][payload]
            if (frames.size() != 3) break;
            if (!credits.empty()) {
              const std::string worker = std::move(credits.front());
              credits.pop_front();
              send_job(worker, frames[1], frames[0], frames[2]);
            } else {
              waiting.push_back(Waiting{std::move(frames[0]), std::move(frames[1]), std::move(frames[2])});
            }
            break;
          case 'D': {  // [worker][D+id][client][result]
            if (frames.size() != 4) break;
            (void)router.send(frames[2], zmq::send_flags::sndmore);
            (void)router.send(frames[1], zmq::send_flags::sndmore);
            (void)router.send(frames[3], zmq::send_flags::none);
            if (!waiting.empty()) {
              Waiting& w = waiting.front();
              send_job(frames[0].to_string(), w.header, w.client, w.payload);
              waiting.pop_front();
            } else {
              credits.push_back(frames[0].to_string());
            }
            break;
          }
          case 'R': {  // [worker][R+slots]
            std::uint32_t slots = 0;
            if (frames[1].size() >= 5) std::memcpy(&slots, frames[1].data<char>() + 1, 4);
            const std::string worker = frames[0].to_string();
            for (std::uint32_t i = 0; i < slots; ++i) {
              if (!waiting.empty()) {
                Waiting& w = waiting.front();
                send_job(worker, w.header, w.client, w.payload);
                waiting.pop_front();
              } else {
                credits.push_back(worker);
              }
            }
            break;
          }
          case 'S': {
            (void)router.send(frames[0], zmq::send_flags::sndmore);
            auto reply = tagged('S', waiting.size());
            (void)router.send(reply, zmq::send_flags::none);
            break;
          }
          default:
            break;
        }
      } catch (const zmq::error_t&) {
        // A peer vanished (ROUTER_MANDATORY): the bench tears down; nothing to keep.
      }
    }
  }
  return 0;
}

RawWorker::RawWorker(std::string endpoint, unsigned slots, std::size_t result_bytes)
    : endpoint_(std::move(endpoint)), slots_(slots), result_(result_bytes, 'r') {
  thread_ = std::thread([this] { run(); });
}

RawWorker::~RawWorker() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void RawWorker::run() {
  pthread_setname_np(pthread_self(), "raw-worker");
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint_);
  zmq::message_t ready(5);
  ready.data<char>()[0] = 'R';
  std::memcpy(ready.data<char>() + 1, &slots_, 4);
  (void)socket.send(ready, zmq::send_flags::none);
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (!stop_.load(std::memory_order_relaxed)) {
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    for (std::size_t n = 0; n < kMaxBatch; ++n) {
      zmq::message_t header;
      if (!socket.recv(header, zmq::recv_flags::dontwait)) break;
      zmq::message_t client;
      zmq::message_t payload;
      if (header.more()) (void)socket.recv(client, zmq::recv_flags::none);
      if (client.more()) (void)socket.recv(payload, zmq::recv_flags::none);
      header.data<char>()[0] = 'D';
      zmq::message_t result(result_.data(), result_.size());
      (void)socket.send(header, zmq::send_flags::sndmore);
      (void)socket.send(client, zmq::send_flags::sndmore);
      (void)socket.send(result, zmq::send_flags::none);
    }
  }
}

LoadResult run_raw_client(const std::string& endpoint, std::size_t jobs, std::size_t window, std::size_t bytes,
                          Clock::time_point deadline) {
  pthread_setname_np(pthread_self(), "raw-client");
  LoadResult out;
  out.latencies_ns.reserve(jobs);
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.connect(endpoint);
  const std::string payload(bytes, 'a');
  std::vector<std::int64_t> sent_at(jobs + 1, 0);
  std::size_t sent = 0;
  std::size_t done = 0;
  auto send_one = [&] {
    const std::uint64_t id = ++sent;
    auto header = tagged('J', id);
    zmq::message_t body(payload.data(), payload.size());
    sent_at[id] = Clock::now().time_since_epoch().count();
    (void)socket.send(header, zmq::send_flags::sndmore);
    (void)socket.send(body, zmq::send_flags::none);
  };
  while (sent < std::min(window, jobs)) send_one();
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (done < jobs) {
    if (Clock::now() > deadline) {
      out.timed_out = true;
      break;
    }
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    for (std::size_t n = 0; n < kMaxBatch && done < jobs; ++n) {
      zmq::message_t header;
      if (!socket.recv(header, zmq::recv_flags::dontwait)) break;
      zmq::message_t result;
      if (header.more()) (void)socket.recv(result, zmq::recv_flags::none);
      const auto now = Clock::now().time_since_epoch().count();
      const std::uint64_t id = id_of(header);
      if (tag_of(header) != 'D' || id == 0 || id > sent || result.size() != bytes) {
        ++out.errors;
      } else {
        out.latencies_ns.push_back(static_cast<std::uint64_t>(now - sent_at[id]));
      }
      ++done;
      if (sent < jobs) send_one();
    }
  }
  return out;
}

RawPusher::RawPusher(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 0);
  socket_.connect(endpoint);
}

void RawPusher::push(std::size_t jobs, std::size_t bytes) {
  const std::string payload(bytes, 'a');
  for (std::size_t i = 0; i < jobs; ++i) {
    auto header = tagged('J', next_id_++);
    zmq::message_t body(payload.data(), payload.size());
    (void)socket_.send(header, zmq::send_flags::sndmore);
    (void)socket_.send(body, zmq::send_flags::none);
  }
}

long long RawPusher::queued(std::chrono::milliseconds timeout) {
  zmq::message_t ask(1);
  ask.data<char>()[0] = 'S';
  (void)socket_.send(ask, zmq::send_flags::none);
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  zmq::message_t reply;
  if (!(item.revents & ZMQ_POLLIN) || !socket_.recv(reply, zmq::recv_flags::dontwait)) return -1;
  return static_cast<long long>(id_of(reply));
}

}  // namespace proletariat::bench
