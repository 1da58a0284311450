#include "broker/event_loop.hpp"

#include <proletariat/error.hpp>

#include "detail/poll.hpp"
#include "journal/segment_log.hpp"
#include "log.hpp"

namespace proletariat::broker {
namespace {

using Clock = std::chrono::steady_clock;

std::string bind_socket(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw Error(std::string(errc::kInternal), "cannot bind " + endpoint + ": " + e.what());
  }
  return socket.get(zmq::sockopt::last_endpoint);
}

// Without CURVE, nothing but loopback unless the operator said otherwise (SPEC 10):
// a wildcard host becomes 127.0.0.1; any other host than loopback is refused.
std::string bindable(const std::string& endpoint, const ManagerOptions& options) {
  if (!options.curve_keys.secret_key.empty() || options.allow_insecure_remote) return endpoint;
  if (endpoint.rfind("tcp://", 0) != 0) return endpoint;  // ipc://, inproc://: local by nature
  const auto colon = endpoint.rfind(':');
  const std::string host = endpoint.substr(6, colon == std::string::npos ? std::string::npos : colon - 6);
  const std::string port = colon == std::string::npos ? std::string() : endpoint.substr(colon);
  if (host == "*" || host == "0.0.0.0") return "tcp://127.0.0.1" + port;
  if (host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0) return endpoint;
  throw Error(std::string(errc::kBadField), "refusing to bind " + endpoint +
                                                " without CURVE: anyone there could push and run jobs; configure CURVE "
                                                "keys or start with --allow-insecure-remote");
}

}  // namespace

void EventLoop::secure_sockets() {
  if (options_.curve_keys.secret_key.empty()) {
    detail::log().warn("running unauthenticated (no CURVE keys): every peer that can connect may push, run and "
                       "administer jobs{}",
                       options_.allow_insecure_remote ? "; remote addresses allowed (--allow-insecure-remote)"
                                                      : "; bound to loopback only");
    return;
  }
  if (options_.curve_keys_dir.empty()) {
    throw Error(std::string(errc::kBadField), "CURVE needs an allow-list directory (--curve-keys DIR)");
  }
  keys_ = std::make_unique<KeyDirectory>(options_.curve_keys_dir);
  keys_->load();
  zap_ = std::make_unique<ZapHandler>(context_, *keys_);
  for (zmq::socket_t* socket : {&router_, &pub_}) {
    socket->set(zmq::sockopt::curve_server, 1);
    socket->set(zmq::sockopt::curve_secretkey, options_.curve_keys.secret_key);
    socket->set(zmq::sockopt::zap_domain, "proletariat");
  }
  dispatcher_.set_keys(keys_.get());
  detail::log().info("CURVE on both sockets; manager public key {}", options_.curve_keys.public_key);
}

void EventLoop::reload_keys(bool forced) {
  if (!keys_) return;
  if (!forced && !keys_->changed()) return;
  try {
    keys_->load();
  } catch (const Error& e) {
    detail::log().error("{}: the previous allow-lists stay", e.what());
    return;
  }
  dispatcher_.keys_reloaded(Clock::now());
  update_http_access();
}

EventLoop::EventLoop(zmq::context_t& context, const ManagerOptions& options, ManagerEvents events,
                     WorkerSelector selector)
    : options_(options),
      context_(context),
      router_(context, zmq::socket_type::router),
      pub_(context, zmq::socket_type::xpub),
      dispatcher_(options, std::move(events),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count(),
                  Clock::now()) {
  dispatcher_.set_worker_selector(std::move(selector));
  // Sends to a vanished peer fail visibly instead of being dropped silently.
  router_.set(zmq::sockopt::router_mandatory, true);
  // A hard guard far above the protocol limit: libzmq disconnects a peer whose frame
  // exceeds it, so the protocol limit itself is enforced by the codec, with an error
  // reply (ETOOBIG).
  router_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(options.max_message_bytes) * 2 + 4096);
  // What the manager sends is bounded by the protocol's own limits; a ROUTER would drop
  // silently at its send high-water mark, so there is none.
  router_.set(zmq::sockopt::sndhwm, 0);
  // Inbound, a high-water mark drops nothing: a peer whose unread messages reach it is
  // simply not read (TCP pushes back on it), so one peer that sends faster than the
  // manager reads cannot fill the manager's memory with its queue (docs/SECURITY.md).
  // Far above what a well-behaved peer has in flight (8 pushes, a RESULT per batch).
  router_.set(zmq::sockopt::rcvhwm, kInboundMessagesPerPeer);
  router_.set(zmq::sockopt::linger, 200);
  // Subscriptions are messages too: a topic is a peer id, far below this bound.
  pub_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(1024));
  // Manual: a subscription applies only when the dispatcher grants it, so a peer reads
  // only what is addressed to it (PROTOCOL §8.1). Every subscription reaches the
  // dispatcher, even a repeated one: it is how the manager learns a peer can receive.
  pub_.set(zmq::sockopt::xpub_manual, 1);
  pub_.set(zmq::sockopt::sndhwm, 0);
  pub_.set(zmq::sockopt::linger, 0);
  secure_sockets();
  endpoint_ = bind_socket(router_, bindable(options_.endpoint, options_));
  pub_endpoint_ = bind_socket(pub_, bindable(options_.pub_endpoint, options_));
  if (auto colon = pub_endpoint_.rfind(':'); pub_endpoint_.rfind("tcp://", 0) == 0 && colon != std::string::npos) {
    dispatcher_.set_pub_port(std::stoull(pub_endpoint_.substr(colon + 1)));
  } else {
    dispatcher_.set_pub_endpoint(pub_endpoint_);  // ipc://, inproc://: peers connect to it as it is
  }
  detail::log().info("manager listening on {} (system messages on {})", endpoint_, pub_endpoint_);
  start_http();
}

void EventLoop::run(detail::Mailbox<int>& stop) {
  try {
    loop(stop);
  } catch (const journal::JournalError& e) {
    // Nothing more may go out: an ACCEPTED now could claim a job the disk lost.
    failure_ = e.what();
    detail::log().critical("{}", failure_);
    (void)dispatcher_.outbox().take();
    (void)dispatcher_.outbox().take_publications();
    router_.set(zmq::sockopt::linger, 0);
    router_.close();
    pub_.close();
    return;
  }
  dispatcher_.on_shutdown();
  flush();
}

void EventLoop::loop(detail::Mailbox<int>& stop) {
  // The ROUTER is used between waits (sends), so it is always asked before sleeping;
  // the XPUB only after it was used (a publication sent, subscriptions read).
  detail::PollItem items[] = {
      {router_.handle(), -1, ZMQ_POLLIN, 0, true},
      {pub_.handle(), -1, ZMQ_POLLIN, 0, true},
      {nullptr, stop.fd(), ZMQ_POLLIN, 0, false},
      {zap_ ? zap_->socket().handle() : nullptr, -1, ZMQ_POLLIN, 0, true},  // polled with CURVE only
      {nullptr, http_ ? http_->request_fd() : -1, ZMQ_POLLIN, 0, false},   // with the HTTP endpoint only
  };
  // The items in use: the ZAP socket's and the HTTP pipe's only when they exist.
  std::size_t polled = 3;
  if (zap_) items[polled++] = items[3];
  if (http_) items[polled++] = items[4];
  detail::PollItem* const zap_item = zap_ ? &items[3] : nullptr;
  detail::PollItem* const http_item = http_ ? &items[polled - 1] : nullptr;
  auto next_tick = Clock::now();
  for (;;) {
    auto now = Clock::now();
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now);
    if (published_) items[1].check_first = true;
    published_ = false;
    detail::poll(std::span(items, polled), std::max(wait, std::chrono::milliseconds(0)) + std::chrono::milliseconds(1));
    items[1].check_first = (items[1].revents & ZMQ_POLLIN) != 0;
    if (items[2].revents & ZMQ_POLLIN) {
      stop.clear_signal();
      bool stop_now = false;
      for (const int command : stop.drain()) {
        if (command == kDrain) {
          dispatcher_.begin_drain(Clock::now());
        } else if (command == kReloadKeys) {
          reload_keys(true);
        } else {
          stop_now = true;
        }
      }
      if (stop_now) break;
    }
    if (zap_item != nullptr && (zap_item->revents & ZMQ_POLLIN)) zap_->handle_pending();
    if (http_item != nullptr && (http_item->revents & ZMQ_POLLIN) && http_->take_request()) {
      http_->publish(dispatcher_.snapshot());
    }
    if (items[0].revents & ZMQ_POLLIN) {
      drain_router(Clock::now());
      now = Clock::now();
      dispatcher_.after_batch(now);
      flush();
    }
    if (items[1].revents & ZMQ_POLLIN) {
      drain_pub();
      flush();
    }

    now = Clock::now();
    if (now >= next_tick) {
      // Read every message already waiting before judging liveness: after a stall
      // (a descheduled process, a burst) the heartbeats are in the socket, not lost.
      while (drain_router(now) == kMaxBatch) {
      }
      dispatcher_.on_tick(now);
      if (keys_ && now >= next_key_check_) {
        reload_keys(false);  // an edited allow-list applies within a second, SIGHUP or not
        next_key_check_ = now + std::chrono::seconds(1);
      }
      flush();
      next_tick = dispatcher_.next_wakeup(now);
    } else {
      next_tick = std::min(next_tick, dispatcher_.next_wakeup(now));
    }
    if (dispatcher_.drained(now)) break;
  }
}

std::size_t EventLoop::drain_router(Clock::time_point now) {
  std::size_t n = 0;
  for (; n < kMaxBatch; ++n) {
    frames_.clear();
    // Frames beyond the limit are received (libzmq already holds the whole message)
    // but not kept; the codec sees one too many and answers ETOOBIG.
    const std::size_t keep = options_.max_frames + 2;
    std::size_t received = 0;
    bool more = true;
    while (more) {
      zmq::message_t frame;
      auto ok = router_.recv(frame, received == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
      if (!ok) {
        if (received == 0) return n;  // socket drained
        break;
      }
      more = frame.more();
      if (++received <= keep) frames_.push_back(std::move(frame));
    }
    try {
      dispatcher_.on_message(frames_, now);
    } catch (const std::exception& e) {
      // One bad message must not stop the manager: log, answer, carry on.
      const std::string rid = frames_.empty() ? std::string() : frames_[0].to_string();
      detail::log().error("internal error on a message from {}: {}", protocol::snippet(zmq::message_t(rid.data(), rid.size())), e.what());
      if (!rid.empty()) {
        protocol::ErrorReply reply{std::string(errc::kInternal), "the manager failed on this message", {}, {}};
        dispatcher_.outbox().send(rid, protocol::encode(reply));
      }
    }
  }
  return n;
}

void EventLoop::drain_pub() {
  const auto now = Clock::now();
  for (std::size_t n = 0; n < kMaxBatch; ++n) {
    zmq::message_t msg;
    if (!pub_.recv(msg, zmq::recv_flags::dontwait)) return;
    // The grant must follow its subscription before the next recv: libzmq applies it to
    // the connection the last subscription came from.
    const bool granted = dispatcher_.on_subscription(msg, now);
    if (msg.size() < 2) continue;
    const std::string_view topic(msg.data<char>() + 1, msg.size() - 1);
    if (granted) {
      pub_.set(zmq::sockopt::subscribe, topic);
    } else if (msg.data<char>()[0] == 0) {
      pub_.set(zmq::sockopt::unsubscribe, topic);  // nothing when no grant (or no connection) is left
    }
  }
}

void EventLoop::flush() {
  // Group commit: what this pass journaled goes to disk in one write. When an ACCEPTED
  // waits for it, the workers' JOBS leave first (they run while the disk syncs) and the
  // rest after; otherwise everything leaves first and the records are written after
  // (a result sent before its record is durable is at worst sent again after a crash,
  // and the client library drops the second one).
  if (dispatcher_.journal_barrier()) {
    auto early = dispatcher_.outbox().take_worker_batches();
    send_messages(early);
    commit_journal();
    send_outbox();
    return;
  }
  send_outbox();
  commit_journal();
}

void EventLoop::send_outbox() {
  for (auto& publication : dispatcher_.outbox().take_publications()) {
    published_ = true;
    auto frames = protocol::encode(std::move(publication));
    const std::size_t last = frames.size() - 1;
    for (std::size_t i = 0; i <= last; ++i) {
      (void)pub_.send(frames[i], i == last ? zmq::send_flags::dontwait : zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    }
  }
  auto messages = dispatcher_.outbox().take();
  send_messages(messages);
}

void EventLoop::send_messages(std::vector<Outbox::Message>& messages) {
  for (auto& message : messages) {
    try {
      zmq::message_t rid(message.routing_id.data(), message.routing_id.size());
      if (!router_.send(rid, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) continue;
      const std::size_t last = message.frames.size() - 1;
      for (std::size_t i = 0; i <= last; ++i) {
        (void)router_.send(message.frames[i], i == last ? zmq::send_flags::none : zmq::send_flags::sndmore);
      }
    } catch (const zmq::error_t& e) {
      // EHOSTUNREACH (ROUTER_MANDATORY): the peer is gone; its liveness will expire.
      detail::log().debug("send to {} failed: {}", protocol::snippet(zmq::message_t(message.routing_id.data(), message.routing_id.size()), 16), e.what());
    }
  }
}

}  // namespace proletariat::broker
