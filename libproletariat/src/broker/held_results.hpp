// Results the manager keeps until their client says RECEIVED (with a journal,
// PROTOCOL §12): sent ones wait for the acknowledgement, those of a client that is
// away wait for it to re-attach. Bounded by count and age: past either, the oldest
// are given up (the caller logs and journals that).
//
// Pure state: no sockets, no clock reads.
#pragma once

#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include <proletariat/job.hpp>

#include "scheduler/scheduler.hpp"

namespace proletariat::broker {

struct HeldResult {
  ClientSlot client = 0;
  std::optional<JobError> err;
  bool raw = false;
  zmq::message_t data;
  TimePoint finished{};
  // Attempts a worker answered (PROTOCOL §14.1), sent again with the result; 0 when the
  // push asked for no retries.
  unsigned attempts = 0;
};

class HeldResults {
 public:
  void hold(JobId job, HeldResult result) {
    order_.push_back({job, result.finished});
    held_.insert_or_assign(job, std::move(result));
  }
  // The client has it: forgotten. False if it was not held.
  bool release(JobId job) { return held_.erase(job) > 0; }
  [[nodiscard]] HeldResult* find(JobId job) {
    auto it = held_.find(job);
    return it == held_.end() ? nullptr : &it->second;
  }
  // Ids of the results held for a client, oldest first.
  [[nodiscard]] std::vector<JobId> of_client(ClientSlot client) const {
    std::vector<JobId> out;
    for (const auto& [job, at] : order_) {
      auto it = held_.find(job);
      if (it != held_.end() && it->second.client == client && it->second.finished == at) out.push_back(job);
    }
    return out;
  }
  struct Evicted {
    JobId job;
    ClientSlot client;
  };
  // Gives up the oldest results beyond `max_count` or finished before `oldest`.
  [[nodiscard]] std::vector<Evicted> evict(std::size_t max_count, TimePoint oldest) {
    std::vector<Evicted> out;
    while (!order_.empty()) {
      const auto [job, at] = order_.front();
      auto it = held_.find(job);
      if (it == held_.end() || it->second.finished != at) {
        order_.pop_front();  // released, or held again since
        continue;
      }
      if (held_.size() <= max_count && at >= oldest) break;
      out.push_back({job, it->second.client});
      held_.erase(it);
      order_.pop_front();
    }
    return out;
  }
  [[nodiscard]] std::size_t size() const noexcept { return held_.size(); }

 private:
  struct Entry {
    JobId job;
    TimePoint finished;
  };
  std::unordered_map<JobId, HeldResult> held_;
  std::deque<Entry> order_;  // hold order, with stale entries skipped lazily
};

}  // namespace proletariat::broker
