// proletariat::Worker — a peer that offers slots to a manager and runs jobs.
//
// Threading: a Worker owns one I/O thread that alone touches its ZeroMQ socket
// (sockets are not thread-safe). Every public method may be called from any thread;
// calls reach the I/O thread through a mailbox and never block on the network.
// Jobs are handed to the work handler on `handler_threads` internal threads, so a
// handler that blocks does not stop heartbeats; a handler may also return at once and
// finish the job later, from any thread, through Job::reply() or Job::fail(). With
// `handler_threads = 0` the handler runs on the I/O thread itself: no thread hand-off
// per job (the fastest choice for handlers that return at once, or that pass the job
// to threads of their own), but a handler that blocks there stalls heartbeats too.
//
// Reconnection: when the manager falls silent past its liveness, or answers ENOHELLO
// (it restarted), the worker waits `con_retry_time`, opens a new socket, registers and
// re-offers its slots. Jobs that were running are cancelled (their results would be
// for attempts the manager has given away).
//
// Stopping (PROTOCOL §4 DRAIN, §12): stop() is graceful by default. It tells the
// manager DRAIN (no new jobs come; JOBS that still arrive are REJECTed and go back to
// their queues), waits until the running jobs have been answered and their results
// sent, at most `drain_timeout`, then does what a hard stop does with what is left: it
// sends the finished results, cancels the jobs still running (reason "stop"; the
// manager requeues them on BYE), says BYE and joins the threads. A drain timeout of 0
// is a hard stop. A lost session ends the drain (the manager has requeued the jobs),
// and so does an ERROR answering DRAIN (a manager that does not know it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <proletariat/curve.hpp>
#include <proletariat/job.hpp>
#include <proletariat/sysmsg.hpp>

namespace proletariat {

struct WorkerOptions {
  // Connect with CURVE (PROTOCOL §13) on both sockets; none: plain TCP.
  std::optional<CurveOptions> curve;
  // The manager's command endpoint.
  std::string endpoint = "tcp://127.0.0.1:1917";
  // How many jobs run at once (PROTOCOL §4 OFFER). 1 … 1,000,000.
  unsigned slots = 100;
  // Lowest priority of a range -> slots guaranteed to that range; the rest belongs to
  // the range starting at 0. Guarantees above `slots` are refused by start().
  std::map<double, unsigned> priority_slots;
  // Services offered; empty: only jobs that name no service.
  std::vector<std::string> services;
  // Results are batched until this many are waiting (ANSWER_THRESHOLD) ...
  unsigned answer_threshold = 1;
  // ... or the oldest waited this long, or the worker has nothing else running.
  std::chrono::milliseconds answer_delay_max{5};
  // Wait before reconnecting after the manager was lost (CON_RETRYTIME).
  std::chrono::milliseconds con_retry_time{2000};
  // How long stop() (and the destructor) waits for the running jobs to finish before
  // it gives them back to the manager (see "Stopping" above); 0: every stop is a hard
  // stop. Negative values are refused by start() (EBADFIELD).
  std::chrono::milliseconds drain_timeout{30000};
  // Threads that call the work handler; 0: call it on the I/O thread (see above). A
  // handler, inline or not, must not destroy its Worker (it may call stop()).
  unsigned handler_threads = 1;
  // Shown in the manager's status.
  std::string name;
  // False: this worker never receives system messages (no SUB socket; HELLO tells the
  // manager, so broadcasts do not wait for it and messages to it get ENOPEER).
  bool system_messages = true;
};

// One job on a worker. Shared between the worker and the handler; reply() or fail()
// may be called once, from any thread; later calls are ignored.
class Job {
 public:
  virtual ~Job() = default;
  [[nodiscard]] virtual std::uint64_t id() const noexcept = 0;
  [[nodiscard]] virtual unsigned attempt() const noexcept = 0;
  [[nodiscard]] virtual double priority() const noexcept = 0;
  [[nodiscard]] virtual const std::string& key() const noexcept = 0;
  [[nodiscard]] virtual const std::string& service() const noexcept = 0;
  [[nodiscard]] virtual const Payload& args() const noexcept = 0;
  // Set once the job is aborted, timed out (runTimeout) or the worker stops; a
  // long-running handler should check it and give up.
  [[nodiscard]] virtual std::stop_token stop_token() const noexcept = 0;
  [[nodiscard]] bool cancelled() const noexcept { return stop_token().stop_requested(); }
  virtual void reply(Payload data) = 0;
  // Reports progress or partial data (PROTOCOL §14.4), any number of times before the
  // answer; the client's work_individual progress callback gets each, in order, and
  // never after the result. Ignored once the job answered, timed out or was aborted.
  virtual void progress(Payload /*data*/) {}
  virtual void fail(std::string code, std::string message) = 0;
};
using JobPtr = std::shared_ptr<Job>;

class Worker {
 public:
  using WorkHandler = std::function<void(const JobPtr&)>;
  // Why a job was taken away from the handler: "abort" (client or manager), "ETO"
  // (runTimeout), "reconnect" (the manager was lost), "stop".
  using AbortHandler = std::function<void(const JobPtr&, const std::string& reason)>;

  explicit Worker(WorkerOptions options);
  ~Worker();  // stop(): a graceful stop of at most `drain_timeout`
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Movable (not while another thread uses it): the I/O thread stays with the moved
  // object. A moved-from Worker throws Error(ESTATE) from every call but destruction
  // and assignment; assigning over a running Worker stops it first.
  Worker(Worker&&) noexcept;
  Worker& operator=(Worker&&) noexcept;

  // Set before start(). A handler that throws fails the job with EHANDLER.
  void on_work(WorkHandler handler);
  void on_abort(AbortHandler handler);

  // Validates the offer (throws Error EBADOFFER; EBADFIELD for a negative
  // drain_timeout) and starts the I/O thread.
  void start();
  // Stops the worker, gracefully: stop(options.drain_timeout). Idempotent.
  void stop();
  // Stops the worker, waiting at most `drain_timeout` for the running jobs (0, or
  // less: a hard stop, at once: BYE, the manager requeues the running jobs and their
  // handlers see cancellation with reason "stop"). Blocks until the worker stopped:
  // the drain, then the handler threads are joined (a handler that ignores its
  // cancellation holds that up). A call while another thread's stop drains makes that
  // drain end no later than this call's timeout (stop(0ms): at once) and then waits for
  // it. Called from one of this worker's callbacks (the work, abort or system-message
  // handler, a system_message() callback), it returns at once and the worker stops in
  // the background, on a thread of its own (joined by the destructor): a graceful stop
  // then waits for the calling job too, so answer it. Does nothing before start().
  void stop(std::chrono::milliseconds drain_timeout);

  // System messages (PROTOCOL §8). `to`: a peer id, kToManager, or nullopt for everybody
  // but this peer. The callback runs on the I/O thread with the receipt, or with an
  // error (ENOPEER, ECONNLOST when the manager is lost first); the future throws
  // proletariat::Error instead.
  using SysmsgCallback = std::function<void(std::optional<JobError> err, SysmsgReceipt receipt)>;
  void system_message(const nlohmann::json& msg, std::optional<std::string> to, SysmsgCallback done);
  [[nodiscard]] std::future<SysmsgReceipt> system_message(const nlohmann::json& msg,
                                                          std::optional<std::string> to = std::nullopt);
  // Messages sent to this peer (or to everybody). May be set at any time.
  void on_sysmsg(SysmsgHandler handler);
  // The manager's STATUS and MYSTATUS documents (PROTOCOL §8.2).
  [[nodiscard]] std::future<nlohmann::json> status();
  [[nodiscard]] std::future<nlohmann::json> my_status();

  // True once the manager acknowledged the offer; waits at most `timeout`.
  [[nodiscard]] bool wait_ready(std::chrono::milliseconds timeout) const;
  // The id the manager gave this worker (empty before registration).
  [[nodiscard]] std::string id() const;
  // Jobs currently running on this worker.
  [[nodiscard]] std::size_t running() const;

 private:
  class Impl;
  Impl& impl() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proletariat
