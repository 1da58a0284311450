#include "broker/dispatcher.hpp"

#include <malloc.h>

#include <algorithm>
#include <random>

#include <proletariat/error.hpp>

#include "journal/job_journal.hpp"
#include "scheduler/priority.hpp"
#include "log.hpp"

namespace proletariat::broker {
namespace {

std::string make_id_prefix(std::uint64_t seed) {
  // Peer ids stay unique across manager restarts: a random prefix per boot.
  std::mt19937_64 rng(seed ^ static_cast<std::uint64_t>(std::random_device{}()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string prefix;
  for (int i = 0; i < 6; ++i) prefix.push_back(kHex[rng() & 0xf]);
  return prefix;
}

SchedulerOptions scheduler_options(const ManagerOptions& o) {
  SchedulerOptions s;
  s.sacred_guarantees = o.sacred_guarantees;
  s.hold_similar_work = o.hold_similar_work;
  s.avail_threshold = o.avail_threshold;
  s.distrib_randmax = o.distrib_randmax;
  s.suspect_after = o.suspect_after;
  s.seed = o.seed != 0 ? o.seed : std::random_device{}();
  return s;
}

std::string rid_text(const std::string& rid) {
  return protocol::snippet(zmq::message_t(rid.data(), rid.size()), 16);
}

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

// --- Dispatcher ---

Dispatcher::Dispatcher(const ManagerOptions& options, ManagerEvents events, std::int64_t boot_wall_ms,
                       TimePoint boot)
    : options_(options),
      events_(std::move(events)),
      limits_{options.max_message_bytes, options.max_frames},
      peers_(make_id_prefix(options.seed)),
      scheduler_(scheduler_options(options)),
      liveness_window_(options.heartbeat_interval * options.heartbeat_liveness),
      status_context_{.sacred_guarantees = options.sacred_guarantees,
                      .hold_similar_work = options.hold_similar_work,
                      .boot_wall_ms = boot_wall_ms,
                      .boot = boot},
      dead_letters_(options.max_dead_letters, options.dead_letter_max_age),
      rng_(options.seed != 0 ? options.seed + 1 : std::random_device{}()) {
  scheduler_.set_group_defaults(GroupLimits{options.group_max_running, options.group_rate});
  status_context_.dead_letters = &dead_letters_;
  requeue_slot_ = peers_.reserve_client_slot();
  // Jobs taken back from a journal count as accepted at this start.
  accepted_.accepted(1, boot);
  if (!options_.journal_dir.empty()) open_journal(boot);
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::set_worker_selector(WorkerSelector selector) {
  if (!selector) {
    scheduler_.set_selector({});
    return;
  }
  scheduler_.set_selector([this, select = std::move(selector)](
                              const JobView& job, std::span<const Candidate> candidates) -> std::optional<std::size_t> {
    const JobInfo info = this->info(job);
    std::vector<WorkerCandidate> view;
    view.reserve(candidates.size());
    for (const auto& c : candidates) {
      WorkerCandidate wc;
      wc.free_slots = c.free_slots;
      if (Peer* w = peers_.by_worker(c.worker)) wc.id = w->id;
      if (auto stats = scheduler_.worker_stats(c.worker)) wc.slots = stats->slots;
      view.push_back(std::move(wc));
    }
    auto chosen = select(info, view);
    if (chosen && *chosen >= candidates.size()) {
      detail::log().warn("worker selector returned index {} of {} candidates; job {} stays queued", *chosen,
                         candidates.size(), job.id);
      return std::nullopt;
    }
    return chosen;
  });
}

void Dispatcher::send(Peer& peer, protocol::Frames frames, TimePoint now) {
  peer.last_sent = now;
  outbox_.send(peer.routing_id, std::move(frames));
}

void Dispatcher::reply_error(const std::string& rid, std::string_view code, std::string message, std::string command,
                             std::optional<std::uint64_t> req) {
  Peer* peer = peers_.find(rid);
  // A registered peer is named as status names it, by its id and (with CURVE) its key.
  const std::string who = peer == nullptr ? rid_text(rid)
                                          : peer->id + (peer->key.empty() ? std::string() : " (key " + peer->key + ")");
  detail::log().warn("peer {}: {} {}: {}", who, command.empty() ? "?" : command, code, message);
  counters_.rejected(code);
  protocol::ErrorReply reply{std::string(code), std::move(message), std::move(command), req};
  if (peer != nullptr) peer->last_sent = now_;
  outbox_.send(rid, protocol::encode(reply));
}

void Dispatcher::on_message(protocol::Frames& frames, TimePoint now) {
  now_ = now;
  last_activity_ = now;
  if (frames.empty() || frames[0].size() == 0) return;  // no routing id: nobody to answer
  const std::string rid(frames[0].data<char>(), frames[0].size());
  Peer* peer = peers_.find(rid);
  if (peer != nullptr) peer->last_seen = now;

  auto decoded = protocol::decode_from_peer(frames, 1, limits_);
  if (auto* err = std::get_if<protocol::DecodeError>(&decoded)) {
    if (frames.size() > 3) {
      detail::log().debug("peer {}: undecodable frame 3: {}", rid_text(rid), protocol::snippet(frames[3]));
    }
    reply_error(rid, err->code, std::move(err->message), std::move(err->command), err->req);
    return;
  }
  auto& msg = std::get<protocol::PeerMessage>(decoded);

  std::string key;  // with CURVE: the peer's public key, as the ZAP handler named it
  if (keys_ != nullptr) {
    const char* user = zmq_msg_gets(frames[1].handle(), "User-Id");
    if (user != nullptr) key = user;
    if (auto why = denied(msg, key)) {
      std::optional<std::uint64_t> req;
      if (const auto* push = std::get_if<protocol::Push>(&msg)) req = push->req;
      if (const auto* sysmsg = std::get_if<protocol::SysMsg>(&msg)) req = sysmsg->req;
      if (const auto* status = std::get_if<protocol::StatusRequest>(&msg)) req = status->req;
      if (const auto* dead = std::get_if<protocol::DeadRequest>(&msg)) req = dead->req;
      if (const auto* limits = std::get_if<protocol::GroupLimitsRequest>(&msg)) req = limits->req;
      reply_error(rid, errc::kDenied, std::move(*why), frames.size() > 3 ? frames[3].to_string() : std::string(), req);
      return;
    }
  }

  if (peer == nullptr) {
    if (auto* hello = std::get_if<protocol::Hello>(&msg)) {
      on_hello(rid, *hello, key, now);
    } else if (!std::holds_alternative<protocol::Bye>(msg)) {
      reply_error(rid, errc::kNoHello, "unknown peer: send HELLO first");
    }
    return;
  }

  std::visit(Overloaded{
                 [&](protocol::Hello&) { reply_error(rid, errc::kState, "already registered", "HELLO"); },
                 [&](protocol::Offer& offer) { on_offer(*peer, offer); },
                 [&](protocol::Push& push) { on_push(*peer, push, now); },
                 [&](protocol::ClientAbort& abort) { on_client_abort(*peer, abort); },
                 [&](protocol::WorkerResults& results) { on_results(*peer, results); },
                 [&](protocol::Reject& reject) { on_reject(*peer, reject); },
                 [&](protocol::Heartbeat&) {},
                 [&](protocol::Bye&) { on_bye(*peer); },
                 [&](protocol::SysMsg& sysmsg) { on_sysmsg(*peer, sysmsg, now); },
                 [&](protocol::SysAck& ack) {
                   std::vector<SysmsgDone> done;
                   sysmsgs_.ack(peer->id, ack.msg, done);
                   send_completions(done);
                 },
                 [&](protocol::StatusRequest& request) { on_status(*peer, request); },
                 [&](protocol::Received& received) { on_received(*peer, received); },
                 [&](protocol::Drain&) { on_drain(*peer); },
                 [&](protocol::WorkerProgress& progress) { on_progress(*peer, progress); },
                 [&](protocol::DeadRequest& dead) { on_dead(*peer, dead); },
                 [&](protocol::GroupLimitsRequest& limits) { on_group_limits(*peer, limits); },
             },
             msg);
}

void Dispatcher::on_hello(const std::string& rid, const protocol::Hello& msg, const std::string& key, TimePoint now) {
  if (peers_.size() >= options_.max_peers) {
    reply_error(rid, errc::kLimit, "the manager has its limit of " + std::to_string(options_.max_peers) + " peers",
                "HELLO");
    return;
  }
  if (msg.identity == kRequeueIdentity) {
    reply_error(rid, errc::kBadField, "field 'identity' names the manager's own requeued jobs", "HELLO");
    return;
  }
  Peer& peer = peers_.add(rid, now);
  peer.name = protocol::utf8_prefix(msg.name, 128);
  peer.lang = protocol::utf8_prefix(msg.lang, 32);
  peer.takes_sysmsg = msg.sysmsg;
  peer.key = key;
  // With CURVE an identity belongs to the key that claims it (PROTOCOL §13): another
  // key naming the same identity gets a slot of its own, never the owner's results.
  peer.identity = msg.identity.empty() || key.empty() ? msg.identity : key + "/" + msg.identity;
  if (!key.empty()) detail::log().info("peer {} registered with key {}", peer.id, key);
  protocol::Welcome welcome;
  welcome.id = peer.id;
  welcome.heartbeat_ms = static_cast<std::uint64_t>(options_.heartbeat_interval.count());
  welcome.liveness = options_.heartbeat_liveness;
  welcome.max_message_bytes = options_.max_message_bytes;
  welcome.max_frames = options_.max_frames;
  if (pub_port_) welcome.pub_port = *pub_port_;
  welcome.pub_endpoint = pub_endpoint_;
  welcome.entry_options = true;
  welcome.lifecycle = true;
  if (journal_) welcome.journal = journal_->id();
  detail::log().debug("peer {} registered ({} {})", peer.id, peer.name, peer.lang);
  send(peer, protocol::encode(welcome), now);
  if (journal_ && !peer.identity.empty()) reattach(peer);
}

void Dispatcher::on_offer(Peer& peer, const protocol::Offer& msg) {
  if (peer.role != Role::unknown) {
    reply_error(peer.routing_id, errc::kState,
                peer.role == Role::worker ? "offer already made" : "a client cannot offer slots", "OFFER");
    return;
  }
  // The codec refused every offer that breaks the rules (protocol/offer.hpp).
  Offer offer{msg.slots, msg.priority_slots, msg.services};
  const WorkerSlot slot = scheduler_.add_worker(offer);
  peers_.make_worker(peer, slot);

  protocol::Offered offered;
  offered.slots = msg.slots;
  if (auto stats = scheduler_.worker_stats(slot)) {
    for (const auto& pool : stats->pools) offered.ranges.push_back({pool.start, pool.slots});
  }
  detail::log().info("worker {} offers {} slots ({} ranges, {} services)", peer.id, msg.slots, offered.ranges.size(),
                     msg.services.size());
  send(peer, protocol::encode(offered), now_);
}

void Dispatcher::on_push(Peer& peer, protocol::Push& msg, TimePoint now) {
  if (peer.role == Role::worker) {
    reply_error(peer.routing_id, errc::kState, "a worker cannot push jobs", "PUSH", msg.req);
    return;
  }
  if (draining_) {
    reply_error(peer.routing_id, errc::kDraining, "the manager is stopping: push again later, or to another manager",
                "PUSH", msg.req);
    return;
  }
  if (auto why = over_push_limits(peer, msg)) {
    reply_error(peer.routing_id, errc::kLimit, std::move(*why), "PUSH", msg.req);
    return;
  }
  if (peer.role == Role::unknown) client_slot_for(peer);
  const ClientSlot client = *peer.client;


  protocol::Accepted accepted;
  accepted.req = msg.req;
  accepted.ids.reserve(msg.jobs.size());
  accepted_.accepted(next_job_id_, now);
  // One reference-counted copy of the header's retry policy for all its jobs, and for
  // the next pushes with the same one (the codec hands out the policy it parsed last).
  if (msg.lifecycle.retry != last_retry_policy_) {
    last_retry_policy_ = msg.lifecycle.retry;
    last_retry_ = msg.lifecycle.retry ? RetryRef(*msg.lifecycle.retry) : RetryRef();
  }
  const RetryRef& header_retry = last_retry_;
  counters_.jobs_received += msg.jobs.size();
  for (std::size_t i = 0; i < msg.jobs.size(); ++i) {
    auto& job = msg.jobs[i];
    const JobId id = next_job_id_++;
    accepted.ids.push_back(id);
    ++peer.outstanding_jobs;
    peer.outstanding_bytes += accounted_bytes(msg.payloads[i].size());
    // An entry's own options (PROTOCOL §4, entry_options) override the header's.
    const double priority = job.priority.value_or(msg.priority);
    const auto assign_timeout = job.assign_timeout_ms ? job.assign_timeout_ms : msg.assign_timeout_ms;
    const auto run_timeout = job.run_timeout_ms ? job.run_timeout_ms : msg.run_timeout_ms;
    std::optional<TimePoint> deadline;
    if (assign_timeout) {
      deadline = now + std::chrono::milliseconds(std::min(*assign_timeout, protocol::kLongestTimeoutMs));
    }
    if (events_.receive) events_.receive(JobInfo{id, peer.id, priority, job.key, job.service, 0});
    JobSpec spec;
    spec.id = id;
    spec.client = client;
    spec.priority = priority;
    spec.key = std::move(job.key);
    spec.service = std::move(job.service);
    spec.assign_deadline = deadline;
    spec.cargo.payload = detail::OpaqueFrame(std::move(msg.payloads[i]));
    spec.cargo.set_run_timeout(run_timeout);
    spec.cargo.set_raw(job.raw);
    apply_lifecycle(spec, msg.lifecycle, header_retry, job.lifecycle, now);
    journal_accepted(id, peer, spec, now);
    scheduler_.submit(std::move(spec), now, effects_);
  }
  send(peer, protocol::encode(accepted), now);
  apply(effects_);
}

std::optional<std::string> Dispatcher::over_push_limits(const Peer& peer, const protocol::Push& msg) const {
  if (peer.outstanding_jobs + msg.jobs.size() > options_.max_jobs_per_client) {
    return "push of " + std::to_string(msg.jobs.size()) + " jobs would exceed the limit of " +
           std::to_string(options_.max_jobs_per_client) + " outstanding jobs (max_jobs_per_client)";
  }
  std::size_t bytes = 0;
  for (const auto& payload : msg.payloads) bytes += accounted_bytes(payload.size());
  if (peer.outstanding_bytes + bytes > options_.max_client_bytes) {
    return "push of " + std::to_string(bytes) + " bytes would exceed the client's limit of " +
           std::to_string(options_.max_client_bytes) + " bytes outstanding (max_client_bytes, " +
           std::to_string(peer.outstanding_bytes) + " held)";
  }
  // A push names one service or a few: a short list, not a map.
  std::vector<std::pair<std::string_view, std::size_t>> per_service;
  for (const auto& job : msg.jobs) {
    auto it = std::find_if(per_service.begin(), per_service.end(), [&](const auto& s) { return s.first == job.service; });
    if (it == per_service.end()) {
      per_service.emplace_back(job.service, 1);
    } else {
      ++it->second;
    }
  }
  for (const auto& [service, count] : per_service) {
    if (scheduler_.jobs_of_service(service) + count > options_.max_jobs_per_service) {
      return "push of " + std::to_string(count) + " jobs would exceed the limit of " +
             std::to_string(options_.max_jobs_per_service) + " jobs for service '" +
             std::string(service.substr(0, 64)) + "' (max_jobs_per_service)";
    }
  }
  return std::nullopt;
}

void Dispatcher::on_client_abort(Peer& peer, const protocol::ClientAbort& msg) {
  if (peer.role != Role::client) {
    reply_error(peer.routing_id, errc::kState, "only a client that pushed jobs can abort them", "ABORT");
    return;
  }
  for (const JobId id : msg.ids) {
    const auto job = scheduler_.view(id);
    if (!job || job->client != *peer.client) continue;  // not this client's, or ended already
    const std::size_t bytes = accounted_bytes(job->cargo.payload.size());
    if (scheduler_.abort(id, effects_)) {
      counters_.finished(monitor::Outcome::aborted);  // its run, if any, ends with AbortOnWorker
      peer.outstanding_bytes -= std::min(peer.outstanding_bytes, bytes);
      detail::log().debug("client {} aborts job {}", peer.id, id);
      if (journal_) journal_->gone(id);
      apply(effects_);
      if (peer.outstanding_jobs > 0) --peer.outstanding_jobs;
    }
  }
}

void Dispatcher::on_results(Peer& peer, protocol::WorkerResults& msg) {
  if (peer.role != Role::worker) {
    reply_error(peer.routing_id, errc::kState, "only a worker sends results", "RESULT");
    return;
  }
  for (std::size_t i = 0; i < msg.results.size(); ++i) {
    const auto& entry = msg.results[i];
    unsigned attempts = 0;
    std::optional<DeadLetter> letter;
    if (retried(peer, entry, attempts, letter)) continue;
    const bool timed_out = entry.err && entry.err->code == errc::kRunTimeout;
    const auto how = timed_out ? Completion::timed_out : Completion::result;
    if (!scheduler_.complete(entry.id, *peer.worker, entry.attempt, how, effects_)) {
      detail::log().info("worker {}: dropped result for job {} attempt {}: not its current attempt", peer.id,
                         entry.id, entry.attempt);
      ++counters_.stale_results_fenced;
      continue;
    }
    const ResultSource source{entry.id, &entry, &msg.payloads[i], attempts};
    apply(effects_, &source);
    if (letter) bury(std::move(*letter));
  }
}

void Dispatcher::on_reject(Peer& peer, const protocol::Reject& msg) {
  if (peer.role != Role::worker) {
    reply_error(peer.routing_id, errc::kState, "only a worker rejects jobs", "REJECT");
    return;
  }
  for (const auto& job : msg.jobs) {
    if (!scheduler_.reject(job.id, *peer.worker, job.attempt)) {
      detail::log().info("worker {}: dropped reject of job {} attempt {}: not its current attempt", peer.id, job.id,
                         job.attempt);
      ++counters_.stale_results_fenced;
      continue;
    }
    detail::log().info("worker {} rejects job {} attempt {}: back to the front of its queue", peer.id, job.id,
                       job.attempt);
  }
}

void Dispatcher::on_bye(Peer& peer) { drop_peer(peer.routing_id, DropReason::bye); }

void Dispatcher::drop_peer(const std::string& rid, DropReason reason) {
  Peer* peer = peers_.find(rid);
  if (peer == nullptr) return;
  detail::log().info("{} {} leaves: {}", to_string(peer->role), peer->id, to_string(reason));
  if (peer->worker) {
    const auto loss = reason == DropReason::heartbeat_expired ? WorkerLoss::died : WorkerLoss::left;
    scheduler_.remove_worker(*peer->worker, loss, effects_);
    apply(effects_);
  }
  const bool detach = detaches(*peer, reason);
  if (peer->client && detach) {
    detail::log().info("client {} ({}) is away: its jobs go on, their results are held for it", peer->id,
                       peer->identity);
  } else if (peer->client) {
    forget_client(*peer->client);
    counters_.jobs_finished[static_cast<std::size_t>(monitor::Outcome::aborted)] +=
        scheduler_.jobs_of(*peer->client).size();
    scheduler_.abort_client(*peer->client, effects_);
    apply(effects_);
  }
  std::vector<SysmsgDone> done;
  sysmsgs_.peer_left(peer->id, done);
  send_completions(done);
  outbox_.forget(rid);
  peers_.remove(rid, detach);
}

std::string Dispatcher::worker_id(WorkerSlot slot) {
  Peer* w = peers_.by_worker(slot);
  return w != nullptr ? w->id : std::string();
}

std::string Dispatcher::client_id(ClientSlot slot) {
  Peer* client = peers_.by_client(slot);
  return client != nullptr ? client->id : std::string();
}

JobInfo Dispatcher::info(const JobView& job) {
  return JobInfo{job.id, client_id(job.client), job.priority, job.key, job.service, job.attempt};
}

JobInfo Dispatcher::info(JobId job, const JobFacts& facts) {
  return JobInfo{job, client_id(facts.client), facts.priority, facts.key, facts.service, facts.attempt};
}

void Dispatcher::deliver(JobId job, const JobFacts& facts, ClientSlot client, std::optional<JobError> err,
                         zmq::message_t data, bool raw, unsigned attempts) {
  const auto outcome = monitor::outcome_of(err ? std::string_view(err->code) : std::string_view());
  counters_.finished(outcome);
  if (outcome != monitor::Outcome::ok) ++status_context_.failed_total;
  if (timing_runs_) {
    if (auto it = running_since_.find(job); it != running_since_.end()) {
      counters_.run_seconds.observe(std::chrono::duration<double>(now_ - it->second).count());
      running_since_.erase(it);
    }
  }
  if (client == requeue_slot_) {
    // A requeued dead letter: nobody waits for it (a failure that exhausts its retries
    // again is a dead letter again, see bury()).
    detail::log().info("requeued job {} ended: {}", job, err ? err->code + ": " + err->message : std::string("ok"));
    if (journal_) journal_->gone(job);
    return;
  }
  if (journal_ && !slot_identities_.contains(client)) {
    journal_->gone(job);  // an anonymous client cannot come back for it: sent once, forgotten
  } else if (journal_) {
    journal_finished(job, err, raw, data);
    zmq::message_t kept;
    kept.copy(data);  // by reference count
    held_.hold(job, HeldResult{client, err, raw, std::move(kept), now_, attempts});
  }
  Peer* peer = peers_.by_client(client);
  if (peer == nullptr) return;  // the client left (its jobs were aborted) or is away (held)
  if (peer->outstanding_jobs > 0) --peer->outstanding_jobs;
  peer->outstanding_bytes -= std::min(peer->outstanding_bytes, accounted_bytes(facts.payload_bytes));
  peer->last_sent = now_;
  auto& batch = outbox_.results_for(peer->routing_id);
  batch.results.push_back(protocol::ClientResult{job, std::move(err), raw, attempts});
  batch.payloads.push_back(std::move(data));
}

void Dispatcher::apply(Effects& effects, const ResultSource* result) {
  for (auto& effect : effects) {
    std::visit(
        Overloaded{
            [&](const Assigned& a) {
              const auto job = scheduler_.view(a.job);
              Peer* worker = peers_.by_worker(a.worker);
              if (!job || worker == nullptr) {
                detail::log().error("assignment of job {} to worker slot {} names nothing known", a.job, a.worker);
                return;
              }
              if (journal_) journal_->assigned(a.job, a.attempt);
              counters_.wait_seconds.observe(
                  std::chrono::duration<double>(now_ - accepted_.accepted_at(a.job, now_)).count());
              if (timing_runs_) running_since_[a.job] = now_;
              protocol::JobAssignment assignment;
              assignment.id = a.job;
              assignment.attempt = a.attempt;
              assignment.priority = job->priority;
              assignment.run_timeout_ms = job->cargo.run_timeout();
              assignment.key = job->key;
              assignment.service = job->service;
              assignment.raw = job->cargo.raw();
              if (Peer* client = peers_.by_client(job->client)) assignment.client = client->id;
              auto& batch = outbox_.jobs_for(worker->routing_id);
              batch.jobs.push_back(std::move(assignment));
              batch.payloads.push_back(job->cargo.payload.share());  // reference-counted for large payloads
              worker->last_sent = now_;
            },
            [&](const Finished& f) {
              const ResultSource* source = (result != nullptr && result->job == f.source) ? result : nullptr;
              zmq::message_t data;
              std::optional<JobError> err;
              bool raw = false;
              if (source != nullptr) {
                data.copy(*source->frame);
                err = source->entry->err;
                raw = source->entry->raw;
              } else {
                detail::log().error("job {} finished without a result source {}", f.job, f.source);
                err = JobError{std::string(errc::kInternal), "result lost in the manager"};
              }
              if (events_.finish) {
                zmq::message_t shared;
                shared.copy(data);  // by reference count: the same frame goes on to the client
                const Result outcome{err, protocol::from_frame(std::move(shared), raw)};
                events_.finish(info(f.job, f.facts), outcome);
              }
              const unsigned attempts = source != nullptr && f.job == f.source ? source->attempts : 0;
              deliver(f.job, f.facts, f.client, std::move(err), std::move(data), raw, attempts);
              ++finished_since_cleanup_;
              ++status_context_.finished_total;
            },
            [&](const Failed& f) {
              JobError err;
              if (f.reason == FailReason::assign_timeout) {
                err = {std::string(errc::kAssignTimeout), "no worker took the job within its assigntimeout"};
                if (events_.assigntimeout) events_.assigntimeout(info(f.job, f.facts));
              } else {
                const unsigned after = std::max(1U, options_.suspect_after);
                err = {std::string(errc::kPoison),
                       "poison: the job's worker died while running it alone, after " + std::to_string(after) +
                           (after == 1 ? " worker" : " workers") + " had died while running it"};
                detail::log().warn("job {} is poison (attempt {}): its worker died while running it alone; it fails "
                                   "with {}",
                                   f.job, f.facts.attempt, errc::kPoison);
              }
              if (events_.finish) events_.finish(info(f.job, f.facts), Result{err, {}});
              const unsigned attempts = f.cargo.retry ? f.cargo.retried() + 1 : 0;
              if (f.reason == FailReason::poison) bury(letter_of(f.job, f.facts, f.cargo, err, attempts));
              deliver(f.job, f.facts, f.client, std::move(err), zmq::message_t(), false, attempts);
              ++finished_since_cleanup_;
              ++status_context_.finished_total;
            },
            [&](const AbortOnWorker& a) {
              Peer* worker = peers_.by_worker(a.worker);
              if (worker == nullptr) return;
              outbox_.aborts_for(worker->routing_id).jobs.push_back({a.job, a.attempt});
              running_since_.erase(a.job);
              worker->last_sent = now_;
              if (events_.abort) events_.abort(info(a.job, a.facts), worker->id);
            },
            [&](const Reserved& r) {
              detail::log().info("job {} is suspect (its workers died while running it): worker {} takes no new job "
                                 "until it is idle, then runs it alone",
                                 r.job, worker_id(r.worker));
            },
            [&](const GaveUp& g) {
              detail::log().info("job {} lost its worker {}", g.job, worker_id(g.worker));
              running_since_.erase(g.job);  // it runs again, timed from its next assignment
              if (events_.giveup) events_.giveup(info(g.job, g.facts), worker_id(g.worker));
            },
        },
        effect);
  }
  effects.clear();
}

void Dispatcher::refresh_status_context() {
  status_context_.now = now_;
  status_context_.received_total = counters_.jobs_received;
  status_context_.accepted = &accepted_;
  // A running job may run again (its worker died): the samples it needs stay.
  accepted_.forget_before(scheduler_.oldest_job().value_or(next_job_id_));
  status_context_.held_results = held_.size();
  status_context_.subscriptions_refused = refused_subscriptions_.refused();
}

monitor::Snapshot Dispatcher::snapshot() {
  static const Peer kOperator{};  // STATUS as an admin sees it; the asker is not named in it
  refresh_status_context();
  fill_journal_figures();
  monitor::Snapshot out;
  out.status = StatusView(peers_, scheduler_, status_context_).document(kOperator, false, std::nullopt);
  out.counters = counters_;
  out.journal = journal_ != nullptr;
  return out;
}

void Dispatcher::fill_journal_figures() {
  if (!journal_) return;
  const auto stats = journal_->stats();
  status_context_.journal_figures = {journal_->id(),          options_.journal_sync,    stats.log.records_written,
                                     stats.log.commits,       stats.log.syncs,          stats.log.bytes_written,
                                     stats.log.bytes_on_disk, stats.live_jobs,          stats.log.compactions};
}

void Dispatcher::on_status(Peer& peer, const protocol::StatusRequest& request) {
  refresh_status_context();
  if (!request.mine) fill_journal_figures();
  const StatusView view(peers_, scheduler_, status_context_);
  send(peer, protocol::encode_status(request.mine, view.document(peer, request.mine, request.req)), now_);
}

void Dispatcher::after_batch(TimePoint now) {
  now_ = now;
  if (draining_) return;  // no new jobs: the running ones finish
  scheduler_.dispatch(now, effects_);
  apply(effects_);
}

void Dispatcher::on_tick(TimePoint now) {
  now_ = now;
  for (const auto& rid : peers_.silent_since(now, liveness_window_)) drop_peer(rid, DropReason::heartbeat_expired);
  peers_.for_each([&](Peer& peer) {
    if (now - peer.last_sent >= options_.heartbeat_interval) {
      peer.last_sent = now;
      outbox_.send(peer.routing_id, protocol::encode(protocol::Heartbeat{}));
    }
  });
  scheduler_.expire(now, effects_);
  apply(effects_);
  expire_dead_letters();
  std::vector<SysmsgDone> done;
  sysmsgs_.expire(now, done);
  send_completions(done);
  evict_held(now);
  if (journal_) journal_->sync_if_due(now);
  after_batch(now);
  maybe_cleanup(now, scheduler_.job_count() == 0);
}

void Dispatcher::maybe_cleanup(TimePoint now, bool idle) {
  const bool burst_done = options_.cleanup_reqs > 0 && finished_since_cleanup_ >= options_.cleanup_reqs && idle;
  const bool idle_long = idle && finished_since_cleanup_ > 0 && now - last_activity_ >= options_.cleanup_checkint;
  if (!burst_done && !idle_long) return;
  finished_since_cleanup_ = 0;
  scheduler_.compact();
  malloc_trim(0);
  detail::log().debug("cleanup: tables shrunk, memory returned");
  if (events_.cleanup) events_.cleanup();
}

TimePoint Dispatcher::next_wakeup(TimePoint now) const {
  // Heartbeats and liveness are checked at half the interval, which bounds how late a
  // heartbeat or an expiry can be.
  auto wake = now + std::max(options_.heartbeat_interval / 2, std::chrono::milliseconds(1));
  if (auto deadline = scheduler_.next_deadline()) wake = std::min(wake, *deadline);
  if (auto deadline = sysmsgs_.next_deadline()) wake = std::min(wake, *deadline);
  return wake;
}

void Dispatcher::on_shutdown() {
  peers_.for_each(
      [&](Peer& peer) { outbox_.send(peer.routing_id, protocol::encode(protocol::Bye{"shutdown"})); });
}

}  // namespace proletariat::broker
