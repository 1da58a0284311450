#include "peer/session.hpp"

#include <algorithm>
#include <iterator>
#include <type_traits>
#include <utility>
#include <variant>

#include <zmq_addon.hpp>

#include <proletariat/error.hpp>

#include "detail/poll.hpp"
#include "log.hpp"

namespace proletariat::peer {

using std::chrono::milliseconds;

namespace {

const char* state_name(Session::State state) {
  switch (state) {
    case Session::State::idle:
      return "idle";
    case Session::State::connecting:
      return "connecting";
    case Session::State::registered:
      return "registered";
    case Session::State::waiting:
      return "waiting";
  }
  return "?";
}

const char* command_name(const protocol::ManagerMessage& msg) {
  return std::visit(
      [](const auto& m) -> const char* {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::Welcome>) return "WELCOME";
        if constexpr (std::is_same_v<T, protocol::Offered>) return "OFFERED";
        if constexpr (std::is_same_v<T, protocol::Accepted>) return "ACCEPTED";
        if constexpr (std::is_same_v<T, protocol::Jobs>) return "JOBS";
        if constexpr (std::is_same_v<T, protocol::WorkerAbort>) return "ABORT";
        if constexpr (std::is_same_v<T, protocol::ClientResults>) return "RESULT";
        if constexpr (std::is_same_v<T, protocol::Heartbeat>) return "HEARTBEAT";
        if constexpr (std::is_same_v<T, protocol::ErrorReply>) return "ERROR";
        if constexpr (std::is_same_v<T, protocol::Bye>) return "BYE";
        return "?";
      },
      msg);
}

}  // namespace

MessageLimits message_limits(const protocol::Welcome& welcome) {
  const std::uint64_t max_bytes = welcome.max_message_bytes > 0 ? welcome.max_message_bytes
                                                                : protocol::spec::kMaxMessageBytes;
  const std::uint64_t max_frames = welcome.max_frames > protocol::kFixedFrames ? welcome.max_frames
                                                                               : protocol::spec::kMaxFrames;
  return MessageLimits{static_cast<std::size_t>(max_bytes), static_cast<std::size_t>(max_frames - protocol::kFixedFrames)};
}

Session::Session(zmq::context_t& context, SessionOptions options, SessionHooks hooks)
    : context_(context), options_(std::move(options)), hooks_(std::move(hooks)) {}

Session::~Session() { close_socket(false); }

void Session::connect() {
  if (state_ == State::idle) open_socket(Clock::now());
}

void Session::close(bool say_bye) {
  close_socket(say_bye);
  state_ = State::idle;
}

void Session::open_socket(Clock::time_point now) {
  close_socket(false);
  outbox_.clear();
  heartbeat_ = kDefaultHeartbeat;
  liveness_ = kDefaultLiveness;
  welcome_ = {};
  last_recv_ = now;  // the WELCOME is due within the default liveness from here
  last_send_ = now;
  try {
    socket_.emplace(context_, zmq::socket_type::dealer);
    ++generation_;
    socket_->set(zmq::sockopt::linger, 0);
    socket_->set(zmq::sockopt::sndhwm, kHighWaterMark);
    socket_->set(zmq::sockopt::rcvhwm, kHighWaterMark);
    // Queue only on a completed connection: nothing piles up for a manager that is
    // gone, and the HELLO leaves as soon as one is up (we wait for POLLOUT).
    socket_->set(zmq::sockopt::immediate, 1);
    apply_curve(*socket_);
    socket_->connect(options_.endpoint);
  } catch (const zmq::error_t& e) {
    detail::log().error("{}: cannot connect to '{}': {}; retrying in {} ms", options_.role, options_.endpoint,
                        e.what(), options_.con_retry_time.count());
    socket_.reset();
    state_ = State::waiting;
    reconnect_at_ = now + options_.con_retry_time;
    return;
  }
  state_ = State::connecting;
  detail::log().debug("{}: connecting to {}", options_.role, options_.endpoint);
  outbox_.push_back(
      protocol::encode(protocol::Hello{options_.name, "c++", options_.system_messages, options_.identity}));
  flush_outbox(now);
}

void Session::apply_curve(zmq::socket_t& socket) const {
  if (!options_.curve) return;
  socket.set(zmq::sockopt::curve_serverkey, options_.curve->server_public_key);
  socket.set(zmq::sockopt::curve_publickey, options_.curve->keys.public_key);
  socket.set(zmq::sockopt::curve_secretkey, options_.curve->keys.secret_key);
}

void Session::close_socket(bool say_bye) {
  if (!socket_) return;
  try {
    if (say_bye && state_ == State::registered) {
      flush_outbox(Clock::now());
      auto bye = protocol::encode(protocol::Bye{});
      if (try_send(bye, Clock::now())) {
        socket_->set(zmq::sockopt::linger, static_cast<int>(kByeLinger.count()));
      }
    }
  } catch (const zmq::error_t& e) {
    detail::log().warn("{}: could not say BYE: {}", options_.role, e.what());
  }
  socket_.reset();
  sub_.reset();
  ++generation_;
  outbox_.clear();
}

void Session::lose(std::string_view reason, milliseconds retry_after, Clock::time_point now) {
  const bool was_registered = state_ == State::registered;
  detail::log().warn("{}: session with {} lost ({}), {} in {} ms", options_.role, options_.endpoint, reason,
                     "registering again", retry_after.count());
  close_socket(false);
  state_ = State::waiting;
  reconnect_at_ = now + retry_after;
  if (was_registered && hooks_.on_lost) hooks_.on_lost();
}

Clock::duration Session::silence_limit() const { return heartbeat_ * static_cast<int>(liveness_); }

Clock::time_point Session::next_deadline() const {
  switch (state_) {
    case State::idle:
      return Clock::time_point::max();
    case State::waiting:
      return reconnect_at_;
    case State::connecting:
      return last_recv_ + silence_limit();
    case State::registered:
      return std::min(last_recv_ + silence_limit(), last_send_ + heartbeat_);
  }
  return Clock::time_point::max();
}

void Session::run_timers(Clock::time_point now) {
  switch (state_) {
    case State::idle:
      return;
    case State::waiting:
      if (now >= reconnect_at_) open_socket(now);
      return;
    case State::connecting:
      if (now >= last_recv_ + silence_limit()) {
        lose("no WELCOME", options_.con_retry_time, now);
      }
      return;
    case State::registered:
      if (now >= last_recv_ + silence_limit()) {
        lose("manager silent past its liveness", options_.con_retry_time, now);
        return;
      }
      if (now >= last_send_ + heartbeat_) {
        if (outbox_.empty()) {
          auto hb = protocol::encode(protocol::Heartbeat{});
          try_send(hb, now);
        }
        // Not writable (no connection): try again one interval later, do not spin.
        last_send_ = now;
      }
      return;
  }
}

void Session::poll(std::span<zmq_pollitem_t> extra, Clock::time_point until, const std::function<bool()>& has_work) {
  auto now = Clock::now();
  run_timers(now);
  const auto deadline = std::min(until, next_deadline());
  auto wait = milliseconds{0};
  if (deadline > now && !(has_work && has_work())) {
    wait = std::min(std::chrono::ceil<milliseconds>(deadline - now), kMaxPollWait);
  }

  items_.clear();
  const bool with_socket = socket_.has_value();
  if (with_socket) {
    // Always asked first: sends use it between waits.
    const short events = static_cast<short>(ZMQ_POLLIN | (outbox_.empty() ? 0 : ZMQ_POLLOUT));
    items_.push_back(detail::PollItem{socket_->handle(), -1, events, 0, true});
  }
  const bool with_sub = sub_.has_value();
  if (with_sub) items_.push_back(detail::PollItem{sub_->handle(), -1, ZMQ_POLLIN, 0, sub_check_});
  for (const auto& item : extra) {
    items_.push_back(detail::PollItem{item.socket, item.fd, item.events, 0, true});
  }
  bool poll_failed = false;
  try {
    detail::poll(items_, wait);
  } catch (const std::exception& e) {
    detail::log().error("{}: poll failed: {}", options_.role, e.what());
    for (auto& item : items_) item.revents = 0;
    poll_failed = true;
  }
  const std::size_t offset = (with_socket ? 1 : 0) + (with_sub ? 1 : 0);
  for (std::size_t i = 0; i < extra.size(); ++i) extra[i].revents = items_[i + offset].revents;

  now = Clock::now();
  const unsigned generation = generation_;
  if (with_socket && socket_) {
    if ((items_[0].revents & ZMQ_POLLIN) != 0) receive(now);
    if (socket_ && !outbox_.empty()) flush_outbox(now);
  }
  if (with_sub) {
    // Read until it was found empty, or ask again before the next sleep.
    const bool fired = (items_[with_socket ? 1 : 0].revents & ZMQ_POLLIN) != 0;
    sub_check_ = fired || poll_failed;  // a failed wait may have consumed its signal
    if (fired && generation == generation_ && sub_) receive_published();
  }
  run_timers(now);
}

void Session::receive(Clock::time_point now) {
  const unsigned generation = generation_;
  for (std::size_t n = 0; n < kMaxReceiveBatch && socket_ && generation == generation_; ++n) {
    protocol::Frames frames;
    try {
      auto got = zmq::recv_multipart(*socket_, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (!got) return;
    } catch (const zmq::error_t& e) {
      detail::log().error("{}: receive failed: {}", options_.role, e.what());
      return;
    }
    last_recv_ = now;  // anything at all from the manager is a sign of life
    auto decoded = protocol::decode_from_manager(frames, 0);
    if (auto* err = std::get_if<protocol::DecodeError>(&decoded)) {
      detail::log().warn("{}: dropping a bad message from the manager: {} {} (command '{}', {} frames{}{})",
                         options_.role, err->code, err->message, err->command, frames.size(),
                         frames.size() > 3 ? ", header " : "",
                         frames.size() > 3 ? protocol::snippet(frames[3]) : std::string());
      continue;
    }
    try {
      handle(std::get<protocol::ManagerMessage>(std::move(decoded)), now);
    } catch (const std::exception& e) {
      detail::log().error("{}: failed to handle a message from the manager: {}", options_.role, e.what());
    }
  }
}

void Session::handle(protocol::ManagerMessage&& msg, Clock::time_point now) {
  if (auto* welcome = std::get_if<protocol::Welcome>(&msg)) {
    if (state_ != State::connecting) {
      detail::log().warn("{}: unexpected WELCOME while {}; ignored", options_.role, state_name(state_));
      return;
    }
    if (welcome->protocol != protocol::kProtocolVersion) {
      detail::log().warn("{}: manager speaks protocol {}, this library {}", options_.role, welcome->protocol,
                         protocol::kProtocolVersion);
    }
    welcome_ = *welcome;
    heartbeat_ = milliseconds{std::max<std::uint64_t>(welcome->heartbeat_ms, 1)};
    liveness_ = std::max(welcome->liveness, 1u);
    state_ = State::registered;
    detail::log().info("{}: registered with {} as {} (heartbeat {} ms, liveness {})", options_.role,
                       options_.endpoint, welcome_.id, heartbeat_.count(), liveness_);
    open_sub();
    if (hooks_.on_registered) hooks_.on_registered();
    return;
  }
  if (std::holds_alternative<protocol::Heartbeat>(msg)) return;
  if (auto* bye = std::get_if<protocol::Bye>(&msg)) {
    lose("manager said BYE" + (bye->reason.empty() ? std::string() : ": " + bye->reason), options_.con_retry_time,
         now);
    return;
  }
  if (auto* error = std::get_if<protocol::ErrorReply>(&msg)) {
    if (error->code == errc::kNoHello) {
      // The manager does not know us: it restarted. Register again at once.
      lose("manager answered ENOHELLO", milliseconds{0}, now);
      return;
    }
    if (state_ != State::registered) {
      detail::log().error("{}: manager answered {} before WELCOME: {}", options_.role, error->code, error->message);
      return;
    }
  }
  if (state_ != State::registered) {
    detail::log().warn("{}: {} from the manager while {}; dropped", options_.role, command_name(msg),
                       state_name(state_));
    return;
  }
  if (hooks_.on_message) hooks_.on_message(std::move(msg));
}

void Session::open_sub() {
  if (!options_.system_messages) return;
  // A TCP channel is the command endpoint's host at pub_port; any other is announced
  // whole (PROTOCOL §8.1).
  std::string endpoint = welcome_.pub_endpoint;
  if (endpoint.empty()) {
    if (!welcome_.pub_port) return;
    const auto colon = options_.endpoint.rfind(':');
    if (options_.endpoint.rfind("tcp://", 0) != 0 || colon == std::string::npos) return;
    endpoint = options_.endpoint.substr(0, colon + 1) + std::to_string(*welcome_.pub_port);
  }
  try {
    sub_.emplace(context_, zmq::socket_type::sub);
    sub_check_ = true;
    sub_->set(zmq::sockopt::linger, 0);
    sub_->set(zmq::sockopt::subscribe, welcome_.id);
    apply_curve(*sub_);
    sub_->connect(endpoint);
  } catch (const zmq::error_t& e) {
    detail::log().error("{}: cannot open the system-message channel {}: {}", options_.role, endpoint, e.what());
    sub_.reset();
  }
}

void Session::receive_published() {
  for (std::size_t n = 0; n < kMaxReceiveBatch && sub_; ++n) {
    protocol::Frames frames;
    try {
      if (!zmq::recv_multipart(*sub_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      detail::log().error("{}: system-message receive failed: {}", options_.role, e.what());
      return;
    }
    auto decoded = protocol::decode_published(frames);
    if (auto* err = std::get_if<protocol::DecodeError>(&decoded)) {
      detail::log().warn("{}: dropping a bad system message: {} {}", options_.role, err->code, err->message);
      continue;
    }
    auto& published = std::get<protocol::Published>(decoded);
    // Topics match by prefix: "x.1" also hears "x.12"'s messages (PROTOCOL §8.1).
    if (published.topic != welcome_.id) continue;
    const auto& c = published.content;
    auto content = nlohmann::json::parse(c.data<char>(), c.data<char>() + c.size(), nullptr, false);
    if (content.is_discarded()) {
      detail::log().warn("{}: system message {} is not JSON; acknowledged and dropped", options_.role, published.msg);
    } else if (hooks_.on_sysmsg) {
      hooks_.on_sysmsg(content, published.from);
    }
    // Acknowledged once the application has seen it, so a sender's receipt means delivered.
    send(protocol::encode(protocol::SysAck{published.msg}));
  }
}

bool Session::send(protocol::Frames frames) {
  if (state_ != State::registered || !socket_) return false;
  if (outbox_.empty() && try_send(frames, Clock::now())) return true;
  if (outbox_.size() >= kMaxOutbox) {
    detail::log().error("{}: outbox full ({} messages), dropping a message", options_.role, outbox_.size());
    return false;
  }
  outbox_.push_back(std::move(frames));
  return true;
}

bool Session::try_send(protocol::Frames& frames, Clock::time_point now) {
  if (!socket_ || frames.empty()) return false;
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      if (!socket_->send(frames[i], flags)) {
        // Only the first part can be refused: ZeroMQ takes a multipart message whole.
        if (i == 0) return false;
        detail::log().error("{}: a message was cut after {} frames", options_.role, i);
        return true;
      }
    }
  } catch (const zmq::error_t& e) {
    detail::log().error("{}: send failed, message dropped: {}", options_.role, e.what());
    return true;
  }
  last_send_ = now;
  return true;
}

void Session::flush_outbox(Clock::time_point now) {
  while (!outbox_.empty() && socket_) {
    if (!try_send(outbox_.front(), now)) return;
    outbox_.pop_front();
  }
}

}  // namespace proletariat::peer
