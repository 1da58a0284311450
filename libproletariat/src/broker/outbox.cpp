#include "broker/outbox.hpp"

#include <algorithm>

namespace proletariat::broker {

void Outbox::send(const std::string& routing_id, protocol::Frames frames) {
  messages_.push_back(Message{routing_id, std::move(frames)});
}

void Outbox::forget(const std::string& routing_id) {
  const auto named = [&](const auto* entry) { return entry->first == routing_id; };
  std::erase_if(jobs_dirty_, named);
  std::erase_if(aborts_dirty_, named);
  std::erase_if(results_dirty_, named);
  jobs_.erase(routing_id);
  aborts_.erase(routing_id);
  results_.erase(routing_id);
  std::erase_if(messages_, [&](const Message& m) { return m.routing_id == routing_id; });
}

void Outbox::cancel_aborted(protocol::Jobs& jobs, protocol::WorkerAbort& aborts) {
  // id -> attempt of every abort; an attempt in both lists leaves both.
  std::unordered_map<std::uint64_t, unsigned> aborted;
  aborted.reserve(aborts.jobs.size());
  for (const auto& a : aborts.jobs) aborted.emplace(a.id, a.attempt);
  std::size_t kept = 0;
  std::size_t cancelled = 0;
  for (std::size_t i = 0; i < jobs.jobs.size(); ++i) {
    const auto hit = aborted.find(jobs.jobs[i].id);
    if (hit != aborted.end() && hit->second == jobs.jobs[i].attempt) {
      hit->second = 0;  // attempts start at 1: 0 marks "cancelled, send no ABORT"
      ++cancelled;
      continue;
    }
    if (kept != i) {
      jobs.jobs[kept] = std::move(jobs.jobs[i]);
      jobs.payloads[kept] = std::move(jobs.payloads[i]);
    }
    ++kept;
  }
  if (cancelled == 0) return;
  jobs.jobs.resize(kept);
  jobs.payloads.resize(kept);
  std::erase_if(aborts.jobs, [&](const protocol::JobAttempt& a) { return aborted[a.id] == 0; });
}

void Outbox::take_batches(std::vector<Message>& out, const std::unordered_set<std::string_view>* keep) {
  const auto kept = [&](const std::string& rid) { return keep != nullptr && keep->contains(rid); };
  Dirty<protocol::WorkerAbort> aborts_left;
  Dirty<protocol::Jobs> jobs_left;
  for (auto* entry : aborts_dirty_) {
    auto& [rid, aborts] = *entry;
    if (aborts.jobs.empty()) continue;
    if (kept(rid)) {
      aborts_left.push_back(entry);
      continue;
    }
    // Rare (an abort in the round of the assignment), so the lookup is only paid then.
    if (const auto jobs = jobs_.find(rid); jobs != jobs_.end() && !jobs->second.jobs.empty()) {
      cancel_aborted(jobs->second, aborts);
      if (aborts.jobs.empty()) continue;
    }
    out.push_back(Message{rid, protocol::encode(aborts)});
    aborts.jobs.clear();
  }
  for (auto* entry : jobs_dirty_) {
    auto& [rid, jobs] = *entry;
    if (jobs.jobs.empty()) continue;
    if (kept(rid)) {
      jobs_left.push_back(entry);
      continue;
    }
    out.push_back(Message{rid, protocol::encode(std::move(jobs))});
    jobs.jobs.clear();
    jobs.payloads.clear();
  }
  aborts_dirty_.swap(aborts_left);
  jobs_dirty_.swap(jobs_left);
}

std::vector<Outbox::Message> Outbox::take_worker_batches() {
  // Every heartbeat is a message too: with thousands of peers this set is large, so a
  // lookup, not a scan, per batch.
  std::unordered_set<std::string_view> busy;
  busy.reserve(messages_.size());
  for (const auto& m : messages_) busy.insert(m.routing_id);
  std::vector<Message> out;
  take_batches(out, &busy);
  return out;
}

std::vector<Outbox::Message> Outbox::take() {
  std::vector<Message> out;
  out.swap(messages_);
  take_batches(out, nullptr);
  for (auto* entry : results_dirty_) {
    auto& [rid, results] = *entry;
    if (results.results.empty()) continue;
    out.push_back(Message{rid, protocol::encode(std::move(results))});
    results.results.clear();
    results.payloads.clear();
  }
  results_dirty_.clear();
  return out;
}

}  // namespace proletariat::broker
