// The scheduler's public interface over its State (scheduler_state.hpp has the data
// layout and invariants; workers.cpp and jobs.cpp the operations).
#include "scheduler/scheduler_state.hpp"

namespace proletariat::broker {

using namespace scheduling;

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

void Scheduler::drain_worker(WorkerSlot worker) {
  state_->drain_worker(worker);
  state_->self_check();
}

void Scheduler::submit(JobSpec job, TimePoint now, Effects& /*out*/) {
  state_->submit(std::move(job), now);
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
    case JobState::delayed:
      return record.retrying ? WaitReason::retry_backoff : WaitReason::delayed;
    case JobState::parked: {
      const State::Group& group = s.groups[record.group_id];
      const GroupLimits& limits = s.limits_of(group);
      if (limits.max_running && group.running >= *limits.max_running) return WaitReason::group_running_limit;
      return WaitReason::group_rate_limit;
    }
    case JobState::queued: {
      const State::Service& service = s.services[record.service_id];
      if (service.workers.empty()) {
        return service.name.empty() ? WaitReason::no_worker : WaitReason::no_worker_for_service;
      }
      // Throttled only while a slot this job may take is free but distribution waits
      // (AVAIL_THRESHOLD, DISTRIB_RANDMAX); with every such slot busy it waits for a slot.
      const std::size_t range = s.range_index(record.priority);
      const bool slot_free = range < service.trees.size() && service.trees[range].total() > 0;
      if (record.suspect) return WaitReason::needs_idle_worker;
      if (slot_free && (s.full || s.armed)) return WaitReason::throttled;
      return WaitReason::no_free_slot;
    }
    case JobState::running:
    case JobState::unknown:
      break;
  }
  return WaitReason::none;
}

std::optional<JobView> Scheduler::view(JobId job) const {
  const State& s = *state_;
  if (const auto it = s.jobs.find(job); it != s.jobs.end()) return s.view_of(it->second);
  return std::nullopt;
}

std::size_t Scheduler::job_count() const { return state_->jobs.size(); }
std::size_t Scheduler::running_count() const { return state_->running; }

std::size_t Scheduler::jobs_of_service(std::string_view service) const {
  const auto it = state_->service_ids.find(service);
  return it == state_->service_ids.end() ? 0 : state_->services[it->second].jobs;
}

std::optional<JobId> Scheduler::oldest_job() const {
  std::optional<JobId> oldest;
  for (const auto& [id, job] : state_->jobs) {
    if (!oldest || id < *oldest) oldest = id;
  }
  return oldest;
}

std::vector<JobId> Scheduler::oldest_waiting(std::size_t limit) const {
  // One pass with a bounded max-heap of the smallest ids seen.
  std::vector<JobId> heap;
  for (const auto& [id, job] : state_->jobs) {
    if (job.state != JobState::queued && job.state != JobState::held && job.state != JobState::parked) continue;
    if (heap.size() < limit) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end());
    } else if (limit > 0 && id < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end());
    }
  }
  std::sort(heap.begin(), heap.end());
  return heap;
}

SchedulerStats Scheduler::stats() const {
  const State& s = *state_;
  SchedulerStats out;
  for (const auto& [key, queue] : s.queues) {
    out.queued_by_priority[key.priority] += queue.size;
    if (queue.size > 0) out.queues.push_back(QueueDepth{key.priority, s.services[key.service].name, queue.size});
  }
  out.queued = s.queued;
  out.held = s.held;
  out.running = s.running;
  out.workers = s.live_workers;
  out.total_slots = s.capacity;
  out.free_slots = s.free_total();
  out.finished = s.finished;
  out.suspects = s.suspects;
  out.poisoned = s.poisoned;
  out.delayed = s.delayed;
  out.retrying = s.retrying;
  out.parked = s.parked;
  out.retried = s.retried;
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
                     record.service_names, s.blocked(record)};
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

bool Scheduler::is_current(JobId job, WorkerSlot worker, unsigned attempt) const {
  const auto it = state_->jobs.find(job);
  return it != state_->jobs.end() && state_->current(&it->second, worker, attempt);
}

void Scheduler::compact() {
  state_->compact();
  state_->self_check();
}

}  // namespace proletariat::broker
