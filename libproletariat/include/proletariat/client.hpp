// proletariat::Client — a peer that pushes groups of jobs and receives results.
//
// Threading: a Client owns one I/O thread that alone touches its ZeroMQ socket. All
// public methods may be called from any thread and do not block on the network.
// Callbacks (done, each) run on the client's I/O thread: keep them short; they may
// call back into the Client. The std::future forms suit blocking callers.
//
// Ordering: `work` gives results in the order the jobs were given; `work_individual`
// reports each job as it finishes. Every job gets exactly one result.
//
// Reconnection: when the manager falls silent past its liveness or answers ENOHELLO,
// the client waits `con_retry_time` and registers again. With `keep_state` it pushes
// every unfinished job again (timeouts keep counting from the original call);
// without, those jobs fail with ECONNLOST.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <proletariat/curve.hpp>
#include <proletariat/job.hpp>
#include <proletariat/sysmsg.hpp>

namespace proletariat {

namespace detail {
// The values that name one job in Client::work.
template <typename T>
concept single_job = std::same_as<std::remove_cvref_t<T>, JobSpec> || std::same_as<std::remove_cvref_t<T>, Payload> ||
                     std::same_as<std::remove_cvref_t<T>, nlohmann::json>;
}  // namespace detail

struct ClientOptions {
  std::string endpoint = "tcp://127.0.0.1:1917";
  bool keep_state = false;
  std::chrono::milliseconds con_retry_time{2000};
  std::string name;
  // False: this client never receives system messages (no SUB socket; HELLO tells the
  // manager, so broadcasts do not wait for it and messages to it get ENOPEER).
  bool system_messages = true;
  // The client's stable identity, sent in every HELLO (PROTOCOL §12): with a manager
  // that keeps a journal, jobs accepted in one session are answered in the next, even
  // across a restart of the manager. Empty: a random one, chosen at construction.
  // 1 to 128 bytes of UTF-8.
  std::string identity;
  // Connect with CURVE (PROTOCOL §13) on both sockets; none: plain TCP.
  std::optional<CurveOptions> curve;
};

// A DEADLETTERS reply (PROTOCOL §14.2): its header (letters, total, requeued, purged)
// and, for show, each letter's payload, in the order of reply["letters"].
struct DeadLetterReply {
  nlohmann::json reply;
  std::vector<Payload> payloads;
};

// Identifies one finished job of a request to a work_individual callback.
struct JobRef {
  std::uint64_t request = 0;  // the client's request number
  std::size_t index = 0;      // position in the pushed group
  std::uint64_t id = 0;       // the manager's job id (0 if it never got one)
};

class Client {
 public:
  using RequestId = std::uint64_t;
  using GroupCallback = std::function<void(std::vector<Result>)>;
  using SingleCallback = std::function<void(Result)>;
  using EachCallback = std::function<void(const Result&, const JobRef&)>;
  using DoneCallback = std::function<void()>;
  // Progress a worker reported for a running job (PROTOCOL §14.4): in order, and
  // never after that job's `each`.
  using ProgressCallback = std::function<void(const Payload& progress, const JobRef&)>;

  explicit Client(ClientOptions options = {});
  ~Client();  // fails every unfinished job with EABORTED after telling the manager
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Movable (not while another thread uses it): the I/O thread stays with the moved
  // object. A moved-from Client throws Error(ESTATE) from every call but destruction
  // and assignment; assigning over a running Client stops it first.
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Pushes a group; `done` gets every result, in the order of `jobs`. A braced list
  // is always a group: work({json{{"a", 1}}}, options) is a group of one job.
  RequestId work(std::vector<JobSpec> jobs, const WorkOptions& options, GroupCallback done);
  [[nodiscard]] std::future<std::vector<Result>> work(std::vector<JobSpec> jobs, const WorkOptions& options = {});
  // A single job (a JobSpec, Payload or nlohmann::json value) gives a single result.
  // A template, so that a braced list cannot select it: with a plain JobSpec
  // parameter, work({json{...}}, options) was ambiguous (issue 10, defect 1).
  template <typename Job>
    requires detail::single_job<Job>
  RequestId work(Job&& job, const WorkOptions& options, SingleCallback done) {
    return work_one(JobSpec(std::forward<Job>(job)), options, std::move(done));
  }
  template <typename Job>
    requires detail::single_job<Job>
  [[nodiscard]] std::future<Result> work(Job&& job, const WorkOptions& options = {}) {
    return work_one(JobSpec(std::forward<Job>(job)), options);
  }

  // `each` fires per job in finishing order, then `done` once all have finished.
  RequestId work_individual(std::vector<JobSpec> jobs, const WorkOptions& options, EachCallback each,
                            DoneCallback done);
  // ... and `progress` gets what workers report while the jobs run.
  RequestId work_individual(std::vector<JobSpec> jobs, const WorkOptions& options, EachCallback each,
                            DoneCallback done, ProgressCallback progress);

  // Aborts every unfinished job of a request, or the jobs at the given positions.
  // They finish with EABORTED; running ones are aborted on their workers.
  void abort(RequestId request);
  void abort(RequestId request, std::vector<std::size_t> indices);

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

  // Dead letters (PROTOCOL §14.2; with CURVE an admin key): the newest `limit`; the
  // letters named, with their payloads; requeued or purged (empty ids: every letter).
  [[nodiscard]] std::future<DeadLetterReply> dead_letters(std::size_t limit = 100);
  [[nodiscard]] std::future<DeadLetterReply> dead_letters_show(std::vector<std::uint64_t> ids);
  [[nodiscard]] std::future<DeadLetterReply> dead_letters_requeue(std::vector<std::uint64_t> ids = {});
  [[nodiscard]] std::future<DeadLetterReply> dead_letters_purge(std::vector<std::uint64_t> ids = {});
  // Group limits (PROTOCOL §14.5): the GROUPLIMITS reply (defaults and groups). set
  // gives the group both limits (nullopt: none); clear returns it to the defaults.
  [[nodiscard]] std::future<nlohmann::json> group_limits();
  [[nodiscard]] std::future<nlohmann::json> set_group_limits(std::string group, std::optional<std::uint64_t> max_running,
                                                             std::optional<double> rate);
  [[nodiscard]] std::future<nlohmann::json> clear_group_limits(std::string group);

  // True once registered with a manager; waits at most `timeout`.
  [[nodiscard]] bool wait_connected(std::chrono::milliseconds timeout) const;
  [[nodiscard]] std::string id() const;
  // Jobs pushed and not yet finished.
  [[nodiscard]] std::size_t pending() const;

 private:
  RequestId work_one(JobSpec job, const WorkOptions& options, SingleCallback done);
  std::future<Result> work_one(JobSpec job, const WorkOptions& options);

  class Impl;
  Impl& impl() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proletariat
