// proletariat::Client: the job logic of a client, plugged into peer::PeerLoop (which
// owns the I/O thread, the session and the mailbox, system messages and status): the
// table of requests and the map from the manager's job ids back to (request, index).
//
// Who owns what:
//  - callers' threads: build a Request and post it (or an abort) to the mailbox; bump
//    pending_jobs_. Nothing else.
//  - I/O thread: everything in "I/O thread state"; it runs every user callback and
//    the hooks (on_*).
//
// A job's life on the I/O thread: unsent -> sent (PUSH queued in awaiting_accept_)
// -> accepted (id known, in by_id_) -> done (result delivered). Any state may jump to
// done (timeout, abort, ERROR for its push, connection lost without keep_state).
// Losing the session takes every sent/accepted job back to unsent (keep_state) or to
// done with ECONNLOST. Invariants: by_id_ holds exactly the accepted jobs that are
// not done; awaiting_accept_ holds the pushes sent in the current session whose
// ACCEPTED (or ERROR) has not arrived, including pushes whose jobs finished meanwhile
// (their ids, when they come, are aborted on the manager). A PUSH may carry jobs of
// several requests, so its `req` is a push number of its own, not a RequestId.
#include <proletariat/client.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include <proletariat/error.hpp>

#include "detail/deadline_heap.hpp"
#include "log.hpp"
#include "peer/peer_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/json_scan.hpp"
#include "protocol/json_text.hpp"

namespace proletariat {

namespace {

using peer::Clock;
using std::chrono::milliseconds;
using RequestId = Client::RequestId;

// The one push strategy of every binding (protocol.json, peer_strategy):
// - header bytes assumed per job entry besides its key and service, and for the rest
//   of the PUSH header (req, priority, timeouts), to split a request into pushes under
//   the manager's max_message_bytes;
// - jobs per PUSH at most: a huge request travels as several pushes, so the manager
//   decodes (and buffers) a bounded message at a time and keeps answering other peers;
// - pushes sent and not yet ACCEPTED at most: a client that submits a million jobs at
//   once feeds them to the manager as it takes them, instead of piling them into the
//   manager's socket buffers (which would keep that memory after the burst).
constexpr std::size_t kHeaderBytesPerJob = protocol::spec::kEntryHeaderBytes;
constexpr std::size_t kHeaderBytesBase = protocol::spec::kMessageHeaderBytes;
constexpr std::size_t kMaxJobsPerPush = protocol::spec::kMaxJobsPerPush;
constexpr std::size_t kMaxPushesInFlight = protocol::spec::kMaxPushesInFlight;

enum class Kind { group, single, individual };

struct ClientJob {
  JobSpec spec;
  std::uint64_t id = 0;  // the manager's id, once accepted in this session
  bool sent = false;     // pushed in the current session
  bool done = false;
  Result result;
};

struct Request {
  RequestId req = 0;
  Kind kind = Kind::group;
  double priority = 0;
  std::optional<std::uint64_t> run_timeout_ms;
  std::optional<std::uint64_t> assign_timeout_ms;
  std::optional<milliseconds> timeout;
  std::optional<Clock::time_point> deadline;
  protocol::Lifecycle lifecycle;  // PROTOCOL §14: in the push header, or the entries where it differs
  std::optional<RetryPolicy> retry_policy;  // becomes lifecycle.retry on the I/O thread
  std::size_t lifecycle_bytes = 0;  // what it may add to an entry (computed once)
  std::vector<ClientJob> jobs;
  std::size_t cursor = 0;  // every job before it was sent in this session, or is done
  bool alone = false;      // travels in pushes of its own (a shared push was refused)
  std::size_t remaining = 0;
  Client::GroupCallback group;
  Client::SingleCallback single;
  Client::EachCallback each;
  Client::DoneCallback done;
  Client::ProgressCallback progress;
};

bool has_lifecycle(const protocol::Lifecycle& life) { return life.due.set() || life.group || life.retry; }

bool same_due(const protocol::Due& a, const protocol::Due& b) { return a.delay_ms == b.delay_ms && a.at_ms == b.at_ms; }
bool same_retry(const std::shared_ptr<const RetryPolicy>& a, const std::shared_ptr<const RetryPolicy>& b) {
  return a == b || (a && b && *a == *b);
}

// Room for a request's lifecycle fields in one entry: ,"delay":<16 digits> and the
// group and retry as encoded.
std::size_t lifecycle_bytes(const protocol::Lifecycle& life, const std::optional<RetryPolicy>& retry) {
  if (!has_lifecycle(life) && !retry) return 0;
  std::size_t bytes = 32;
  if (life.group) bytes += 12 + protocol::json_text::string_size(*life.group);
  if (retry) {
    // {"max":N,"initial":N,"factor":F,"maxDelay":N,"jitter":F,"codes":[...]}: numbers
    // at most 24 characters each, codes as escaped strings.
    bytes += 160;
    for (const auto& code : retry->codes) bytes += 3 + protocol::json_text::string_size(code);
  }
  return bytes;
}

// Where a pushed job lives: its request and its index in that request.
struct PushedJob {
  RequestId req = 0;
  std::size_t index = 0;
};

// Collects jobs into PUSH messages. A PUSH header carries one priority and one set of
// timeouts; a manager that announces entry_options (PROTOCOL §4) also takes them per
// entry, and then one open push takes every job. Otherwise there is one open push per
// priority, and a job whose priority matches an open push with other timeouts sends
// that push first, so jobs of one priority keep their order on the wire. A push is
// also sent when it reaches the manager's frame or byte limit (from WELCOME).
class PushBuilder {
 public:
  using Send = std::function<void(protocol::Push&&, std::vector<PushedJob>&&)>;

  PushBuilder(std::size_t max_jobs, std::size_t max_bytes, bool entry_options, Send send)
      : max_jobs_(std::max<std::size_t>(max_jobs, 1)),
        max_bytes_(max_bytes),
        entry_options_(entry_options),
        send_(std::move(send)) {}

  // Pushes being filled (sent ones are the caller's, through `send`).
  [[nodiscard]] std::size_t open_pushes() const noexcept { return open_.size(); }

  // Whether the job would join a push being filled (rather than start one).
  [[nodiscard]] bool fits(const Request& request, std::size_t index) const {
    const std::size_t job_bytes = bytes_of(request.jobs[index].spec) + request.lifecycle_bytes;
    for (const auto& open : open_) {
      if (shares_a_push(open, request)) return joins(open, request, job_bytes);
    }
    return false;
  }

  // False when the job could never travel within max_bytes.
  bool add(const Request& request, std::size_t index) {
    const auto& spec = request.jobs[index].spec;
    const std::size_t job_bytes = bytes_of(spec) + request.lifecycle_bytes;
    if (kHeaderBytesBase + job_bytes > max_bytes_) return false;
    Open* open = nullptr;
    for (auto it = open_.begin(); it != open_.end(); ++it) {
      if (!shares_a_push(*it, request)) continue;
      if (joins(*it, request, job_bytes)) {
        open = &*it;
      } else {
        send(it);
      }
      break;
    }
    if (open == nullptr) {
      auto& fresh = open_.emplace_back();
      fresh.push.priority = request.priority;
      fresh.push.assign_timeout_ms = request.assign_timeout_ms;
      fresh.push.run_timeout_ms = request.run_timeout_ms;
      // The first request's lifecycle is the header's: a stream of jobs with the same
      // retry policy or delay carries it once per push, not once per job.
      fresh.push.lifecycle = request.lifecycle;
      open = &fresh;
    }
    protocol::PushJob job{spec.key, spec.service, spec.args.is_raw(), {}, {}, {}};
    // Only with entry_options can these differ from the header (see joins()).
    if (request.priority != open->push.priority) job.priority = request.priority;
    if (request.assign_timeout_ms != open->push.assign_timeout_ms) job.assign_timeout_ms = request.assign_timeout_ms;
    if (request.run_timeout_ms != open->push.run_timeout_ms) job.run_timeout_ms = request.run_timeout_ms;
    // Only to a manager that announced lifecycle (push_pending); joins() saw to it that
    // the header has nothing the request lacks.
    const protocol::Lifecycle& head = open->push.lifecycle;
    if (request.lifecycle.due.set() && !same_due(request.lifecycle.due, head.due)) job.lifecycle.due = request.lifecycle.due;
    if (request.lifecycle.group && request.lifecycle.group != head.group) job.lifecycle.group = request.lifecycle.group;
    if (request.lifecycle.retry && !same_retry(request.lifecycle.retry, head.retry)) {
      job.lifecycle.retry = request.lifecycle.retry;
    }
    open->push.jobs.push_back(std::move(job));
    open->push.payloads.push_back(protocol::to_frame(spec.args));
    open->jobs.push_back({request.req, index});
    open->bytes += job_bytes;
    return true;
  }

  void finish() {
    while (!open_.empty()) send(open_.begin());
  }

 private:
  struct Open {
    protocol::Push push;
    std::vector<PushedJob> jobs;
    std::size_t bytes = kHeaderBytesBase;
  };

  // Room for an entry's own priority and timeouts: ,"priority":<24 chars>,
  // "assigntimeout":<16 digits>,"runTimeout":<16 digits>.
  static constexpr std::size_t kEntryOptionBytes = 112;

  // An upper bound of what the job adds to the message: its payload and its entry,
  // strings counted as encoded (escapes included), so a push never exceeds the
  // manager's max_message_bytes (an ETOOBIG would refuse the whole push).
  std::size_t bytes_of(const JobSpec& spec) const {
    return spec.args.bytes().size() + protocol::json_text::string_size(spec.key) +
           protocol::json_text::string_size(spec.service) + kHeaderBytesPerJob +
           (entry_options_ ? kEntryOptionBytes : 0);
  }

  // The open push a request's jobs go to, if any: the one, or the one of its priority.
  [[nodiscard]] bool shares_a_push(const Open& open, const Request& request) const {
    return entry_options_ || open.push.priority == request.priority;
  }

  [[nodiscard]] bool joins(const Open& open, const Request& request, std::size_t job_bytes) const {
    if (open.jobs.size() >= max_jobs_ || open.bytes + job_bytes > max_bytes_) return false;
    // An entry can set a lifecycle option the header lacks or has otherwise, but cannot
    // take away the header's.
    const protocol::Lifecycle& head = open.push.lifecycle;
    const protocol::Lifecycle& mine = request.lifecycle;
    if ((head.due.set() && !mine.due.set()) || (head.group && !mine.group) || (head.retry && !mine.retry)) return false;
    if (!entry_options_) {
      return open.push.assign_timeout_ms == request.assign_timeout_ms &&
             open.push.run_timeout_ms == request.run_timeout_ms;
    }
    // An entry can set a timeout the header lacks, but cannot take away the header's.
    return (!open.push.assign_timeout_ms || request.assign_timeout_ms) &&
           (!open.push.run_timeout_ms || request.run_timeout_ms);
  }

  void send(std::vector<Open>::iterator it) {
    Open done = std::move(*it);
    open_.erase(it);
    send_(std::move(done.push), std::move(done.jobs));
  }

  const std::size_t max_jobs_;
  const std::size_t max_bytes_;
  const bool entry_options_;
  const Send send_;
  std::vector<Open> open_;  // few: one per priority in use
};

struct AbortCommand {
  RequestId req = 0;
  std::optional<std::vector<std::size_t>> indices;  // none: the whole request
};
using Command = std::variant<Request, AbortCommand>;

// The identity a client keeps for its life (PROTOCOL §12): the caller's, checked, or
// a random one.
ClientOptions with_identity(ClientOptions options) {
  if (options.curve) check_curve_options(*options.curve);
  if (options.identity.empty()) {
    std::random_device random;
    static constexpr char kHex[] = "0123456789abcdef";
    options.identity = "cpp-";
    for (int i = 0; i < 32; ++i) options.identity.push_back(kHex[random() & 0xF]);
  } else if (options.identity.size() > protocol::kMaxIdentityBytes ||
             !protocol::wire::is_valid_utf8(options.identity)) {
    throw Error(std::string(errc::kBadField), "ClientOptions::identity must be 1 to 128 bytes of UTF-8");
  }
  return options;
}

std::optional<std::uint64_t> to_ms(const std::optional<milliseconds>& value, const char* name) {
  if (!value) return std::nullopt;
  if (value->count() < 0) {
    throw Error(std::string(errc::kBadField), std::string(name) + " must not be negative");
  }
  return static_cast<std::uint64_t>(value->count());
}

// The lifecycle options of a request as they travel (PROTOCOL §14), checked as the
// manager would check them, so that a bad one fails the call rather than its push.
protocol::Lifecycle lifecycle_of(const WorkOptions& options) {
  const auto bad = [](const std::string& what) { throw Error(std::string(errc::kBadField), what); };
  protocol::Lifecycle life;
  if (options.delay && options.at) bad("delay and at exclude each other");
  life.due.delay_ms = to_ms(options.delay, "delay");
  if (options.at) {
    const auto ms = std::chrono::duration_cast<milliseconds>(options.at->time_since_epoch()).count();
    life.due.at_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ms));
  }
  if (!options.group.empty()) {
    if (options.group.size() > protocol::spec::kMaxGroupBytes || !protocol::wire::is_valid_utf8(options.group)) {
      bad("group must be 1 to " + std::to_string(protocol::spec::kMaxGroupBytes) + " bytes of UTF-8");
    }
    life.group = options.group;
  }
  if (options.retry) {
    const RetryPolicy& retry = *options.retry;
    if (retry.max > protocol::spec::kMaxRetries) bad("retry.max must be at most " + std::to_string(protocol::spec::kMaxRetries));
    if (retry.initial.count() < 0 || retry.max_delay.count() < 0) bad("retry delays must not be negative");
    if (!(retry.factor >= 1) || !std::isfinite(retry.factor)) bad("retry.factor must be a number >= 1");
    if (!(retry.jitter >= 0 && retry.jitter <= 1)) bad("retry.jitter must be from 0 to 1");
    for (const auto& code : retry.codes) {
      if (code.empty() || !protocol::wire::is_valid_utf8(code)) bad("retry.codes must be non-empty UTF-8 strings");
    }
  }
  return life;
}

}  // namespace

class Client::Impl final : public peer::PeerRoleOf<Command> {
 public:
  explicit Impl(ClientOptions options)
      : options_(with_identity(std::move(options))),
        core_(peer::SessionOptions{options_.endpoint, options_.name, options_.con_retry_time, "client",
                                   options_.system_messages, options_.identity, options_.curve},
              "prlt-client", *this) {
    core_.start();
  }
  ~Impl() override { core_.stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  RequestId submit(Kind kind, std::vector<JobSpec> jobs, const WorkOptions& options, Request callbacks) {
    if (!std::isfinite(options.priority) || options.priority < 0) {
      throw Error(std::string(errc::kBadField), "priority must be a finite number >= 0");
    }
    // A key or service that is not UTF-8 would make the manager refuse the whole PUSH
    // (EBADJSON), and with it the jobs of other requests that travel in the same one.
    for (const auto& job : jobs) {
      if (!protocol::wire::is_valid_utf8(job.key) || !protocol::wire::is_valid_utf8(job.service)) {
        throw Error(std::string(errc::kBadField), "a job's key and service must be UTF-8");
      }
    }
    Request r = std::move(callbacks);
    r.kind = kind;
    r.priority = options.priority;
    r.run_timeout_ms = to_ms(options.run_timeout, "run_timeout");
    r.assign_timeout_ms = to_ms(options.assign_timeout, "assign_timeout");
    r.lifecycle = lifecycle_of(options);
    r.retry_policy = options.retry;  // shared on the I/O thread (on_request)
    r.lifecycle_bytes = lifecycle_bytes(r.lifecycle, options.retry);
    if (options.timeout) {
      to_ms(options.timeout, "timeout");
      r.timeout = *options.timeout;
      r.deadline = Clock::now() + *options.timeout;
    }
    r.req = next_req_.fetch_add(1);
    r.jobs.reserve(jobs.size());
    for (auto& spec : jobs) r.jobs.push_back(ClientJob{std::move(spec), 0, false, false, {}});
    r.remaining = r.jobs.size();
    const RequestId req = r.req;
    pending_jobs_.fetch_add(r.jobs.size());
    core_.post(std::move(r));
    return req;
  }

  void abort(RequestId req, std::optional<std::vector<std::size_t>> indices) {
    core_.post(AbortCommand{req, std::move(indices)});
  }

  std::size_t pending() const { return pending_jobs_.load(); }
  peer::PeerCore& core() { return core_; }

 private:
  // --- I/O thread ---
  // A request's entry in deadlines_ stands while the request is unfinished.
  auto deadline_stands() const {
    return [this](Clock::time_point when, RequestId req) {
      auto it = requests_.find(req);
      return it != requests_.end() && it->second.deadline == when;
    };
  }

  // --- the core's hooks ---
  Clock::time_point next_deadline() override {
    return deadlines_.next(deadline_stands()).value_or(Clock::time_point::max());
  }

  void on_tick(Clock::time_point now) override {
    expire_requests(now);
    push_pending();
  }

  void on_command(Command&& command) override {
    if (auto* request = std::get_if<Request>(&command)) {
      on_request(std::move(*request));
    } else {
      on_abort(std::get<AbortCommand>(command));
    }
  }

  void on_registered() override {
    const std::string& journal = core_.welcome().journal;
    if (!kept_journal_.empty() && journal != kept_journal_) {
      // Another manager, or the same without its journal: the kept jobs are gone.
      detail::log().warn("client: the manager's journal is {}, not {}: the jobs it had accepted are lost",
                         journal.empty() ? "none" : journal, kept_journal_);
      by_id_.clear();
      lose_sent_jobs();
    }
    kept_journal_.clear();
    journal_ = journal;
    draining_ = false;
    to_push_ = request_ids();
    push_pending();
  }

  void on_lost() override {
    awaiting_accept_.clear();
    if (!journal_.empty()) {
      // The manager keeps accepted jobs on disk and answers them in the next session
      // (PROTOCOL §12): they stay waiting. Pushes it had not accepted go again.
      kept_journal_ = journal_;
      for (auto& [req, request] : requests_) {
        for (auto& job : request.jobs) {
          if (job.done || !job.sent || job.id != 0) continue;
          job.sent = false;
          request.cursor = 0;
        }
      }
      return;
    }
    by_id_.clear();
    lose_sent_jobs();
  }

  // The manager lost the jobs given to it: pushed again (keep_state) or ECONNLOST.
  void lose_sent_jobs() {
    std::size_t lost = 0;
    for (auto req : request_ids()) {
      for (std::size_t i = 0;; ++i) {
        auto it = requests_.find(req);  // finish() may have completed the request
        if (it == requests_.end() || i >= it->second.jobs.size()) break;
        auto& job = it->second.jobs[i];
        if (job.done || !job.sent) continue;  // never given to the lost manager: stays queued
        ++lost;
        if (options_.keep_state) {
          job.sent = false;
          job.id = 0;
          it->second.cursor = 0;
        } else {
          finish(it->second, i,
                 Result{JobError{std::string(errc::kConnectionLost), "the connection to the manager was lost"}, {}});
        }
      }
    }
    if (lost > 0) {
      detail::log().warn("client: {} unfinished jobs {}", lost,
                         options_.keep_state ? "will be pushed again" : "failed with ECONNLOST");
    }
  }

  void on_message(protocol::ManagerMessage&& msg) override {
    if (auto* accepted = std::get_if<protocol::Accepted>(&msg)) {
      on_accepted(*accepted);
    } else if (auto* results = std::get_if<protocol::ClientResults>(&msg)) {
      on_results(std::move(*results));
    } else if (auto* error = std::get_if<protocol::ErrorReply>(&msg)) {
      on_error(*error);
    } else if (auto* progress = std::get_if<protocol::ClientProgress>(&msg)) {
      on_progress(std::move(*progress));
    } else {
      detail::log().warn("client: unexpected message from the manager dropped");
    }
  }

  void on_request(Request&& request) {
    const RequestId req = request.req;
    if (request.retry_policy) {
      // Requests of one stream repeat one policy: they share the last one's, so a
      // push with several of them carries it once (PushBuilder compares pointers first).
      if (!last_retry_ || !(*last_retry_ == *request.retry_policy)) {
        last_retry_ = std::make_shared<const RetryPolicy>(std::move(*request.retry_policy));
      }
      request.lifecycle.retry = last_retry_;
      request.retry_policy.reset();
    }
    if (request.jobs.empty()) {
      complete(request);
      return;
    }
    if (request.deadline) deadlines_.push(*request.deadline, req);
    requests_.emplace(req, std::move(request));
    to_push_.push_back(req);  // pushed after the mailbox is drained, with its neighbours
  }

  // Pushes every job of the requests in to_push_ that is neither done nor sent. Jobs
  // that share their push options travel together, across requests: a caller that
  // submits one job per work() call, as fast as results come back, still sends one
  // PUSH per wake-up of this thread rather than one per job (issue 6).
  void push_pending() {
    // A full window leaves to_push_ untouched: no walk over waiting requests per wake-up.
    if (to_push_.empty() || !core_.registered() || draining_ || awaiting_accept_.size() >= kMaxPushesInFlight) return;
    const auto limits = core_.limits();
    PushBuilder builder(std::min(limits.max_entries, kMaxJobsPerPush), limits.max_bytes, core_.welcome().entry_options,
                        [this](protocol::Push&& push, std::vector<PushedJob>&& jobs) {
                          push.req = next_push_++;
                          awaiting_accept_.emplace(push.req, std::move(jobs));
                          core_.send(protocol::encode(std::move(push)));
                        });
    std::vector<PushedJob> too_big;
    std::vector<RequestId> unsupported;
    std::vector<RequestId> requests;
    requests.swap(to_push_);
    std::size_t r = 0;
    bool window_full = false;
    for (; r < requests.size(); ++r) {
      auto it = requests_.find(requests[r]);
      if (it == requests_.end()) continue;
      auto& request = it->second;
      if (request.alone) builder.finish();  // share no push with the requests before it
      if (has_lifecycle(request.lifecycle) && !core_.welcome().lifecycle) {
        // Pushed without its options, the job would run at the wrong time, or unlimited.
        unsupported.push_back(request.req);
        continue;
      }
      std::size_t i = request.cursor;
      for (; i < request.jobs.size(); ++i) {
        auto& job = request.jobs[i];
        if (job.done || job.sent) continue;
        if (awaiting_accept_.size() + builder.open_pushes() >= kMaxPushesInFlight && !builder.fits(request, i)) {
          window_full = true;
          break;
        }
        if (!builder.add(request, i)) {
          too_big.push_back({request.req, i});  // could never travel: the manager would refuse the whole push
          continue;
        }
        job.sent = true;
      }
      request.cursor = i;
      if (request.alone) builder.finish();  // ... nor with those after it
      if (window_full) break;
    }
    builder.finish();
    // What the window did not let through goes first next time, in order.
    to_push_.insert(to_push_.begin(), requests.begin() + static_cast<std::ptrdiff_t>(r), requests.end());
    for (const RequestId req : unsupported) {
      auto it = requests_.find(req);
      if (it == requests_.end()) continue;
      std::vector<std::size_t> indices(it->second.jobs.size());
      for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
      end_jobs(req, indices, errc::kNotSupported,
               "the manager does not announce the job lifecycle (delay, at, group, retry: PROTOCOL §14)");
    }
    for (const auto& [req, index] : too_big) {
      auto it = requests_.find(req);  // finishing a request's last job forgets it
      if (it == requests_.end()) continue;
      finish(it->second, index,
             Result{JobError{std::string(errc::kTooBig), "the job exceeds the manager's max_message_bytes"}, {}});
    }
  }

  void on_accepted(const protocol::Accepted& msg) {
    auto pushed = awaiting_accept_.find(msg.req);
    if (pushed == awaiting_accept_.end()) {
      detail::log().warn("client: ACCEPTED for unknown push {}; aborting its {} jobs", msg.req, msg.ids.size());
      send_abort(msg.ids);
      return;
    }
    const std::vector<PushedJob> jobs = std::move(pushed->second);
    awaiting_accept_.erase(pushed);

    std::vector<std::uint64_t> to_abort;
    const std::size_t matched = std::min(jobs.size(), msg.ids.size());
    for (std::size_t k = 0; k < matched; ++k) {
      auto it = requests_.find(jobs[k].req);
      if (it == requests_.end() || it->second.jobs[jobs[k].index].done) {
        to_abort.push_back(msg.ids[k]);  // finished here meanwhile (timeout, abort)
        continue;
      }
      it->second.jobs[jobs[k].index].id = msg.ids[k];
      by_id_[msg.ids[k]] = jobs[k];
    }
    for (std::size_t k = matched; k < msg.ids.size(); ++k) to_abort.push_back(msg.ids[k]);
    if (jobs.size() != msg.ids.size()) {
      detail::log().error("client: manager accepted {} ids for a push of {} jobs (push {})", msg.ids.size(),
                          jobs.size(), msg.req);
      for (std::size_t k = matched; k < jobs.size(); ++k) {
        fail_job(jobs[k], errc::kInternal, "the manager did not accept this job");
      }
    }
    send_abort(to_abort);
  }

  void on_results(protocol::ClientResults&& msg) {
    for (std::size_t i = 0; i < msg.results.size(); ++i) {
      auto& entry = msg.results[i];
      auto found = by_id_.find(entry.id);
      if (found == by_id_.end()) {
        detail::log().debug("client: result for job {} that is not waiting; dropped", entry.id);
        continue;
      }
      const auto [req, index] = found->second;
      auto it = requests_.find(req);
      if (it == requests_.end()) {  // cannot happen: by_id_ entries die with their job
        by_id_.erase(found);
        continue;
      }
      finish(it->second, index,
             Result{std::move(entry.err), protocol::from_frame(std::move(msg.payloads[i]), entry.raw), entry.attempts});
    }
    if (!journal_.empty()) {
      // Every id, also those dropped as duplicates: the manager forgets them all.
      protocol::Received received;
      received.ids.reserve(msg.results.size());
      for (const auto& entry : msg.results) received.ids.push_back(entry.id);
      core_.send(protocol::encode(received));
    }
  }

  // PROTOCOL §14.4: progress for a job still waiting goes to its request's progress
  // callback; for a job that finished (or was never ours) it is dropped.
  std::shared_ptr<const RetryPolicy> last_retry_;  // I/O thread: see on_request

  void on_progress(protocol::ClientProgress&& msg) {
    for (std::size_t i = 0; i < msg.entries.size(); ++i) {
      const auto& entry = msg.entries[i];
      const auto found = by_id_.find(entry.id);
      if (found == by_id_.end()) continue;
      // Plain copies, not structured bindings: a lambda below names them (clang 14).
      const RequestId req = found->second.req;
      const std::size_t index = found->second.index;
      auto it = requests_.find(req);
      if (it == requests_.end() || !it->second.progress) continue;
      const Payload progress = protocol::from_frame(std::move(msg.payloads[i]), entry.raw);
      guarded("progress", [&] { it->second.progress(progress, JobRef{req, index, entry.id}); });
    }
  }

  void on_error(const protocol::ErrorReply& msg) {
    auto pushed = awaiting_accept_.end();
    if (msg.req) {
      pushed = awaiting_accept_.find(*msg.req);
    } else if (msg.command == "PUSH") {
      // A push refused before its header was read (ETOOBIG) names no req. The manager
      // answers a peer's pushes in the order they were sent (PROTOCOL §4), so this is
      // the oldest one still waiting: the lowest push number.
      pushed = awaiting_accept_.begin();
    } else {
      detail::log().error("client: manager answered {}{}: {}", msg.code, msg.command.empty() ? "" : " to " + msg.command,
                          msg.message);
      return;
    }
    if (pushed == awaiting_accept_.end()) {
      detail::log().error("client: manager answered {} for push {}, which is not waiting: {}", msg.code,
                          msg.req.value_or(0), msg.message);
      return;
    }
    const std::uint64_t push = pushed->first;
    const std::vector<PushedJob> jobs = std::move(pushed->second);
    awaiting_accept_.erase(pushed);
    if (msg.code == errc::kDraining) {
      // The manager is stopping: these jobs go to the next one (or the same, after its
      // restart) once this session ends and the client registers again.
      draining_ = true;
      for (const auto& where : jobs) {
        auto it = requests_.find(where.req);
        if (it == requests_.end() || it->second.jobs[where.index].done) continue;
        it->second.jobs[where.index].sent = false;
        it->second.cursor = std::min(it->second.cursor, where.index);
      }
      detail::log().info("client: manager is draining; {} jobs wait for the next session", jobs.size());
      return;
    }
    const bool mixed = std::any_of(jobs.begin(), jobs.end(), [&](const PushedJob& j) { return j.req != jobs[0].req; });
    if (mixed) {
      // One request's fault (say, ELIMIT for a big one) must not fail the others that
      // shared its push: each of them goes again in pushes of its own, and only a
      // refusal of those fails jobs.
      detail::log().warn("client: manager refused push {} ({} jobs of several requests): {} {}; pushing each request "
                         "again on its own",
                         push, jobs.size(), msg.code, msg.message);
      for (const auto& where : jobs) {
        auto it = requests_.find(where.req);
        if (it == requests_.end() || it->second.jobs[where.index].done) continue;
        auto& request = it->second;
        if (!request.alone) to_push_.push_back(where.req);
        request.alone = true;
        request.jobs[where.index].sent = false;
        request.cursor = std::min(request.cursor, where.index);
      }
      return;
    }
    detail::log().warn("client: manager refused push {} ({} jobs): {} {}", push, jobs.size(), msg.code, msg.message);
    for (const auto& job : jobs) fail_job(job, msg.code, msg.message);
  }

  // Finishes one job with an error unless it is already done.
  void fail_job(const PushedJob& where, std::string_view code, const std::string& message) {
    auto it = requests_.find(where.req);
    if (it == requests_.end() || it->second.jobs[where.index].done) return;
    finish(it->second, where.index, Result{JobError{std::string(code), message}, {}});
  }

  void on_abort(const AbortCommand& command) {
    auto it = requests_.find(command.req);
    if (it == requests_.end()) return;  // finished or unknown: nothing to abort
    std::vector<std::size_t> indices;
    if (command.indices) {
      for (auto index : *command.indices) {
        if (index < it->second.jobs.size()) {
          indices.push_back(index);
        } else {
          detail::log().warn("client: abort of request {} names index {}, beyond its {} jobs", command.req, index,
                             it->second.jobs.size());
        }
      }
    } else {
      for (std::size_t i = 0; i < it->second.jobs.size(); ++i) indices.push_back(i);
    }
    end_jobs(command.req, indices, errc::kAborted, "aborted by the application");
  }

  void expire_requests(Clock::time_point now) {
    while (const auto due = deadlines_.pop_due(now, deadline_stands())) {
      const RequestId req = *due;
      auto it = requests_.find(req);
      if (it == requests_.end()) continue;
      std::vector<std::size_t> indices(it->second.jobs.size());
      for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
      const auto ms = it->second.timeout ? it->second.timeout->count() : 0;
      end_jobs(req, indices, errc::kClientTimeout,
               "the request did not finish within its timeout of " + std::to_string(ms) + " ms");
    }
  }

  // Finishes the given unfinished jobs of a request with an error, and tells the
  // manager to abort the ones it accepted. Jobs pushed but not yet accepted are
  // aborted when their ACCEPTED arrives.
  void end_jobs(RequestId req, const std::vector<std::size_t>& indices, std::string_view code,
                const std::string& message) {
    auto it = requests_.find(req);
    if (it == requests_.end()) return;
    std::vector<std::uint64_t> ids;
    for (auto index : indices) {
      const auto& job = it->second.jobs[index];
      if (!job.done && job.id != 0) ids.push_back(job.id);
    }
    send_abort(ids);
    for (auto index : indices) {
      it = requests_.find(req);
      if (it == requests_.end()) break;
      if (!it->second.jobs[index].done) finish(it->second, index, Result{JobError{std::string(code), message}, {}});
    }
  }

  void send_abort(const std::vector<std::uint64_t>& ids) {
    if (ids.empty() || !core_.registered()) return;
    core_.send(protocol::encode(protocol::ClientAbort{ids}));
  }

  // Marks one job done and delivers its result; completes the request when it was
  // the last. May erase `request` from requests_: callers look it up again after.
  void finish(Request& request, std::size_t index, Result result) {
    auto& job = request.jobs[index];
    if (job.done) return;
    job.done = true;
    if (job.id != 0) by_id_.erase(job.id);
    --request.remaining;
    pending_jobs_.fetch_sub(1);
    if (request.kind == Kind::individual) {
      if (request.each) {
        guarded("each", [&] { request.each(result, JobRef{request.req, index, job.id}); });
      }
    } else {
      job.result = std::move(result);
    }
    if (request.remaining == 0) {
      const RequestId req = request.req;
      Request done = std::move(request);
      requests_.erase(req);
      if (done.deadline) deadlines_.forgot(requests_.size(), deadline_stands());
      complete(done);
    }
  }

  void complete(Request& request) {
    switch (request.kind) {
      case Kind::group:
        if (request.group) {
          std::vector<Result> results;
          results.reserve(request.jobs.size());
          for (auto& job : request.jobs) results.push_back(std::move(job.result));
          guarded("done", [&] { request.group(std::move(results)); });
        }
        break;
      case Kind::single:
        if (request.single) {
          Result result;
          if (!request.jobs.empty()) result = std::move(request.jobs.front().result);
          guarded("done", [&] { request.single(std::move(result)); });
        }
        break;
      case Kind::individual:
        if (request.done) guarded("done", [&] { request.done(); });
        break;
    }
  }

  template <typename F>
  void guarded(const char* what, F&& call) {
    try {
      call();
    } catch (const std::exception& e) {
      detail::log().error("client: {} callback threw: {}", what, e.what());
    } catch (...) {
      detail::log().error("client: {} callback threw", what);
    }
  }

  std::vector<RequestId> request_ids() const {
    std::vector<RequestId> ids;
    ids.reserve(requests_.size());
    for (const auto& [req, request] : requests_) ids.push_back(req);
    return ids;
  }

  // Destruction: abort everything on the manager and fail it here; the core says goodbye.
  void on_shutdown() override {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, where] : by_id_) ids.push_back(id);
    send_abort(ids);
    for (auto req : request_ids()) {
      auto it = requests_.find(req);
      if (it == requests_.end()) continue;
      std::vector<std::size_t> indices(it->second.jobs.size());
      for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
      for (auto index : indices) {
        it = requests_.find(req);
        if (it == requests_.end()) break;
        finish(it->second, index, Result{JobError{std::string(errc::kAborted), "the client was destroyed"}, {}});
      }
    }
  }

  // Requests posted while we were shutting down (say, from a callback) fail too.
  void on_unserved(Command&& command) override {
    auto* request = std::get_if<Request>(&command);
    if (request == nullptr) return;  // an abort: nothing is left to abort
    for (std::size_t i = 0; i < request->jobs.size(); ++i) {
      finish(*request, i, Result{JobError{std::string(errc::kAborted), "the client was destroyed"}, {}});
    }
    if (request->jobs.empty()) complete(*request);
  }

  ClientOptions options_;
  std::atomic<RequestId> next_req_{1};
  std::atomic<std::size_t> pending_jobs_{0};

  // I/O thread state.
  std::map<RequestId, Request> requests_;  // unfinished requests
  std::vector<RequestId> to_push_;                                     // requests that may have unsent jobs
  std::uint64_t next_push_ = 1;                                        // the PUSH header's req
  std::map<std::uint64_t, std::vector<PushedJob>> awaiting_accept_;  // push req -> its jobs (8 pushes at most)
  std::unordered_map<std::uint64_t, PushedJob> by_id_;                 // job id -> where it is
  std::string journal_;       // the journal the current (or last) WELCOME named; empty: none
  std::string kept_journal_;  // set while accepted jobs wait across a lost session
  bool draining_ = false;     // the manager answered EDRAINING: push nothing until the next session
  detail::DeadlineHeap<RequestId, Clock> deadlines_;                   // unfinished requests' timeouts

  peer::PeerLoop<Command> core_;  // last: its I/O thread starts after, and is joined before, everything above
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Client::Impl& Client::impl() const {
  if (!impl_) throw Error(std::string(errc::kState), "use of a moved-from Client");
  return *impl_;
}

Client::RequestId Client::work(std::vector<JobSpec> jobs, const WorkOptions& options, GroupCallback done) {
  Request callbacks;
  callbacks.group = std::move(done);
  return impl().submit(Kind::group, std::move(jobs), options, std::move(callbacks));
}

Client::RequestId Client::work_one(JobSpec job, const WorkOptions& options, SingleCallback done) {
  Request callbacks;
  callbacks.single = std::move(done);
  std::vector<JobSpec> jobs;
  jobs.push_back(std::move(job));
  return impl().submit(Kind::single, std::move(jobs), options, std::move(callbacks));
}

std::future<std::vector<Result>> Client::work(std::vector<JobSpec> jobs, const WorkOptions& options) {
  auto promise = std::make_shared<std::promise<std::vector<Result>>>();
  auto future = promise->get_future();
  work(std::move(jobs), options, GroupCallback([promise](std::vector<Result> results) {
         promise->set_value(std::move(results));
       }));
  return future;
}

std::future<Result> Client::work_one(JobSpec job, const WorkOptions& options) {
  auto promise = std::make_shared<std::promise<Result>>();
  auto future = promise->get_future();
  work_one(std::move(job), options, SingleCallback([promise](Result result) { promise->set_value(std::move(result)); }));
  return future;
}

Client::RequestId Client::work_individual(std::vector<JobSpec> jobs, const WorkOptions& options, EachCallback each,
                                          DoneCallback done) {
  Request callbacks;
  callbacks.each = std::move(each);
  callbacks.done = std::move(done);
  return impl().submit(Kind::individual, std::move(jobs), options, std::move(callbacks));
}

Client::RequestId Client::work_individual(std::vector<JobSpec> jobs, const WorkOptions& options, EachCallback each,
                                          DoneCallback done, ProgressCallback progress) {
  Request callbacks;
  callbacks.each = std::move(each);
  callbacks.done = std::move(done);
  callbacks.progress = std::move(progress);
  return impl().submit(Kind::individual, std::move(jobs), options, std::move(callbacks));
}

void Client::abort(RequestId request) { impl().abort(request, std::nullopt); }
void Client::abort(RequestId request, std::vector<std::size_t> indices) { impl().abort(request, std::move(indices)); }
bool Client::wait_connected(std::chrono::milliseconds timeout) const { return impl().core().wait_connected(timeout); }
std::string Client::id() const { return impl().core().id(); }
std::size_t Client::pending() const { return impl().pending(); }

void Client::system_message(const nlohmann::json& msg, std::optional<std::string> to, SysmsgCallback done) {
  impl().core().system_message(msg, std::move(to), std::move(done));
}
std::future<SysmsgReceipt> Client::system_message(const nlohmann::json& msg, std::optional<std::string> to) {
  return impl().core().system_message(msg, std::move(to));
}
void Client::on_sysmsg(SysmsgHandler handler) { impl().core().on_sysmsg(std::move(handler)); }
std::future<nlohmann::json> Client::status() { return impl().core().status(false); }
std::future<nlohmann::json> Client::my_status() { return impl().core().status(true); }

namespace {

// The admin replies as the public API gives them, in futures the I/O thread fulfils: a
// deferred future (std::async) answers wait_for() with `deferred` at once, never with
// `ready`, so a caller that waits with a timeout never saw the answer (issue 14).
template <typename T, typename Convert>
std::pair<std::future<T>, peer::PeerCore::AdminCallback> admin_reply(Convert convert) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  peer::PeerCore::AdminCallback done = [promise, convert](std::optional<JobError> err,
                                                          peer::PeerCore::AdminReply answer) {
    if (err) {
      promise->set_exception(std::make_exception_ptr(Error(err->code, err->message)));
      return;
    }
    try {
      promise->set_value(convert(std::move(answer)));
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  };
  return {std::move(future), std::move(done)};
}

DeadLetterReply letters_of(peer::PeerCore::AdminReply answer) {
  DeadLetterReply out;
  const auto& letters = answer.header["letters"];
  for (std::size_t i = 0; i < answer.payloads.size(); ++i) {
    const bool raw = i < letters.size() && letters[i].value("raw", false);
    out.payloads.push_back(protocol::from_frame(std::move(answer.payloads[i]), raw));
  }
  out.reply = std::move(answer.header);
  return out;
}

nlohmann::json header_of(peer::PeerCore::AdminReply answer) {
  return std::move(answer.header);
}

std::future<DeadLetterReply> dead_letters_of(peer::PeerCore& core, protocol::DeadRequest request) {
  auto reply = admin_reply<DeadLetterReply>(letters_of);
  core.dead_letters(std::move(request), std::move(reply.second));
  return std::move(reply.first);
}

std::future<nlohmann::json> group_limits_of(peer::PeerCore& core, protocol::GroupLimitsRequest request) {
  auto reply = admin_reply<nlohmann::json>(header_of);
  core.group_limits(std::move(request), std::move(reply.second));
  return std::move(reply.first);
}

protocol::DeadRequest dead_request(protocol::DeadOp op, std::vector<std::uint64_t> ids) {
  protocol::DeadRequest request;
  request.op = op;
  request.all = ids.empty() && (op == protocol::DeadOp::requeue || op == protocol::DeadOp::purge);
  request.ids = std::move(ids);
  return request;
}

}  // namespace

std::future<DeadLetterReply> Client::dead_letters(std::size_t limit) {
  protocol::DeadRequest request;
  request.limit = limit;
  return dead_letters_of(impl().core(), std::move(request));
}
std::future<DeadLetterReply> Client::dead_letters_show(std::vector<std::uint64_t> ids) {
  return dead_letters_of(impl().core(), dead_request(protocol::DeadOp::show, std::move(ids)));
}
std::future<DeadLetterReply> Client::dead_letters_requeue(std::vector<std::uint64_t> ids) {
  return dead_letters_of(impl().core(), dead_request(protocol::DeadOp::requeue, std::move(ids)));
}
std::future<DeadLetterReply> Client::dead_letters_purge(std::vector<std::uint64_t> ids) {
  return dead_letters_of(impl().core(), dead_request(protocol::DeadOp::purge, std::move(ids)));
}
std::future<nlohmann::json> Client::group_limits() {
  return group_limits_of(impl().core(), protocol::GroupLimitsRequest{});
}
std::future<nlohmann::json> Client::set_group_limits(std::string group, std::optional<std::uint64_t> max_running,
                                                     std::optional<double> rate) {
  protocol::GroupLimitsRequest request;
  request.op = protocol::GroupLimitsOp::set;
  request.group = std::move(group);
  request.max_running.emplace(max_running);
  request.rate.emplace(rate);
  return group_limits_of(impl().core(), std::move(request));
}
std::future<nlohmann::json> Client::clear_group_limits(std::string group) {
  protocol::GroupLimitsRequest request;
  request.op = protocol::GroupLimitsOp::clear;
  request.group = std::move(group);
  return group_limits_of(impl().core(), std::move(request));
}

}  // namespace proletariat
