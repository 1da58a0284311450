// The scheduler: the job lifecycle of PROTOCOL §14 — delayed jobs and retries in
// backoff (one timer heap), and per-group limits (parking, token buckets). The data
// layout and its invariants are described in scheduler_state.hpp.
#include <cmath>

#include "scheduler/scheduler_state.hpp"

namespace proletariat::broker {

using namespace scheduling;

auto Scheduler::State::group_id(std::string_view name) -> GroupId {
  if (const auto it = group_ids.find(name); it != group_ids.end()) return it->second;
  GroupId id;
  if (!free_groups.empty()) {
    id = free_groups.back();
    free_groups.pop_back();
  } else {
    id = static_cast<GroupId>(groups.size());
    groups.emplace_back();
  }
  Group& group = groups[id];
  group.name = std::string(name);
  group.live = true;
  group_ids.emplace(group.name, id);
  return id;
}

void Scheduler::State::refill(Group& group, TimePoint now) const noexcept {
  const GroupLimits& limits = limits_of(group);
  if (!limits.rate) return;
  const double capacity = std::max(1.0, *limits.rate);
  if (!group.bucket_started) {
    group.bucket_started = true;
    group.tokens = capacity;
    group.refilled = now;
    return;
  }
  if (now > group.refilled) {
    const double seconds = std::chrono::duration<double>(now - group.refilled).count();
    group.tokens = std::min(capacity, group.tokens + seconds * *limits.rate);
    group.refilled = now;
  }
}

auto Scheduler::State::budget(const Group& group) const noexcept -> std::uint64_t {
  const GroupLimits& limits = limits_of(group);
  std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
  if (limits.max_running) most = *limits.max_running > group.running ? *limits.max_running - group.running : 0;
  if (limits.rate) {
    // A whole token is a start; the epsilon absorbs the rounding of the refill.
    const double whole = std::floor(group.tokens + 1e-9);
    most = std::min<std::uint64_t>(most, whole > 0 ? static_cast<std::uint64_t>(whole) : 0);
  }
  return most;
}

auto Scheduler::State::group_allows(Job& job) -> bool {
  Group& group = groups[job.group_id];
  refill(group, round_now);
  return budget(group) > 0;
}

void Scheduler::State::group_started(const Job& job) noexcept {
  Group& group = groups[job.group_id];
  ++group.running;
  ++group.started;
  if (limits_of(group).rate) group.tokens -= 1;
}

auto Scheduler::State::park(Queue& queue, Job& job) -> void {
  unlink_queued(queue, job);
  --queued;
  group_unqueued(job);
  if (job.suspect) {
    --queued_suspects;
    release_reservation(job);
  }
  Group& group = groups[job.group_id];
  ParkedList& list = group.parked_lists[job.priority];
  job.prev = list.tail;
  job.next = nullptr;
  if (list.tail != nullptr) list.tail->next = &job; else list.head = &job;
  list.tail = &job;
  job.state = JobState::parked;
  ++group.parked;
  ++parked;
  const GroupLimits& limits = limits_of(group);
  const bool running_room = !limits.max_running || group.running < *limits.max_running;
  if (running_room && limits.rate && *limits.rate > 0 && !group.timer_armed) {
    // Out of tokens: the bucket has its next one at this time.
    const double missing = std::max(0.0, 1.0 - group.tokens);
    const auto wait = std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(missing / *limits.rate));
    group_timers.push_back(GroupTimer{round_now + wait + TimePoint::duration(1), job.group_id});
    std::push_heap(group_timers.begin(), group_timers.end(), GroupTimerLater{});
    group.timer_armed = true;
  }
}

auto Scheduler::State::unpark(Job& job) -> void {
  Group& group = groups[job.group_id];
  const auto it = group.parked_lists.find(job.priority);
  ParkedList& list = it->second;
  if (job.prev != nullptr) job.prev->next = job.next; else list.head = job.next;
  if (job.next != nullptr) job.next->prev = job.prev; else list.tail = job.prev;
  job.prev = job.next = nullptr;
  if (list.head == nullptr) group.parked_lists.erase(it);
  --group.parked;
  --parked;
  job.state = JobState::unknown;
}

void Scheduler::State::wake(GroupId id) {
  Group& group = groups[id];
  if (group.parked == 0 || group.wake_pending) return;
  group.wake_pending = true;
  groups_to_wake.push_back(id);
}

auto Scheduler::State::wake_groups(TimePoint now) -> void {
  while (!group_timers.empty() && group_timers.front().at <= now) {
    const GroupId id = group_timers.front().group;
    std::pop_heap(group_timers.begin(), group_timers.end(), GroupTimerLater{});
    group_timers.pop_back();
    groups[id].timer_armed = false;
    wake(id);
  }
  // wake() may not add to the list while it is walked: nothing below calls it.
  for (const GroupId id : groups_to_wake) {
    Group& group = groups[id];
    group.wake_pending = false;
    refill(group, now);
    const std::uint64_t room = budget(group);
    std::uint64_t back = room > group.queued ? room - group.queued : 0;
    while (back > 0 && group.parked > 0) {
      Job& job = *group.parked_lists.begin()->second.head;
      unpark(job);
      enqueue(job, Place::keep);
      --back;
    }
  }
  groups_to_wake.clear();
}

auto Scheduler::State::delay(Job& job, TimePoint due, bool is_retry) -> void {
  job.state = JobState::delayed;
  job.retrying = is_retry;
  if (is_retry) ++retrying; else ++delayed;
  due_heap.push_back(Deadline{due, job.seq, job.id});
  std::push_heap(due_heap.begin(), due_heap.end(), DeadlineLater{});
}

auto Scheduler::State::release_due(TimePoint now) -> void {
  while (!due_heap.empty() && due_heap.front().at <= now) {
    const Deadline entry = due_heap.front();
    std::pop_heap(due_heap.begin(), due_heap.end(), DeadlineLater{});
    due_heap.pop_back();
    Job* job = find_job(entry.job);
    if (job == nullptr || job->seq != entry.seq || job->state != JobState::delayed) continue;
    const bool was_retry = job->retrying;
    if (was_retry) --retrying; else --delayed;
    job->retrying = false;
    job->state = JobState::unknown;
    if (was_retry) {
      enqueue(*job, Place::back);  // a leader in backoff still leads its key
    } else {
      hold_or_queue(*job);
    }
  }
}

auto Scheduler::State::retry(JobId id, WorkerSlot worker, unsigned attempt, TimePoint due) -> bool {
  Job* job = find_job(id);
  if (!current(job, worker, attempt)) return false;
  detach(*job);
  // assigntimeout bounds the wait for a first worker (PROTOCOL §14.1), met by now.
  job->deadline = kNoDeadline;
  ++retried;
  delay(*job, due, true);
  return true;
}

void Scheduler::State::set_group_limits(std::string_view name, std::optional<GroupLimits> limits) {
  const auto it = group_ids.find(name);
  if (it == group_ids.end() && !limits) return;
  const GroupId id = it != group_ids.end() ? it->second : group_id(name);
  Group& group = groups[id];
  group.own = std::move(limits);
  group.bucket_started = false;  // a new rate starts with a full bucket
  wake(id);
}

void Scheduler::State::set_group_defaults(GroupLimits limits) {
  group_defaults = std::move(limits);
  for (GroupId id = 1; id < groups.size(); ++id) {
    if (!groups[id].live || groups[id].own) continue;
    groups[id].bucket_started = false;
    wake(id);
  }
}

// -------------------------------------------------------------------- public API

bool Scheduler::retry(JobId job, WorkerSlot worker, unsigned attempt, TimePoint due) {
  const bool done = state_->retry(job, worker, attempt, due);
  state_->self_check();
  return done;
}

void Scheduler::set_group_defaults(GroupLimits limits) {
  state_->set_group_defaults(std::move(limits));
  state_->self_check();
}

const GroupLimits& Scheduler::group_defaults() const { return state_->group_defaults; }

void Scheduler::set_group_limits(std::string_view group, std::optional<GroupLimits> limits) {
  state_->set_group_limits(group, std::move(limits));
  state_->self_check();
}

std::vector<GroupStats> Scheduler::group_stats(std::size_t limit) const {
  const State& s = *state_;
  std::vector<GroupStats> out;
  for (State::GroupId id = 1; id < s.groups.size(); ++id) {
    const State::Group& group = s.groups[id];
    if (!group.live || (group.jobs == 0 && !group.own)) continue;
    out.push_back(GroupStats{group.name, s.limits_of(group), group.own.has_value(), group.running,
                             group.queued + group.parked, group.started});
  }
  const auto busier = [](const GroupStats& a, const GroupStats& b) {
    if (a.waiting != b.waiting) return a.waiting > b.waiting;
    if (a.running != b.running) return a.running > b.running;
    return a.name < b.name;
  };
  if (out.size() > limit) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(limit), out.end(), busier);
    out.resize(limit);
  } else {
    std::sort(out.begin(), out.end(), busier);
  }
  return out;
}

std::vector<DueJob> Scheduler::due_soonest(std::size_t limit) const {
  // The k smallest of a binary heap without copying it: a frontier of candidates,
  // O(k log k), whatever the heap's size.
  const State& s = *state_;
  std::vector<DueJob> out;
  const auto& heap = s.due_heap;
  const auto later = [&](std::size_t a, std::size_t b) { return State::DeadlineLater{}(heap[a], heap[b]); };
  std::vector<std::size_t> frontier;
  if (!heap.empty()) frontier.push_back(0);
  while (!frontier.empty() && out.size() < limit) {
    std::pop_heap(frontier.begin(), frontier.end(), later);
    const std::size_t at = frontier.back();
    frontier.pop_back();
    const auto& entry = heap[at];
    if (const auto it = s.jobs.find(entry.job);
        it != s.jobs.end() && it->second.seq == entry.seq && it->second.state == JobState::delayed) {
      out.push_back(DueJob{entry.job, entry.at, it->second.retrying});
    }
    for (const std::size_t child : {2 * at + 1, 2 * at + 2}) {
      if (child < heap.size()) {
        frontier.push_back(child);
        std::push_heap(frontier.begin(), frontier.end(), later);
      }
    }
  }
  return out;
}

}  // namespace proletariat::broker
