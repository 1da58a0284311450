// The scheduler: job lookup, services, queues and workers (slot accounting, Fenwick trees).
#include "scheduler/scheduler_state.hpp"

namespace proletariat::broker {

using namespace scheduling;

auto Scheduler::State::find_job(JobId id) -> Job* {
  const auto it = jobs.find(id);
  return it == jobs.end() ? nullptr : &it->second;
}

auto Scheduler::State::valid_worker(WorkerSlot worker) const noexcept -> bool {
  return worker < workers.size() && workers[worker].live;
}

auto Scheduler::State::service_id(std::string_view name) -> ServiceId {
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

auto Scheduler::State::queue_for(double priority, ServiceId service) -> Queue& {
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

auto Scheduler::State::release_queue_node(QueueMap::iterator it) -> void {
  QueueMap::node_type node = queues.extract(it);
  if (spare_queues.size() < kSpareNodes) spare_queues.push_back(std::move(node));
}

auto Scheduler::State::release_if_empty(Queue& queue) -> void {
  if (queue.size != 0) return;
  release_queue_node(queues.find(QueueKey{queue.priority, queue.service}));
}

auto Scheduler::State::before(const Job& a, const Job& b) noexcept -> bool {
  return a.order != b.order ? a.order < b.order : a.seq < b.seq;
}

auto Scheduler::State::insert_before(Queue& queue, Job* at, Job& job) noexcept -> void {
  // at == nullptr: append.
  job.next = at;
  job.prev = at != nullptr ? at->prev : queue.tail;
  if (job.prev != nullptr) job.prev->next = &job; else queue.head = &job;
  if (at != nullptr) at->prev = &job; else queue.tail = &job;
  ++queue.size;
}

auto Scheduler::State::unlink_queued(Queue& queue, Job& job) noexcept -> void {
  if (job.prev != nullptr) job.prev->next = job.next; else queue.head = job.next;
  if (job.next != nullptr) job.next->prev = job.prev; else queue.tail = job.prev;
  job.prev = job.next = nullptr;
  --queue.size;
}

auto Scheduler::State::enqueue(Job& job, Place place) -> void {
  Queue& queue = queue_for(job.priority, job.service_id);
  switch (place) {
    case Place::back:
      job.order = static_cast<std::int64_t>(job.seq);
      insert_before(queue, nullptr, job);
      break;
    case Place::front:
      // Below every order in use, not only the head's: the queue's parked jobs are not
      // in the list, and one with a smaller order than the head's would otherwise come
      // back ahead of the requeued job (property test, seed 2000).
      job.order = --next_front;
      insert_before(queue, queue.head, job);
      break;
    case Place::by_sequence:
    case Place::keep: {
      // The queue is sorted by (order, seq); walk from both ends, so the cost is the
      // distance to the nearer end.
      if (place == Place::by_sequence) job.order = static_cast<std::int64_t>(job.seq);
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
  group_queued(job);
  dirty = true;
  if (job.suspect) {
    job.worker = kNoWorker;  // reserves none yet
    ++queued_suspects;
  }
  if (job.has_deadline() && !job.in_heap) {
    deadlines.push_back(Deadline{job.deadline, job.seq, job.id});
    std::push_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
    job.in_heap = true;
  }
}

auto Scheduler::State::refresh_worker(WorkerSlot slot) noexcept -> void {
  Worker& worker = workers[slot];
  const bool none = blocked(worker);
  if (!none) worker.pools.free_for_each(options.sacred_guarantees, worker.local_free);
  for (std::size_t g = 0; g < starts.size(); ++g) {
    const unsigned now = none ? 0 : worker.local_free[worker.local_of[g]];
    const unsigned before_value = worker.free_by_range[g];
    if (now == before_value) continue;
    const std::uint64_t delta = as_delta(now, before_value);
    for (const WorkerService& ws : worker.services) services[ws.service].trees[g].add(ws.position, delta);
    worker.free_by_range[g] = now;
  }
}

auto Scheduler::State::map_worker(Worker& worker) -> void {
  worker.pools.free_for_each(options.sacred_guarantees, worker.local_free);
  worker.local_of.resize(starts.size());
  worker.free_by_range.resize(starts.size());
  const bool none = blocked(worker);
  for (std::size_t g = 0; g < starts.size(); ++g) {
    worker.local_of[g] = worker.pools.range_of(starts[g]);
    worker.free_by_range[g] = none ? 0 : worker.local_free[worker.local_of[g]];
  }
}

auto Scheduler::State::rebuild_ranges() -> void {
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
      job->range = static_cast<std::uint32_t>(range_index(job->priority));
      ++running_by_range[job->range];
    }
  }
}

auto Scheduler::State::add_worker(const Offer& offer) -> WorkerSlot {
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
  // SPEC 4: the AVAIL_THRESHOLD throttle gathers slots freed by finishing jobs;
  // capacity that arrives ends it at once, so a worker joining a full system gets
  // work immediately instead of idling until others free the threshold (issue 10).
  full = false;
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

auto Scheduler::State::leave_service(WorkerSlot slot, const WorkerService& ws) -> void {
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

auto Scheduler::State::drain_worker(WorkerSlot slot) -> void {
  if (!valid_worker(slot) || workers[slot].draining) return;
  workers[slot].draining = true;
  ++draining;
  refresh_worker(slot);  // blocked now: its free slots leave the trees
}

auto Scheduler::State::remove_worker(WorkerSlot slot, WorkerLoss loss, Effects& out) -> void {
  if (!valid_worker(slot)) return;
  Worker& worker = workers[slot];
  if (worker.draining) {
    worker.draining = false;
    --draining;
  }

  // A suspect waiting for this worker to empty reserves none now (it may reserve
  // another in the next round). The worker's tree values stay as they are: they
  // leave with it below.
  if (worker.reserved_by != nullptr) {
    worker.reserved_by->worker = kNoWorker;
    worker.reserved_by = nullptr;
    dirty = true;
  }

  // Running jobs leave the worker in assignment order; survivors are requeued at the
  // front afterwards, in reverse, so that they keep their relative order. Blame is
  // exact (SPEC 5): a death counts against every job the worker ran, but only a job
  // that ran alone (a suspect) is known to have caused it: that one is poison.
  job_scratch.clear();
  for (Job* job = worker.run_head; job != nullptr;) {
    Job* next = job->next;
    job->prev = job->next = nullptr;
    job->state = JobState::unknown;
    --running;
    --running_by_range[job->range];
    if (job->group_id != 0) {
      --groups[job->group_id].running;
      wake(job->group_id);
    }
    out.emplace_back(GaveUp{job->id, slot, facts_of(*job)});
    if (loss == WorkerLoss::died) {
      ++job->lost;
      if (job->suspect) {
        const JobId id = job->id;
        const ClientSlot client = job->client;
        JobCargo cargo = std::move(job->cargo);
        out.emplace_back(Failed{id, client, FailReason::poison, finalize(*job), std::move(cargo)});
        ++poisoned;
        job = next;
        continue;
      }
      if (job->lost >= suspect_threshold()) {
        job->suspect = true;
        ++suspects;
      }
    }
    job_scratch.push_back(job);
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

}  // namespace proletariat::broker
