// The scheduler's internal state: data layout, invariants, and the operations that
// keep them (defined in workers.cpp and jobs.cpp). Only the
// scheduler's own sources include this header; everyone else uses scheduler.hpp.
//
// Data layout, chosen so that the hot path (submit, dispatch, complete) allocates
// nothing beyond the job record itself:
//  - jobs_: unordered_map<JobId, Job>, one record per job that also carries the
//    dispatcher's JobCargo (payload, run timeout). Nodes never move, so jobs link to each other
//    with raw pointers through intrusive lists. A job is in exactly one of: its queue,
//    its leader's held list, its worker's running list (prev/next), and always in its
//    client's list (client_prev/client_next).
//  - queues_: ordered map (priority desc, service) -> Queue, holding only non-empty
//    queues. Emptied queues are extracted and their nodes kept for reuse.
//  - Within a queue, jobs are sorted by (order, seq): a submitted job gets
//    order = seq (so it goes to the back), a requeued one the next value of a
//    decreasing counter below every seq (next_front: it goes to the front, also ahead
//    of the queue's parked jobs, which keep their order), a promoted held job
//    order = seq (so it goes where its submission sequence puts it), a due delayed job
//    or retry a fresh seq (the back). The list is always sorted; inserting walks from
//    both ends at once.
//  - Merged priority ranges: starts_ is the union of every live worker's range starts
//    (always 0). A worker maps each merged range to its own pool index (local_of) and
//    caches how many slots it has free for it (free_by_range).
//  - Per service: the workers offering it (dense positions) and one Fenwick tree per
//    merged range over those positions, value = the worker's free_by_range. A weighted
//    choice is one find() in the tree of the job's (service, range).
//  - Assign deadlines: a binary min-heap with lazy deletion. An entry names the job by
//    (id, seq); a job has at most one entry (in_heap). Entries of finished jobs are
//    dropped when they reach the top; compact() drops the rest.
//  - Suspects (SPEC 5): Job::suspect, set for good once `lost` reaches suspect_after.
//    A suspect is assigned only to an idle worker, so a running suspect runs alone:
//    it is its worker's only running job. A queued suspect may reserve one worker:
//    Worker::reserved_by names it and its Job::worker names the worker (kNoWorker
//    when it reserves none; for a queued job that is not suspect the field is stale
//    and unread). A worker that is reserved or runs a suspect is *blocked*: its
//    free_by_range (and so its tree values) are all 0, so no other job goes there.
//    With no suspect in the scheduler no worker is blocked, and the hot path skips
//    every suspect test behind the counters `suspects` and `queued_suspects`.
//
// Invariants kept together (every change below keeps all of them):
//  - queued_/held_/running_ equal the sizes of the queues / held lists / running lists;
//  - for every live worker w, service s it offers at position p, and range g:
//    services_[s].trees[g] element p == workers_[w].free_by_range[g]
//    == w.pools.free_for(w.local_of[g]);
//  - running_by_range_[g] == number of running jobs whose priority is in range g;
//  - leaders_[key] is the queued or running job whose held list holds every held job
//    with that key, in submission order;
//  - suspects == suspect jobs queued or running (never held), queued_suspects ==
//    those queued; a running suspect is alone on its worker; w.reserved_by == &j iff
//    j is a queued suspect with j.worker == w; each worker is reserved by at most one
//    job, each job reserves at most one worker, and a reserved worker runs no suspect;
//  - for a blocked worker, free_by_range[g] == 0 for every g (instead of free_for).
//
// The job lifecycle (lifecycle.cpp, PROTOCOL §14):
//  - Delayed jobs and retries in backoff are in state `delayed`, in no list but their
//    client's, with one entry each in due_heap (a binary min-heap of 24-byte entries,
//    lazy deletion by (id, seq) and state, as the deadline heap): a million delayed
//    jobs cost their records plus 24 MB of heap, and releasing k due jobs is
//    O(k log n). A delayed job takes part in HOLDSIMILARWORK only once due; a leader
//    in backoff keeps leading.
//  - Groups: Job::group_id (0: none) names a Group. A job whose group has no budget
//    when a round reaches it is *parked*: taken out of its queue into its group's
//    parked lists (one FIFO per queue, i.e. per (priority, service), highest priority
//    first), keeping its `order`, so that the jobs behind it go on and a round never
//    walks parked jobs again. A group's budget is min(max_running - running, whole
//    tokens). The budget grows only when a running job of the group ends, its limits
//    change (both: groups_to_wake) or its bucket refills (group_timers, a min-heap
//    armed whenever a group keeps parked jobs for want of a token alone); a woken group
//    is *hungry* (hungry_groups) as long as it has budget and parked jobs. Parked jobs
//    come back (to their place in their queue) from a hungry group's lists whose
//    queue has a free slot now (its tree's total), at most as many as the budget and
//    the free slots, before the round and again after it while the round left budget
//    and slots unused; so no job waits parked while its group has budget and a slot
//    could take it, jobs its group's queued ones cannot use (another service, no slot)
//    do not wait for those, and a group with a million parked jobs costs O(its lists)
//    per dispatch while hungry, O(1) per start.
//  - Tokens are counted at assignment, in the round's time (round_now). A bucket holds
//    max(1, rate) tokens (none for rate 0: the group is paused), starts full when the
//    group's rate in force changes (only then), and is refilled continuously.
//
// Choices where the contract leaves room:
//  - Assign deadlines apply whenever a job is queued: a job requeued after a reject or
//    a lost worker still fails with assign_timeout once its deadline has passed. Held
//    jobs do not expire while held (they wait for a result being produced, not for a
//    worker); once promoted, a passed deadline fails them in that same expire() or
//    the next one.
//  - Across services, queues of equal priority are merged by their heads' (order,
//    seq), so submission order for plain jobs and requeued jobs first.
//  - A dispatch round visits every non-empty queue (O(queues) plus O(log W) per
//    assignment); a queue whose head fits nowhere is skipped in O(1) via its tree's
//    total, and the round stops as soon as no worker has a free slot.
//  - AVAIL_THRESHOLD counts raw free slots (slots - running over all workers), not
//    per range; the slots a blocked worker withholds count as free, so a reservation
//    never makes the throttle wait for slots that cannot come. DISTRIB_RANDMAX delays
//    are drawn in microseconds and armed only when jobs are queued.
//  - A suspect waits for the worker it reserved even if another one goes idle first
//    (O(1) per round and per suspect; the reserved worker empties in the time its
//    running jobs take). It reserves, among the live workers that offer its service,
//    let its range run at all, and are neither reserved nor running a suspect, the
//    one with the fewest running jobs (ties: the lowest slot). Finding an idle one
//    instead, it takes it weighted by the idle workers' free slots for its range (or
//    as the selector says, given those idle workers). A suspect's queue goes on past
//    it in the same round, so only the suspect waits; it is reached (and reserves)
//    only when the jobs ahead of it in its queue were placed, as for any job. Once
//    its reserved worker is idle it runs there at the end of a round wherever it is in
//    its queue (jobs that landed ahead of it since may not take a reserved worker; O(W)
//    per round while suspects are queued). A suspect a round parks (its group has no
//    budget) keeps its reservation until that round's end, and the round goes again.
//  - suspect_after 0 counts as 1: a job is suspect only after a death.
//  - The selector may call const members (worker_stats, view, ...) but must not call
//    anything that changes the scheduler.
//  - Priorities that are not >= 0 (NaN, negative) count as 0; a job id submitted twice
//    throws std::invalid_argument and changes nothing.
//  - PriorityRangeStats::workers counts the workers on which the range can run at all
//    (limit > 0 there).
#pragma once

#include "scheduler/scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "scheduler/fenwick.hpp"

namespace proletariat::broker {

namespace scheduling {

using ServiceId = std::uint32_t;

// Initial size of the job table: a typical burst fits without rehashing.
inline constexpr std::size_t kInitialJobs = 1024;
// Emptied queue / key-index nodes kept for reuse, so that a queue that keeps running
// dry does not allocate each time it refills. Small: a node is ~100 bytes.
inline constexpr std::size_t kSpareNodes = 32;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

inline std::uint64_t as_delta(unsigned now, unsigned before) noexcept {
  // Two's complement delta for Fenwick::add (modular arithmetic).
  return std::uint64_t{now} - std::uint64_t{before};
}

inline unsigned clamp_unsigned(std::uint64_t value) noexcept {
  return value > std::numeric_limits<unsigned>::max() ? std::numeric_limits<unsigned>::max()
                                                      : static_cast<unsigned>(value);
}

}  // namespace scheduling

struct Scheduler::State {
  using ServiceId = scheduling::ServiceId;
  static constexpr TimePoint kNoDeadline = TimePoint::max();
  static constexpr WorkerSlot kNoWorker = std::numeric_limits<WorkerSlot>::max();
  static inline const std::string kNoKey;
  using StringHash = scheduling::StringHash;
  struct Queue;

  // Field order packs the record: ~200 bytes, so that a queued job costs under 250
  // bytes of manager memory with its hash node (issue 6).
  struct Job {
    JobId id = 0;
    double priority = 0;
    TimePoint deadline = kNoDeadline;  // assign deadline
    std::uint64_t seq = 0;      // submission sequence, unique
    std::int64_t order = 0;     // position key within the queue, see top of file
    std::unique_ptr<std::string> key_text;  // hold-similar-work key; null: none (most jobs)
    Job* prev = nullptr;        // queue, held list or running list
    Job* next = nullptr;
    Job* client_prev = nullptr;
    Job* client_next = nullptr;
    Job* held_head = nullptr;   // when leading: jobs held behind it, submission order
    Job* held_tail = nullptr;
    ClientSlot client = 0;
    ServiceId service_id = 0;
    unsigned attempt = 0;       // assignments so far
    unsigned lost = 0;          // workers that died running it
    WorkerSlot worker = 0;      // when running; when a queued suspect: the reserved one
    std::uint32_t local_range = 0;  // when running: pool index on the worker
    std::uint32_t range = 0;        // when running: merged range index
    std::uint32_t group_id = 0;     // 0: no group
    JobState state = JobState::unknown;
    bool in_heap = false;       // has a live entry in the deadline heap
    bool leads = false;         // is leaders_[key]
    bool suspect = false;       // lost >= suspect_after: runs alone (fills padding)
    bool retrying = false;      // when delayed: waits out a retry's backoff
    JobCargo cargo;             // the dispatcher's, carried unread

    [[nodiscard]] const std::string& key() const noexcept { return key_text ? *key_text : kNoKey; }
    [[nodiscard]] bool has_deadline() const noexcept { return deadline != kNoDeadline; }
  };

  struct Queue {
    double priority = 0;
    ServiceId service = 0;
    std::size_t range = 0;  // merged range index of `priority`
    Job* head = nullptr;
    Job* tail = nullptr;
    std::size_t size = 0;
    // Round scratch: the job the round considers next (the head, past the suspects
    // that wait this round), and whether a suspect of this queue found neither an
    // idle worker nor one to reserve this round (later ones then need not look).
    Job* cursor = nullptr;
    bool suspects_stuck = false;
  };

  struct QueueKey {
    double priority;
    ServiceId service;
  };
  struct QueueOrder {
    bool operator()(const QueueKey& a, const QueueKey& b) const noexcept {
      if (a.priority != b.priority) return a.priority > b.priority;
      return a.service < b.service;
    }
  };
  using QueueMap = std::map<QueueKey, Queue, QueueOrder>;

  struct Service {
    std::string name;
    std::vector<WorkerSlot> workers;  // position -> worker
    std::vector<Fenwick> trees;       // per merged range, over positions
    std::size_t jobs = 0;             // jobs (queued, held, running) naming it
    bool live = false;
  };

  struct WorkerService {
    ServiceId service;
    std::size_t position;
  };

  struct Worker {
    bool live = false;
    SlotPools pools{1, {}};
    std::vector<std::string> service_names;   // as offered (deduplicated)
    std::vector<WorkerService> services;      // never empty: "" when none offered
    std::vector<unsigned> empty_free;         // per pool: free_for when idle
    std::vector<unsigned> local_free;         // per pool: scratch for refresh
    std::vector<std::size_t> local_of;        // per merged range: pool index
    std::vector<unsigned> free_by_range;      // per merged range: free slots now
    Job* run_head = nullptr;                  // running jobs, assignment order
    Job* run_tail = nullptr;
    Job* reserved_by = nullptr;               // the queued suspect waiting for it to empty
    bool draining = false;                    // DRAIN: takes no new job, for good
  };

  struct ClientList {
    Job* head = nullptr;
    Job* tail = nullptr;
    std::size_t count = 0;
  };

  struct Deadline {
    TimePoint at;
    std::uint64_t seq;
    JobId job;
  };
  struct DeadlineLater {
    bool operator()(const Deadline& a, const Deadline& b) const noexcept {
      if (a.at != b.at) return a.at > b.at;
      return a.seq > b.seq;
    }
  };

  using LeaderMap = std::unordered_map<std::string_view, Job*, StringHash, std::equal_to<>>;

  using GroupId = std::uint32_t;
  struct ParkedList {
    Job* head = nullptr;
    Job* tail = nullptr;
  };
  struct Group {
    std::string name;
    std::optional<GroupLimits> own;  // limits of its own; none: the defaults
    std::size_t jobs = 0;             // in the scheduler, any state
    std::size_t running = 0;
    std::size_t queued = 0;
    std::size_t parked = 0;
    std::uint64_t started = 0;
    std::map<QueueKey, ParkedList, QueueOrder> parked_lists;  // per queue, highest priority first
    double tokens = 0;
    TimePoint refilled{};
    TimePoint timer_at = TimePoint::max();  // its earliest entry in group_timers, if known
    unsigned timers = 0;          // its entries in group_timers
    bool bucket_started = false;  // tokens start full at the first use of a rate
    bool wake_pending = false;    // in groups_to_wake
    bool hungry = false;          // in hungry_groups
    bool live = false;
  };
  struct GroupTimer {
    TimePoint at;
    GroupId group;
  };
  struct GroupTimerLater {
    bool operator()(const GroupTimer& a, const GroupTimer& b) const noexcept { return a.at > b.at; }
  };

  SchedulerOptions options;
  std::mt19937_64 rng;
  Selector selector;

  std::unordered_map<JobId, Job> jobs;
  QueueMap queues;
  std::vector<QueueMap::node_type> spare_queues;
  std::vector<Service> services;
  std::vector<ServiceId> free_services;
  std::unordered_map<std::string, ServiceId, StringHash, std::equal_to<>> service_ids;
  std::vector<Worker> workers;
  std::vector<WorkerSlot> free_workers;
  std::map<double, unsigned> start_refs;  // range start (> 0) -> live workers having it
  std::vector<double> starts{0.0};         // merged ranges, sorted; starts[0] == 0
  std::vector<std::uint64_t> running_by_range{0};
  LeaderMap leaders;
  std::vector<LeaderMap::node_type> spare_leaders;
  std::unordered_map<ClientSlot, ClientList> clients;
  std::vector<Deadline> deadlines;  // min-heap by DeadlineLater
  std::vector<Deadline> due_heap;   // delayed jobs and retries, min-heap by DeadlineLater

  std::vector<Group> groups{1};     // [0]: "no group", never live
  std::vector<GroupId> free_groups;
  std::unordered_map<std::string, GroupId, StringHash, std::equal_to<>> group_ids;
  GroupLimits group_defaults;
  std::vector<GroupId> groups_to_wake;
  std::vector<GroupId> hungry_groups;    // may have budget and parked jobs
  std::vector<GroupTimer> group_timers;  // min-heap by GroupTimerLater
  TimePoint round_now{};                 // the time of the dispatch() under way

  std::uint64_t next_seq = 1;
  std::int64_t next_front = 0;  // the order of the latest job requeued to the front
  std::size_t queued = 0;
  std::size_t held = 0;
  std::size_t running = 0;
  std::size_t live_workers = 0;
  std::uint64_t capacity = 0;  // sum of live workers' slots
  std::uint64_t finished = 0;
  std::size_t suspects = 0;         // suspect jobs, queued or running
  std::size_t queued_suspects = 0;  // of which queued
  std::uint64_t poisoned = 0;       // Failed{poison} emitted
  std::size_t draining = 0;         // live workers that drain
  std::size_t delayed = 0;          // state delayed, not retrying
  std::size_t retrying = 0;         // state delayed, retrying
  std::size_t parked = 0;           // state parked
  std::uint64_t retried = 0;        // retry() calls that took

  bool full = false;                // AVAIL_THRESHOLD: waiting for slots to free up
  bool dirty = false;               // new work or freed slots since the last round
  bool round_freed_worker = false;  // the round parked a suspect that reserved a worker
  std::vector<Job*> parked_reservations;  // during a round: parked suspects still reserving
  std::optional<TimePoint> armed;   // DISTRIB_RANDMAX: no round before this

  // Scratch, reused so dispatch does not allocate.
  std::vector<Queue*> heap_scratch;
  std::vector<Job*> job_scratch;
  std::vector<Candidate> candidates;
  std::vector<std::uint64_t> build_scratch;

  explicit State(SchedulerOptions opts) : options(opts), rng(opts.seed) { jobs.reserve(scheduling::kInitialJobs); }

  // ---------------------------------------------------------------- helpers

  [[nodiscard]] std::uint64_t free_total() const noexcept {
    return capacity - std::min<std::uint64_t>(capacity, running);
  }

  [[nodiscard]] std::size_t range_index(double priority) const noexcept {
    const auto it = std::upper_bound(starts.begin() + 1, starts.end(), priority);
    return static_cast<std::size_t>(it - starts.begin()) - 1;
  }

  [[nodiscard]] JobView view_of(const Job& job) const noexcept {
    return JobView{job.id,      job.client,  job.priority, job.key(), services[job.service_id].name,
                   groups[job.group_id].name, job.attempt, job.cargo, job.state, job.worker};
  }

  // A copy of the job's data for an effect that outlives the job (GaveUp).
  [[nodiscard]] JobFacts facts_of(const Job& job) const {
    return JobFacts{job.client,  job.priority, job.key(), services[job.service_id].name,
                    job.attempt, job.cargo.payload.size(), groups[job.group_id].name};
  }

  Job* find_job(JobId id);

  [[nodiscard]] bool valid_worker(WorkerSlot worker) const noexcept;

  // Deaths after which a job is suspect.
  [[nodiscard]] unsigned suspect_threshold() const noexcept { return std::max(1U, options.suspect_after); }

  // Takes no new job: reserved by a suspect, or running one (alone).
  [[nodiscard]] bool blocked(const Worker& worker) const noexcept {
    return (suspects != 0 || draining != 0) &&
           (worker.draining || worker.reserved_by != nullptr ||
            (worker.run_head != nullptr && worker.run_head->suspect));
  }


  // ---------------------------------------------------------------- services

  ServiceId service_id(std::string_view name);


  // ---------------------------------------------------------------- queues

  Queue& queue_for(double priority, ServiceId service);

  void release_queue_node(QueueMap::iterator it);

  void release_if_empty(Queue& queue);

  static bool before(const Job& a, const Job& b) noexcept;

  static void insert_before(Queue& queue, Job* at, Job& job) noexcept;

  static void unlink_queued(Queue& queue, Job& job) noexcept;

  // keep: where its `order` puts it (a parked job coming back).
  enum class Place { back, front, by_sequence, keep };

  void enqueue(Job& job, Place place);


  // ---------------------------------------------------------------- workers

  // Brings the worker's free_by_range and tree values up to date (0 when blocked).
  void refresh_worker(WorkerSlot slot) noexcept;

  // Recomputes a worker's per-merged-range tables (not the trees).
  void map_worker(Worker& worker);

  // The set of merged ranges changed (rare: a worker with a new range start came, or
  // the last worker with some start left). Everything indexed by range is rebuilt.
  void rebuild_ranges();

  WorkerSlot add_worker(const Offer& offer);

  void leave_service(WorkerSlot slot, const WorkerService& ws);

  void remove_worker(WorkerSlot slot, WorkerLoss loss, Effects& out);

  void drain_worker(WorkerSlot slot);


  // ---------------------------------------------------------------- job life

  void link_client(Job& job);

  void unlink_client(Job& job);

  void assign(Queue& queue, Job& job, WorkerSlot slot, Effects& out);

  // Takes the job out of its queue, held list or worker; the job stays in jobs.
  void detach(Job& job);

  // The leader ended without a result to share: the next held job leads and is queued.
  void hand_over(Job& leader);

  // The job is gone: already detached; hands over its key and erases it. Returns its
  // data for the effect that reports its end (the key moved, not copied).
  [[nodiscard]] JobFacts finalize(Job& job);

  void submit(JobSpec spec, TimePoint now);

  // Queues a job that enters the queues for the first time (submitted, or due), or
  // holds it behind the leader of its key. `place`: back (a job just submitted), or
  // keep (a due job, whose order release_due renewed).
  void hold_or_queue(Job& job, Place place);


  // ---------------------------------------------------------------- dispatch

  // Places the queue's cursor job on a worker; false if it cannot go anywhere now (or
  // the selector declined), in which case the rest of the queue waits for this round.
  // A suspect at the cursor is placed, reserves, or waits; the queue goes on (true).
  bool try_place(Queue& queue, Effects& out);

  // The suspect at the queue's cursor: its reserved worker if idle; else an idle
  // worker nobody reserved; else it reserves one (Reserved); else it waits.
  void place_suspect(Queue& queue, Job& job, Effects& out);

  // A queued suspect leaves its reservation (assigned elsewhere, or leaving the queue).
  void release_reservation(Job& job) noexcept;

  void run_round(Effects& out);

  void dispatch(TimePoint now, Effects& out);


  // ---------------------------------------------------------------- deadlines

  void pop_deadline();

  // The job a heap entry names if it is still the same job and queued; otherwise the
  // entry is dead (the job ended, or is running/held and will get a new entry when
  // it is queued again).
  Job* live_entry(const Deadline& entry);

  void expire(TimePoint now, Effects& out);

  std::optional<TimePoint> next_deadline();


  // ---------------------------------------------------------------- ending jobs

  bool current(const Job* job, WorkerSlot worker, unsigned attempt) const noexcept;

  bool complete(JobId id, WorkerSlot worker, unsigned attempt, Completion how, Effects& out);

  bool reject(JobId id, WorkerSlot worker, unsigned attempt);

  bool abort(JobId id, Effects& out);

  void abort_client(ClientSlot client, Effects& out);

  // ---------------------------------------------------------------- lifecycle (lifecycle.cpp)

  GroupId group_id(std::string_view name);
  [[nodiscard]] const GroupLimits& limits_of(const Group& group) const noexcept {
    return group.own ? *group.own : group_defaults;
  }
  // Tokens a bucket holds: max(1, rate); none for rate 0, which pauses the group.
  [[nodiscard]] static double bucket_size(double rate) noexcept { return rate > 0 ? std::max(1.0, rate) : 0.0; }
  // Brings the group's token bucket to `now`.
  void refill(Group& group, TimePoint now) const noexcept;
  // Starts the group's limits allow now (running and tokens); max() when unlimited.
  [[nodiscard]] std::uint64_t budget(const Group& group) const noexcept;
  // Whether the job may start now as far as its group is concerned.
  [[nodiscard]] bool group_allows(Job& job);
  // The queued job at a round's cursor has no group budget: out of its queue.
  void park(Queue& queue, Job& job);
  void wake(GroupId group);
  // Due timers and woken groups: they are hungry.
  void wake_groups(TimePoint now);
  // Parked jobs of hungry groups back to their queues, as far as the budgets and the
  // free slots of their queues go; true if any came back.
  bool unpark_hungry();
  // The group keeps parked jobs for want of a token alone: a timer for the next one.
  void arm_refill(Group& group, GroupId id);
  // Bookkeeping of a group job entering or leaving a queue, or starting.
  void group_queued(const Job& job) noexcept {
    if (job.group_id != 0) ++groups[job.group_id].queued;
  }
  void group_unqueued(const Job& job) noexcept {
    if (job.group_id != 0) --groups[job.group_id].queued;
  }
  void group_started(const Job& job) noexcept;
  void unpark(Job& job);  // out of its group's parked list (the job stays)

  void delay(Job& job, TimePoint due, bool retrying);
  // Delayed jobs and retries whose time has come go to their queues.
  void release_due(TimePoint now);
  bool retry(JobId id, WorkerSlot worker, unsigned attempt, TimePoint due);
  void set_group_limits(std::string_view name, std::optional<GroupLimits> limits);
  void set_group_defaults(GroupLimits limits);

  // ---------------------------------------------------------------- self-check

  // Verifies the invariants listed in scheduler_state.hpp; aborts on a violation.
  // Does nothing unless built with PROLETARIAT_SCHEDULER_SELF_CHECK (O(everything)).
  void self_check() const;


  // ---------------------------------------------------------------- upkeep

  void compact();
};

}  // namespace proletariat::broker
