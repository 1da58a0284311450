// peer::PeerCore — what Worker and Client share beside their job logic, as the Python
// and Node bindings' PeerBase does: the I/O thread and its loop, the ZeroMQ context and
// the Session, the mailbox other threads post into, the start/stop lifecycle, the
// connection status, system messages (send with receipt, the on_sysmsg handler) and
// status requests.
//
// A role (Worker::Impl, Client::Impl) implements PeerRole<Command> and owns a
// PeerLoop<Command>, Command being what its callers post besides the core's own tasks
// (a worker's answers; a client's requests and aborts). The core runs the role's hooks
// on the I/O thread; the role keeps only job state and needs no lock for it.
//
// Threading: start(), stop(), post(), post_task(), the status and the public system
// message and status calls may be called from any thread and never block on I/O
// (stop() joins the I/O thread). Everything marked "I/O thread" may be called only
// from a hook or a task, that is, on the I/O thread.
//
// One loop step: wait on the session's sockets and the mailbox until the role's next
// deadline or the session's (never sleeping while the mailbox holds posts); handle
// what the manager sent (the session calls on_message and the other hooks); run
// everything posted, in order; then on_tick. Stop: on_shutdown while still
// registered, posts that arrived meanwhile (on_unserved), BYE, requests in flight
// failed with ECONNLOST.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include <proletariat/error.hpp>
#include <proletariat/sysmsg.hpp>

#include "detail/mailbox.hpp"
#include "detail/thread_name.hpp"
#include "peer/control_requests.hpp"
#include "peer/session.hpp"
#include "protocol/codec.hpp"

namespace proletariat::peer {

class PeerCore;

// Work for the I/O thread, posted by the core's own calls (system messages, status).
using PeerTask = std::function<void(PeerCore&)>;
struct StopCommand {};

// A role's job logic. Every hook runs on the I/O thread.
class PeerRole {
 public:
  virtual ~PeerRole() = default;
  // Registered (WELCOME): the status already says connected. Offer, or push again.
  virtual void on_registered() = 0;
  // The registered session ended (silence, BYE, ENOHELLO): the status says
  // disconnected and system messages and status requests in flight have failed.
  // Cancel or fail in-flight job state.
  virtual void on_lost() = 0;
  // A message from the manager that is neither the session's (WELCOME, HEARTBEAT,
  // BYE, ENOHELLO) nor the answer to a system message or status request.
  virtual void on_message(protocol::ManagerMessage&& msg) = 0;
  // The role's earliest timer, time_point::max() for none.
  [[nodiscard]] virtual Clock::time_point next_deadline() = 0;
  // Every loop step, after the mailbox was drained: due timers, batches to send.
  virtual void on_tick(Clock::time_point now) = 0;
  // Stop, while the session may still be registered: last messages before BYE.
  virtual void on_shutdown() = 0;
};

template <typename Command>
class PeerRoleOf : public PeerRole {
 public:
  // Something a caller posted with PeerLoop::post().
  virtual void on_command(Command&& command) = 0;
  // Something posted that arrived after the stop, when nothing will serve it.
  virtual void on_unserved(Command&& command) = 0;
};

class PeerCore {
 public:
  using SysmsgCallback = std::function<void(std::optional<JobError>, SysmsgReceipt)>;

  PeerCore(const PeerCore&) = delete;
  PeerCore& operator=(const PeerCore&) = delete;
  virtual ~PeerCore() = default;

  // --- any thread ---
  // Runs `task` on the I/O thread, after what was posted before it.
  virtual void post_task(PeerTask task) = 0;
  // Registered with a manager, and the id it gave (kept after a stop, cleared when
  // the session is lost).
  [[nodiscard]] bool wait_connected(std::chrono::milliseconds timeout) const;
  [[nodiscard]] std::string id() const;
  // System messages and status requests (PROTOCOL §8): the callback runs on the I/O
  // thread; a future's error is a proletariat::Error with the manager's code, or
  // ECONNLOST.
  void system_message(nlohmann::json msg, std::optional<std::string> to, SysmsgCallback done);
  [[nodiscard]] std::future<SysmsgReceipt> system_message(nlohmann::json msg, std::optional<std::string> to);
  [[nodiscard]] std::future<nlohmann::json> status(bool mine);
  // DEAD and GROUPLIMITS (PROTOCOL §14): the reply's header and payload frames.
  struct AdminReply {
    nlohmann::json header;
    protocol::Frames payloads;
  };
  [[nodiscard]] std::future<AdminReply> dead_letters(protocol::DeadRequest request);
  [[nodiscard]] std::future<AdminReply> group_limits(protocol::GroupLimitsRequest request);
  // The same with a callback, run once on the I/O thread: the reply, or the manager's
  // error (ECONNLOST when the session ends first).
  using AdminCallback = std::function<void(std::optional<JobError> err, AdminReply reply)>;
  void dead_letters(protocol::DeadRequest request, AdminCallback done);
  void group_limits(protocol::GroupLimitsRequest request, AdminCallback done);
  void on_sysmsg(SysmsgHandler handler);

  // --- I/O thread ---
  [[nodiscard]] bool registered() const noexcept { return session_ && session_->registered(); }
  // The current WELCOME (meaningful while registered) and the limits it sets.
  [[nodiscard]] const protocol::Welcome& welcome() const noexcept { return session_->welcome(); }
  [[nodiscard]] MessageLimits limits() const { return message_limits(session_->welcome()); }
  // Sends (or queues) a message; false, and it is dropped, when not registered.
  bool send(protocol::Frames frames) { return session_->send(std::move(frames)); }

 protected:
  PeerCore(SessionOptions options, PeerRole& role) : options_(std::move(options)), role_(role) {}

  // The loop's parts, for PeerLoop (I/O thread).
  void open_session();
  void wait(std::span<zmq_pollitem_t> extra, const std::function<bool()>& has_work);
  void log_loop_error(const std::exception& e) const;
  void shut_down(const std::function<void()>& serve_late_posts);

 private:
  void on_registered();
  void on_lost();
  void on_message(protocol::ManagerMessage&& msg);
  void on_published(const nlohmann::json& content, const std::string& from);
  void set_status(bool connected, std::optional<std::string> id);

  const SessionOptions options_;
  PeerRole& role_;
  zmq::context_t context_;

  // Status, readable from any thread.
  mutable std::mutex status_mutex_;
  mutable std::condition_variable status_cv_;
  bool connected_ = false;
  std::string id_;

  // I/O thread state.
  std::optional<Session> session_;
  ControlRequests controls_;
  SysmsgHandler sysmsg_handler_;
};

// The core with a mailbox of the role's Command type, and the I/O thread serving it.
template <typename Command>
class PeerLoop final : public PeerCore {
 public:
  using Mailbox = detail::Mailbox<std::variant<Command, PeerTask, StopCommand>>;

  // `thread_name` names the I/O thread (for debuggers and top), e.g. "prlt-worker".
  PeerLoop(SessionOptions options, const char* thread_name, PeerRoleOf<Command>& role)
      : PeerCore(std::move(options), role), commands_(role), thread_name_(thread_name) {}
  ~PeerLoop() override { stop(); }

  // Starts the I/O thread, which connects. Once.
  void start() {
    if (io_.joinable()) throw Error(std::string(errc::kState), "the I/O thread is already running");
    io_ = std::jthread([this] { run(); });
  }
  // Says BYE and joins the I/O thread. Returns at once when it never started.
  void stop() {
    if (!io_.joinable()) return;
    mailbox_->post(StopCommand{});
    io_.join();
  }

  void post(Command command) { mailbox_->post(std::move(command)); }
  void post_task(PeerTask task) override { mailbox_->post(std::move(task)); }
  // Shared with whatever may post after the peer is gone (a worker's jobs).
  [[nodiscard]] const std::shared_ptr<Mailbox>& mailbox() const noexcept { return mailbox_; }

 private:
  void run() {
    detail::name_this_thread(thread_name_);
    mailbox_->bind_owner();
    open_session();
    bool stopping = false;
    while (!stopping) {
      try {
        zmq_pollitem_t item{nullptr, mailbox_->fd(), ZMQ_POLLIN, 0};
        wait(std::span(&item, 1), [this] { return mailbox_->ready(); });
        if ((item.revents & ZMQ_POLLIN) != 0) mailbox_->clear_signal();
        for (auto& command : mailbox_->drain()) {
          if (auto* own = std::get_if<Command>(&command)) {
            commands_.on_command(std::move(*own));
          } else if (auto* task = std::get_if<PeerTask>(&command)) {
            (*task)(*this);
          } else {
            stopping = true;
          }
        }
        commands_.on_tick(Clock::now());
      } catch (const std::exception& e) {
        log_loop_error(e);
      }
    }
    shut_down([this] {
      for (auto& command : mailbox_->drain()) {
        if (auto* own = std::get_if<Command>(&command)) {
          commands_.on_unserved(std::move(*own));
        } else if (auto* task = std::get_if<PeerTask>(&command)) {
          (*task)(*this);  // a request it makes fails with ECONNLOST when the session closes
        }
      }
    });
  }

  PeerRoleOf<Command>& commands_;  // the role, seen with its Command type
  const char* const thread_name_;
  const std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  std::jthread io_;  // last: joined (by stop()) before anything above is destroyed
};

}  // namespace proletariat::peer
