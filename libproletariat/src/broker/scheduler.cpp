// The scheduler (see scheduler.hpp for the contract).
//
// Data layout, chosen so that the hot path (submit, dispatch, complete) allocates
// nothing beyond the job record itself:
//  - jobs_: unordered_map<JobId, Job>. Nodes never move, so jobs link to each other
//    with raw pointers through intrusive lists. A job is in exactly one of: its queue,
//    its leader's held list, its worker's running list (prev/next), and always in its
//    client's list (client_prev/client_next).
//  - queues_: ordered map (priority desc, service) -> Queue, holding only non-empty
//    queues. Emptied queues are extracted and their nodes kept for reuse.
//  - Within a queue, jobs are sorted by (order, seq): a submitted job gets
//    order = seq (so it goes to the back), a requeued one order = front's order - 1 (so
//    it goes to the front), a promoted held job order = seq (so it goes where its
//    submission sequence puts it). The list is always sorted; inserting walks from
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
//
// Invariants kept together (every change below keeps all of them):
//  - queued_/held_/running_ equal the sizes of the queues / held lists / running lists;
//  - for every live worker w, service s it offers at position p, and range g:
//    services_[s].trees[g] element p == workers_[w].free_by_range[g]
//    == w.pools.free_for(w.local_of[g]);
//  - running_by_range_[g] == number of running jobs whose priority is in range g;
//  - leaders_[key] is the queued or running job whose held list holds every held job
//    with that key, in submission order.
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
//    per range. DISTRIB_RANDMAX delays are drawn in microseconds and armed only when
//    jobs are queued.
//  - The selector may call const members (worker_stats, view, ...) but must not call
//    anything that changes the scheduler.
//  - Priorities that are not >= 0 (NaN, negative) count as 0; a job id submitted twice
//    throws std::invalid_argument and changes nothing.
//  - PriorityRangeStats::workers counts the workers on which the range can run at all
//    (limit > 0 there).
#include "broker/scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "broker/fenwick.hpp"

namespace proletariat::broker {

namespace {

using ServiceId = std::uint32_t;

// Initial size of the job table: a typical burst fits without rehashing.
constexpr std::size_t kInitialJobs = 1024;
// Emptied queue / key-index nodes kept for reuse, so that a queue that keeps running
// dry does not allocate each time it refills. Small: a node is ~100 bytes.
constexpr std::size_t kSpareNodes = 32;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

std::uint64_t as_delta(unsigned now, unsigned before) noexcept {
  // Two's complement delta for Fenwick::add (modular arithmetic).
  return std::uint64_t{now} - std::uint64_t{before};
}

unsigned clamp_unsigned(std::uint64_t value) noexcept {
  return value > std::numeric_limits<unsigned>::max() ? std::numeric_limits<unsigned>::max()
                                                      : static_cast<unsigned>(value);
}

}  // namespace

struct Scheduler::State {
  struct Queue;

  struct Job {
    JobId id = 0;
    ClientSlot client = 0;
    double priority = 0;
    std::string key;
    std::string service;
    std::optional<TimePoint> deadline;
    std::uint64_t seq = 0;      // submission sequence, unique
    std::int64_t order = 0;     // position key within the queue, see top of file
    ServiceId service_id = 0;
    JobState state = JobState::unknown;
    unsigned attempt = 0;       // assignments so far
    unsigned lost = 0;          // workers that died running it
    WorkerSlot worker = 0;      // when running
    std::size_t local_range = 0;  // when running: pool index on the worker
    std::size_t range = 0;        // when running: merged range index
    bool in_heap = false;       // has a live entry in the deadline heap
    bool leads = false;         // is leaders_[key]
    Job* prev = nullptr;        // queue, held list or running list
    Job* next = nullptr;
    Job* client_prev = nullptr;
    Job* client_next = nullptr;
    Queue* queue = nullptr;     // when queued
    Job* held_head = nullptr;   // when leading: jobs held behind it, submission order
    Job* held_tail = nullptr;
  };

  struct Queue {
    double priority = 0;
    ServiceId service = 0;
    std::size_t range = 0;  // merged range index of `priority`
    Job* head = nullptr;
    Job* tail = nullptr;
    std::size_t size = 0;
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

  std::uint64_t next_seq = 1;
  std::size_t queued = 0;
  std::size_t held = 0;
  std::size_t running = 0;
  std::size_t live_workers = 0;
  std::uint64_t capacity = 0;  // sum of live workers' slots
  std::uint64_t finished = 0;

  bool full = false;                // AVAIL_THRESHOLD: waiting for slots to free up
  bool dirty = false;               // new work or freed slots since the last round
  std::optional<TimePoint> armed;   // DISTRIB_RANDMAX: no round before this

  // Scratch, reused so dispatch does not allocate.
  std::vector<Queue*> heap_scratch;
  std::vector<Job*> job_scratch;
  std::vector<Candidate> candidates;
  std::vector<std::uint64_t> build_scratch;

  explicit State(SchedulerOptions opts) : options(opts), rng(opts.seed) { jobs.reserve(kInitialJobs); }

  // ---------------------------------------------------------------- helpers

  [[nodiscard]] std::uint64_t free_total() const noexcept {
    return capacity - std::min<std::uint64_t>(capacity, running);
  }

  [[nodiscard]] std::size_t range_index(double priority) const noexcept {
    const auto it = std::upper_bound(starts.begin() + 1, starts.end(), priority);
    return static_cast<std::size_t>(it - starts.begin()) - 1;
  }

  [[nodiscard]] static JobView view_of(const Job& job) noexcept {
    return JobView{job.id, job.client, job.priority, job.key, job.service, job.attempt};
  }

  Job* find_job(JobId id) {
    const auto it = jobs.find(id);
    return it == jobs.end() ? nullptr : &it->second;
  }

  [[nodiscard]] bool valid_worker(WorkerSlot worker) const noexcept {
    return worker < workers.size() && workers[worker].live;
  }

  // ---------------------------------------------------------------- services

  ServiceId service_id(std::string_view name) {
    if (const auto it = service_ids.find(name); it != service_ids.end()) return it->second;
    ServiceId id;
    if (!free_services.empty()) {
      id = free_services.back();
      free_services.pop_back();
    } else {
      id = static_cast<ServiceId>(services.size());
      services.emplace_back();
    }
    Service& service = services[id];
    service.name = std::string{name};
    service.workers.clear();
    service.trees.assign(starts.size(), Fenwick{});
    service.jobs = 0;
    service.live = true;
    service_ids.emplace(service.name, id);
    return id;
  }

  // ---------------------------------------------------------------- queues

  Queue& queue_for(double priority, ServiceId service) {
    const QueueKey key{priority, service};
    auto it = queues.find(key);
    if (it != queues.end()) return it->second;
    const Queue fresh{priority, service, range_index(priority), nullptr, nullptr, 0};
    if (!spare_queues.empty()) {
      QueueMap::node_type node = std::move(spare_queues.back());
      spare_queues.pop_back();
      node.key() = key;
      node.mapped() = fresh;
      it = queues.insert(std::move(node)).position;
    } else {
      it = queues.emplace(key, fresh).first;
    }
    return it->second;
  }

  void release_queue_node(QueueMap::iterator it) {
    QueueMap::node_type node = queues.extract(it);
    if (spare_queues.size() < kSpareNodes) spare_queues.push_back(std::move(node));
  }

  void release_if_empty(Queue& queue) {
    if (queue.size != 0) return;
    release_queue_node(queues.find(QueueKey{queue.priority, queue.service}));
  }

  static bool before(const Job& a, const Job& b) noexcept {
    return a.order != b.order ? a.order < b.order : a.seq < b.seq;
  }

  static void insert_before(Queue& queue, Job* at, Job& job) noexcept {
    // at == nullptr: append.
    job.next = at;
    job.prev = at != nullptr ? at->prev : queue.tail;
    if (job.prev != nullptr) job.prev->next = &job; else queue.head = &job;
    if (at != nullptr) at->prev = &job; else queue.tail = &job;
    ++queue.size;
    job.queue = &queue;
  }

  static void unlink_queued(Queue& queue, Job& job) noexcept {
    if (job.prev != nullptr) job.prev->next = job.next; else queue.head = job.next;
    if (job.next != nullptr) job.next->prev = job.prev; else queue.tail = job.prev;
    job.prev = job.next = nullptr;
    job.queue = nullptr;
    --queue.size;
  }

  enum class Place { back, front, by_sequence };

  void enqueue(Job& job, Place place) {
    Queue& queue = queue_for(job.priority, job.service_id);
    switch (place) {
      case Place::back:
        job.order = static_cast<std::int64_t>(job.seq);
        insert_before(queue, nullptr, job);
        break;
      case Place::front:
        job.order = queue.head != nullptr ? queue.head->order - 1 : static_cast<std::int64_t>(job.seq);
        insert_before(queue, queue.head, job);
        break;
      case Place::by_sequence: {
        // The queue is sorted by (order, seq); walk from both ends, so the cost is the
        // distance to the nearer end.
        job.order = static_cast<std::int64_t>(job.seq);
        Job* front = queue.head;
        Job* back = queue.tail;
        Job* at = nullptr;
        while (front != nullptr && back != nullptr) {
          if (before(job, *front)) { at = front; break; }
          if (!before(job, *back)) { at = back->next; break; }
          front = front->next;
          back = back->prev;
        }
        insert_before(queue, at, job);
        break;
      }
    }
    job.state = JobState::queued;
    ++queued;
    dirty = true;
    if (job.deadline && !job.in_heap) {
      deadlines.push_back(Deadline{*job.deadline, job.seq, job.id});
      std::push_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
      job.in_heap = true;
    }
  }

  // ---------------------------------------------------------------- workers

  void refresh_worker(WorkerSlot slot) noexcept {
    Worker& worker = workers[slot];
    worker.pools.free_for_each(options.sacred_guarantees, worker.local_free);
    for (std::size_t g = 0; g < starts.size(); ++g) {
      const unsigned now = worker.local_free[worker.local_of[g]];
      const unsigned before_value = worker.free_by_range[g];
      if (now == before_value) continue;
      const std::uint64_t delta = as_delta(now, before_value);
      for (const WorkerService& ws : worker.services) services[ws.service].trees[g].add(ws.position, delta);
      worker.free_by_range[g] = now;
    }
  }

  // Recomputes a worker's per-merged-range tables (not the trees).
  void map_worker(Worker& worker) {
    worker.pools.free_for_each(options.sacred_guarantees, worker.local_free);
    worker.local_of.resize(starts.size());
    worker.free_by_range.resize(starts.size());
    for (std::size_t g = 0; g < starts.size(); ++g) {
      worker.local_of[g] = worker.pools.range_of(starts[g]);
      worker.free_by_range[g] = worker.local_free[worker.local_of[g]];
    }
  }

  // The set of merged ranges changed (rare: a worker with a new range start came, or
  // the last worker with some start left). Everything indexed by range is rebuilt.
  void rebuild_ranges() {
    starts.assign(1, 0.0);
    for (const auto& [start, refs] : start_refs) {
      if (refs > 0) starts.push_back(start);
    }
    for (Worker& worker : workers) {
      if (worker.live) map_worker(worker);
    }
    for (Service& service : services) {
      if (!service.live) continue;
      service.trees.assign(starts.size(), Fenwick{});
      for (std::size_t g = 0; g < starts.size(); ++g) {
        build_scratch.clear();
        for (const WorkerSlot w : service.workers) build_scratch.push_back(workers[w].free_by_range[g]);
        service.trees[g].build(build_scratch);
      }
    }
    for (auto& [key, queue] : queues) queue.range = range_index(queue.priority);
    running_by_range.assign(starts.size(), 0);
    for (Worker& worker : workers) {
      if (!worker.live) continue;
      for (Job* job = worker.run_head; job != nullptr; job = job->next) {
        job->range = range_index(job->priority);
        ++running_by_range[job->range];
      }
    }
  }

  WorkerSlot add_worker(const Offer& offer) {
    WorkerSlot slot;
    if (!free_workers.empty()) {
      slot = free_workers.back();
      free_workers.pop_back();
    } else {
      slot = static_cast<WorkerSlot>(workers.size());
      workers.emplace_back();
    }
    Worker& worker = workers[slot];
    worker = Worker{};
    worker.live = true;
    worker.pools = SlotPools(offer.slots, offer.priority_slots);
    worker.service_names = offer.services;
    std::sort(worker.service_names.begin(), worker.service_names.end());
    worker.service_names.erase(std::unique(worker.service_names.begin(), worker.service_names.end()),
                               worker.service_names.end());
    const std::size_t pool_count = worker.pools.pools().size();
    worker.local_free.resize(pool_count);
    worker.empty_free.resize(pool_count);
    worker.pools.free_for_each(options.sacred_guarantees, worker.empty_free);

    ++live_workers;
    capacity += worker.pools.slots();
    bool new_start = false;
    for (const PoolUsage& pool : worker.pools.pools()) {
      if (pool.start > 0 && start_refs[pool.start]++ == 0) new_start = true;
    }

    const auto join = [&](std::string_view name) {
      const ServiceId id = service_id(name);
      Service& service = services[id];
      worker.services.push_back(WorkerService{id, service.workers.size()});
      service.workers.push_back(slot);
    };
    if (worker.service_names.empty()) {
      join("");
    } else {
      for (const std::string& name : worker.service_names) join(name);
    }

    if (new_start) {
      rebuild_ranges();
    } else {
      map_worker(worker);
      for (const WorkerService& ws : worker.services) {
        for (std::size_t g = 0; g < starts.size(); ++g) services[ws.service].trees[g].push_back(worker.free_by_range[g]);
      }
    }
    dirty = true;
    return slot;
  }

  void leave_service(WorkerSlot slot, const WorkerService& ws) {
    Service& service = services[ws.service];
    const std::size_t last = service.workers.size() - 1;
    const WorkerSlot moved = service.workers[last];
    const Worker& leaving = workers[slot];
    for (std::size_t g = 0; g < starts.size(); ++g) {
      Fenwick& tree = service.trees[g];
      const unsigned leaving_value = leaving.free_by_range[g];
      if (ws.position != last) {
        const unsigned moved_value = workers[moved].free_by_range[g];
        tree.add(ws.position, as_delta(moved_value, leaving_value));
        tree.pop_back(moved_value);
      } else {
        tree.pop_back(leaving_value);
      }
    }
    service.workers[ws.position] = moved;
    service.workers.pop_back();
    if (ws.position != last) {
      for (WorkerService& other : workers[moved].services) {
        if (other.service == ws.service) other.position = ws.position;
      }
    }
  }

  void remove_worker(WorkerSlot slot, WorkerLoss loss, Effects& out) {
    if (!valid_worker(slot)) return;
    Worker& worker = workers[slot];

    // Running jobs leave the worker in assignment order; survivors are requeued at the
    // front afterwards, in reverse, so that they keep their relative order.
    job_scratch.clear();
    for (Job* job = worker.run_head; job != nullptr;) {
      Job* next = job->next;
      job->prev = job->next = nullptr;
      job->state = JobState::unknown;
      --running;
      --running_by_range[job->range];
      out.emplace_back(GaveUp{job->id, slot});
      if (loss == WorkerLoss::died) ++job->lost;
      if (loss == WorkerLoss::died && job->lost >= options.max_attempts) {
        out.emplace_back(Failed{job->id, job->client, FailReason::worker_lost});
        finalize(*job);
      } else {
        job_scratch.push_back(job);
      }
      job = next;
    }
    worker.run_head = worker.run_tail = nullptr;
    for (auto it = job_scratch.rbegin(); it != job_scratch.rend(); ++it) enqueue(**it, Place::front);

    for (const WorkerService& ws : worker.services) leave_service(slot, ws);
    bool lost_start = false;
    for (const PoolUsage& pool : worker.pools.pools()) {
      if (pool.start > 0 && --start_refs[pool.start] == 0) {
        start_refs.erase(pool.start);
        lost_start = true;
      }
    }
    capacity -= worker.pools.slots();
    --live_workers;
    worker = Worker{};
    free_workers.push_back(slot);
    if (lost_start) rebuild_ranges();
  }

  // ---------------------------------------------------------------- job life

  void link_client(Job& job) {
    ClientList& list = clients[job.client];
    job.client_prev = list.tail;
    job.client_next = nullptr;
    if (list.tail != nullptr) list.tail->client_next = &job; else list.head = &job;
    list.tail = &job;
    ++list.count;
  }

  void unlink_client(Job& job) {
    ClientList& list = clients[job.client];
    if (job.client_prev != nullptr) job.client_prev->client_next = job.client_next; else list.head = job.client_next;
    if (job.client_next != nullptr) job.client_next->client_prev = job.client_prev; else list.tail = job.client_prev;
    job.client_prev = job.client_next = nullptr;
    --list.count;
  }

  void assign(Queue& queue, Job& job, WorkerSlot slot, Effects& out) {
    unlink_queued(queue, job);
    --queued;
    Worker& worker = workers[slot];
    job.state = JobState::running;
    job.worker = slot;
    job.local_range = worker.local_of[queue.range];
    job.range = queue.range;
    ++job.attempt;
    job.prev = worker.run_tail;
    job.next = nullptr;
    if (worker.run_tail != nullptr) worker.run_tail->next = &job; else worker.run_head = &job;
    worker.run_tail = &job;
    worker.pools.take(job.local_range);
    ++running;
    ++running_by_range[job.range];
    refresh_worker(slot);
    out.emplace_back(Assigned{job.id, slot, job.attempt});
  }

  // Takes the job out of its queue, held list or worker; the job stays in jobs.
  void detach(Job& job) {
    switch (job.state) {
      case JobState::queued: {
        Queue& queue = *job.queue;
        unlink_queued(queue, job);
        --queued;
        release_if_empty(queue);
        break;
      }
      case JobState::held: {
        Job* leader = leaders.find(std::string_view{job.key})->second;
        if (job.prev != nullptr) job.prev->next = job.next; else leader->held_head = job.next;
        if (job.next != nullptr) job.next->prev = job.prev; else leader->held_tail = job.prev;
        job.prev = job.next = nullptr;
        --held;
        break;
      }
      case JobState::running: {
        Worker& worker = workers[job.worker];
        if (job.prev != nullptr) job.prev->next = job.next; else worker.run_head = job.next;
        if (job.next != nullptr) job.next->prev = job.prev; else worker.run_tail = job.prev;
        job.prev = job.next = nullptr;
        worker.pools.give(job.local_range);
        --running;
        --running_by_range[job.range];
        refresh_worker(job.worker);
        dirty = true;
        break;
      }
      case JobState::unknown:
        break;
    }
    job.state = JobState::unknown;
  }

  // The leader ended without a result to share: the next held job leads and is queued.
  void hand_over(Job& leader) {
    const auto it = leaders.find(std::string_view{leader.key});
    leader.leads = false;
    Job* next = leader.held_head;
    if (next == nullptr) {
      LeaderMap::node_type node = leaders.extract(it);
      if (spare_leaders.size() < kSpareNodes) spare_leaders.push_back(std::move(node));
      return;
    }
    next->held_head = next->next;
    next->held_tail = next->next != nullptr ? leader.held_tail : nullptr;
    if (next->next != nullptr) next->next->prev = nullptr;
    next->prev = next->next = nullptr;
    leader.held_head = leader.held_tail = nullptr;
    next->leads = true;
    --held;
    LeaderMap::node_type node = leaders.extract(it);
    node.key() = std::string_view{next->key};
    node.mapped() = next;
    leaders.insert(std::move(node));
    enqueue(*next, Place::by_sequence);
  }

  // The job is gone: already detached; hands over its key and forgets it.
  void finalize(Job& job) {
    if (job.leads) hand_over(job);
    unlink_client(job);
    --services[job.service_id].jobs;
    jobs.erase(job.id);
  }

  void submit(JobSpec spec) {
    if (jobs.contains(spec.id)) throw std::invalid_argument("scheduler: job id submitted twice");
    // Priorities are validated by the dispatcher; anything not >= 0 (NaN, negative)
    // is treated as 0 so the queue order stays a strict weak order.
    const double priority = spec.priority >= 0 ? spec.priority + 0.0 : 0.0;
    const ServiceId sid = service_id(spec.service);
    auto [it, inserted] = jobs.try_emplace(spec.id);
    Job& job = it->second;
    job.id = spec.id;
    job.client = spec.client;
    job.priority = priority;
    job.key = std::move(spec.key);
    job.service = std::move(spec.service);
    job.deadline = spec.assign_deadline;
    job.seq = next_seq++;
    job.service_id = sid;
    ++services[sid].jobs;
    link_client(job);

    if (options.hold_similar_work && !job.key.empty()) {
      if (const auto lit = leaders.find(std::string_view{job.key}); lit != leaders.end()) {
        // Held jobs do not expire by assign deadline while held: they are waiting for
        // a result that is being produced, not for a worker. Their deadline applies
        // again once they are promoted to leader and queued.
        Job* leader = lit->second;
        job.state = JobState::held;
        job.prev = leader->held_tail;
        if (leader->held_tail != nullptr) leader->held_tail->next = &job; else leader->held_head = &job;
        leader->held_tail = &job;
        ++held;
        return;
      }
      job.leads = true;
      if (!spare_leaders.empty()) {
        LeaderMap::node_type node = std::move(spare_leaders.back());
        spare_leaders.pop_back();
        node.key() = std::string_view{job.key};
        node.mapped() = &job;
        leaders.insert(std::move(node));
      } else {
        leaders.emplace(std::string_view{job.key}, &job);
      }
    }
    enqueue(job, Place::back);
  }

  // ---------------------------------------------------------------- dispatch

  // Places the queue's head job on a worker; false if it cannot go anywhere now (or
  // the selector declined), in which case the whole queue waits for this round.
  bool try_place(Queue& queue, Effects& out) {
    Job& job = *queue.head;
    Service& service = services[queue.service];
    const Fenwick& tree = service.trees[queue.range];
    if (tree.total() == 0) return false;
    WorkerSlot slot;
    if (selector) {
      candidates.clear();
      for (const WorkerSlot w : service.workers) {
        const unsigned free_slots = workers[w].free_by_range[queue.range];
        if (free_slots > 0) candidates.push_back(Candidate{w, free_slots});
      }
      const std::optional<std::size_t> pick = selector(view_of(job), candidates);
      if (!pick || *pick >= candidates.size()) return false;
      slot = candidates[*pick].worker;
    } else {
      std::uniform_int_distribution<std::uint64_t> draw(0, tree.total() - 1);
      slot = service.workers[tree.find(draw(rng))];
    }
    assign(queue, job, slot, out);
    return true;
  }

  void run_round(Effects& out) {
    dirty = false;
    const auto later_head = [](const Queue* a, const Queue* b) { return before(*b->head, *a->head); };
    auto it = queues.begin();
    while (it != queues.end() && free_total() > 0) {
      auto group_end = std::next(it);
      while (group_end != queues.end() && group_end->first.priority == it->first.priority) ++group_end;
      if (std::next(it) == group_end) {
        Queue& queue = it->second;
        while (queue.head != nullptr && try_place(queue, out)) {
        }
      } else {
        // Several services at this priority: merge their queues by head (order, seq).
        heap_scratch.clear();
        for (auto q = it; q != group_end; ++q) heap_scratch.push_back(&q->second);
        std::make_heap(heap_scratch.begin(), heap_scratch.end(), later_head);
        while (!heap_scratch.empty() && free_total() > 0) {
          std::pop_heap(heap_scratch.begin(), heap_scratch.end(), later_head);
          Queue* queue = heap_scratch.back();
          heap_scratch.pop_back();
          if (!try_place(*queue, out)) continue;  // skip this queue for the round
          if (queue->head != nullptr) {
            heap_scratch.push_back(queue);
            std::push_heap(heap_scratch.begin(), heap_scratch.end(), later_head);
          }
        }
      }
      for (auto q = it; q != group_end;) {
        const auto next = std::next(q);
        if (q->second.size == 0) release_queue_node(q);
        q = next;
      }
      it = group_end;
    }
  }

  void dispatch(TimePoint now, Effects& out) {
    if (queued == 0) {
      full = false;
      armed.reset();
      dirty = false;
      return;
    }
    if (full) {
      const std::uint64_t threshold = std::min<std::uint64_t>(options.avail_threshold, capacity);
      if (free_total() < threshold) return;
      full = false;
    }
    if (options.distrib_randmax.count() > 0) {
      if (armed) {
        if (now < *armed) return;
        armed.reset();
      } else if (dirty) {
        dirty = false;
        const auto max_us = std::chrono::duration_cast<std::chrono::microseconds>(options.distrib_randmax).count();
        std::uniform_int_distribution<std::int64_t> draw(0, max_us);
        const std::chrono::microseconds delay{draw(rng)};
        if (delay.count() > 0) {
          armed = now + delay;
          return;
        }
      }
    }
    run_round(out);
    if (options.avail_threshold > 0 && queued > 0 && free_total() == 0) full = true;
  }

  // ---------------------------------------------------------------- deadlines

  void pop_deadline() {
    std::pop_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
    deadlines.pop_back();
  }

  // The job a heap entry names if it is still the same job and queued; otherwise the
  // entry is dead (the job ended, or is running/held and will get a new entry when
  // it is queued again).
  Job* live_entry(const Deadline& entry) {
    Job* job = find_job(entry.job);
    if (job == nullptr || job->seq != entry.seq) return nullptr;
    if (job->state != JobState::queued) {
      job->in_heap = false;
      return nullptr;
    }
    return job;
  }

  void expire(TimePoint now, Effects& out) {
    while (!deadlines.empty() && deadlines.front().at <= now) {
      const Deadline entry = deadlines.front();
      pop_deadline();
      Job* job = live_entry(entry);
      if (job == nullptr) continue;
      job->in_heap = false;
      detach(*job);
      out.emplace_back(Failed{job->id, job->client, FailReason::assign_timeout});
      finalize(*job);  // a leader hands over; a promoted job already late fails in this loop
    }
  }

  std::optional<TimePoint> next_deadline() {
    while (!deadlines.empty() && live_entry(deadlines.front()) == nullptr) pop_deadline();
    std::optional<TimePoint> next;
    if (!deadlines.empty()) next = deadlines.front().at;
    if (armed && (!next || *armed < *next)) next = armed;
    return next;
  }

  // ---------------------------------------------------------------- ending jobs

  bool current(const Job* job, WorkerSlot worker, unsigned attempt) const noexcept {
    return job != nullptr && job->state == JobState::running && job->worker == worker && job->attempt == attempt;
  }

  bool complete(JobId id, WorkerSlot worker, unsigned attempt, Completion how, Effects& out) {
    Job* job = find_job(id);
    if (!current(job, worker, attempt)) return false;
    detach(*job);
    out.emplace_back(Finished{job->id, job->client, job->id});
    ++finished;
    if (how == Completion::result && job->leads) {
      for (Job* h = job->held_head; h != nullptr;) {
        Job* next = h->next;
        h->prev = h->next = nullptr;
        h->state = JobState::unknown;
        --held;
        out.emplace_back(Finished{h->id, h->client, job->id});
        ++finished;
        finalize(*h);
        h = next;
      }
      job->held_head = job->held_tail = nullptr;
    }
    finalize(*job);
    return true;
  }

  bool reject(JobId id, WorkerSlot worker, unsigned attempt) {
    Job* job = find_job(id);
    if (!current(job, worker, attempt)) return false;
    detach(*job);
    enqueue(*job, Place::front);
    return true;
  }

  bool abort(JobId id, Effects& out) {
    Job* job = find_job(id);
    if (job == nullptr) return false;
    if (job->state == JobState::running) out.emplace_back(AbortOnWorker{job->id, job->worker, job->attempt});
    detach(*job);
    finalize(*job);
    return true;
  }

  void abort_client(ClientSlot client, Effects& out) {
    const auto it = clients.find(client);
    if (it == clients.end()) return;
    // Held jobs first, so that aborting this client's leaders does not promote (and
    // queue) jobs that are about to be aborted too.
    for (Job* job = it->second.head; job != nullptr;) {
      Job* next = job->client_next;
      if (job->state == JobState::held) abort(job->id, out);
      job = next;
    }
    for (Job* job = it->second.head; job != nullptr;) {
      Job* next = job->client_next;
      abort(job->id, out);
      job = next;
    }
  }

  // ---------------------------------------------------------------- self-check

#ifdef PROLETARIAT_SCHEDULER_SELF_CHECK
  // Verifies the invariants listed at the top of this file; aborts on a violation.
  // For debugging only (O(everything)).
  void self_check() const {
    const auto fail = [](const char* what) {
      std::fprintf(stderr, "scheduler self-check failed: %s\n", what);
      std::abort();
    };
    for (ServiceId id = 0; id < services.size(); ++id) {
      const Service& service = services[id];
      if (!service.live) continue;
      if (service.trees.size() != starts.size()) fail("trees per range");
      for (std::size_t g = 0; g < starts.size(); ++g) {
        const Fenwick& tree = service.trees[g];
        if (tree.size() != service.workers.size()) fail("tree size");
        std::uint64_t sum = 0;
        for (std::size_t p = 0; p < service.workers.size(); ++p) {
          const Worker& worker = workers[service.workers[p]];
          if (!worker.live) fail("dead worker in service");
          const std::uint64_t value = tree.prefix(p + 1) - tree.prefix(p);
          if (value != worker.free_by_range[g]) fail("tree value");
          if (worker.free_by_range[g] != worker.pools.free_for(worker.local_of[g], options.sacred_guarantees)) {
            fail("free_by_range stale");
          }
          sum += value;
        }
        if (sum != tree.total()) fail("tree total");
      }
    }
    for (WorkerSlot w = 0; w < workers.size(); ++w) {
      const Worker& worker = workers[w];
      if (!worker.live) continue;
      for (const WorkerService& ws : worker.services) {
        if (services[ws.service].workers.at(ws.position) != w) fail("worker position");
      }
    }
  }
#else
  void self_check() const {}
#endif

  // ---------------------------------------------------------------- upkeep

  void compact() {
    jobs.reserve(std::max(jobs.size(), kInitialJobs));  // shrinks the buckets, keeps a floor
    spare_queues.clear();
    spare_queues.shrink_to_fit();
    spare_leaders.clear();
    spare_leaders.shrink_to_fit();
    leaders.rehash(0);
    std::erase_if(clients, [](const auto& entry) { return entry.second.count == 0; });
    clients.rehash(0);

    // Drop dead deadline entries.
    std::vector<Deadline> kept;
    kept.reserve(queued);
    for (const Deadline& entry : deadlines) {
      if (live_entry(entry) != nullptr) kept.push_back(entry);
    }
    std::make_heap(kept.begin(), kept.end(), DeadlineLater{});
    deadlines = std::move(kept);

    // Services nobody offers and no job names.
    for (ServiceId id = 0; id < services.size(); ++id) {
      Service& service = services[id];
      if (!service.live || service.jobs != 0 || !service.workers.empty()) continue;
      service_ids.erase(service.name);
      service = Service{};
      free_services.push_back(id);
    }
    while (!services.empty() && !services.back().live) services.pop_back();
    std::erase_if(free_services, [&](ServiceId id) { return id >= services.size(); });
    services.shrink_to_fit();
    service_ids.rehash(0);
    for (Service& service : services) {
      service.workers.shrink_to_fit();
      for (Fenwick& tree : service.trees) tree.shrink_to_fit();
    }

    while (!workers.empty() && !workers.back().live) workers.pop_back();
    std::erase_if(free_workers, [&](WorkerSlot slot) { return slot >= workers.size(); });
    workers.shrink_to_fit();
    free_workers.shrink_to_fit();

    heap_scratch = {};
    job_scratch = {};
    candidates = {};
    build_scratch = {};
  }
};

// -------------------------------------------------------------------- public API

Scheduler::Scheduler(SchedulerOptions options) : state_(std::make_unique<State>(options)) {}
Scheduler::~Scheduler() = default;
Scheduler::Scheduler(Scheduler&&) noexcept = default;
Scheduler& Scheduler::operator=(Scheduler&&) noexcept = default;

WorkerSlot Scheduler::add_worker(const Offer& offer) {
  const WorkerSlot slot = state_->add_worker(offer);
  state_->self_check();
  return slot;
}

void Scheduler::remove_worker(WorkerSlot worker, WorkerLoss loss, Effects& out) {
  state_->remove_worker(worker, loss, out);
  state_->self_check();
}

void Scheduler::submit(JobSpec job, TimePoint /*now*/, Effects& /*out*/) {
  state_->submit(std::move(job));
  state_->self_check();
}

bool Scheduler::complete(JobId job, WorkerSlot worker, unsigned attempt, Completion how, Effects& out) {
  const bool done = state_->complete(job, worker, attempt, how, out);
  state_->self_check();
  return done;
}

bool Scheduler::reject(JobId job, WorkerSlot worker, unsigned attempt) {
  const bool done = state_->reject(job, worker, attempt);
  state_->self_check();
  return done;
}

bool Scheduler::abort(JobId job, Effects& out) {
  const bool done = state_->abort(job, out);
  state_->self_check();
  return done;
}

std::vector<JobId> Scheduler::jobs_of(ClientSlot client) const {
  std::vector<JobId> ids;
  const auto it = state_->clients.find(client);
  if (it == state_->clients.end()) return ids;
  for (const auto* job = it->second.head; job != nullptr; job = job->client_next) ids.push_back(job->id);
  return ids;
}

void Scheduler::abort_client(ClientSlot client, Effects& out) {
  state_->abort_client(client, out);
  state_->self_check();
}

void Scheduler::dispatch(TimePoint now, Effects& out) {
  state_->dispatch(now, out);
  state_->self_check();
}

void Scheduler::expire(TimePoint now, Effects& out) {
  state_->expire(now, out);
  state_->self_check();
}

std::optional<TimePoint> Scheduler::next_deadline() const {
  // Pops dead heap entries on the way: logically const, the answer is the same.
  return state_->next_deadline();
}

void Scheduler::set_selector(Selector selector) { state_->selector = std::move(selector); }

JobState Scheduler::state_of(JobId job) const {
  const auto it = state_->jobs.find(job);
  return it == state_->jobs.end() ? JobState::unknown : it->second.state;
}

WaitReason Scheduler::why_waiting(JobId job) const {
  const State& s = *state_;
  const auto it = s.jobs.find(job);
  if (it == s.jobs.end()) return WaitReason::none;
  const State::Job& record = it->second;
  switch (record.state) {
    case JobState::held:
      return WaitReason::held_behind_key;
    case JobState::queued:
      if (s.services[record.service_id].workers.empty()) return WaitReason::no_worker_for_service;
      if (s.full || s.armed) return WaitReason::throttled;
      return WaitReason::no_free_slot;
    case JobState::running:
    case JobState::unknown:
      break;
  }
  return WaitReason::none;
}

std::optional<JobView> Scheduler::view(JobId job) const {
  const auto it = state_->jobs.find(job);
  if (it == state_->jobs.end()) return std::nullopt;
  return State::view_of(it->second);
}

SchedulerStats Scheduler::stats() const {
  const State& s = *state_;
  SchedulerStats out;
  for (const auto& [key, queue] : s.queues) out.queued_by_priority[key.priority] += queue.size;
  out.queued = s.queued;
  out.held = s.held;
  out.running = s.running;
  out.workers = s.live_workers;
  out.total_slots = s.capacity;
  out.free_slots = s.free_total();
  out.finished = s.finished;
  out.throttled = s.full || s.armed.has_value();
  out.ranges.reserve(s.starts.size());
  for (std::size_t g = 0; g < s.starts.size(); ++g) {
    std::uint64_t limit = 0;
    unsigned workers = 0;
    for (const State::Worker& worker : s.workers) {
      if (!worker.live) continue;
      const unsigned most = worker.empty_free[worker.local_of[g]];
      limit += most;
      if (most > 0) ++workers;
    }
    out.ranges.push_back(PriorityRangeStats{s.starts[g], clamp_unsigned(limit), clamp_unsigned(s.running_by_range[g]),
                                            workers});
  }
  return out;
}

std::optional<WorkerStats> Scheduler::worker_stats(WorkerSlot worker) const {
  const State& s = *state_;
  if (!s.valid_worker(worker)) return std::nullopt;
  const State::Worker& record = s.workers[worker];
  const auto pools = record.pools.pools();
  return WorkerStats{record.pools.slots(), record.pools.running(), std::vector<PoolUsage>(pools.begin(), pools.end()),
                     record.service_names};
}

std::vector<std::pair<JobId, unsigned>> Scheduler::running_on(WorkerSlot worker) const {
  const State& s = *state_;
  std::vector<std::pair<JobId, unsigned>> out;
  if (!s.valid_worker(worker)) return out;
  for (const State::Job* job = s.workers[worker].run_head; job != nullptr; job = job->next) {
    out.emplace_back(job->id, job->attempt);
  }
  return out;
}

void Scheduler::compact() {
  state_->compact();
  state_->self_check();
}

}  // namespace proletariat::broker
