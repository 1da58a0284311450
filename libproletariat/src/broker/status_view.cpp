#include "broker/status_view.hpp"

#include "protocol/json_text.hpp"
#include "protocol/spec.hpp"
#include "protocol/wire.hpp"

namespace proletariat::broker {
namespace {

// Waiting jobs explained per STATUS: enough to see a pattern, bounded so that a
// million queued jobs do not make a million-entry reply.
constexpr std::size_t kMaxExplainedJobs = protocol::spec::kMaxWaitingListed;

std::string_view reason_name(WaitReason reason) {
  switch (reason) {
    case WaitReason::no_worker:
      return "no_worker";
    case WaitReason::no_worker_for_service:
      return "no_worker_for_service";
    case WaitReason::no_free_slot:
      return "no_free_slot";
    case WaitReason::held_behind_key:
      return "held_behind_key";
    case WaitReason::throttled:
      return "throttled";
    case WaitReason::needs_idle_worker:
      return "needs_idle_worker";
    case WaitReason::delayed:
      return "delayed";
    case WaitReason::retry_backoff:
      return "retry_backoff";
    case WaitReason::group_running_limit:
      return "group_running_limit";
    case WaitReason::group_rate_limit:
      return "group_rate_limit";
    case WaitReason::none:
      break;
  }
  return "none";
}

}  // namespace

std::int64_t StatusView::wall_ms(TimePoint t) const {
  return context_.boot_wall_ms + std::chrono::duration_cast<std::chrono::milliseconds>(t - context_.boot).count();
}

namespace {

using namespace protocol::json_text;

void append_int(std::string& out, std::int64_t value) {
  if (value < 0) {
    out += '-';
    append_uint(out, static_cast<std::uint64_t>(-(value + 1)) + 1);
  } else {
    append_uint(out, static_cast<std::uint64_t>(value));
  }
}

void append_bool(std::string& out, bool value) { out += value ? "true" : "false"; }

}  // namespace

nlohmann::json limit_json(const GroupLimits& limits) {
  return {{"maxRunning", limits.max_running ? nlohmann::json(*limits.max_running) : nlohmann::json(nullptr)},
          {"rate", limits.rate ? nlohmann::json(*limits.rate) : nlohmann::json(nullptr)}};
}

nlohmann::json group_json(const GroupStats& group) {
  nlohmann::json out = limit_json(group.limits);
  out["group"] = group.name;
  out["running"] = group.running;
  out["waiting"] = group.waiting;
  out["started"] = group.started;
  out["custom"] = group.custom;
  return out;
}

void StatusView::append_lifecycle_fields(std::string& out, const SchedulerStats& stats) const {
  append_field(out, "delayed");
  append_uint(out, stats.delayed);
  append_field(out, "retrying");
  append_uint(out, stats.retrying);
  append_field(out, "retried");
  append_uint(out, stats.retried);
  append_field(out, "groupLimited");
  append_uint(out, stats.parked);
  const auto due = scheduler_.due_soonest(kMaxExplainedJobs);
  if (!due.empty()) {
    append_field(out, "nextDue");
    append_int(out, wall_ms(due.front().due));
  }
  append_field(out, "due");
  append_list(out, due, [&](const DueJob& d) {
    const auto job = scheduler_.view(d.id);
    out += "{\"id\":";
    append_uint(out, d.id);
    append_field(out, "due");
    append_int(out, wall_ms(d.due));
    append_field(out, "reason");
    append_string(out, d.retrying ? "retry_backoff" : "delayed");
    append_field(out, "attempts");
    append_uint(out, job && job->cargo.retry ? job->cargo.retried() : 0);
    append_field(out, "priority");
    append_number(out, job ? job->priority : 0);
    append_field(out, "service");
    append_string(out, job ? job->service : std::string());
    if (job && !job->group.empty()) {
      append_field(out, "group");
      append_string(out, job->group);
    }
    out += '}';
  });
  if (context_.dead_letters != nullptr) {
    append_field(out, "dead");
    append_uint(out, context_.dead_letters->size());
    append_field(out, "deadLetters");
    nlohmann::json letters = nlohmann::json::array();
    for (const DeadLetter* letter : context_.dead_letters->newest(kMaxExplainedJobs)) {
      letters.push_back(DeadLetters::describe(*letter));
    }
    out += letters.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  append_field(out, "groups");
  nlohmann::json groups = nlohmann::json::array();
  for (const GroupStats& group : scheduler_.group_stats(kMaxExplainedJobs)) groups.push_back(group_json(group));
  out += groups.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void StatusView::append_peer_fields(std::string& out, const Peer& peer) const {
  out += "\"id\":";
  append_string(out, peer.id);
  append_field(out, "name");
  append_string(out, peer.name);
  append_field(out, "lang");
  append_string(out, peer.lang);
  if (!peer.key.empty()) {
    append_field(out, "key");
    append_string(out, peer.key);
  }
  append_field(out, "role");
  append_string(out, to_string(peer.role));
  append_field(out, "connected");
  append_int(out, wall_ms(peer.connected_at));
  std::string_view state = "ready";
  if (peer.role == Role::client) {
    append_field(out, "outstanding");
    append_uint(out, peer.outstanding_jobs);
  }
  if (peer.worker) {
    if (auto stats = scheduler_.worker_stats(*peer.worker)) {
      append_field(out, "slots");
      append_uint(out, stats->slots);
      append_field(out, "running");
      append_uint(out, stats->running);
      if (stats->reserved) {
        state = "reserved";
      } else if (stats->running >= stats->slots) {
        state = "full";
      }
      append_field(out, "services");
      append_list(out, stats->services, [&](const std::string& service) { append_string(out, service); });
      append_field(out, "ranges");
      append_list(out, stats->pools, [&](const PoolUsage& pool) {
        out += "{\"start\":";
        append_number(out, pool.start);
        append_field(out, "slots");
        append_uint(out, pool.slots);
        append_field(out, "used");
        append_uint(out, pool.used);
        out += '}';
      });
    }
  }
  append_field(out, "state");
  append_string(out, state);
}

void StatusView::append_manager_fields(std::string& out) const {
  const auto stats = scheduler_.stats();
  out += "\"boot\":";
  append_int(out, context_.boot_wall_ms);
  append_field(out, "now");
  append_int(out, wall_ms(context_.now));
  append_field(out, "sacred");
  append_bool(out, context_.sacred_guarantees);
  append_field(out, "holdSimilarWork");
  append_bool(out, context_.hold_similar_work);
  append_field(out, "queued");
  append_uint(out, stats.queued);
  append_field(out, "queuedByPriority");
  out += '{';
  bool first = true;
  for (const auto& [priority, count] : stats.queued_by_priority) {
    if (!first) out += ',';
    first = false;
    append_string(out, protocol::priority_text(priority));
    out += ':';
    append_uint(out, count);
  }
  out += '}';
  append_field(out, "queues");
  append_list(out, stats.queues, [&](const QueueDepth& q) {
    out += "{\"priority\":";
    append_number(out, q.priority);
    append_field(out, "service");
    append_string(out, q.service);
    append_field(out, "queued");
    append_uint(out, q.queued);
    out += '}';
  });
  append_field(out, "held");
  append_uint(out, stats.held);
  append_field(out, "running");
  append_uint(out, stats.running);
  append_field(out, "freeSlots");
  append_uint(out, stats.free_slots);
  append_field(out, "totalSlots");
  append_uint(out, stats.total_slots);
  append_field(out, "received");
  append_uint(out, context_.received_total);
  append_field(out, "finished");
  append_uint(out, context_.finished_total);
  append_field(out, "failed");
  append_uint(out, context_.failed_total);
  append_field(out, "throttled");
  append_bool(out, stats.throttled);
  append_field(out, "suspects");
  append_uint(out, stats.suspects);
  append_field(out, "poisoned");
  append_uint(out, stats.poisoned);
  append_field(out, "subscriptionsRefused");
  append_uint(out, context_.subscriptions_refused);
  append_lifecycle_fields(out, stats);
  if (context_.journal) {
    append_field(out, "heldResults");
    append_uint(out, context_.held_results);
    const auto& j = context_.journal_figures;
    append_field(out, "journal");
    out += "{\"id\":";
    append_string(out, j.id);
    append_field(out, "sync");
    append_string(out, j.sync);
    append_field(out, "records");
    append_uint(out, j.records);
    append_field(out, "commits");
    append_uint(out, j.commits);
    append_field(out, "syncs");
    append_uint(out, j.syncs);
    append_field(out, "bytesWritten");
    append_uint(out, j.bytes_written);
    append_field(out, "bytesOnDisk");
    append_uint(out, j.bytes_on_disk);
    append_field(out, "liveJobs");
    append_uint(out, j.live_jobs);
    append_field(out, "compactions");
    append_uint(out, j.compactions);
    out += '}';
  }
  if (context_.draining) {
    append_field(out, "draining");
    append_bool(out, true);
  }
  append_field(out, "ranges");
  append_list(out, stats.ranges, [&](const PriorityRangeStats& r) {
    out += "{\"start\":";
    append_number(out, r.start);
    append_field(out, "limit");
    append_uint(out, r.limit);
    append_field(out, "used");
    append_uint(out, r.used);
    append_field(out, "workers");
    append_uint(out, r.workers);
    out += '}';
  });

  // Workers and clients, each as an object of the peer's fields.
  std::string clients = "[";
  append_field(out, "workers");
  out += '[';
  bool first_worker = true;
  peers_.for_each([&](const Peer& peer) {
    if (peer.role == Role::worker) {
      if (!first_worker) out += ',';
      first_worker = false;
      out += '{';
      append_peer_fields(out, peer);
      out += '}';
    } else if (peer.role == Role::client) {
      if (clients.size() > 1) clients += ',';
      clients += '{';
      append_peer_fields(clients, peer);
      clients += '}';
    }
  });
  out += ']';
  clients += ']';
  append_field(out, "clients");
  out += clients;

  // The oldest waiting jobs (ids grow with time).
  const std::vector<JobId> ids = scheduler_.oldest_waiting(kMaxExplainedJobs);
  const auto accepted_wall_ms = [&](JobId id) { return wall_ms(context_.accepted->accepted_at(id, context_.boot)); };
  if (!ids.empty() && context_.accepted != nullptr) {
    append_field(out, "oldestWaiting");
    append_int(out, accepted_wall_ms(ids.front()));
  }
  append_field(out, "waiting");
  append_list(out, ids, [&](JobId id) {
    const auto job = scheduler_.view(id);
    out += "{\"id\":";
    append_uint(out, id);
    append_field(out, "priority");
    append_number(out, job->priority);
    append_field(out, "reason");
    append_string(out, reason_name(scheduler_.why_waiting(id)));
    if (context_.accepted != nullptr) {
      append_field(out, "since");
      append_int(out, accepted_wall_ms(id));
    }
    if (!job->service.empty()) {
      append_field(out, "service");
      append_string(out, job->service);
    }
    if (!job->key.empty()) {
      append_field(out, "key");
      append_string(out, job->key);
    }
    if (!job->group.empty()) {
      append_field(out, "group");
      append_string(out, job->group);
    }
    out += '}';
  });
}

std::string StatusView::document(const Peer& asker, bool mine, std::optional<std::uint64_t> req) const {
  std::string text = "{";
  if (req) {
    text += "\"req\":";
    append_uint(text, *req);
    text += ',';
  }
  if (mine) {
    append_peer_fields(text, asker);
  } else {
    append_manager_fields(text);
  }
  text += '}';
  return text;
}

}  // namespace proletariat::broker
