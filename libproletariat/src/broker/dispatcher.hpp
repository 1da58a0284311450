// The dispatcher: a decoded peer message and the time in, state changes and outgoing
// messages out.
//
// The only place that changes the peer registry and the scheduler together. It
// checks that a peer's role and state allow each command, feeds the scheduler
// (payload frames ride in it as opaque cargo), and carries out the scheduler's
// effects (JOBS to workers, RESULT to clients, ABORT, events) from the data each
// effect carries. Status is a read-only StatusView over both (status_view.hpp);
// system-message routing is in sysmsg_routing.cpp. No sockets and no clock: the
// event loop hands it frames and `now`, and sends what it leaves in the Outbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <proletariat/manager.hpp>

#include "broker/dead_letters.hpp"
#include "broker/held_results.hpp"
#include "broker/key_directory.hpp"
#include "broker/outbox.hpp"
#include "broker/peers.hpp"
#include "broker/refused_subscriptions.hpp"
#include "broker/status_view.hpp"
#include "scheduler/scheduler.hpp"
#include "broker/sysmsg.hpp"
#include "monitor/acceptance_clock.hpp"
#include "monitor/counters.hpp"
#include "monitor/snapshot.hpp"
#include "protocol/codec.hpp"

namespace proletariat::journal {
class JobJournal;
}

namespace proletariat::broker {

// The embedding program's callbacks (SPEC 7); any may be empty.
struct ManagerEvents {
  std::function<void(const JobInfo&)> receive;
  std::function<void(const JobInfo&, const Result&)> finish;
  std::function<void(const JobInfo&, const std::string& worker)> giveup;
  std::function<void(const JobInfo&, const std::string& worker)> abort;
  std::function<void(const JobInfo&)> assigntimeout;
  std::function<void(const nlohmann::json&, const std::string&)> sysmsg;
  std::function<void()> cleanup;
};

// The journal identity of requeued dead letters (PROTOCOL §14.2): not one a HELLO may
// claim (it starts with a control character).
inline constexpr std::string_view kRequeueIdentity = "\x01requeued";

class Dispatcher {
 public:
  // `boot_wall_ms` (ms since the Unix epoch) and `boot` (the steady clock at the same
  // moment) let status reports give wall-clock times without reading a clock.
  // With options.journal_dir, opens the journal and takes back its live jobs; throws
  // proletariat::Error when it cannot (damage, I/O).
  Dispatcher(const ManagerOptions& options, ManagerEvents events, std::int64_t boot_wall_ms = 0,
             TimePoint boot = {});
  ~Dispatcher();

  // One message from the ROUTER socket: frames[0] is the routing id.
  void on_message(protocol::Frames& frames, TimePoint now);
  // Timers: peer liveness, heartbeats, assign deadlines, throttling, cleanup.
  void on_tick(TimePoint now);
  // Runs the scheduler after a batch of messages (dispatch happens once per batch).
  void after_batch(TimePoint now);
  // The latest time the loop may sleep until.
  [[nodiscard]] TimePoint next_wakeup(TimePoint now) const;
  // A subscription (or its end) seen on the XPUB socket: frame "\x01topic" / "\x00topic".
  // Returns whether the manager grants it: the event loop, whose XPUB socket is
  // manual, then subscribes that connection to the topic (PROTOCOL §8.1).
  bool on_subscription(const zmq::message_t& frame, TimePoint now);
  // The same, with what the frame's metadata says: `subscriber_key` is the CURVE key of
  // the connection ("" without CURVE), nullopt when the XPUB socket made the message
  // up for a connection that closed.
  bool on_subscription(std::string_view frame, const std::optional<std::string>& subscriber_key, TimePoint now);
  // BYE to every peer; the manager is stopping.
  void on_shutdown();

  void set_worker_selector(WorkerSelector selector);
  // The system-message port announced in WELCOME (PROTOCOL §5, §8).
  void set_pub_port(std::optional<std::uint64_t> port) { pub_port_ = port; }
  // ... or, when that channel is not TCP, its whole endpoint.
  void set_pub_endpoint(std::string endpoint) { pub_endpoint_ = std::move(endpoint); }

  [[nodiscard]] Outbox& outbox() noexcept { return outbox_; }

  // --- durability (durability.cpp) ---
  // Records wait that must be on disk before the outbox goes out (ACCEPTED).
  [[nodiscard]] bool journal_barrier() const noexcept;
  // Group commit of the records of this pass; throws journal::JournalError (the
  // manager must stop: nothing more may be sent).
  void commit_journal(TimePoint now);
  // Graceful stop: refuse pushes, send no new jobs, until drained().
  void begin_drain(TimePoint now);
  [[nodiscard]] bool drained(TimePoint now) const;

  // --- operations (docs/OPERATIONS.md) ---
  // Times runs too (a start time per running job): on with the HTTP endpoint only.
  void set_run_timing(bool on) noexcept { timing_runs_ = on; }
  // What the HTTP endpoint shows: the STATUS document an admin would get, and the
  // counters.
  [[nodiscard]] monitor::Snapshot snapshot();
  // A journal commit that ran an fdatasync took this long (the loop has the clock).
  void journal_synced(double seconds) noexcept { counters_.journal_sync_seconds.observe(seconds); }
  // fdatasync calls of the journal so far (0 without one).
  [[nodiscard]] std::uint64_t journal_syncs() const;

  // --- security (security.cpp) ---
  // CURVE allow-lists: every command is checked against its key's roles (PROTOCOL §13).
  void set_keys(const KeyDirectory* keys) noexcept { keys_ = keys; }
  // The lists were read again: peers whose key is gone are dropped.
  void keys_reloaded(TimePoint now);

 private:
  void on_hello(const std::string& rid, const protocol::Hello& msg, const std::string& key, TimePoint now);
  void on_offer(Peer& peer, const protocol::Offer& msg);
  void on_push(Peer& peer, protocol::Push& msg, TimePoint now);
  void on_client_abort(Peer& peer, const protocol::ClientAbort& msg);
  void on_results(Peer& peer, protocol::WorkerResults& msg);
  void on_reject(Peer& peer, const protocol::Reject& msg);
  void on_bye(Peer& peer);
  void on_sysmsg(Peer& peer, protocol::SysMsg& msg, TimePoint now);
  void on_status(Peer& peer, const protocol::StatusRequest& request);
  void refresh_status_context();
  void fill_journal_figures();
  void on_received(Peer& peer, const protocol::Received& msg);
  void on_drain(Peer& peer);

  // --- job lifecycle (lifecycle.cpp, PROTOCOL §14) ---
  void on_progress(Peer& peer, protocol::WorkerProgress& msg);
  void on_dead(Peer& peer, const protocol::DeadRequest& msg);
  void on_group_limits(Peer& peer, const protocol::GroupLimitsRequest& msg);
  // The lifecycle options of one job of a push: the entry's, else the header's.
  void apply_lifecycle(JobSpec& spec, const protocol::Lifecycle& header, const RetryRef& header_retry,
                       protocol::Lifecycle& entry, TimePoint now);
  // A worker's error answer for a job with a retry policy: retried (true: the job
  // waits out its backoff), or its final answer; then `letter` is set when the job
  // exhausted its retries (it becomes a dead letter once its result is delivered).
  bool retried(Peer& worker, const protocol::WorkerResult& entry, unsigned& attempts,
               std::optional<DeadLetter>& letter);
  [[nodiscard]] std::chrono::milliseconds backoff(const RetryPolicy& policy, unsigned retry);
  [[nodiscard]] DeadLetter letter_of(JobId job, const JobFacts& facts, const JobCargo& cargo, JobError err,
                                     unsigned attempts);
  // Keeps a dead letter (journaled before the result goes out), dropping the oldest
  // beyond max_dead_letters.
  void bury(DeadLetter letter);
  void expire_dead_letters();
  // A requeued letter: a new job of nobody's (requeue_slot_).
  JobId requeue(DeadLetter letter);
  [[nodiscard]] nlohmann::json group_limits_json() const;
  // With CURVE: why the peer's key may not send this command; nothing if it may.
  [[nodiscard]] std::optional<std::string> denied(const protocol::PeerMessage& msg, const std::string& key) const;
  void send_completions(std::vector<SysmsgDone>& done);

  void drop_peer(const std::string& rid, DropReason reason);
  void reply_error(const std::string& rid, std::string_view code, std::string message, std::string command = {},
                   std::optional<std::uint64_t> req = {});
  void send(Peer& peer, protocol::Frames frames, TimePoint now);

  // Carries out the scheduler's effects. `result` is the worker's answer when the
  // effects come from completing that one job: every Finished effect of such a call
  // names it as its source (the job itself, and the jobs held behind it).
  struct ResultSource {
    JobId job;
    const protocol::WorkerResult* entry;
    zmq::message_t* frame;
    unsigned attempts = 0;  // the job's attempts when it had a retry policy
  };
  void apply(Effects& effects, const ResultSource* result = nullptr);
  void deliver(JobId job, const JobFacts& facts, ClientSlot client, std::optional<JobError> err, zmq::message_t data,
               bool raw, unsigned attempts = 0);
  // Why a push breaks a limit (PROTOCOL §10: ELIMIT), or nothing.
  [[nodiscard]] std::optional<std::string> over_push_limits(const Peer& peer, const protocol::Push& msg) const;
  // What a job counts against its client's max_client_bytes: its payload and the
  // manager's record of it.
  static constexpr std::size_t kAccountedJobBytes = 256;
  [[nodiscard]] static std::size_t accounted_bytes(std::size_t payload) noexcept { return payload + kAccountedJobBytes; }
  [[nodiscard]] JobInfo info(const JobView& job);
  [[nodiscard]] JobInfo info(JobId job, const JobFacts& facts);
  [[nodiscard]] std::string client_id(ClientSlot slot);
  [[nodiscard]] std::string worker_id(WorkerSlot slot);
  void maybe_cleanup(TimePoint now, bool idle);

  // --- durability (durability.cpp) ---
  void open_journal(TimePoint boot);
  // The client slot of a push: a returning identity gets its own back.
  ClientSlot client_slot_for(Peer& peer);
  // A client with an identity registered: its held results go out, its jobs are its.
  void reattach(Peer& peer);
  // A client with an identity left without BYE: its jobs go on, results are held.
  [[nodiscard]] bool detaches(const Peer& peer, DropReason reason) const;
  // Every job and held result of a client is forgotten (BYE, or anonymous).
  void forget_client(ClientSlot client);
  void journal_accepted(JobId id, const Peer& peer, const JobSpec& spec, TimePoint now);
  void journal_finished(JobId id, const std::optional<JobError>& err, bool raw, const zmq::message_t& data);
  void evict_held(TimePoint now);
  [[nodiscard]] std::int64_t wall_ms(TimePoint t) const;
  [[nodiscard]] TimePoint steady_of(std::int64_t wall) const;
  // A due time the journal kept (ms since the epoch): never before the one recorded.
  [[nodiscard]] TimePoint due_of(std::int64_t wall) const;

  ManagerOptions options_;
  ManagerEvents events_;
  protocol::Limits limits_;
  Peers peers_;
  Scheduler scheduler_;
  SystemMessages sysmsgs_;
  Outbox outbox_;
  Effects effects_;  // reused buffer
  JobId next_job_id_ = 1;
  std::chrono::milliseconds liveness_window_;
  std::uint64_t finished_since_cleanup_ = 0;
  TimePoint last_activity_{};
  TimePoint now_{};
  StatusContext status_context_;  // what status reports beyond peers and scheduler
  std::optional<std::uint64_t> pub_port_;
  std::string pub_endpoint_;

  std::unique_ptr<journal::JobJournal> journal_;  // null: in memory only
  HeldResults held_;
  std::unordered_map<std::string, ClientSlot> identity_slots_;
  std::unordered_map<ClientSlot, std::string> slot_identities_;
  bool draining_ = false;
  TimePoint drain_deadline_{};
  const KeyDirectory* keys_ = nullptr;  // null: no CURVE, every peer holds every role
  RefusedSubscriptions refused_subscriptions_;

  // Job lifecycle (PROTOCOL §14).
  DeadLetters dead_letters_;
  // The client of requeued dead letters: nobody is answered; with a journal its jobs
  // are recorded under kRequeueIdentity, so that they survive a restart.
  ClientSlot requeue_slot_ = 0;
  std::mt19937_64 rng_;
  // The retry policy of the last push that had one, as the codec decoded it and as its
  // jobs share it (on_push).
  std::shared_ptr<const RetryPolicy> last_retry_policy_;
  RetryRef last_retry_;

  monitor::Counters counters_;
  monitor::AcceptanceClock accepted_;
  bool timing_runs_ = false;
  std::unordered_map<JobId, TimePoint> running_since_;
};

}  // namespace proletariat::broker
