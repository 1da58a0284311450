// The scheduler: a job's life (submit, assign, hold, finish), dispatch rounds, deadlines and upkeep.
#include "scheduler/scheduler_state.hpp"

namespace proletariat::broker {

using namespace scheduling;

auto Scheduler::State::link_client(Job& job) -> void {
  ClientList& list = clients[job.client];
  job.client_prev = list.tail;
  job.client_next = nullptr;
  if (list.tail != nullptr) list.tail->client_next = &job; else list.head = &job;
  list.tail = &job;
  ++list.count;
}

auto Scheduler::State::unlink_client(Job& job) -> void {
  ClientList& list = clients[job.client];
  if (job.client_prev != nullptr) job.client_prev->client_next = job.client_next; else list.head = job.client_next;
  if (job.client_next != nullptr) job.client_next->client_prev = job.client_prev; else list.tail = job.client_prev;
  job.client_prev = job.client_next = nullptr;
  --list.count;
}

auto Scheduler::State::assign(Queue& queue, Job& job, WorkerSlot slot, Effects& out) -> void {
  unlink_queued(queue, job);
  --queued;
  if (job.group_id != 0) {
    group_unqueued(job);
    group_started(job);
  }
  if (job.suspect) {
    // Its reservation, if any, is `slot`: the worker is blocked from now on because
    // it runs a suspect, refreshed below.
    --queued_suspects;
    if (job.worker != kNoWorker) workers[job.worker].reserved_by = nullptr;
  }
  Worker& worker = workers[slot];
  job.state = JobState::running;
  job.worker = slot;
  job.local_range = static_cast<std::uint32_t>(worker.local_of[queue.range]);
  job.range = static_cast<std::uint32_t>(queue.range);
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

auto Scheduler::State::detach(Job& job) -> void {
  switch (job.state) {
    case JobState::queued: {
      Queue& queue = queues.find(QueueKey{job.priority, job.service_id})->second;
      unlink_queued(queue, job);
      --queued;
      group_unqueued(job);
      release_if_empty(queue);
      if (job.suspect) {
        --queued_suspects;
        release_reservation(job);
      }
      break;
    }
    case JobState::held: {
      Job* leader = leaders.find(std::string_view{job.key()})->second;
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
      if (job.group_id != 0) {
        --groups[job.group_id].running;
        wake(job.group_id);
      }
      break;
    }
    case JobState::delayed:
      // Its due_heap entry is dead from now on (state check).
      if (job.retrying) --retrying; else --delayed;
      job.retrying = false;
      break;
    case JobState::parked:
      unpark(job);
      break;
    case JobState::unknown:
      break;
  }
  job.state = JobState::unknown;
}

auto Scheduler::State::hand_over(Job& leader) -> void {
  const auto it = leaders.find(std::string_view{leader.key()});
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
  node.key() = std::string_view{next->key()};
  node.mapped() = next;
  leaders.insert(std::move(node));
  enqueue(*next, Place::by_sequence);
}

auto Scheduler::State::release_reservation(Job& job) noexcept -> void {
  if (job.worker == kNoWorker) return;
  const WorkerSlot slot = job.worker;
  job.worker = kNoWorker;
  workers[slot].reserved_by = nullptr;
  refresh_worker(slot);
  dirty = true;  // its free slots are usable again
}

auto Scheduler::State::finalize(Job& job) -> JobFacts {
  if (job.suspect) --suspects;
  if (job.leads) hand_over(job);
  unlink_client(job);
  Service& service = services[job.service_id];
  --service.jobs;
  JobFacts facts{job.client,  job.priority, job.key_text ? std::move(*job.key_text) : std::string(), service.name,
                 job.attempt, job.cargo.payload.size(), groups[job.group_id].name};
  if (job.group_id != 0) --groups[job.group_id].jobs;
  jobs.erase(job.id);
  return facts;
}

auto Scheduler::State::submit(JobSpec spec, TimePoint now) -> void {
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
  if (!spec.key.empty()) job.key_text = std::make_unique<std::string>(std::move(spec.key));
  job.deadline = spec.assign_deadline.value_or(kNoDeadline);
  job.cargo = std::move(spec.cargo);
  job.attempt = spec.attempt;
  job.seq = next_seq++;
  job.service_id = sid;
  ++services[sid].jobs;
  if (!spec.group.empty()) {
    job.group_id = group_id(spec.group);
    ++groups[job.group_id].jobs;
  }
  link_client(job);
  if (spec.not_before && *spec.not_before > now) {
    delay(job, *spec.not_before, spec.retrying);
    return;
  }
  hold_or_queue(job, Place::back);
}

auto Scheduler::State::hold_or_queue(Job& job, Place place) -> void {
  if (options.hold_similar_work && job.key_text) {
    if (const auto lit = leaders.find(std::string_view{job.key()}); lit != leaders.end()) {
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
      node.key() = std::string_view{job.key()};
      node.mapped() = &job;
      leaders.insert(std::move(node));
    } else {
      leaders.emplace(std::string_view{job.key()}, &job);
    }
  }
  enqueue(job, place);
}

auto Scheduler::State::place_suspect(Queue& queue, Job& job, Effects& out) -> void {
  if (job.worker != kNoWorker) {
    if (workers[job.worker].run_head == nullptr) assign(queue, job, job.worker, out);
    return;
  }
  if (queue.suspects_stuck) return;
  // One pass over the service's workers: the idle ones nobody reserved (candidates,
  // weighted by their free slots for the range) and the one to reserve failing that.
  const Service& service = services[queue.service];
  candidates.clear();
  std::uint64_t idle_total = 0;
  WorkerSlot reserve = kNoWorker;
  unsigned reserve_running = 0;
  for (const WorkerSlot w : service.workers) {
    const Worker& worker = workers[w];
    if (worker.reserved_by != nullptr) continue;
    const unsigned most = worker.empty_free[worker.local_of[queue.range]];
    if (most == 0) continue;  // its pools never let this range run
    if (worker.run_head == nullptr) {
      candidates.push_back(Candidate{w, most});
      idle_total += most;
      continue;
    }
    if (worker.run_head->suspect) continue;  // runs another suspect alone
    const unsigned running_now = worker.pools.running();
    if (reserve == kNoWorker || running_now < reserve_running || (running_now == reserve_running && w < reserve)) {
      reserve = w;
      reserve_running = running_now;
    }
  }
  if (!candidates.empty()) {
    std::size_t pick = 0;
    if (selector) {
      const std::optional<std::size_t> chosen = selector(view_of(job), candidates);
      if (!chosen || *chosen >= candidates.size()) return;
      pick = *chosen;
    } else {
      std::uniform_int_distribution<std::uint64_t> draw(0, idle_total - 1);
      std::uint64_t at = draw(rng);
      while (at >= candidates[pick].free_slots) at -= candidates[pick++].free_slots;
    }
    assign(queue, job, candidates[pick].worker, out);
    return;
  }
  if (reserve == kNoWorker) {
    queue.suspects_stuck = true;
    return;
  }
  workers[reserve].reserved_by = &job;
  job.worker = reserve;
  refresh_worker(reserve);
  out.emplace_back(Reserved{job.id, reserve});
}

auto Scheduler::State::try_place(Queue& queue, Effects& out) -> bool {
  Job& job = *queue.cursor;
  Job* const next = job.next;
  if (job.group_id != 0 && !group_allows(job)) {
    // Only this job waits (for its group): the round goes on with the job behind it.
    queue.cursor = next;
    park(queue, job);
    return true;
  }
  if (queued_suspects != 0 && job.suspect) {
    // Only the suspect waits: the round goes on with the job behind it.
    queue.cursor = next;
    place_suspect(queue, job, out);
    return true;
  }
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
  queue.cursor = next;
  return true;
}

auto Scheduler::State::run_round(Effects& out) -> void {
  dirty = false;
  round_freed_worker = false;
  const auto later_head = [](const Queue* a, const Queue* b) { return before(*b->cursor, *a->cursor); };
  auto it = queues.begin();
  while (it != queues.end() && free_total() > 0) {
    auto group_end = std::next(it);
    while (group_end != queues.end() && group_end->first.priority == it->first.priority) ++group_end;
    if (std::next(it) == group_end) {
      Queue& queue = it->second;
      queue.cursor = queue.head;
      queue.suspects_stuck = false;
      while (queue.cursor != nullptr && try_place(queue, out)) {
      }
    } else {
      // Several services at this priority: merge their queues by cursor (order, seq).
      heap_scratch.clear();
      for (auto q = it; q != group_end; ++q) {
        q->second.cursor = q->second.head;
        q->second.suspects_stuck = false;
        heap_scratch.push_back(&q->second);
      }
      std::make_heap(heap_scratch.begin(), heap_scratch.end(), later_head);
      while (!heap_scratch.empty() && free_total() > 0) {
        std::pop_heap(heap_scratch.begin(), heap_scratch.end(), later_head);
        Queue* queue = heap_scratch.back();
        heap_scratch.pop_back();
        if (!try_place(*queue, out)) continue;  // skip this queue for the round
        if (queue->cursor != nullptr) {
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
  // A queued suspect whose reserved worker is idle runs there now, wherever it is in
  // its queue. The round reaches it only in queue order, and a job that lands ahead of
  // it (requeued to the front, or back from parking) and needs that worker's slots
  // cannot start: it may not take a reserved worker. The suspect then waited behind
  // it, and it for the suspect, until some other worker freed a slot, if ever
  // (Scheduler.SuspectTakesItsIdleReservedWorkerPastAJobThatCannotStart; property test,
  // seed 1018). It passes nobody: no other job may take that worker. After the round,
  // so that its group's budget went to the group's jobs in priority order first.
  if (queued_suspects != 0) {
    for (WorkerSlot w = 0; w < workers.size(); ++w) {
      const Worker& worker = workers[w];
      if (!worker.live || worker.reserved_by == nullptr || worker.run_head != nullptr) continue;
      Job& job = *worker.reserved_by;
      if (job.state != JobState::queued) continue;  // parked by this round: its reservation ends below
      Queue& queue = queues.find(QueueKey{job.priority, job.service_id})->second;
      if (job.group_id != 0 && !group_allows(job)) {
        park(queue, job);  // its reservation ends below
      } else {
        assign(queue, job, w, out);
      }
      release_if_empty(queue);
    }
  }
  // Suspects the round parked leave their reservations only now, so that the workers
  // they held go to the jobs in priority order in the next pass: released at once, a
  // worker went to whatever job the round reached after the suspect, past the
  // higher-priority jobs it had already passed (property test, seed 1007).
  if (!parked_reservations.empty()) {
    for (Job* job : parked_reservations) release_reservation(*job);
    parked_reservations.clear();
    round_freed_worker = true;
  }
}

auto Scheduler::State::dispatch(TimePoint now, Effects& out) -> void {
  round_now = now;
  if (!due_heap.empty() && due_heap.front().at <= now) release_due(now);
  if (!groups_to_wake.empty() || (!group_timers.empty() && group_timers.front().at <= now)) wake_groups(now);
  if (!hungry_groups.empty()) unpark_hungry();
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
  // The round goes again when it left something another pass can use: budget that a
  // group's queued jobs could not spend (they found no slot) may start its parked
  // jobs of other queues that have one, which come back; a suspect it parked freed the
  // worker it reserved, which the jobs it passed before may take. Without this, such
  // jobs waited for the next dispatch, or, parked, for the group's next wake-up
  // (property test, seeds 2000, 1003 and 2008). Each pass starts or reserves
  // something, or ends a reservation (each made by a Reserved effect), or is the last.
  for (;;) {
    const bool unparked = !hungry_groups.empty() && unpark_hungry();
    if (!unparked && !round_freed_worker) break;
    const std::size_t effects_before = out.size();
    run_round(out);
    if (out.size() == effects_before && !round_freed_worker) break;
  }
  if (options.avail_threshold > 0 && queued > 0 && free_total() == 0) full = true;
}

auto Scheduler::State::pop_deadline() -> void {
  std::pop_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
  deadlines.pop_back();
}

auto Scheduler::State::live_entry(const Deadline& entry) -> Job* {
  Job* job = find_job(entry.job);
  if (job == nullptr || job->seq != entry.seq) return nullptr;
  // An entry left from before a retry, which ends the job's assign deadline (it bounds
  // only the wait for a first worker, PROTOCOL §14.1): the entry of a job assigned
  // before its deadline stays in the heap until it reaches the top, so without this
  // check a retry that queued again before that time failed with assign_timeout, and
  // next_deadline() named the old deadline (property test, seed 1001).
  if (job->deadline != entry.at) {
    job->in_heap = false;
    return nullptr;
  }
  // A parked job waits for a worker as much as a queued one: its deadline runs.
  if (job->state != JobState::queued && job->state != JobState::parked) {
    job->in_heap = false;
    return nullptr;
  }
  return job;
}

auto Scheduler::State::expire(TimePoint now, Effects& out) -> void {
  while (!deadlines.empty() && deadlines.front().at <= now) {
    const Deadline entry = deadlines.front();
    pop_deadline();
    Job* job = live_entry(entry);
    if (job == nullptr) continue;
    job->in_heap = false;
    detach(*job);
    const JobId id = job->id;
    const ClientSlot client = job->client;
    // A leader hands over; a promoted job already late fails in this loop.
    JobCargo cargo = std::move(job->cargo);
    out.emplace_back(Failed{id, client, FailReason::assign_timeout, finalize(*job), std::move(cargo)});
  }
}

auto Scheduler::State::next_deadline() -> std::optional<TimePoint> {
  while (!deadlines.empty() && live_entry(deadlines.front()) == nullptr) pop_deadline();
  while (!due_heap.empty()) {
    const Deadline& top = due_heap.front();
    const Job* job = find_job(top.job);
    if (job != nullptr && job->seq == top.seq && job->state == JobState::delayed) break;
    std::pop_heap(due_heap.begin(), due_heap.end(), DeadlineLater{});
    due_heap.pop_back();
  }
  std::optional<TimePoint> next;
  const auto earliest = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  if (!deadlines.empty()) earliest(deadlines.front().at);
  if (armed) earliest(*armed);
  if (!due_heap.empty()) earliest(due_heap.front().at);
  if (!group_timers.empty()) earliest(group_timers.front().at);
  if (!groups_to_wake.empty()) earliest(round_now);
  return next;
}

auto Scheduler::State::current(const Job* job, WorkerSlot worker, unsigned attempt) const noexcept -> bool {
  return job != nullptr && job->state == JobState::running && job->worker == worker && job->attempt == attempt;
}

auto Scheduler::State::complete(JobId id, WorkerSlot worker, unsigned attempt, Completion how, Effects& out) -> bool {
  Job* job = find_job(id);
  if (!current(job, worker, attempt)) return false;
  detach(*job);
  // The job's own Finished comes first, then those of the jobs held behind it; the
  // job is finalized last (a timed-out leader hands its held jobs over).
  const std::size_t own = out.size();
  out.emplace_back(Finished{id, job->client, id, {}});
  ++finished;
  if (how == Completion::result && job->leads) {
    for (Job* h = job->held_head; h != nullptr;) {
      Job* next = h->next;
      h->prev = h->next = nullptr;
      h->state = JobState::unknown;
      --held;
      const JobId held_id = h->id;
      const ClientSlot held_client = h->client;
      out.emplace_back(Finished{held_id, held_client, id, finalize(*h)});
      ++finished;
      h = next;
    }
    job->held_head = job->held_tail = nullptr;
  }
  std::get<Finished>(out[own]).facts = finalize(*job);
  return true;
}

auto Scheduler::State::reject(JobId id, WorkerSlot worker, unsigned attempt) -> bool {
  Job* job = find_job(id);
  if (!current(job, worker, attempt)) return false;
  detach(*job);
  enqueue(*job, Place::front);
  return true;
}

auto Scheduler::State::abort(JobId id, Effects& out) -> bool {
  Job* job = find_job(id);
  if (job == nullptr) return false;
  const bool running_now = job->state == JobState::running;
  const WorkerSlot worker = job->worker;
  const unsigned attempt = job->attempt;
  detach(*job);
  JobFacts facts = finalize(*job);
  if (running_now) out.emplace_back(AbortOnWorker{id, worker, attempt, std::move(facts)});
  return true;
}

auto Scheduler::State::abort_client(ClientSlot client, Effects& out) -> void {
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

void Scheduler::State::self_check() const {
#ifdef PROLETARIAT_SCHEDULER_SELF_CHECK
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
        const unsigned want =
            blocked(worker) ? 0U : worker.pools.free_for(worker.local_of[g], options.sacred_guarantees);
        if (worker.free_by_range[g] != want) fail("free_by_range stale");
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
    if (worker.reserved_by != nullptr) {
      const Job& job = *worker.reserved_by;
      if (!job.suspect || job.state != JobState::queued || job.worker != w) fail("reservation");
      if (worker.run_head != nullptr && worker.run_head->suspect) fail("reserved worker runs a suspect");
    }
    if (worker.run_head != nullptr && worker.run_head->suspect && worker.run_head != worker.run_tail) {
      fail("suspect not alone");
    }
  }
  std::size_t suspect_count = 0;
  std::size_t queued_suspect_count = 0;
  for (const auto& [id, job] : jobs) {
    if (!job.suspect) continue;
    ++suspect_count;
    if (job.state == JobState::held) fail("held suspect");
    if (job.state != JobState::queued) continue;
    ++queued_suspect_count;
    if (job.worker != kNoWorker && (!valid_worker(job.worker) || workers[job.worker].reserved_by != &job)) {
      fail("reservation not mutual");
    }
  }
  if (suspect_count != suspects || queued_suspect_count != queued_suspects) fail("suspect counts");
  std::vector<std::size_t> group_running(groups.size()), group_queued_count(groups.size()),
      group_parked(groups.size()), group_jobs(groups.size());
  std::size_t delayed_count = 0, retrying_count = 0, parked_count = 0;
  for (const auto& [id, job] : jobs) {
    if (job.group_id >= groups.size() || (job.group_id != 0 && !groups[job.group_id].live)) fail("job's group");
    ++group_jobs[job.group_id];
    if (job.state == JobState::running) ++group_running[job.group_id];
    if (job.state == JobState::queued) ++group_queued_count[job.group_id];
    if (job.state == JobState::parked) {
      ++group_parked[job.group_id];
      ++parked_count;
    }
    if (job.state == JobState::delayed) ++(job.retrying ? retrying_count : delayed_count);
  }
  if (delayed_count != delayed || retrying_count != retrying || parked_count != parked) fail("lifecycle counts");
  std::size_t hungry_count = 0;
  for (GroupId id = 1; id < groups.size(); ++id) {
    const Group& group = groups[id];
    if (!group.live) continue;
    if (group.running != group_running[id] || group.queued != group_queued_count[id] ||
        group.parked != group_parked[id] || group.jobs != group_jobs[id]) {
      fail("group counts");
    }
    std::size_t listed = 0;
    for (const auto& [key, list] : group.parked_lists) {
      if (list.head == nullptr) fail("empty parked list");
      for (const Job* job = list.head; job != nullptr; job = job->next) {
        if (job->state != JobState::parked || job->group_id != id || job->priority != key.priority ||
            job->service_id != key.service || (job->next == nullptr) != (job == list.tail)) {
          fail("parked list");
        }
        ++listed;
      }
    }
    if (listed != group.parked) fail("parked list counts");
    // Budget (as of its last refill: refills only add) with parked jobs: it was woken.
    if (group.parked > 0 && budget(group) > 0 && !group.hungry && !group.wake_pending) fail("group not woken");
    hungry_count += group.hungry;
  }
  if (hungry_count != hungry_groups.size()) fail("hungry groups");
  for (const GroupId id : hungry_groups) {
    if (id >= groups.size() || !groups[id].hungry) fail("hungry group");
  }
#endif
}

auto Scheduler::State::compact() -> void {
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

  std::vector<Deadline> due_kept;
  due_kept.reserve(delayed + retrying);
  for (const Deadline& entry : due_heap) {
    const Job* job = find_job(entry.job);
    if (job != nullptr && job->seq == entry.seq && job->state == JobState::delayed) due_kept.push_back(entry);
  }
  std::make_heap(due_kept.begin(), due_kept.end(), DeadlineLater{});
  due_heap = std::move(due_kept);

  // Groups nobody's job names and without limits of their own. One whose bucket is not
  // full (at the last round's time: it is at least as full now) stays: a group made
  // again starts with a full bucket, so dropping it would give a rate-limited group
  // whose jobs all ended a burst of starts beyond its rate (property test, seed 1008).
  for (GroupId id = 1; id < groups.size(); ++id) {
    Group& group = groups[id];
    if (!group.live || group.jobs != 0 || group.own || group.timers != 0 || group.wake_pending || group.hungry) {
      continue;
    }
    if (const GroupLimits& limits = limits_of(group); limits.rate && group.bucket_started) {
      refill(group, round_now);
      if (group.tokens + 1e-9 < bucket_size(*limits.rate)) continue;
    }
    group_ids.erase(group.name);
    group = Group{};
    free_groups.push_back(id);
  }
  group_ids.rehash(0);

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

}  // namespace proletariat::broker
