#include "peer/peer_core.hpp"

#include "log.hpp"

namespace proletariat::peer {

namespace {

// The error of a failed request, as a future reports it.
std::exception_ptr to_exception(const JobError& err) { return std::make_exception_ptr(Error(err.code, err.message)); }

}  // namespace

bool PeerCore::wait_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(status_mutex_);
  return status_cv_.wait_for(lock, timeout, [this] { return connected_; });
}

std::string PeerCore::id() const {
  std::lock_guard lock(status_mutex_);
  return id_;
}

void PeerCore::set_status(bool connected, std::optional<std::string> id) {
  {
    std::lock_guard lock(status_mutex_);
    connected_ = connected;
    if (id) id_ = std::move(*id);
  }
  if (connected) status_cv_.notify_all();
}

void PeerCore::system_message(nlohmann::json msg, std::optional<std::string> to, SysmsgCallback done) {
  post_task([msg = std::move(msg), to = std::move(to), done = std::move(done)](PeerCore& core) mutable {
    core.controls_.system_message(*core.session_, msg, std::move(to), std::move(done));
  });
}

std::future<SysmsgReceipt> PeerCore::system_message(nlohmann::json msg, std::optional<std::string> to) {
  auto promise = std::make_shared<std::promise<SysmsgReceipt>>();
  auto future = promise->get_future();
  system_message(std::move(msg), std::move(to), [promise](std::optional<JobError> err, SysmsgReceipt receipt) {
    if (err) {
      promise->set_exception(to_exception(*err));
    } else {
      promise->set_value(receipt);
    }
  });
  return future;
}

std::future<nlohmann::json> PeerCore::status(bool mine) {
  auto promise = std::make_shared<std::promise<nlohmann::json>>();
  auto future = promise->get_future();
  post_task([promise, mine](PeerCore& core) {
    core.controls_.request_status(*core.session_, mine, [promise](std::optional<JobError> err, nlohmann::json status) {
      if (err) {
        promise->set_exception(to_exception(*err));
      } else {
        promise->set_value(std::move(status));
      }
    });
  });
  return future;
}

void PeerCore::dead_letters(protocol::DeadRequest request, AdminCallback done) {
  post_task([request = std::move(request), done = std::move(done)](PeerCore& core) mutable {
    core.controls_.request_dead(
        *core.session_, std::move(request),
        [done = std::move(done)](std::optional<JobError> err, nlohmann::json header, protocol::Frames payloads) {
          done(std::move(err), AdminReply{std::move(header), std::move(payloads)});
        });
  });
}

void PeerCore::group_limits(protocol::GroupLimitsRequest request, AdminCallback done) {
  post_task([request = std::move(request), done = std::move(done)](PeerCore& core) mutable {
    core.controls_.request_group_limits(
        *core.session_, std::move(request),
        [done = std::move(done)](std::optional<JobError> err, nlohmann::json header, protocol::Frames payloads) {
          done(std::move(err), AdminReply{std::move(header), std::move(payloads)});
        });
  });
}

namespace {

// A future the I/O thread fulfils, so that wait_for() waits for the answer.
template <typename Ask>
std::future<PeerCore::AdminReply> admin_future(Ask ask) {
  auto promise = std::make_shared<std::promise<PeerCore::AdminReply>>();
  auto future = promise->get_future();
  ask([promise](std::optional<JobError> err, PeerCore::AdminReply reply) {
    if (err) {
      promise->set_exception(to_exception(*err));
    } else {
      promise->set_value(std::move(reply));
    }
  });
  return future;
}

}  // namespace

std::future<PeerCore::AdminReply> PeerCore::dead_letters(protocol::DeadRequest request) {
  return admin_future([&](AdminCallback done) { dead_letters(std::move(request), std::move(done)); });
}

std::future<PeerCore::AdminReply> PeerCore::group_limits(protocol::GroupLimitsRequest request) {
  return admin_future([&](AdminCallback done) { group_limits(std::move(request), std::move(done)); });
}

void PeerCore::on_sysmsg(SysmsgHandler handler) {
  post_task([handler = std::move(handler)](PeerCore& core) mutable { core.sysmsg_handler_ = std::move(handler); });
}

void PeerCore::open_session() {
  session_.emplace(context_, options_,
                   SessionHooks{[this] { on_registered(); },
                                [this](protocol::ManagerMessage&& msg) { on_message(std::move(msg)); },
                                [this] { on_lost(); },
                                [this](const nlohmann::json& content, const std::string& from) {
                                  on_published(content, from);
                                }});
  session_->connect();
}

void PeerCore::wait(std::span<zmq_pollitem_t> extra, const std::function<bool()>& has_work) {
  session_->poll(extra, role_.next_deadline(), has_work);
}

void PeerCore::log_loop_error(const std::exception& e) const {
  detail::log().error("{}: I/O loop: {}", options_.role, e.what());
}

void PeerCore::shut_down(const std::function<void()>& serve_late_posts) {
  try {
    role_.on_shutdown();
    serve_late_posts();
  } catch (const std::exception& e) {
    detail::log().error("{}: shutdown: {}", options_.role, e.what());
  }
  session_->close(true);
  controls_.fail_all("the session was closed");
  set_status(false, std::nullopt);
  session_.reset();
}

void PeerCore::on_registered() {
  set_status(true, session_->welcome().id);
  role_.on_registered();
}

void PeerCore::on_lost() {
  set_status(false, std::string());
  controls_.fail_all("the connection to the manager was lost");
  role_.on_lost();
}

void PeerCore::on_message(protocol::ManagerMessage&& msg) {
  if (controls_.answer(msg)) return;
  role_.on_message(std::move(msg));
}

void PeerCore::on_published(const nlohmann::json& content, const std::string& from) {
  if (!sysmsg_handler_) return;
  try {
    sysmsg_handler_(content, from);
  } catch (const std::exception& e) {
    detail::log().error("{}: system-message handler threw: {}", options_.role, e.what());
  }
}

}  // namespace proletariat::peer
