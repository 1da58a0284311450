// The dispatcher's durable side (SPEC 9, PROTOCOL §12): the journal it writes as
// the scheduler's effects are carried out, the recovery of a restarted manager,
// client identities and re-attachment, held results, and the drain.
//
// Every job state change the journal records is made at exactly one place of the
// dispatcher: ACCEPTED in on_push, ASSIGNED and FINISHED where apply() carries out
// Assigned and Finished/Failed, GONE where a job leaves without a result to keep
// (client abort, a client's BYE) or its result is received or given up.
#include <algorithm>

#include <proletariat/error.hpp>

#include "broker/dispatcher.hpp"
#include "journal/job_journal.hpp"
#include "log.hpp"

namespace proletariat::broker {
namespace {

std::span<const std::byte> bytes_of(const zmq::message_t& frame) {
  return {static_cast<const std::byte*>(frame.data()), frame.size()};
}

}  // namespace

std::int64_t Dispatcher::wall_ms(TimePoint t) const {
  return status_context_.boot_wall_ms +
         std::chrono::duration_cast<std::chrono::milliseconds>(t - status_context_.boot).count();
}

TimePoint Dispatcher::due_of(std::int64_t wall) const {
  // The journal keeps due times to the millisecond, cut down: the last instant of that
  // millisecond is never before the true due time, and shows as the same millisecond.
  return steady_of(wall) + std::chrono::milliseconds(1) - TimePoint::duration(1);
}

TimePoint Dispatcher::steady_of(std::int64_t wall) const {
  return status_context_.boot + std::chrono::milliseconds(wall - status_context_.boot_wall_ms);
}

void Dispatcher::open_journal(TimePoint boot) {
  journal::JournalOptions options;
  options.log.dir = options_.journal_dir;
  options.log.repair = options_.journal_repair;
  if (!journal::parse_sync_options(options_.journal_sync, options.log.sync)) {
    throw Error(std::string(errc::kBadField),
                "journal sync policy '" + options_.journal_sync + "' is none of always, interval=MS, off");
  }
  journal::Recovery recovery;
  const auto started = std::chrono::steady_clock::now();
  try {
    journal_ = std::make_unique<journal::JobJournal>(options, recovery);
  } catch (const journal::JournalError& e) {
    throw Error(std::string(errc::kInternal), e.what());
  }
  status_context_.journal = true;
  next_job_id_ = std::max(next_job_id_, recovery.next_id);

  // Anonymous jobs have nobody to answer: they end here. The others go back in id
  // order, those that were running first, so that they lead their queues.
  std::size_t queued = 0;
  std::size_t results = 0;
  std::size_t dropped = 0;
  for (auto& recovered : recovery.dead_letters) {
    DeadLetter letter;
    letter.id = recovered.letter;
    letter.job = recovered.job;
    letter.client = std::move(recovered.client);
    letter.identity = std::move(recovered.identity);
    letter.priority = recovered.priority;
    letter.key = std::move(recovered.key);
    letter.service = std::move(recovered.service);
    letter.group = std::move(recovered.group);
    letter.run_timeout_ms = recovered.run_timeout_ms;
    if (recovered.retry) letter.retry = std::make_shared<const RetryPolicy>(*recovered.retry);
    letter.err = std::move(recovered.err);
    letter.attempts = recovered.attempts;
    letter.since_wall_ms = recovered.since_wall_ms;
    letter.raw = recovered.raw;
    letter.payload = zmq::message_t(recovered.payload.data(), recovered.payload.size());
    for (const DeadLetter& evicted : dead_letters_.add(std::move(letter))) journal_->dead_letter_gone(evicted.id);
  }
  if (recovery.next_letter > 1) dead_letters_.advance_past(recovery.next_letter - 1);
  identity_slots_.emplace(std::string(kRequeueIdentity), requeue_slot_);
  slot_identities_.emplace(requeue_slot_, std::string(kRequeueIdentity));

  for (int pass = 0; pass < 2; ++pass) {
    for (auto& job : recovery.jobs) {
      if (job.identity.empty()) {
        if (pass == 0) {
          journal_->gone(job.id);
          ++dropped;
        }
        continue;
      }
      ClientSlot slot = 0;
      if (auto it = identity_slots_.find(job.identity); it != identity_slots_.end()) {
        slot = it->second;
      } else {
        slot = peers_.reserve_client_slot();
        identity_slots_.emplace(job.identity, slot);
        slot_identities_.emplace(slot, job.identity);
      }
      if (job.result) {
        if (pass == 0) {
          zmq::message_t data(job.result->payload.data(), job.result->payload.size());
          // A retried job's attempts: the retried failures the journal counted, and the last.
          const unsigned attempts = job.retry ? job.answered + 1 : 0;
          held_.hold(job.id, HeldResult{slot, job.result->err, job.result->raw, std::move(data),
                                        std::min(boot, steady_of(job.result->finished_wall_ms)), attempts});
          ++results;
        }
        continue;
      }
      if ((pass == 0) != (job.attempt > 0)) continue;
      std::optional<TimePoint> deadline;
      if (job.assign_deadline_wall_ms) deadline = steady_of(*job.assign_deadline_wall_ms);
      JobSpec spec;
      spec.id = job.id;
      spec.client = slot;
      spec.priority = job.priority;
      spec.key = std::move(job.key);
      spec.service = std::move(job.service);
      spec.assign_deadline = deadline;
      spec.attempt = job.attempt;
      spec.cargo.payload = detail::OpaqueFrame(zmq::message_t(job.payload.data(), job.payload.size()));
      spec.cargo.set_run_timeout(job.run_timeout_ms);
      spec.cargo.set_raw(job.raw);
      spec.group = std::move(job.group);
      if (job.retry) {
        spec.cargo.retry = RetryRef(std::move(*job.retry));
        spec.cargo.set_retried(job.answered);
      }
      // A job that was waiting (a delay, a retry's backoff) waits out the rest of it.
      if (job.retry_due_wall_ms) {
        spec.not_before = due_of(*job.retry_due_wall_ms);
        spec.retrying = true;
      } else if (job.not_before_wall_ms && job.attempt == 0) {
        spec.not_before = due_of(*job.not_before_wall_ms);
      }
      scheduler_.submit(std::move(spec), boot, effects_);
      ++queued;
    }
  }
  apply(effects_);
  journal_->commit(boot);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  detail::log().info("journal {} ({}, sync {}): {} records read in {} ms; {} jobs back in their queues, {} results "
                     "held for their clients{}",
                     options_.journal_dir, journal_->id(), options_.journal_sync, recovery.records, took.count(),
                     queued, results,
                     dropped > 0 ? ", " + std::to_string(dropped) + " jobs of anonymous clients dropped" : "");
}

bool Dispatcher::journal_barrier() const noexcept { return journal_ && journal_->needs_commit_before_send(); }

void Dispatcher::commit_journal(TimePoint now) {
  if (journal_) journal_->commit(now);
}

std::uint64_t Dispatcher::journal_syncs() const { return journal_ ? journal_->stats().log.syncs : 0; }

ClientSlot Dispatcher::client_slot_for(Peer& peer) {
  if (journal_ && !peer.identity.empty()) {
    if (auto it = identity_slots_.find(peer.identity); it != identity_slots_.end()) {
      peers_.attach_client(peer, it->second);
      return it->second;
    }
    const ClientSlot slot = peers_.make_client(peer);
    identity_slots_.emplace(peer.identity, slot);
    slot_identities_.emplace(slot, peer.identity);
    return slot;
  }
  return peers_.make_client(peer);
}

void Dispatcher::reattach(Peer& peer) {
  auto it = identity_slots_.find(peer.identity);
  if (it == identity_slots_.end()) return;
  const ClientSlot slot = it->second;
  if (Peer* old = peers_.by_client(slot); old != nullptr && old != &peer) {
    // The same client in a new session while the old one is still registered (it
    // reconnected before its old session expired): the new session takes over.
    detail::log().info("client {} takes over identity {} from {}", peer.id, peer.identity, old->id);
    const std::string old_rid = old->routing_id;
    outbox_.forget(old_rid);
    peers_.remove(old_rid, true);
  }
  peers_.attach_client(peer, slot);
  const auto held = held_.of_client(slot);
  // Held results are sent here, not through deliver(): only the unfinished jobs count.
  const auto unfinished_jobs = scheduler_.jobs_of(slot);
  const std::size_t unfinished = unfinished_jobs.size();
  peer.outstanding_jobs = unfinished;
  peer.outstanding_bytes = 0;
  for (const JobId job : unfinished_jobs) {
    if (const auto view = scheduler_.view(job)) peer.outstanding_bytes += accounted_bytes(view->cargo.payload.size());
  }
  for (const JobId job : held) {
    HeldResult* result = held_.find(job);
    zmq::message_t data;
    data.copy(result->data);
    peer.last_sent = now_;
    auto& batch = outbox_.results_for(peer.routing_id);
    batch.results.push_back(protocol::ClientResult{job, result->err, result->raw, result->attempts});
    batch.payloads.push_back(std::move(data));
  }
  detail::log().info("client {} re-attached as {}: {} jobs unfinished, {} held results sent", peer.id, peer.identity,
                     unfinished, held.size());
}

bool Dispatcher::detaches(const Peer& peer, DropReason reason) const {
  return journal_ && peer.client && !peer.identity.empty() && reason == DropReason::heartbeat_expired;
}

void Dispatcher::forget_client(ClientSlot client) {
  if (journal_) {
    for (const JobId job : scheduler_.jobs_of(client)) journal_->gone(job);
    for (const JobId job : held_.of_client(client)) {
      held_.release(job);
      journal_->gone(job);
    }
  }
  if (auto it = slot_identities_.find(client); it != slot_identities_.end()) {
    identity_slots_.erase(it->second);
    slot_identities_.erase(it);
  }
}

void Dispatcher::journal_accepted(JobId id, const Peer& peer, const JobSpec& spec, TimePoint now) {
  if (!journal_) return;
  journal::AcceptedJob job;
  job.id = id;
  job.identity = peer.identity;
  job.priority = spec.priority;
  job.key = spec.key;
  job.service = spec.service;
  job.accepted_wall_ms = wall_ms(now);
  if (spec.assign_deadline) job.assign_deadline_wall_ms = wall_ms(*spec.assign_deadline);
  job.run_timeout_ms = spec.cargo.run_timeout();
  job.raw = spec.cargo.raw();
  job.group = spec.group;
  if (spec.not_before) job.not_before_wall_ms = wall_ms(*spec.not_before);
  if (spec.cargo.retry) job.retry = *spec.cargo.retry;
  const zmq::message_t payload = spec.cargo.payload.share();
  job.payload = bytes_of(payload);
  journal_->accepted(job);
}

void Dispatcher::journal_finished(JobId id, const std::optional<JobError>& err, bool raw, const zmq::message_t& data) {
  if (!journal_) return;
  journal::FinishedJob job;
  job.id = id;
  job.err = err;
  job.raw = raw;
  job.finished_wall_ms = wall_ms(now_);
  job.payload = bytes_of(data);
  journal_->finished(job);
}

void Dispatcher::on_received(Peer& peer, const protocol::Received& msg) {
  if (peer.role != Role::client) {
    reply_error(peer.routing_id, errc::kState, "only a client receives results", "RECEIVED");
    return;
  }
  for (const JobId job : msg.ids) {
    if (!journal_) break;
    const HeldResult* held = held_.find(job);
    if (held == nullptr || held->client != *peer.client) continue;
    held_.release(job);
    journal_->gone(job);
  }
}

void Dispatcher::on_drain(Peer& peer) {
  if (peer.role != Role::worker) {
    reply_error(peer.routing_id, errc::kState, "only a worker drains", "DRAIN");
    return;
  }
  detail::log().info("worker {} drains: no new jobs for it", peer.id);
  scheduler_.drain_worker(*peer.worker);
}

void Dispatcher::evict_held(TimePoint now) {
  if (!journal_) return;
  const auto oldest = now - options_.held_results_max_age;
  const auto evicted = held_.evict(options_.held_results_max, oldest);
  std::vector<ClientSlot> clients;
  for (const auto& e : evicted) {
    journal_->gone(e.job);
    clients.push_back(e.client);
  }
  // An identity that is away and has nothing left is forgotten with its slot.
  std::sort(clients.begin(), clients.end());
  clients.erase(std::unique(clients.begin(), clients.end()), clients.end());
  for (const ClientSlot client : clients) {
    if (peers_.by_client(client) != nullptr || !scheduler_.jobs_of(client).empty() ||
        !held_.of_client(client).empty()) {
      continue;
    }
    forget_client(client);
    peers_.release_client_slot(client);
  }
  if (!evicted.empty()) {
    detail::log().warn("{} held results given up (more than {} held, or older than {} ms): their clients never came "
                       "back for them",
                       evicted.size(), options_.held_results_max, options_.held_results_max_age.count());
  }
}

void Dispatcher::begin_drain(TimePoint now) {
  if (draining_) return;
  draining_ = true;
  status_context_.draining = true;
  drain_deadline_ = now + options_.drain_timeout;
  const auto running = scheduler_.running_count();
  detail::log().info("draining: no new pushes (EDRAINING), no new jobs; waiting up to {} ms for {} running jobs{}",
                     options_.drain_timeout.count(), running,
                     journal_ ? "; queued jobs stay in the journal" : "");
}

bool Dispatcher::drained(TimePoint now) const {
  if (!draining_) return false;
  if (now >= drain_deadline_) {
    detail::log().warn("drain timeout: stopping with jobs still running{}",
                       journal_ ? " (they run again after the next start)" : "");
    return true;
  }
  // Checked at every pass of a draining loop: the count alone, not stats().
  if (scheduler_.running_count() != 0) return false;
  detail::log().info("drained: no job is running ({} waiting stay{})", scheduler_.job_count(),
                     journal_ ? " in the journal" : "");
  return true;
}

}  // namespace proletariat::broker
