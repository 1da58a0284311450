// proletariat::Worker: the job logic of a worker, plugged into peer::PeerLoop (which
// owns the I/O thread, the session and the mailbox, system messages and status), plus
// `handler_threads` threads that call the work handler.
//
// Who owns what:
//  - I/O thread: the table of running jobs, their run deadlines, the batch of results
//    not yet sent. Everything below "I/O thread state" in Impl; the hooks (on_*) run
//    there.
//  - handler threads: take jobs from `queue_` (under queue_mutex_) and call the
//    handler. A job answers through WorkerJob::reply()/fail(), from any thread, which
//    posts into the mailbox; only the I/O thread turns answers into RESULT entries.
//  - any thread: the public status (ready_ under ready_mutex_; running_count_; the id
//    is the core's).
//
// A job leaves `running_` exactly once: answered, timed out (ETO), aborted, or taken
// away on reconnect/stop. Whatever reaches the I/O thread for a job no longer in
// `running_` (matched by object identity, not by id: a restarted manager may reuse
// ids) is dropped, so each (id, attempt) gets at most one RESULT entry.
//
// A graceful stop (PROTOCOL §4 DRAIN) is split between the stopping thread and the I/O
// thread: the stopping thread posts begin_drain() and waits (drain_mutex_) until the
// I/O thread says there is nothing left to wait for, or the stop's deadline passes;
// then it stops the core as a hard stop does (on_shutdown: flush, take away the rest,
// BYE). The deadline is shared, so a later stop() with a shorter timeout ends the wait
// sooner. A stop called from the worker's own callbacks runs on `stopper_`: it cannot
// join the thread it was called on.
#include <proletariat/worker.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include <proletariat/error.hpp>

#include "detail/deadline_heap.hpp"
#include "detail/thread_name.hpp"
#include "log.hpp"
#include "peer/peer_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/offer.hpp"

namespace proletariat {

namespace {

using peer::Clock;
using std::chrono::milliseconds;

class WorkerJob;

// A handler's answer, or a progress report (PROTOCOL §14.4), on its way to the I/O
// thread. One mailbox for both keeps a job's reports ahead of its answer.
struct Answer {
  std::shared_ptr<WorkerJob> job;
  std::optional<JobError> err;
  Payload data;
  bool progress = false;
};
using WorkerLoop = peer::PeerLoop<Answer>;
using WorkerMailbox = WorkerLoop::Mailbox;

class WorkerJob final : public Job, public std::enable_shared_from_this<WorkerJob> {
 public:
  WorkerJob(const protocol::JobAssignment& assignment, Payload args, std::shared_ptr<WorkerMailbox> mailbox)
      : id_(assignment.id),
        attempt_(assignment.attempt),
        priority_(assignment.priority),
        key_(assignment.key),
        service_(assignment.service),
        args_(std::move(args)),
        mailbox_(std::move(mailbox)) {}

  [[nodiscard]] std::uint64_t id() const noexcept override { return id_; }
  [[nodiscard]] unsigned attempt() const noexcept override { return attempt_; }
  [[nodiscard]] double priority() const noexcept override { return priority_; }
  [[nodiscard]] const std::string& key() const noexcept override { return key_; }
  [[nodiscard]] const std::string& service() const noexcept override { return service_; }
  [[nodiscard]] const Payload& args() const noexcept override { return args_; }
  [[nodiscard]] std::stop_token stop_token() const noexcept override { return stop_.get_token(); }

  void reply(Payload data) override { answer(std::nullopt, std::move(data)); }
  void progress(Payload data) override {
    if (answered_.load()) return;  // answered, timed out or taken away: nobody waits for it
    mailbox_->post(Answer{shared_from_this(), std::nullopt, std::move(data), true});
  }
  void fail(std::string code, std::string message) override {
    if (code.empty()) code = std::string(errc::kHandler);
    answer(JobError{std::move(code), std::move(message)}, Payload{});
  }

  // I/O thread: the job was taken away (ETO, abort, reconnect, stop). Later answers
  // are ignored here; one already in the mailbox is dropped by the I/O thread.
  void cancel() {
    answered_.store(true);
    stop_.request_stop();
  }

 private:
  void answer(std::optional<JobError> err, Payload data) {
    if (answered_.exchange(true)) return;
    // The mailbox is shared: a job that outlives its Worker posts into the void.
    mailbox_->post(Answer{shared_from_this(), std::move(err), std::move(data)});
  }

  const std::uint64_t id_;
  const unsigned attempt_;
  const double priority_;
  const std::string key_;
  const std::string service_;
  const Payload args_;
  std::stop_source stop_;
  std::atomic<bool> answered_{false};
  std::shared_ptr<WorkerMailbox> mailbox_;
};

// The manager's rules (protocol/offer.hpp), checked before connecting so that a bad
// configuration fails start() rather than a log line.
void validate(const WorkerOptions& options) {
  if (auto problem = protocol::validate_offer(options.slots, options.priority_slots, options.services)) {
    throw Error(std::string(errc::kBadOffer), *problem);
  }
  if (options.drain_timeout.count() < 0) {
    throw Error(std::string(errc::kBadField), "WorkerOptions::drain_timeout must not be negative");
  }
}

// A drain timeout as a stop uses it: negative is 0 (a hard stop), and no wait is so
// long that a deadline computed from it overflows.
milliseconds drain_time(milliseconds timeout) {
  constexpr milliseconds kLongest{static_cast<milliseconds::rep>(protocol::kLongestTimeoutMs)};
  return std::clamp(timeout, milliseconds{0}, kLongest);
}

// The Worker (its Impl) whose callback the calling thread runs: work, abort or
// system-message handler. A stop() from there must not join the calling thread.
thread_local const void* tl_callback_of = nullptr;

class CallbackScope {
 public:
  explicit CallbackScope(const void* worker) noexcept : previous_(tl_callback_of) { tl_callback_of = worker; }
  ~CallbackScope() { tl_callback_of = previous_; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  const void* previous_;
};

}  // namespace

class Worker::Impl final : public peer::PeerRoleOf<Answer> {
 public:
  explicit Impl(WorkerOptions options)
      : options_(std::move(options)),
        core_(peer::SessionOptions{options_.endpoint, options_.name, options_.con_retry_time, "worker",
                                   options_.system_messages, {}, options_.curve},
              "prlt-worker", *this) {
    options_.answer_threshold = std::max(options_.answer_threshold, 1u);
    if (options_.curve) check_curve_options(*options_.curve);
  }
  ~Impl() override {
    stop(options_.drain_timeout);
    // Every callback has returned (stop joined their threads): no new stopper comes.
    if (stopper_.joinable()) stopper_.join();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void on_sysmsg(SysmsgHandler handler) {
    if (!handler) {
      core_.on_sysmsg({});
      return;
    }
    core_.on_sysmsg([this, handler = std::move(handler)](const nlohmann::json& content, const std::string& from) {
      const CallbackScope scope(this);
      handler(content, from);
    });
  }

  void system_message(const nlohmann::json& msg, std::optional<std::string> to, SysmsgCallback done) {
    core_.system_message(msg, std::move(to),
                         [this, done = std::move(done)](std::optional<JobError> err, SysmsgReceipt receipt) {
                           const CallbackScope scope(this);
                           if (done) done(std::move(err), receipt);
                         });
  }

  void on_work(WorkHandler handler) {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) throw Error(std::string(errc::kState), "Worker::on_work must be called before start()");
    work_ = std::move(handler);
  }
  void on_abort(AbortHandler handler) {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) throw Error(std::string(errc::kState), "Worker::on_abort must be called before start()");
    abort_ = std::move(handler);
  }

  void start() {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) throw Error(std::string(errc::kState), "Worker::start called twice");
    validate(options_);
    {
      std::lock_guard drain_lock(drain_mutex_);
      stop_deadline_ = Clock::time_point::max();  // a stop() before start() shortens no drain
    }
    started_ = true;
    for (unsigned i = 0; i < options_.handler_threads; ++i) {
      pool_.emplace_back([this](std::stop_token stop) { handler_loop(stop); });
    }
    core_.start();
  }

  void stop() { stop(options_.drain_timeout); }

  void stop(milliseconds drain_timeout) {
    drain_timeout = drain_time(drain_timeout);
    {
      // Shortens a drain under way (another thread's stop), or sets this one's end.
      std::lock_guard lock(drain_mutex_);
      stop_deadline_ = std::min(stop_deadline_, Clock::now() + drain_timeout);
    }
    drain_cv_.notify_all();
    if (tl_callback_of == this) {
      // From one of our callbacks: stopping here would join the calling thread.
      std::lock_guard lock(stopper_mutex_);
      if (!stopper_.joinable()) {
        stopper_ = std::thread([this] {
          detail::name_this_thread("prlt-stop");
          finish_stop();
        });
      }
      return;
    }
    finish_stop();
  }

  // The stop itself, up to the deadline that stop() set.
  void finish_stop() {
    std::lock_guard lock(lifecycle_mutex_);
    if (!started_ || stopped_) return;
    drain();
    stopped_ = true;
    core_.stop();
    for (auto& t : pool_) t.request_stop();
    queue_cv_.notify_all();
    for (auto& t : pool_) {
      if (t.joinable()) t.join();
    }
    pool_.clear();
    // Answers that arrived after the I/O thread left hold their jobs, which hold the
    // mailbox: drop them to break the cycle. No more can come: every job that was
    // running has been cancelled.
    (void)core_.mailbox()->drain();
    std::lock_guard queue_lock(queue_mutex_);
    queue_.clear();
  }

  // The stopping thread's part of a graceful stop: has the I/O thread begin the drain,
  // and waits until it reports the drain done or the stop's deadline passes (which a
  // later stop() may bring closer). Returns at once for a hard stop.
  void drain() {
    std::unique_lock lock(drain_mutex_);
    if (Clock::now() >= stop_deadline_) return;
    drained_ = false;
    lock.unlock();
    core_.post_task([this](peer::PeerCore& /*core*/) { begin_drain(); });
    lock.lock();
    while (!drained_ && Clock::now() < stop_deadline_) drain_cv_.wait_until(lock, stop_deadline_);
  }

  bool wait_ready(milliseconds timeout) const {
    std::unique_lock lock(ready_mutex_);
    return ready_cv_.wait_for(lock, timeout, [this] { return ready_; });
  }
  std::size_t running() const { return running_count_.load(); }
  peer::PeerCore& core() { return core_; }

 private:
  using Key = std::pair<std::uint64_t, unsigned>;  // (id, attempt)
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept {
      return std::hash<std::uint64_t>{}(key.first * 0x9E3779B97F4A7C15ull + key.second);
    }
  };
  struct Running {
    std::shared_ptr<WorkerJob> job;
    std::optional<Clock::time_point> deadline;
    std::uint64_t run_timeout_ms = 0;
  };

  // --- handler threads ---
  void handler_loop(std::stop_token stop) {
    detail::name_this_thread("prlt-handler");
    std::deque<std::shared_ptr<WorkerJob>> batch;
    while (true) {
      {
        std::unique_lock lock(queue_mutex_);
        if (!queue_cv_.wait(lock, stop, [this] { return !queue_.empty(); })) return;
        // With one handler thread, take the whole queue: one lock per batch, not per
        // job. With several, take one job so the others get their share.
        if (options_.handler_threads == 1) {
          batch.swap(queue_);
        } else {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      for (auto& job : batch) run_handler(job);
      batch.clear();
    }
  }

  // On a handler thread, or on the I/O thread when handler_threads is 0.
  void run_handler(const std::shared_ptr<WorkerJob>& job) {
    if (job->cancelled()) return;  // taken away before it started
    const JobPtr ptr = job;
    const CallbackScope scope(this);
    try {
      if (work_) {
        work_(ptr);
      } else {
        job->fail(std::string(errc::kHandler), "this worker has no work handler");
      }
    } catch (const std::exception& e) {
      job->fail(std::string(errc::kHandler), e.what());
    } catch (...) {
      job->fail(std::string(errc::kHandler), "the work handler threw a non-standard exception");
    }
  }

  // I/O thread: starts the jobs of one JOBS message.
  void start_jobs(std::vector<std::shared_ptr<WorkerJob>>& jobs) {
    if (jobs.empty()) return;
    if (options_.handler_threads == 0) {
      // Their answers reach the mailbox from this thread: run() drains it right after
      // this message, so they leave in the same RESULT batch, with no wake-up.
      for (auto& job : jobs) run_handler(job);
      return;
    }
    {
      std::lock_guard lock(queue_mutex_);
      for (auto& job : jobs) queue_.push_back(std::move(job));
    }
    if (jobs.size() == 1) {
      queue_cv_.notify_one();
    } else {
      queue_cv_.notify_all();
    }
  }

  // --- I/O thread ---
  // A run deadline stands while its job runs with that deadline.
  auto deadline_stands() const {
    return [this](Clock::time_point when, const Key& key) {
      auto it = running_.find(key);
      return it != running_.end() && it->second.deadline == when;
    };
  }

  // --- the core's hooks ---
  Clock::time_point next_deadline() override {
    auto deadline = run_deadlines_.next(deadline_stands()).value_or(Clock::time_point::max());
    if (!pending_.empty()) deadline = std::min(deadline, oldest_pending_ + options_.answer_delay_max);
    return deadline;
  }

  void on_registered() override {
    if (drain_ != DrainState::none) return;  // stopping: no new offer (the stop follows at once)
    core_.send(protocol::encode(protocol::Offer{options_.slots, options_.priority_slots, options_.services}));
  }

  void on_lost() override {
    set_ready(false);
    // The manager has requeued these attempts (or forgot them): nothing we finish
    // for them may be sent, now or after we register again.
    take_away_all("reconnect");
    pending_.clear();
    pending_payloads_.clear();
    check_drained();  // the manager requeued them: nothing left to wait for
  }

  void on_message(protocol::ManagerMessage&& msg) override {
    if (auto* offered = std::get_if<protocol::Offered>(&msg)) {
      detail::log().info("worker: offer of {} slots accepted", offered->slots);
      set_ready(true);
    } else if (auto* jobs = std::get_if<protocol::Jobs>(&msg)) {
      on_jobs(std::move(*jobs));
    } else if (auto* abort = std::get_if<protocol::WorkerAbort>(&msg)) {
      on_abort(*abort);
    } else if (auto* error = std::get_if<protocol::ErrorReply>(&msg)) {
      if (error->command == "DRAIN" && drain_ == DrainState::waiting) {
        // A manager that does not know DRAIN keeps sending jobs, each one rejected and
        // sent again: stop at once instead, as before DRAIN existed.
        detail::log().warn("worker: the manager refused DRAIN ({}); stopping at once", error->code);
        report_drained();
        return;
      }
      detail::log().error("worker: manager answered {}{}: {}", error->code,
                          error->command.empty() ? "" : " to " + error->command, error->message);
    } else {
      detail::log().warn("worker: unexpected message from the manager dropped");
    }
  }

  void on_command(Answer&& answer) override { on_answer(std::move(answer)); }
  // An answer after the stop: its job was taken away, nothing is sent for it.
  void on_unserved(Answer&& /*answer*/) override {}

  void on_tick(Clock::time_point now) override {
    expire_run_timeouts(now);
    maybe_flush(now);  // sends everything once nothing runs
    check_drained();
  }

  void on_shutdown() override {
    if (drain_ != DrainState::none && !running_.empty()) {
      detail::log().warn("worker: stopping with {} jobs still running; they go back to the manager", running_.size());
    }
    flush();  // finished work is worth delivering; the BYE requeues the rest
    take_away_all("stop");
    set_ready(false);
  }

  // --- graceful stop (I/O thread) ---
  // Posted by drain(): DRAIN, then the stop waits for the running jobs. Not registered:
  // nothing runs (a lost session took it away) and nobody would hear a DRAIN.
  void begin_drain() {
    if (drain_ != DrainState::none) return;
    drain_ = DrainState::waiting;
    set_ready(false);
    if (core_.registered()) {
      core_.send(protocol::encode(protocol::Drain{}));
      detail::log().info("worker: draining, waiting for {} running jobs", running_.size());
    }
    check_drained();
  }

  // The drain is over once nothing runs and every result is sent, or once the session
  // is gone (the manager requeued what ran).
  void check_drained() {
    if (drain_ != DrainState::waiting) return;
    if (core_.registered() && (!running_.empty() || !pending_.empty())) return;
    report_drained();
  }

  void report_drained() {
    drain_ = DrainState::done;
    {
      std::lock_guard lock(drain_mutex_);
      drained_ = true;
    }
    drain_cv_.notify_all();
  }

  // --- job logic ---
  void set_ready(bool ready) {
    {
      std::lock_guard lock(ready_mutex_);
      ready_ = ready;
    }
    if (ready) ready_cv_.notify_all();
  }

  void on_jobs(protocol::Jobs&& msg) {
    protocol::Reject reject;
    std::vector<std::shared_ptr<WorkerJob>> started;
    started.reserve(msg.jobs.size());
    const auto now = Clock::now();
    for (std::size_t i = 0; i < msg.jobs.size(); ++i) {
      const auto& assignment = msg.jobs[i];
      const Key key{assignment.id, assignment.attempt};
      if (running_.contains(key)) {
        detail::log().warn("worker: job {} attempt {} is already running; duplicate ignored", key.first, key.second);
        continue;
      }
      if (drain_ != DrainState::none || running_.size() >= options_.slots) {
        reject.jobs.push_back({assignment.id, assignment.attempt});
        continue;
      }
      auto job = std::make_shared<WorkerJob>(assignment, protocol::from_frame(std::move(msg.payloads[i]), assignment.raw),
                                             core_.mailbox());
      Running entry{job, std::nullopt, 0};
      if (assignment.run_timeout_ms) {
        entry.run_timeout_ms = *assignment.run_timeout_ms;
        entry.deadline = now + milliseconds{static_cast<milliseconds::rep>(
                                   std::min(*assignment.run_timeout_ms, protocol::kLongestTimeoutMs))};
        run_deadlines_.push(*entry.deadline, key);
      }
      running_.emplace(key, std::move(entry));
      started.push_back(std::move(job));
    }
    running_count_.store(running_.size());
    if (!reject.jobs.empty()) {
      if (drain_ != DrainState::none) {
        detail::log().info("worker: rejecting {} jobs that arrived after DRAIN", reject.jobs.size());
      } else {
        detail::log().warn("worker: rejecting {} jobs beyond its {} slots", reject.jobs.size(), options_.slots);
      }
      core_.send(protocol::encode(reject));
    }
    start_jobs(started);
  }

  void on_abort(const protocol::WorkerAbort& msg) {
    for (const auto& job : msg.jobs) {
      const Key key{job.id, job.attempt};
      if (running_.contains(key)) {
        take_away(key, "abort");
      } else {
        detail::log().debug("worker: ABORT for job {} attempt {}, which is not running", job.id, job.attempt);
      }
    }
  }

  void on_answer(Answer&& answer) {
    const Key key{answer.job->id(), answer.job->attempt()};
    auto it = running_.find(key);
    if (it == running_.end() || it->second.job != answer.job) {
      detail::log().debug("worker: late {} for job {} attempt {} dropped", answer.progress ? "progress" : "answer",
                          key.first, key.second);
      return;
    }
    if (answer.progress) {
      send_progress(key, answer.data);
      return;
    }
    forget(it);
    add_result(key, std::move(answer.err), std::move(answer.data));
  }

  // Sent at once: the job's RESULT is not pending yet (it is still running), so the
  // report goes out before it. A report too big to travel is dropped and logged.
  void send_progress(const Key& key, const Payload& data) {
    if (!core_.welcome().lifecycle) {
      detail::log().debug("worker: the manager takes no progress (no lifecycle); report of job {} dropped", key.first);
      return;
    }
    const auto limits = core_.limits();
    if (data.bytes().size() + protocol::spec::kMessageHeaderBytes > limits.max_bytes) {
      detail::log().warn("worker: progress of job {} is {} bytes, above the manager's limit; dropped", key.first,
                         data.bytes().size());
      return;
    }
    protocol::WorkerProgress progress;
    progress.entries.push_back(protocol::ProgressEntry{key.first, key.second, data.is_raw()});
    progress.payloads.push_back(protocol::to_frame(data));
    core_.send(protocol::encode(std::move(progress)));
  }

  void add_result(const Key& key, std::optional<JobError> err, Payload data) {
    if (pending_.empty()) oldest_pending_ = Clock::now();
    pending_.push_back(protocol::WorkerResult{key.first, key.second, std::move(err), data.is_raw()});
    pending_payloads_.push_back(protocol::to_frame(data));
  }

  void expire_run_timeouts(Clock::time_point now) {
    while (const auto due = run_deadlines_.pop_due(now, deadline_stands())) {
      const Key key = *due;
      auto it = running_.find(key);
      add_result(key,
                 JobError{std::string(errc::kRunTimeout),
                          "the job ran longer than its runTimeout of " + std::to_string(it->second.run_timeout_ms) +
                              " ms"},
                 Payload{});
      take_away(key, "ETO");
    }
  }

  // Sends the batch when it is full, when nothing else runs, or when its oldest
  // result has waited answer_delay_max (SPEC 4, ANSWER_THRESHOLD).
  void maybe_flush(Clock::time_point now) {
    if (pending_.empty()) return;
    if (pending_.size() >= options_.answer_threshold || running_.empty() ||
        now >= oldest_pending_ + options_.answer_delay_max) {
      flush();
    }
  }

  // Sends the pending results in as few RESULT messages as the manager's limits
  // (from WELCOME, PROTOCOL §10) allow; a result too big to travel alone becomes an
  // ETOOBIG error, so its job still gets exactly one answer.
  void flush() {
    if (pending_.empty()) return;
    const auto [max_bytes, max_entries] = core_.limits();
    // Room for the header of one entry ({"id":…,"attempt":…,"err":{…}}) and of the
    // message: the one estimate every binding uses (protocol.json, peer_strategy).
    constexpr std::size_t kEntryHeaderBytes = protocol::spec::kEntryHeaderBytes;
    constexpr std::size_t kMessageHeaderBytes = protocol::spec::kMessageHeaderBytes;
    protocol::WorkerResults batch;
    std::size_t batch_bytes = kMessageHeaderBytes;
    const auto send_batch = [&] {
      if (batch.results.empty()) return;
      core_.send(protocol::encode(std::move(batch)));
      batch = {};
      batch_bytes = kMessageHeaderBytes;
    };
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      auto& entry = pending_[i];
      auto& payload = pending_payloads_[i];
      std::size_t bytes = payload.size() + kEntryHeaderBytes + (entry.err ? entry.err->message.size() : 0);
      if (bytes + kMessageHeaderBytes > max_bytes) {
        detail::log().warn("worker: result of job {} is {} bytes, above the manager's limit; answering ETOOBIG",
                           entry.id, payload.size());
        entry.err = JobError{std::string(errc::kTooBig), "the result exceeds the manager's max_message_bytes"};
        entry.raw = false;
        payload = zmq::message_t();
        bytes = kEntryHeaderBytes + entry.err->message.size();
      }
      if (batch.results.size() == max_entries || batch_bytes + bytes > max_bytes) send_batch();
      batch.results.push_back(std::move(entry));
      batch.payloads.push_back(std::move(payload));
      batch_bytes += bytes;
    }
    send_batch();
    pending_.clear();
    pending_payloads_.clear();
  }

  // Drops a job from running_; its run deadline, if any, is skipped from now on.
  void forget(std::unordered_map<Key, Running, KeyHash>::iterator it) {
    const bool had_deadline = it->second.deadline.has_value();
    running_.erase(it);
    running_count_.store(running_.size());
    if (had_deadline) run_deadlines_.forgot(running_.size(), deadline_stands());
  }

  // Removes a running job: cancels it and tells the abort handler. No RESULT follows
  // unless the caller queued one (ETO).
  void take_away(const Key& key, const std::string& reason) {
    auto it = running_.find(key);
    if (it == running_.end()) return;
    auto job = std::move(it->second.job);
    forget(it);
    job->cancel();
    if (abort_) {
      const CallbackScope scope(this);
      try {
        abort_(job, reason);
      } catch (const std::exception& e) {
        detail::log().error("worker: abort handler threw for job {}: {}", key.first, e.what());
      } catch (...) {
        detail::log().error("worker: abort handler threw for job {}", key.first);
      }
    }
  }

  void take_away_all(const std::string& reason) {
    std::vector<Key> keys;
    keys.reserve(running_.size());
    for (const auto& [key, entry] : running_) keys.push_back(key);
    for (const auto& key : keys) take_away(key, reason);
  }

  WorkerOptions options_;
  WorkHandler work_;
  AbortHandler abort_;

  std::mutex lifecycle_mutex_;  // start/stop/on_*; held by a stop for its whole length
  bool started_ = false;
  bool stopped_ = false;

  // Graceful stop, shared by the stopping threads and the I/O thread.
  std::mutex drain_mutex_;
  std::condition_variable drain_cv_;
  Clock::time_point stop_deadline_ = Clock::time_point::max();  // the earliest end any stop() asked for
  bool drained_ = false;                                        // the I/O thread found nothing left to wait for
  std::mutex stopper_mutex_;
  std::thread stopper_;  // runs a stop called from one of this worker's callbacks

  // Handler pool.
  std::mutex queue_mutex_;
  std::condition_variable_any queue_cv_;
  std::deque<std::shared_ptr<WorkerJob>> queue_;
  std::vector<std::jthread> pool_;

  // Status readable from any thread: ready_ once the manager took the offer.
  mutable std::mutex ready_mutex_;
  mutable std::condition_variable ready_cv_;
  bool ready_ = false;
  std::atomic<std::size_t> running_count_{0};

  // I/O thread state. run_deadlines_ holds (deadline, key) for every entry of running_
  // that has a deadline, and forgotten ones (see DeadlineHeap). drain_: none until a
  // graceful stop begins; waiting: JOBS are rejected (DRAIN sent if registered); done:
  // reported to the stopping thread (JOBS are still rejected).
  std::unordered_map<Key, Running, KeyHash> running_;
  detail::DeadlineHeap<Key, Clock> run_deadlines_;
  std::vector<protocol::WorkerResult> pending_;  // results not yet sent, with...
  protocol::Frames pending_payloads_;            // ... their payloads, same order
  Clock::time_point oldest_pending_{};
  enum class DrainState { none, waiting, done };
  DrainState drain_ = DrainState::none;

  WorkerLoop core_;  // last: its I/O thread is joined (by stop()) before anything above is destroyed
};

Worker::Worker(WorkerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Worker::~Worker() = default;
Worker::Worker(Worker&&) noexcept = default;
Worker& Worker::operator=(Worker&&) noexcept = default;

Worker::Impl& Worker::impl() const {
  if (!impl_) throw Error(std::string(errc::kState), "use of a moved-from Worker");
  return *impl_;
}
void Worker::on_work(WorkHandler handler) { impl().on_work(std::move(handler)); }
void Worker::on_abort(AbortHandler handler) { impl().on_abort(std::move(handler)); }
void Worker::start() { impl().start(); }
void Worker::stop() { impl().stop(); }
void Worker::stop(std::chrono::milliseconds drain_timeout) { impl().stop(drain_timeout); }
bool Worker::wait_ready(std::chrono::milliseconds timeout) const { return impl().wait_ready(timeout); }
std::string Worker::id() const { return impl().core().id(); }
std::size_t Worker::running() const { return impl().running(); }

void Worker::system_message(const nlohmann::json& msg, std::optional<std::string> to, SysmsgCallback done) {
  impl().system_message(msg, std::move(to), std::move(done));
}
std::future<SysmsgReceipt> Worker::system_message(const nlohmann::json& msg, std::optional<std::string> to) {
  return impl().core().system_message(msg, std::move(to));
}
void Worker::on_sysmsg(SysmsgHandler handler) { impl().on_sysmsg(std::move(handler)); }
std::future<nlohmann::json> Worker::status() { return impl().core().status(false); }
std::future<nlohmann::json> Worker::my_status() { return impl().core().status(true); }

}  // namespace proletariat
