// The STATUS and MYSTATUS documents (PROTOCOL §8.2): the operator's view of the
// manager, built on request from the scheduler and the peer registry.
#include <algorithm>
#include <queue>

#include "broker/dispatcher.hpp"

namespace proletariat::broker {
namespace {

// Waiting jobs explained per STATUS: enough to see a pattern, bounded so that a
// million queued jobs do not make a million-entry reply.
constexpr std::size_t kMaxExplainedJobs = 100;

std::string_view reason_name(WaitReason reason) {
  switch (reason) {
    case WaitReason::no_worker_for_service:
      return "no_worker_for_service";
    case WaitReason::no_free_slot:
      return "no_free_slot";
    case WaitReason::held_behind_key:
      return "held_behind_key";
    case WaitReason::throttled:
      return "throttled";
    case WaitReason::none:
      break;
  }
  return "none";
}

}  // namespace

std::int64_t Dispatcher::wall_ms(TimePoint t) const {
  return boot_wall_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(t - boot_).count();
}

nlohmann::json Dispatcher::peer_status(Peer& peer) {
  nlohmann::json out = {{"id", peer.id},
                        {"name", peer.name},
                        {"lang", peer.lang},
                        {"role", std::string(to_string(peer.role))},
                        {"connected", wall_ms(peer.connected_at)},
                        {"state", "ready"}};
  if (peer.role == Role::client) out["outstanding"] = peer.outstanding_jobs;
  if (peer.worker) {
    if (auto stats = scheduler_.worker_stats(*peer.worker)) {
      out["slots"] = stats->slots;
      out["running"] = stats->running;
      out["state"] = stats->running >= stats->slots ? "full" : "ready";
      out["services"] = stats->services;
      nlohmann::json ranges = nlohmann::json::array();
      for (const auto& pool : stats->pools) {
        ranges.push_back({{"start", pool.start}, {"slots", pool.slots}, {"used", pool.used}});
      }
      out["ranges"] = std::move(ranges);
    }
  }
  return out;
}

nlohmann::json Dispatcher::status_document() {
  const auto stats = scheduler_.stats();
  nlohmann::json by_priority = nlohmann::json::object();
  for (const auto& [priority, count] : stats.queued_by_priority) by_priority[protocol::priority_text(priority)] = count;
  nlohmann::json ranges = nlohmann::json::array();
  for (const auto& r : stats.ranges) {
    ranges.push_back({{"start", r.start}, {"limit", r.limit}, {"used", r.used}, {"workers", r.workers}});
  }
  nlohmann::json workers = nlohmann::json::array();
  nlohmann::json clients = nlohmann::json::array();
  peers_.for_each([&](Peer& peer) {
    if (peer.role == Role::worker) workers.push_back(peer_status(peer));
    if (peer.role == Role::client) clients.push_back(peer_status(peer));
  });

  // The oldest waiting jobs (ids grow with time), found in one pass with a bounded heap.
  std::priority_queue<JobId> oldest;
  for (const auto& [id, record] : jobs_) {
    const auto state = scheduler_.state_of(id);
    if (state != JobState::queued && state != JobState::held) continue;
    if (oldest.size() < kMaxExplainedJobs) {
      oldest.push(id);
    } else if (id < oldest.top()) {
      oldest.pop();
      oldest.push(id);
    }
  }
  std::vector<JobId> ids;
  while (!oldest.empty()) {
    ids.push_back(oldest.top());
    oldest.pop();
  }
  std::reverse(ids.begin(), ids.end());
  nlohmann::json waiting = nlohmann::json::array();
  for (const JobId id : ids) {
    const auto& record = jobs_.at(id);
    nlohmann::json entry = {{"id", id},
                            {"priority", record.priority},
                            {"reason", std::string(reason_name(scheduler_.why_waiting(id)))}};
    if (!record.service.empty()) entry["service"] = record.service;
    if (!record.key.empty()) entry["key"] = record.key;
    waiting.push_back(std::move(entry));
  }

  return {{"boot", boot_wall_ms_},
          {"now", wall_ms(now_)},
          {"sacred", options_.sacred_guarantees},
          {"holdSimilarWork", options_.hold_similar_work},
          {"queued", stats.queued},
          {"queuedByPriority", std::move(by_priority)},
          {"held", stats.held},
          {"running", stats.running},
          {"freeSlots", stats.free_slots},
          {"totalSlots", stats.total_slots},
          {"finished", finished_total_},
          {"throttled", stats.throttled},
          {"ranges", std::move(ranges)},
          {"workers", std::move(workers)},
          {"clients", std::move(clients)},
          {"waiting", std::move(waiting)}};
}

void Dispatcher::on_status(Peer& peer, const protocol::StatusRequest& request) {
  nlohmann::json doc = request.mine ? peer_status(peer) : status_document();
  if (request.req) doc["req"] = *request.req;
  send(peer, protocol::encode(protocol::StatusReply{std::move(doc), request.mine}), now_);
}

}  // namespace proletariat::broker
