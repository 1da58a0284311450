// The scheduler: every scheduling decision of the manager, as pure state.
//
// No sockets, no clock reads, no threads: time is passed in, randomness comes from a
// seeded generator, and every decision is appended to an Effects list that the
// dispatcher carries out in order. Job state changes only here, so a journal can
// later record exactly these calls and effects.
//
// It owns: the FIFO queues (one per service and priority), each worker's slot
// accounting (SlotPools, SPEC 3), the hold lists of HOLDSIMILARWORK, the assign
// deadlines, attempts, the blame of worker deaths (suspects, alone-running, poison:
// SPEC 5), and the weighted choice of worker (one Fenwick tree of free slots per
// service and merged priority range, so a choice is O(log W)). The job lifecycle of
// SPEC 12 lives here too (lifecycle.cpp): delayed jobs and retries in backoff wait in
// one timer heap, and per-group limits (running, starts a second) park the jobs they
// hold, so that neither costs a dispatch round anything.
//
// Invariants, checked by the property tests after every call:
//  - no worker runs more jobs than its pools allow (default or sacred mode);
//  - after dispatch(), no queued job could legally take a free slot of a worker that
//    offers its service, unless throttling (AVAIL_THRESHOLD, DISTRIB_RANDMAX) defers it;
//  - within one queue jobs leave in submission order (requeued jobs go to the front);
//  - every submitted job ends in exactly one of: Finished, Failed, or abort();
//  - a worker running a suspect job runs nothing else; a worker reserved by a
//    suspect takes no new job; only a job whose worker died while running it alone
//    fails because of worker deaths (Failed{poison});
//  - no group starts a job while it runs max_running of them, nor without a whole
//    token of its bucket; after dispatch(), a queued or parked job whose group has
//    budget could not take a free slot either (the rule above, which throttling
//    and a declining selector suspend the same way);
//  - a delayed job (or a retry in backoff) is neither queued nor running, and queues
//    at the back of its queue in the first dispatch() at or after its due time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "scheduler/job_cargo.hpp"
#include "scheduler/priority.hpp"

namespace proletariat::broker {

using JobId = std::uint64_t;
using WorkerSlot = std::uint32_t;  // dense handle of a worker; reused after removal
using ClientSlot = std::uint32_t;  // opaque tag of the submitting client
using TimePoint = std::chrono::steady_clock::time_point;

struct SchedulerOptions {
  bool sacred_guarantees = false;
  bool hold_similar_work = false;
  unsigned avail_threshold = 0;                   // 0: no throttling after full
  std::chrono::milliseconds distrib_randmax{0};  // 0: dispatch at once
  // Deaths of workers running a job (WorkerLoss::died only) after which the job is
  // suspect and runs alone (SPEC 5); 0 counts as 1.
  unsigned suspect_after = 2;
  std::uint64_t seed = 1;
};

struct JobSpec {
  JobId id = 0;
  ClientSlot client = 0;
  double priority = 0;
  std::string key;      // hold-similar-work key; empty: none
  std::string service;  // empty: jobs for workers that name no service
  std::optional<TimePoint> assign_deadline;
  JobCargo cargo;  // carried for the dispatcher, never read here
  // Assignments before this one entered the scheduler (a job recovered from the
  // journal): its next assignment gets attempt + 1, above any attempt of before.
  unsigned attempt = 0;
  // Queues only then (PROTOCOL §14.3); a time not after `now` queues at once.
  std::optional<TimePoint> not_before;
  // It waits out a retry's backoff (not_before), rather than a delay it was pushed with.
  bool retrying = false;
  std::string group;  // per-group limits; empty: none
};

// Per-group limits (PROTOCOL §14.5); nullopt: no limit.
struct GroupLimits {
  std::optional<std::uint64_t> max_running;
  std::optional<double> rate;  // starts a second, a token bucket of max(1, rate) tokens (0: paused, none)
  friend bool operator==(const GroupLimits&, const GroupLimits&) = default;
};

struct GroupStats {
  std::string name;
  GroupLimits limits;  // in force: its own, or the defaults
  bool custom = false; // has limits of its own
  std::size_t running = 0;
  std::size_t waiting = 0;  // queued, or parked by its limits
  std::uint64_t started = 0;
};

// A delayed job or a retry in backoff (PROTOCOL §14.3), for status.
struct DueJob {
  JobId id;
  TimePoint due;
  bool retrying;
};

// --- Effects: what the dispatcher must do, in order. ---
//
// An effect about a job that may be gone by the time it is applied (it ended, or a
// later effect of the same call ends it) carries the job's data itself; Assigned and
// Reserved name jobs that are still in the scheduler (view() answers for them).

// What the embedding program's events and the logs say about a job.
struct JobFacts {
  ClientSlot client = 0;
  double priority = 0;
  std::string key;
  std::string service;
  unsigned attempt = 0;  // assignments so far
  std::size_t payload_bytes = 0;  // its payload's size: what it counted against its client's byte budget
  std::string group;
};

// Send the job to the worker (JOBS).
struct Assigned {
  JobId job;
  WorkerSlot worker;
  unsigned attempt;
};
// The job is done; its client gets the result the worker gave for `source` (the job
// itself, or the leader it was held behind). The job is gone from the scheduler.
struct Finished {
  JobId job;
  ClientSlot client;
  JobId source;
  JobFacts facts;
};
enum class FailReason {
  assign_timeout,  // no worker took the job before its assign deadline (EATO)
  poison,          // its worker died while running it alone (EPOISON)
};
// The job failed in the manager; its client gets the error. The job is gone.
struct Failed {
  JobId job;
  ClientSlot client;
  FailReason reason;
  JobFacts facts;
  JobCargo cargo;  // the job's, moved out: a poison job becomes a dead letter (PROTOCOL §14.2)
};
// Tell the worker to stop running this attempt (ABORT). The job is gone.
struct AbortOnWorker {
  JobId job;
  WorkerSlot worker;
  unsigned attempt;
  JobFacts facts;
};
// The worker died or left with the job running; the job went back to the front of
// its queue (or failed as poison, see Failed{poison}, which follows this effect).
struct GaveUp {
  JobId job;
  WorkerSlot worker;
  JobFacts facts;  // as the job was on that worker
};
// A suspect job found no idle worker to run it alone: `worker` takes no new job
// until it is idle, then runs the suspect (in a dispatch round). Nothing to send;
// the dispatcher logs it. The reservation ends when the job is assigned or leaves
// the queue, or the worker is removed.
struct Reserved {
  JobId job;
  WorkerSlot worker;
};
using Effect = std::variant<Assigned, Finished, Failed, AbortOnWorker, GaveUp, Reserved>;
using Effects = std::vector<Effect>;

// A worker's offer, validated by protocol::validate_offer() (the codec refuses any other).
struct Offer {
  unsigned slots = 100;
  std::map<double, unsigned> priority_slots;
  std::vector<std::string> services;
};

// How a running job ended on its worker.
enum class Completion {
  result,     // the handler answered (success or error): shared with held jobs
  timed_out,  // ETO: the job's client gets it, the next held job leads and is queued
};

enum class WorkerLoss {
  died,  // heartbeat expired: counts against the jobs it was running (suspect_after)
  left,  // said BYE: requeued without counting
};

// Why a job is where it is (status, "why is my job stuck").
// delayed: waits for its due time (a delay, or a retry's backoff); parked: its group's
// limits hold it (PROTOCOL §14).
enum class JobState : std::uint8_t { queued, held, running, unknown, delayed, parked };
// PROTOCOL §8.3 (protocol.json "waiting_reasons") names and explains each.
enum class WaitReason {
  none, no_worker, no_worker_for_service, no_free_slot, held_behind_key, throttled, needs_idle_worker,
  delayed, retry_backoff, group_running_limit, group_rate_limit
};

// The candidate view a custom selector gets.
struct Candidate {
  WorkerSlot worker;
  unsigned free_slots;  // free for this job's range
};
struct JobView {
  JobId id;
  ClientSlot client;
  double priority;
  const std::string& key;
  const std::string& service;
  const std::string& group;
  unsigned attempt;  // the attempt the job would get is attempt + 1
  const JobCargo& cargo;
  JobState state;
  WorkerSlot worker;  // when running
  // Whether (worker, attempt) is the job's current assignment (Scheduler::is_current).
  [[nodiscard]] bool running_on(WorkerSlot on, unsigned assigned) const noexcept {
    return state == JobState::running && worker == on && attempt == assigned;
  }
};
// Returns an index into candidates, or nullopt to leave the job queued this round.
using Selector = std::function<std::optional<std::size_t>(const JobView&, std::span<const Candidate>)>;

struct PriorityRangeStats {
  double start;
  unsigned limit;  // sum over workers of the slots this range may use
  unsigned used;   // jobs of this range running
  unsigned workers;
};

struct QueueDepth {
  double priority;
  std::string service;  // "": jobs that name no service
  std::size_t queued;
};

struct SchedulerStats {
  std::map<double, std::size_t> queued_by_priority;
  std::vector<QueueDepth> queues;  // every non-empty queue, highest priority first
  std::size_t queued = 0;
  std::size_t held = 0;
  std::size_t running = 0;
  std::size_t workers = 0;
  std::uint64_t total_slots = 0;
  std::uint64_t free_slots = 0;
  std::uint64_t finished = 0;  // Finished effects emitted
  std::size_t suspects = 0;    // suspect jobs queued or running
  std::uint64_t poisoned = 0;  // Failed{poison} effects emitted
  std::size_t delayed = 0;     // waiting for a delay or at
  std::size_t retrying = 0;    // waiting out a retry's backoff
  std::size_t parked = 0;      // held by their group's limits
  std::uint64_t retried = 0;   // retries scheduled (retry() calls that took)
  bool throttled = false;
  std::vector<PriorityRangeStats> ranges;  // merged over all workers
};

struct WorkerStats {
  unsigned slots;
  unsigned running;
  std::vector<PoolUsage> pools;
  std::vector<std::string> services;
  // Takes no new job: reserved by a suspect (emptying for it) or running one alone.
  bool reserved = false;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options);
  ~Scheduler();
  Scheduler(Scheduler&&) noexcept;
  Scheduler& operator=(Scheduler&&) noexcept;

  // --- workers ---
  // The offer must have passed protocol::validate_offer(). Does not dispatch.
  WorkerSlot add_worker(const Offer& offer);
  // Running jobs: GaveUp each, requeued at the front. With `died`, each counts a
  // death: a job that was running alone (suspect) gets Failed{poison} instead, and
  // one that has now lost suspect_after workers is suspect from now on. A suspect
  // that reserved this worker loses the reservation. Held jobs keep waiting.
  void remove_worker(WorkerSlot worker, WorkerLoss loss, Effects& out);
  // The worker stops gracefully (DRAIN): it gets no new job; its running jobs finish
  // as usual. For good: a worker that drains leaves when they are done.
  void drain_worker(WorkerSlot worker);

  // --- jobs ---
  // Queues the job (or holds it behind a running/queued job with the same key when
  // hold_similar_work is on). Job ids must be unique. Does not dispatch.
  void submit(JobSpec job, TimePoint now, Effects& out);
  // A worker's answer for (job, attempt). Returns false, changing nothing, if the
  // attempt is not the job's current one on that worker (stale: drop and log).
  // With Completion::result: Finished for the job and, in order, each job held
  // behind it (source = job). With timed_out: Finished for the job only; the next
  // held job becomes leader and is queued.
  [[nodiscard]] bool complete(JobId job, WorkerSlot worker, unsigned attempt, Completion how, Effects& out);
  // The worker refused the job: back to the front of its queue. False if stale.
  [[nodiscard]] bool reject(JobId job, WorkerSlot worker, unsigned attempt);
  // The attempt failed and is to be retried (PROTOCOL §14.1): the job frees its slot
  // and waits until `due`, then queues at the back of its queue. It keeps leading the
  // jobs held behind its key. False if stale.
  [[nodiscard]] bool retry(JobId job, WorkerSlot worker, unsigned attempt, TimePoint due);
  // Client abort: a queued or held job is dropped; a running one frees its slot and
  // gets AbortOnWorker. If it led held jobs, the next one leads and is queued.
  // Returns false if the job is unknown. Emits no Finished/Failed for the job.
  bool abort(JobId job, Effects& out);
  // abort() for every job of a client (disconnect).
  void abort_client(ClientSlot client, Effects& out);

  // --- decisions ---
  // Assigns queued jobs to workers while the rules allow: highest priority first,
  // FIFO within a priority, weighted-random worker (or the selector). A suspect job
  // goes only to an idle worker that no other suspect reserved, which then takes
  // nothing else; finding none, it reserves one (Reserved) and the jobs behind it
  // go on.
  void dispatch(TimePoint now, Effects& out);
  // Fails queued jobs whose assign deadline is <= now (Failed{assign_timeout}); a
  // leader that fails this way hands its held jobs to the next leader.
  void expire(TimePoint now, Effects& out);
  // The earliest time dispatch() or expire() has work to do that no event will
  // trigger: an assign deadline, the end of a DISTRIB_RANDMAX delay, a delayed job's
  // due time, or a group's token bucket refilling for a job it parked.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  void set_selector(Selector selector);

  // --- group limits (PROTOCOL §14.5) ---
  // The limits of every group without limits of its own.
  void set_group_defaults(GroupLimits limits);
  [[nodiscard]] const GroupLimits& group_defaults() const;
  // The limits in force for a group: its own, else the defaults.
  [[nodiscard]] GroupLimits group_limits(std::string_view group) const;
  // A group's own limits; nullopt: back to the defaults. Takes effect in the next dispatch().
  void set_group_limits(std::string_view group, std::optional<GroupLimits> limits);
  // Groups with jobs in the scheduler or limits of their own, the most waiting first.
  [[nodiscard]] std::vector<GroupStats> group_stats(std::size_t limit) const;
  // The `limit` delayed jobs and retries in backoff due soonest, soonest first.
  [[nodiscard]] std::vector<DueJob> due_soonest(std::size_t limit) const;

  // --- introspection ---
  [[nodiscard]] JobState state_of(JobId job) const;
  [[nodiscard]] WaitReason why_waiting(JobId job) const;
  // A job's data, cargo included, while the job is in the scheduler (queued, held or
  // running); the effects of a job that ended carry its data instead. The view's
  // references are valid until the next call that changes the scheduler.
  [[nodiscard]] std::optional<JobView> view(JobId job) const;
  // Jobs in the scheduler (queued, held, running).
  [[nodiscard]] std::size_t job_count() const;
  // Jobs running on workers (what stats().running says, without building the rest).
  [[nodiscard]] std::size_t running_count() const;
  // Jobs (queued, held, running) that name `service`.
  [[nodiscard]] std::size_t jobs_of_service(std::string_view service) const;
  // The smallest id of a job in the scheduler (queued, held or running), if any.
  [[nodiscard]] std::optional<JobId> oldest_job() const;
  // The `limit` oldest (smallest id) queued or held jobs, oldest first.
  [[nodiscard]] std::vector<JobId> oldest_waiting(std::size_t limit) const;
  [[nodiscard]] SchedulerStats stats() const;
  [[nodiscard]] std::optional<WorkerStats> worker_stats(WorkerSlot worker) const;
  // Every job of a client (queued, held or running), in no particular order.
  [[nodiscard]] std::vector<JobId> jobs_of(ClientSlot client) const;
  // Jobs running on a worker, as (job, attempt).
  [[nodiscard]] std::vector<std::pair<JobId, unsigned>> running_on(WorkerSlot worker) const;
  // Whether (job, attempt) runs on the worker now: what a PROGRESS entry must name.
  [[nodiscard]] bool is_current(JobId job, WorkerSlot worker, unsigned attempt) const;

  // Gives memory back: shrinks tables sized for a burst (CLEANUP_REQS/CHECKINT).
  void compact();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace proletariat::broker
