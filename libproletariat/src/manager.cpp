#include <proletariat/error.hpp>
#include <proletariat/manager.hpp>

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include <zmq.hpp>

#include "broker/event_loop.hpp"
#include "detail/mailbox.hpp"
#include "detail/thread_name.hpp"
#include "log.hpp"

namespace proletariat {

class Manager::Impl {
 public:
  explicit Impl(ManagerOptions options) : options_(std::move(options)) {
    if (options_.debug) detail::log().set_level(spdlog::level::debug);
    if (options_.max_attempts != ManagerOptions{}.max_attempts) {
      detail::log().warn("ManagerOptions::max_attempts ({}) is deprecated and ignored: a job fails as poison (EPOISON) "
                         "only when its worker dies while running it alone, after suspect_after ({}) deaths",
                         options_.max_attempts, options_.suspect_after);
    }
  }

  void bind() {
    std::lock_guard lock(mutex_);
    if (loop_) throw Error(std::string(errc::kState), "manager already started");
    if (options_.heartbeat_interval.count() <= 0 || options_.heartbeat_liveness == 0) {
      throw Error(std::string(errc::kBadField), "heartbeat interval and liveness must be positive");
    }
    if (options_.group_rate && !(std::isfinite(*options_.group_rate) && *options_.group_rate >= 0)) {
      throw Error(std::string(errc::kBadField), "group_rate must be a finite number >= 0");
    }
    if (options_.dead_letter_max_age.count() <= 0) {
      throw Error(std::string(errc::kBadField), "dead_letter_max_age must be positive");
    }
    loop_ = std::make_unique<broker::EventLoop>(context_, options_, events_, selector_);
  }

  void start() {
    bind();
    running_ = true;
    thread_ = std::thread([this] {
      detail::name_this_thread("prlt-manager");
      loop_->run(stop_);
      running_ = false;
    });
  }

  void run() {
    bind();
    running_ = true;
    loop_->run(stop_);
    running_ = false;
    std::lock_guard lock(mutex_);
    failure_ = loop_->failure();
    loop_.reset();  // closes the sockets: the ports are free once run() returns
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (!loop_) return;
    }
    stop_.post(broker::EventLoop::kStop);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
      thread_.join();
      std::lock_guard lock(mutex_);
      failure_ = loop_->failure();
      loop_.reset();
    }
  }

  void drain() {
    std::lock_guard lock(mutex_);
    if (loop_) stop_.post(broker::EventLoop::kDrain);
  }

  void reload_keys() {
    std::lock_guard lock(mutex_);
    if (loop_) stop_.post(broker::EventLoop::kReloadKeys);
  }

  bool running() const { return running_; }

  std::string failure() const {
    std::lock_guard lock(mutex_);
    if (!failure_.empty() || !loop_ || running_) return failure_;
    return loop_->failure();  // stopped by itself, not yet joined
  }

  // The loop copies the events when it starts: one set later would be silently
  // ignored (issue 10, defect 4), so it is refused.
  template <typename Fn>
  void set_event(std::string_view name, Fn& slot, Fn fn) {
    std::lock_guard lock(mutex_);
    if (loop_) throw Error(std::string(errc::kState), "Manager::" + std::string(name) + " must be called before start()");
    slot = std::move(fn);
  }

  std::string endpoint() const {
    std::lock_guard lock(mutex_);
    return loop_ ? loop_->endpoint() : std::string();
  }
  std::string pub_endpoint() const {
    std::lock_guard lock(mutex_);
    return loop_ ? loop_->pub_endpoint() : std::string();
  }
  std::string http_address() const {
    std::lock_guard lock(mutex_);
    return loop_ ? loop_->http_address() : std::string();
  }

  ManagerOptions options_;
  broker::ManagerEvents events_;
  WorkerSelector selector_;
  zmq::context_t context_{1};
  detail::Mailbox<int> stop_;
  mutable std::mutex mutex_;
  std::unique_ptr<broker::EventLoop> loop_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::string failure_;
};

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Manager::~Manager() {
  if (impl_) stop();
}
Manager::Manager(Manager&&) noexcept = default;
Manager& Manager::operator=(Manager&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Manager::Impl& Manager::impl() const {
  if (!impl_) throw Error(std::string(errc::kState), "use of a moved-from Manager");
  return *impl_;
}

void Manager::on_receive(std::function<void(const JobInfo&)> fn) {
  impl().set_event("on_receive", impl().events_.receive, std::move(fn));
}
void Manager::on_finish(std::function<void(const JobInfo&, const Result&)> fn) {
  impl().set_event("on_finish", impl().events_.finish, std::move(fn));
}
void Manager::on_giveup(std::function<void(const JobInfo&, const std::string&)> fn) {
  impl().set_event("on_giveup", impl().events_.giveup, std::move(fn));
}
void Manager::on_abort(std::function<void(const JobInfo&, const std::string&)> fn) {
  impl().set_event("on_abort", impl().events_.abort, std::move(fn));
}
void Manager::on_assigntimeout(std::function<void(const JobInfo&)> fn) {
  impl().set_event("on_assigntimeout", impl().events_.assigntimeout, std::move(fn));
}
void Manager::on_sysmsg(std::function<void(const nlohmann::json&, const std::string&)> fn) {
  impl().set_event("on_sysmsg", impl().events_.sysmsg, std::move(fn));
}
void Manager::on_cleanup(std::function<void()> fn) { impl().set_event("on_cleanup", impl().events_.cleanup, std::move(fn)); }
void Manager::set_worker_selector(WorkerSelector selector) {
  impl().set_event("set_worker_selector", impl().selector_, std::move(selector));
}

void Manager::start() { impl().start(); }
void Manager::run() { impl().run(); }
void Manager::stop() { impl().stop(); }
void Manager::drain() { impl().drain(); }
void Manager::reload_keys() { impl().reload_keys(); }
bool Manager::running() const { return impl().running(); }
std::string Manager::failure() const { return impl().failure(); }
std::string Manager::endpoint() const { return impl().endpoint(); }
std::string Manager::pub_endpoint() const { return impl().pub_endpoint(); }
std::string Manager::http_address() const { return impl().http_address(); }

}  // namespace proletariat
