// The event loop: the only code of the manager that touches sockets or the clock.
//
// It owns the ROUTER (commands) and XPUB (system messages) sockets, polls them with
// a timeout equal to the time until the dispatcher's next deadline (never infinite),
// drains a bounded batch of messages per wake-up, hands each to the dispatcher, runs
// the scheduler once per batch and sends what the dispatcher queued. One thread runs
// it; other threads reach it only through the stop mailbox.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include <zmq.hpp>

#include <proletariat/manager.hpp>

#include "broker/dispatcher.hpp"
#include "broker/key_directory.hpp"
#include "broker/zap_handler.hpp"
#include "detail/mailbox.hpp"
#include "monitor/http_server.hpp"

namespace proletariat::broker {

// Messages read per wake-up before the scheduler runs and replies go out: large
// enough to amortise a dispatch round over many results, small enough that timers
// and the other socket are never starved.
inline constexpr std::size_t kMaxBatch = 512;
// Unread messages libzmq keeps per peer before it stops reading that peer (rcvhwm).
inline constexpr int kInboundMessagesPerPeer = 1000;

class EventLoop {
 public:
  // Binds both sockets; throws proletariat::Error(EINTERNAL) with the endpoint and
  // reason when a bind fails.
  EventLoop(zmq::context_t& context, const ManagerOptions& options, ManagerEvents events, WorkerSelector selector);

  // What the owner posts to the loop's mailbox.
  static constexpr int kStop = 1;   // stop now
  static constexpr int kDrain = 2;  // graceful stop (Manager::drain)
  static constexpr int kReloadKeys = 3;  // read the CURVE allow-lists again

  // Runs until kStop arrives, or a drain that kDrain began is over; then says BYE to
  // every peer. A journal failure ends it at once, saying nothing more (failure()).
  void run(detail::Mailbox<int>& stop);
  // Why run() ended by itself; empty after a requested stop.
  [[nodiscard]] const std::string& failure() const noexcept { return failure_; }

  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] const std::string& pub_endpoint() const noexcept { return pub_endpoint_; }
  // "HOST:PORT" of the HTTP endpoint; empty without one.
  [[nodiscard]] std::string http_address() const { return http_ ? http_->address() : std::string(); }

 private:
  // Reads at most kMaxBatch messages; returns how many.
  std::size_t drain_router(std::chrono::steady_clock::time_point now);
  void drain_pub();
  void loop(detail::Mailbox<int>& stop);
  void flush();
  void send_outbox();
  void send_messages(std::vector<Outbox::Message>& messages);

  ManagerOptions options_;
  zmq::context_t& context_;
  zmq::socket_t router_;
  zmq::socket_t pub_;
  Dispatcher dispatcher_;
  std::string endpoint_;
  std::string pub_endpoint_;
  protocol::Frames frames_;  // reused receive buffer
  bool published_ = false;   // the XPUB was used since the last wait
  std::string failure_;
  std::unique_ptr<KeyDirectory> keys_;  // with CURVE only
  std::unique_ptr<ZapHandler> zap_;
  std::chrono::steady_clock::time_point next_key_check_{};
  void secure_sockets();
  void reload_keys(bool forced);

  // --- the HTTP endpoint (http_endpoint.cpp) ---
  void start_http();
  void update_http_access();
  // A journal commit, timed when the endpoint shows its latency.
  void commit_journal();
  std::unique_ptr<monitor::HttpServer> http_;  // with ManagerOptions::http only
  std::string http_token_;                     // from http_token_file
};

}  // namespace proletariat::broker
