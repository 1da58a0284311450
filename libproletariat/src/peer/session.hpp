// peer::Session — the DEALER side of one peer's conversation with the manager,
// shared by Worker and Client (the zguide's mdwrkapi/mdcliapi reconnect pattern).
//
// A Session owns one DEALER socket (on a context its owner keeps alive), registers
// with HELLO, keeps the heartbeat going both ways, and when the manager falls silent
// past its liveness, says BYE, or answers ENOHELLO (it restarted), closes the socket,
// waits, opens a new one and registers again. It also holds the SUB socket of the
// system-message channel, which lives and dies with the DEALER, and acknowledges what
// it delivers. It knows nothing about jobs or requests: its owner (peer::PeerCore)
// learns what happens through four hooks and sends through send().
//
// Threading: not thread-safe. A Session lives on its owner's I/O thread; every method
// and every hook runs there. Hooks may call send() (they run after the state change
// they report: on_registered sees registered() == true, on_lost sees it false).
//
// States: idle (before connect / after close) -> connecting (socket open, HELLO
// queued or sent, waiting for WELCOME) -> registered -> waiting (socket closed, until
// the retry time) -> connecting ...
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include <nlohmann/json.hpp>

#include <proletariat/curve.hpp>

#include "detail/poll.hpp"
#include "protocol/codec.hpp"

namespace proletariat::peer {

using Clock = std::chrono::steady_clock;

// Heartbeat settings assumed until a WELCOME says otherwise (PROTOCOL §7, §5): a
// manager that has not answered HELLO within kDefaultHeartbeat * kDefaultLiveness
// (5 s) is treated as silent and the socket is recycled.
inline constexpr std::chrono::milliseconds kDefaultHeartbeat{1000};
inline constexpr unsigned kDefaultLiveness = 5;
// ZeroMQ high-water marks of the DEALER, in messages. Generous enough for bursts of
// pushes or results; past them, send() keeps messages in the session's own outbox
// and waits for the socket to become writable, so nothing is dropped silently.
inline constexpr int kHighWaterMark = 10000;
// Messages kept in the outbox while the socket is not writable. A peer this far
// behind has a dead or stuck manager; beyond it messages are dropped with an error log
// (the liveness timer will recycle the session anyway).
inline constexpr std::size_t kMaxOutbox = 100000;
// Messages read per poll step, so the owner's mailbox and timers are served even
// under a flood from the manager.
inline constexpr std::size_t kMaxReceiveBatch = 256;
// Longest single wait in poll(), a backstop: callers pass their own deadline.
inline constexpr std::chrono::milliseconds kMaxPollWait{1000};
// How long close(say_bye = true) lets the BYE drain before the socket is dropped
// (ZMQ_LINGER otherwise 0 so that a dead manager never blocks shutdown).
inline constexpr std::chrono::milliseconds kByeLinger{200};

struct SessionOptions {
  std::string endpoint;
  std::string name;                                // sent in HELLO
  std::chrono::milliseconds con_retry_time{2000};  // CON_RETRYTIME
  std::string role;                                // "worker" or "client", for logs
  bool system_messages = true;                     // false: HELLO says so, no SUB socket
  std::string identity;                            // HELLO "identity"; empty: none
  std::optional<CurveOptions> curve;               // CURVE client on both sockets (PROTOCOL §13)
};

struct SessionHooks {
  // Registered (WELCOME received): re-send OFFER, re-push work.
  std::function<void()> on_registered;
  // Every decoded message other than WELCOME, HEARTBEAT, BYE and ERROR ENOHELLO,
  // while registered.
  std::function<void(protocol::ManagerMessage&&)> on_message;
  // The registered session ended (silence, BYE, ENOHELLO): cancel or fail in-flight
  // state. Not called when a session ends before it was registered.
  std::function<void()> on_lost;
  // A system message published to this peer, its content parsed; SYSACK follows
  // when the hook returns, so a sender's receipt means the application saw it.
  std::function<void(const nlohmann::json& content, const std::string& from)> on_sysmsg;
};

// The manager's limits on one message (PROTOCOL §10), from its WELCOME, or the
// defaults where the WELCOME states none: what a RESULT or PUSH batch must fit in.
struct MessageLimits {
  std::size_t max_bytes;    // the whole message, frames and header
  std::size_t max_entries;  // payload frames, one per job entry
};
[[nodiscard]] MessageLimits message_limits(const protocol::Welcome& welcome);

class Session {
 public:
  enum class State { idle, connecting, registered, waiting };

  Session(zmq::context_t& context, SessionOptions options, SessionHooks hooks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Opens the socket and sends HELLO.
  void connect();
  // One step of the owner's loop: waits until a socket or one of `extra` (the
  // owner's mailbox fd) is ready, the session's next timer, or `until`, whichever
  // comes first (never longer than kMaxPollWait); then handles inbound messages,
  // flushes the outbox and runs heartbeat/liveness/reconnect timers. The revents of
  // `extra` are filled in. `has_work` is asked after the timers ran (their hooks may
  // have given the owner work, e.g. a callback that posted to its own mailbox, which
  // writes no wake-up byte): true means do not sleep.
  void poll(std::span<zmq_pollitem_t> extra, Clock::time_point until, const std::function<bool()>& has_work = {});
  // Sends (or queues, in order) a message. False, and the message is dropped, when
  // the session is not registered: the owner re-sends what matters in on_registered.
  bool send(protocol::Frames frames);
  // Ends the session: BYE first when registered and `say_bye`. No hook is called.
  void close(bool say_bye);

  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] bool registered() const noexcept { return state_ == State::registered; }
  // The id and limits from the current WELCOME (meaningful while registered).
  [[nodiscard]] const protocol::Welcome& welcome() const noexcept { return welcome_; }

 private:
  // CURVE client options on a socket about to connect (none without SessionOptions::curve).
  void apply_curve(zmq::socket_t& socket) const;
  void open_socket(Clock::time_point now);
  void close_socket(bool say_bye);
  // Ends a session that went wrong and schedules the next one.
  void lose(std::string_view reason, std::chrono::milliseconds retry_after, Clock::time_point now);
  void run_timers(Clock::time_point now);
  void receive(Clock::time_point now);
  void handle(protocol::ManagerMessage&& msg, Clock::time_point now);
  // False if the socket could not take the message now (EAGAIN); frames intact then.
  bool try_send(protocol::Frames& frames, Clock::time_point now);
  void flush_outbox(Clock::time_point now);
  [[nodiscard]] Clock::time_point next_deadline() const;
  [[nodiscard]] Clock::duration silence_limit() const;
  // The SUB socket of the system-message channel, opened after WELCOME when the
  // manager announced a pub_port; subscribed to this peer's id.
  void open_sub();
  void receive_published();

  zmq::context_t& context_;
  SessionOptions options_;
  SessionHooks hooks_;
  std::optional<zmq::socket_t> socket_;
  // Bumped whenever the socket is replaced, so a receive loop notices that a hook or
  // a message closed the socket it was reading.
  unsigned generation_ = 0;
  State state_ = State::idle;
  std::deque<protocol::Frames> outbox_;
  protocol::Welcome welcome_;
  std::chrono::milliseconds heartbeat_{kDefaultHeartbeat};
  unsigned liveness_ = kDefaultLiveness;
  Clock::time_point last_recv_{};
  Clock::time_point last_send_{};
  Clock::time_point reconnect_at_{};
  std::vector<detail::PollItem> items_;  // reused by poll()
  bool sub_check_ = true;                // the SUB socket may hold what its fd did not announce

  std::optional<zmq::socket_t> sub_;
};

}  // namespace proletariat::peer
