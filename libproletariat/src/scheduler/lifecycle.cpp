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
  // A rate of 0 pauses the group (PROTOCOL §14.5): an empty bucket that never fills.
  // max(1, rate) alone gave it one token, so one start, at every reset (property
  // test, seed 1004).
  const double most = bucket_size(*limits.rate);
  if (!group.bucket_started) {
    group.bucket_started = true;
    group.tokens = most;
    group.refilled = now;
    return;
  }
  if (now > group.refilled) {
    const double seconds = std::chrono::duration<double>(now - group.refilled).count();
    group.tokens = std::min(most, group.tokens + seconds * *limits.rate);
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

auto Scheduler::State::arm_refill(Group& group, GroupId id) -> void {
  const GroupLimits& limits = limits_of(group);
  if (group.parked == 0 || !limits.rate || *limits.rate <= 0) return;
  // At max_running, a running job's end wakes the group; with a whole token, it is
  // not waiting for one.
  if (limits.max_running && group.running >= *limits.max_running) return;
  if (group.tokens + 1e-9 >= 1) return;
  const double missing = 1.0 - group.tokens;
  const auto wait = std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(missing / *limits.rate));
  const TimePoint at = round_now + wait + TimePoint::duration(1);
  // An entry at or before `at` wakes it in time. A later one does not: its rate went
  // up since (a new rate, a full bucket, spent again), and a timer armed for the old
  // rate left the group parked with tokens for that long. Before, a group had one
  // timer at a time, and none was armed when a wake-up (a running job's end) found
  // it out of tokens: parked at max_running with no token left, its jobs waited for
  // some unrelated event (property test, seed 1001).
  if (group.timers > 0 && group.timer_at <= at) return;
  group_timers.push_back(GroupTimer{at, id});
  std::push_heap(group_timers.begin(), group_timers.end(), GroupTimerLater{});
  ++group.timers;
  group.timer_at = at;
}

auto Scheduler::State::park(Queue& queue, Job& job) -> void {
  unlink_queued(queue, job);
  --queued;
  group_unqueued(job);
  if (job.suspect) {
    --queued_suspects;
    // The worker it reserved takes jobs again once the round is over (run_round).
    if (job.worker != kNoWorker) parked_reservations.push_back(&job);
  }
  Group& group = groups[job.group_id];
  ParkedList& list = group.parked_lists[QueueKey{job.priority, job.service_id}];
  job.prev = list.tail;
  job.next = nullptr;
  if (list.tail != nullptr) list.tail->next = &job; else list.head = &job;
  list.tail = &job;
  job.state = JobState::parked;
  ++group.parked;
  ++parked;
  arm_refill(group, job.group_id);
}

auto Scheduler::State::unpark(Job& job) -> void {
  Group& group = groups[job.group_id];
  const auto it = group.parked_lists.find(QueueKey{job.priority, job.service_id});
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
    const GroupTimer timer = group_timers.front();
    std::pop_heap(group_timers.begin(), group_timers.end(), GroupTimerLater{});
    group_timers.pop_back();
    Group& group = groups[timer.group];
    --group.timers;
    // Entries leave in time order: the group's others (if any) are later; the next
    // arm_refill() decides whether one of those is soon enough.
    group.timer_at = TimePoint::max();
    wake(timer.group);
  }
  for (const GroupId id : groups_to_wake) {
    Group& group = groups[id];
    group.wake_pending = false;
    if (!group.hungry) {
      group.hungry = true;
      hungry_groups.push_back(id);
    }
  }
  groups_to_wake.clear();
}

auto Scheduler::State::unpark_hungry() -> bool {
  // Parked jobs come back from the lists whose queue has a free slot, as many as the
  // budget and those slots allow. Before this, as many came back as the budget minus
  // the group's queued jobs, whatever their queues: a group whose queued jobs could
  // not run (a service without a free slot, or without a worker at all) kept its
  // parked jobs parked with budget to spare and free slots for them, for as long as
  // those queued jobs waited (property test, seed 2000).
  bool any = false;
  const bool slots_free = free_total() > 0;
  std::size_t kept = 0;
  for (const GroupId id : hungry_groups) {
    Group& group = groups[id];
    refill(group, round_now);
    std::uint64_t room = group.parked > 0 ? budget(group) : 0;
    if (room == 0) {
      // Hungry again when a wake-up says its budget grew.
      group.hungry = false;
      arm_refill(group, id);
      continue;
    }
    // With no free slot anywhere nothing could start: it stays hungry (a slot that
    // frees up comes with a dispatch).
    for (auto it = group.parked_lists.begin(); slots_free && it != group.parked_lists.end() && room > 0;) {
      const auto next = std::next(it);
      const Service& service = services[it->first.service];
      std::uint64_t slots = service.trees[range_index(it->first.priority)].total();
      ParkedList& list = it->second;
      while (slots > 0 && room > 0) {
        Job& job = *list.head;
        const bool last = job.next == nullptr;
        unpark(job);  // the last one erases the list
        enqueue(job, Place::keep);
        any = true;
        --slots;
        --room;
        if (last) break;
      }
      it = next;
    }
    // Still hungry: what the round leaves of its budget may find slots after it.
    hungry_groups[kept++] = id;
  }
  hungry_groups.resize(kept);
  return any;
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
    // It queues behind every job queued so far, as one submitted now (PROTOCOL §14.1,
    // §14.3): a fresh order. Place::back would give it order = seq, its submission's,
    // yet append it: the queue would no longer be sorted by (order, seq), and the
    // merge of queues across services (heads compared by order) would let it pass the
    // jobs that queued while it waited (property test, seed 1000).
    job->order = static_cast<std::int64_t>(next_seq++);
    if (was_retry) {
      enqueue(*job, Place::keep);  // a leader in backoff still leads its key
    } else {
      hold_or_queue(*job, Place::keep);
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

// A new rate starts with a full bucket, and only a new one: limits set again with the
// same rate (or another max_running) keep the bucket as it is. Refilling it at every
// GROUPLIMITS set, or at every change of the defaults, let an operator's repeated set
// start max(1, rate) more jobs each time (property test, seed 1001).

void Scheduler::State::set_group_limits(std::string_view name, std::optional<GroupLimits> limits) {
  const auto it = group_ids.find(name);
  if (it == group_ids.end() && !limits) return;
  const GroupId id = it != group_ids.end() ? it->second : group_id(name);
  Group& group = groups[id];
  const std::optional<double> rate_before = limits_of(group).rate;
  group.own = std::move(limits);
  if (limits_of(group).rate != rate_before) group.bucket_started = false;
  wake(id);
}

void Scheduler::State::set_group_defaults(GroupLimits limits) {
  const std::optional<double> rate_before = group_defaults.rate;
  group_defaults = std::move(limits);
  for (GroupId id = 1; id < groups.size(); ++id) {
    if (!groups[id].live || groups[id].own) continue;
    if (group_defaults.rate != rate_before) groups[id].bucket_started = false;
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

GroupLimits Scheduler::group_limits(std::string_view group) const {
  const auto it = state_->group_ids.find(group);
  return it == state_->group_ids.end() ? state_->group_defaults : state_->limits_of(state_->groups[it->second]);
}

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
