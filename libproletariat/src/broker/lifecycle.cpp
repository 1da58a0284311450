// The dispatcher's side of the job lifecycle (SPEC 12, PROTOCOL §14): the lifecycle
// options of a push, retries and their backoff, dead letters (DEAD), progress
// (PROGRESS) and group limits (GROUPLIMITS). The scheduler keeps the timers and the
// group budgets (scheduler/lifecycle.cpp); this side decides what a worker's answer
// means and talks to peers and the journal.
#include <algorithm>
#include <cmath>

#include <proletariat/error.hpp>

#include "broker/dispatcher.hpp"
#include "journal/job_journal.hpp"
#include "log.hpp"

namespace proletariat::broker {
namespace {

// Whether a worker's error code is one the policy retries (PROTOCOL §14.1).
bool retries_code(const RetryPolicy& policy, std::string_view code) {
  for (const std::string_view never : protocol::spec::kNeverRetried) {
    if (code == never) return false;
  }
  if (policy.codes.empty()) {
    for (const std::string_view excluded : protocol::spec::kRetryDefaultExcludes) {
      if (code == excluded) return false;
    }
    return true;
  }
  return std::find(policy.codes.begin(), policy.codes.end(), code) != policy.codes.end();
}

}  // namespace

void Dispatcher::apply_lifecycle(JobSpec& spec, const protocol::Lifecycle& header, const RetryRef& header_retry,
                                 protocol::Lifecycle& entry, TimePoint now) {
  const protocol::Due& due = entry.due.set() ? entry.due : header.due;
  // Both bounded by the longest timeout, so that clock arithmetic cannot overflow.
  if (due.delay_ms) {
    spec.not_before = now + std::chrono::milliseconds(std::min(*due.delay_ms, protocol::kLongestTimeoutMs));
  } else if (due.at_ms) {
    const std::int64_t now_wall = wall_ms(now);
    const auto at = static_cast<std::int64_t>(*due.at_ms);
    if (at > now_wall) {
      spec.not_before =
          now + std::chrono::milliseconds(std::min<std::uint64_t>(static_cast<std::uint64_t>(at - now_wall),
                                                                  protocol::kLongestTimeoutMs));
    }
  }
  if (spec.not_before && spec.assign_deadline) {
    // assigntimeout counts from the moment the job queues (PROTOCOL §14.3).
    spec.assign_deadline = *spec.assign_deadline + (*spec.not_before - now);
  }
  if (entry.group) {
    spec.group = std::move(*entry.group);
  } else if (header.group) {
    spec.group = *header.group;
  }
  if (entry.retry) {
    spec.cargo.retry = RetryRef(*entry.retry);
  } else {
    spec.cargo.retry = header_retry;
  }
}

std::chrono::milliseconds Dispatcher::backoff(const RetryPolicy& policy, unsigned retry) {
  const double base = std::min(static_cast<double>(policy.max_delay.count()),
                               static_cast<double>(policy.initial.count()) * std::pow(policy.factor, retry - 1.0));
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  const double ms = base * (1.0 - policy.jitter * draw(rng_));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(std::max(0.0, ms))));
}

bool Dispatcher::retried(Peer& worker, const protocol::WorkerResult& entry, unsigned& attempts,
                         std::optional<DeadLetter>& letter) {
  const auto job = scheduler_.view(entry.id);
  if (!job || !job->cargo.retry || !job->running_on(*worker.worker, entry.attempt)) return false;
  const RetryPolicy& policy = *job->cargo.retry;
  const unsigned retried = job->cargo.retried();
  attempts = retried + 1;
  if (!entry.err || !retries_code(policy, entry.err->code)) return false;
  if (retried >= policy.max) {
    JobFacts facts{job->client, job->priority, job->key, job->service, job->attempt, job->cargo.payload.size(),
                   job->group};
    letter = letter_of(entry.id, facts, job->cargo, *entry.err, attempts);
    letter->raw = job->cargo.raw();
    return false;
  }
  const auto wait = backoff(policy, retried + 1);
  const TimePoint due = now_ + wait;
  const unsigned max = policy.max;
  job->cargo.count_retry();  // before retry(): the view is not valid after it
  if (!scheduler_.retry(entry.id, *worker.worker, entry.attempt, due)) return false;
  ++counters_.retries;
  running_since_.erase(entry.id);
  if (journal_) journal_->retrying(entry.id, retried + 1, wall_ms(due));
  detail::log().info("job {} attempt {} failed with {}: retry {} of {} in {} ms", entry.id, entry.attempt,
                     entry.err->code, retried + 1, max, wait.count());
  return true;
}

DeadLetter Dispatcher::letter_of(JobId job, const JobFacts& facts, const JobCargo& cargo, JobError err,
                                 unsigned attempts) {
  DeadLetter letter;
  letter.id = dead_letters_.next_id();
  letter.job = job;
  letter.client = client_id(facts.client);
  if (const auto it = slot_identities_.find(facts.client); it != slot_identities_.end()) letter.identity = it->second;
  letter.priority = facts.priority;
  letter.key = facts.key;
  letter.service = facts.service;
  letter.group = facts.group;
  letter.run_timeout_ms = cargo.run_timeout();
  if (cargo.retry) letter.retry = std::make_shared<const RetryPolicy>(*cargo.retry);
  letter.err = std::move(err);
  letter.attempts = std::max(1U, attempts);
  letter.since_wall_ms = wall_ms(now_);
  letter.raw = cargo.raw();
  letter.payload = cargo.payload.share();
  return letter;
}

namespace {

journal::DeadLetterRecord record_of(const DeadLetter& letter) {
  journal::DeadLetterRecord record;
  record.letter = letter.id;
  record.job = letter.job;
  record.client = letter.client;
  record.identity = letter.identity;
  record.priority = letter.priority;
  record.key = letter.key;
  record.service = letter.service;
  record.group = letter.group;
  record.run_timeout_ms = letter.run_timeout_ms;
  if (letter.retry) record.retry = *letter.retry;
  record.err = letter.err;
  record.attempts = letter.attempts;
  record.since_wall_ms = letter.since_wall_ms;
  record.raw = letter.raw;
  record.payload = {static_cast<const std::byte*>(letter.payload.data()), letter.payload.size()};
  return record;
}

}  // namespace

void Dispatcher::bury(DeadLetter letter) {
  detail::log().warn("job {} is a dead letter ({}): {}: {} after {} attempts", letter.job, letter.id, letter.err.code,
                     letter.err.message, letter.attempts);
  ++counters_.dead_letters;
  if (journal_) journal_->dead_letter(record_of(letter));
  for (const DeadLetter& dropped : dead_letters_.add(std::move(letter))) {
    detail::log().warn("dead letter {} (job {}) dropped: more than {} dead letters", dropped.id, dropped.job,
                       options_.max_dead_letters);
    if (journal_) journal_->dead_letter_gone(dropped.id);
  }
}

void Dispatcher::expire_dead_letters() {
  const auto next = dead_letters_.next_expiry();
  if (!next || *next > wall_ms(now_)) return;
  for (const DeadLetter& dropped : dead_letters_.expire(wall_ms(now_))) {
    detail::log().warn("dead letter {} (job {}) dropped: older than {} ms", dropped.id, dropped.job,
                       options_.dead_letter_max_age.count());
    if (journal_) journal_->dead_letter_gone(dropped.id);
  }
}

JobId Dispatcher::requeue(DeadLetter letter) {
  const JobId id = next_job_id_++;
  accepted_.accepted(id, now_);
  JobSpec spec;
  spec.id = id;
  spec.client = requeue_slot_;
  spec.priority = letter.priority;
  spec.key = std::move(letter.key);
  spec.service = std::move(letter.service);
  spec.group = std::move(letter.group);
  spec.cargo.payload = detail::OpaqueFrame(std::move(letter.payload));
  spec.cargo.set_run_timeout(letter.run_timeout_ms);
  spec.cargo.set_raw(letter.raw);
  if (letter.retry) spec.cargo.retry = RetryRef(*letter.retry);
  if (journal_) {
    Peer nobody;
    nobody.identity = std::string(kRequeueIdentity);
    journal_accepted(id, nobody, spec, now_);
    journal_->dead_letter_gone(letter.id);
  }
  ++counters_.jobs_received;
  detail::log().info("dead letter {} (job {}) requeued as job {}", letter.id, letter.job, id);
  scheduler_.submit(std::move(spec), now_, effects_);
  return id;
}

void Dispatcher::on_progress(Peer& peer, protocol::WorkerProgress& msg) {
  if (peer.role != Role::worker) {
    reply_error(peer.routing_id, errc::kState, "only a worker reports progress", "PROGRESS");
    return;
  }
  // One PROGRESS per client, sent before anything else of this round (so before any
  // RESULT of those jobs: the worker sent its progress first).
  std::unordered_map<ClientSlot, protocol::ClientProgress> out;
  for (std::size_t i = 0; i < msg.entries.size(); ++i) {
    const auto& entry = msg.entries[i];
    if (!scheduler_.is_current(entry.id, *peer.worker, entry.attempt)) {
      ++counters_.progress_dropped;
      continue;
    }
    const auto job = scheduler_.view(entry.id);
    auto& batch = out[job->client];
    batch.entries.push_back(protocol::ProgressEntry{entry.id, 0, entry.raw});
    batch.payloads.push_back(std::move(msg.payloads[i]));
  }
  for (auto& [slot, batch] : out) {
    Peer* client = peers_.by_client(slot);
    if (client == nullptr) {
      counters_.progress_dropped += batch.entries.size();  // away, or a requeued letter: progress is not kept
      continue;
    }
    counters_.progress_forwarded += batch.entries.size();
    send(*client, protocol::encode(std::move(batch)), now_);
  }
}

void Dispatcher::on_dead(Peer& peer, const protocol::DeadRequest& msg) {
  nlohmann::json header = {{"req", msg.req}};
  nlohmann::json letters = nlohmann::json::array();
  protocol::Frames payloads;
  switch (msg.op) {
    case protocol::DeadOp::list:
      header["op"] = "list";
      for (const DeadLetter* letter : dead_letters_.newest(msg.limit)) {
        letters.push_back(DeadLetters::describe(*letter));
        payloads.emplace_back();
      }
      break;
    case protocol::DeadOp::show:
      header["op"] = "show";
      for (const std::uint64_t id : msg.ids) {
        const DeadLetter* letter = dead_letters_.find(id);
        if (letter == nullptr || letters.size() >= protocol::spec::kMaxLettersListed) continue;
        letters.push_back(DeadLetters::describe(*letter));
        zmq::message_t payload;
        payload.copy(const_cast<zmq::message_t&>(letter->payload));  // by reference count
        payloads.push_back(std::move(payload));
      }
      break;
    case protocol::DeadOp::requeue: {
      header["op"] = "requeue";
      if (draining_) {
        reply_error(peer.routing_id, errc::kDraining, "the manager is stopping: it takes no new jobs", "DEAD", msg.req);
        return;
      }
      nlohmann::json requeued = nlohmann::json::array();
      for (DeadLetter& letter : msg.all ? dead_letters_.take_all() : dead_letters_.take(msg.ids)) {
        const std::uint64_t letter_id = letter.id;
        requeued.push_back({{"letter", letter_id}, {"job", requeue(std::move(letter))}});
      }
      header["requeued"] = std::move(requeued);
      detail::log().info("peer {} requeued {} dead letters", peer.id, header["requeued"].size());
      break;
    }
    case protocol::DeadOp::purge: {
      header["op"] = "purge";
      const auto purged = msg.all ? dead_letters_.take_all() : dead_letters_.take(msg.ids);
      if (journal_) {
        for (const DeadLetter& letter : purged) journal_->dead_letter_gone(letter.id);
      }
      header["purged"] = purged.size();
      detail::log().info("peer {} purged {} dead letters", peer.id, purged.size());
      break;
    }
  }
  header["total"] = dead_letters_.size();
  header["letters"] = std::move(letters);
  send(peer, protocol::encode(protocol::DeadLettersReply{std::move(header), std::move(payloads)}), now_);
  apply(effects_);
}

nlohmann::json Dispatcher::group_limits_json() const {
  nlohmann::json groups = nlohmann::json::array();
  for (const GroupStats& group : scheduler_.group_stats(protocol::spec::kMaxGroupsListed)) {
    groups.push_back(group_json(group));
  }
  return {{"defaults", limit_json(scheduler_.group_defaults())}, {"groups", std::move(groups)}};
}

void Dispatcher::on_group_limits(Peer& peer, const protocol::GroupLimitsRequest& msg) {
  if (msg.op == protocol::GroupLimitsOp::clear) {
    scheduler_.set_group_limits(msg.group, std::nullopt);
    detail::log().info("peer {}: group '{}' back to the default limits", peer.id, msg.group);
  } else if (msg.op == protocol::GroupLimitsOp::set) {
    // A limit the request leaves out keeps the group's value in force.
    GroupLimits limits = scheduler_.group_limits(msg.group);
    if (msg.max_running) limits.max_running = *msg.max_running;
    if (msg.rate) limits.rate = *msg.rate;
    scheduler_.set_group_limits(msg.group, limits);
    detail::log().info("peer {}: group '{}' limits: max running {}, rate {}", peer.id, msg.group,
                       limits.max_running ? std::to_string(*limits.max_running) : "none",
                       limits.rate ? std::to_string(*limits.rate) : "none");
  }
  nlohmann::json header = group_limits_json();
  header["req"] = msg.req;
  send(peer, protocol::encode(protocol::GroupLimitsReply{std::move(header)}), now_);
}

}  // namespace proletariat::broker
