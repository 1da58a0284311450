// Fuzz target: the manager's message handling, broker::Dispatcher, driven without
// sockets by four fake peers (as tests/unit/dispatcher_test.cpp drives it).
//
// Input: one option byte, then events until the input ends (fuzz_input.hpp):
//   option bit 0  a journal (in a fresh directory, sync off), bit 1 sacred guarantees,
//          bit 2  hold similar work, bit 3 avail threshold 2, bit 4 at most 4 jobs per
//          client, bit 5 a job is suspect after 1 death;
//   event byte e, by e & 7:
//     0-3  a message from peer e & 3: a byte n, then n % 16 frames (the routing id is
//          the peer's; the frames are what its DEALER sends, delimiter first);
//     4    end of the batch: after_batch, then what the event loop does (flush);
//     5    time passes, (e >> 3) * 20 ms, then on_tick and flush;
//     6    peer (e >> 3) & 3 subscribes (bit 5 set) or unsubscribes on the system-
//          message channel with the id its WELCOME gave it;
//     7    e >> 3: 0 begin_drain, 1 a restart on the journal (a new Dispatcher, as
//          after a crash), 2 an hour passes, else nothing.
// Everything the manager sends must decode as a peer would decode it: an undecodable
// message, an escaped exception or a sanitizer report is a crash.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "broker/dispatcher.hpp"
#include "fuzz_input.hpp"
#include "log.hpp"
#include "protocol/codec.hpp"

namespace {

using namespace std::chrono_literals;
using namespace proletariat;
using protocol::Frames;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "dispatcher_fuzz: %s\n", what.c_str());
  std::abort();
}

class Session {
 public:
  explicit Session(std::uint8_t options) {
    options_.heartbeat_interval = 100ms;
    options_.heartbeat_liveness = 3;
    options_.avail_threshold = (options & 8) != 0 ? 2 : 0;
    options_.sacred_guarantees = (options & 2) != 0;
    options_.hold_similar_work = (options & 4) != 0;
    if ((options & 16) != 0) options_.max_jobs_per_client = 4;
    if ((options & 32) != 0) options_.suspect_after = 1;
    options_.held_results_max = 8;
    options_.drain_timeout = 500ms;
    options_.seed = 7;
    if ((options & 1) != 0) {
      options_.journal_dir = proletariat::fuzz::scratch_dir("prlt-dispatcher-fuzz") + "/journal";
      options_.journal_sync = "off";
      std::filesystem::remove_all(options_.journal_dir);
    }
    start();
  }

  void run(proletariat::fuzz::FuzzInput& in) {
    while (!in.empty()) {
      const std::uint8_t e = in.byte();
      switch (e & 7) {
        case 0:
        case 1:
        case 2:
        case 3: {
          Frames frames;
          frames.emplace_back(kRids[e & 3].data(), kRids[e & 3].size());
          in.append_frames(frames, in.byte() % 16);
          dispatcher_->on_message(frames, now_);
          break;
        }
        case 4:
          dispatcher_->after_batch(now_);
          flush();
          break;
        case 5:
          now_ += std::chrono::milliseconds(20 * (e >> 3));
          dispatcher_->on_tick(now_);
          flush();
          break;
        case 6:
          subscription((e >> 3) & 3, (e & 32) != 0);
          break;
        default:
          if ((e >> 3) == 0) {
            dispatcher_->begin_drain(now_);
          } else if ((e >> 3) == 1 && !options_.journal_dir.empty()) {
            start();
          } else if ((e >> 3) == 2) {
            now_ += 1h;
            dispatcher_->on_tick(now_);
            flush();
          }
          break;
      }
    }
    dispatcher_->after_batch(now_);
    flush();
    dispatcher_->on_shutdown();
    flush();
  }

 private:
  static constexpr std::string_view kRids[4] = {"peer-a", "peer-b", "peer-c", std::string_view("\0\x01\xff", 3)};

  void start() {
    if (dispatcher_) flush();  // the loop's last commit, then the "crash"
    dispatcher_.reset();
    dispatcher_ = std::make_unique<broker::Dispatcher>(options_, broker::ManagerEvents{});
    for (auto& id : ids_) id.clear();
  }

  void subscription(unsigned peer, bool subscribe) {
    if (ids_[peer].empty()) return;
    const std::string frame = std::string(1, subscribe ? '\x01' : '\x00') + ids_[peer];
    dispatcher_->on_subscription(zmq::message_t(frame.data(), frame.size()), now_);
  }

  // What EventLoop::flush does: with an ACCEPTED waiting for the journal, the workers'
  // batches first, then the commit, then the rest; otherwise all, then the commit.
  void flush() {
    if (dispatcher_->journal_barrier()) {
      check(dispatcher_->outbox().take_worker_batches());
      dispatcher_->commit_journal(now_);
      check_publications();
      check(dispatcher_->outbox().take());
      return;
    }
    check_publications();
    check(dispatcher_->outbox().take());
    dispatcher_->commit_journal(now_);
  }

  void check(std::vector<broker::Outbox::Message> messages) {
    for (auto& m : messages) {
      int peer = -1;
      for (int i = 0; i < 4; ++i) {
        if (m.routing_id == kRids[i]) peer = i;
      }
      if (peer < 0) fail("a message to a routing id no peer has");
      const std::string command = m.frames.size() > 2 ? m.frames[2].to_string() : std::string();
      auto decoded = protocol::decode_from_manager(m.frames, 0);
      if (auto* err = std::get_if<protocol::DecodeError>(&decoded)) {
        fail("the manager sent " + command + " that a peer cannot decode: " + std::string(err->code) + " " +
             err->message);
      }
      if (auto* msg = std::get_if<protocol::ManagerMessage>(&decoded)) {
        if (auto* welcome = std::get_if<protocol::Welcome>(msg)) ids_[static_cast<std::size_t>(peer)] = welcome->id;
      }
    }
  }

  void check_publications() {
    for (auto& p : dispatcher_->outbox().take_publications()) {
      auto frames = protocol::encode(std::move(p));
      auto decoded = protocol::decode_published(frames);
      if (auto* err = std::get_if<protocol::DecodeError>(&decoded)) {
        fail("the manager published a system message a peer cannot decode: " + err->message);
      }
    }
  }

  ManagerOptions options_;
  std::unique_ptr<broker::Dispatcher> dispatcher_;
  std::string ids_[4];
  broker::TimePoint now_{std::chrono::steady_clock::time_point{} + 1h};
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  proletariat::detail::log().set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  proletariat::fuzz::FuzzInput in(data, size);
  Session session(in.byte());
  session.run(in);
  return 0;
}
