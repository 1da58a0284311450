// The outbox: every message the manager will send at the end of a loop iteration.
//
// Jobs, aborts and results are gathered per peer over one iteration and leave as one
// message each, so a burst costs one message per peer rather than one per job. Pure
// state: the event loop takes the messages and sends them.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/sysmsg.hpp"
#include "protocol/codec.hpp"

namespace proletariat::broker {

// Messages waiting to be sent. Jobs, aborts and results are gathered per peer over
// one loop iteration and leave as one message each, so a burst costs one message per
// peer rather than one per job.
class Outbox {
 public:
  struct Message {
    std::string routing_id;
    protocol::Frames frames;
  };

  void send(const std::string& routing_id, protocol::Frames frames);
  protocol::Jobs& jobs_for(const std::string& routing_id) { return batch_for(jobs_, jobs_dirty_, routing_id); }
  // ABORT of an attempt. If this round's JOBS for the same worker carry that attempt
  // (assigned and aborted in one round), take() drops both instead.
  protocol::WorkerAbort& aborts_for(const std::string& routing_id) {
    return batch_for(aborts_, aborts_dirty_, routing_id);
  }
  protocol::ClientResults& results_for(const std::string& routing_id) {
    return batch_for(results_, results_dirty_, routing_id);
  }
  // System messages for the XPUB socket.
  void publish(Publication publication) { publications_.push_back(std::move(publication)); }
  [[nodiscard]] std::vector<Publication> take_publications() {
    std::vector<Publication> out;
    out.swap(publications_);
    return out;
  }
  // Drops everything queued for a peer that is gone.
  void forget(const std::string& routing_id);

  // Everything queued, in an order that keeps the protocol's promises: immediate
  // messages (ACCEPTED before any RESULT of its jobs), then ABORT before JOBS for the
  // same worker (a worker whose aborted job's slot went to a queued job in the same
  // round frees the slot before the new job arrives, so it never holds more than its
  // offer: issue 10, defect 6), then results.
  [[nodiscard]] std::vector<Message> take();
  // Only the ABORT and JOBS batches of workers that have no other message this round,
  // taken before take(): with a journal they leave before the commit that ACCEPTED waits
  // for, so a worker runs a job while its record is synced (a job sent before it is
  // durable can only run twice, pushed again by a client that never got ACCEPTED).
  // Workers with another message (OFFERED, ...) keep their order: theirs leave in take().
  [[nodiscard]] std::vector<Message> take_worker_batches();

 private:
  // Per-peer batches stay in their maps between rounds (emptied, capacity kept), so a
  // busy peer costs no allocation per round; the dirty lists name the ones filled in
  // this round, so that take() costs what was sent, not the number of peers (with
  // 10,000 workers, walking every map was 40% of the manager's loop).
  template <typename Batch>
  using Batches = std::unordered_map<std::string, Batch>;
  template <typename Batch>
  using Dirty = std::vector<typename Batches<Batch>::value_type*>;

  template <typename Batch>
  static Batch& batch_for(Batches<Batch>& batches, Dirty<Batch>& dirty, const std::string& routing_id) {
    auto& entry = *batches.try_emplace(routing_id).first;
    if (is_empty(entry.second)) dirty.push_back(&entry);  // a duplicate is skipped by take()
    return entry.second;
  }
  static bool is_empty(const protocol::Jobs& b) { return b.jobs.empty(); }
  static bool is_empty(const protocol::WorkerAbort& b) { return b.jobs.empty(); }
  static bool is_empty(const protocol::ClientResults& b) { return b.results.empty(); }
  // Removes from `jobs` every attempt that `aborts` names, and those from `aborts`.
  static void cancel_aborted(protocol::Jobs& jobs, protocol::WorkerAbort& aborts);
  // ABORT then JOBS of the dirty batches into `out`, but for the routing ids `keep`
  // names, which stay dirty for a later call.
  void take_batches(std::vector<Message>& out, const std::unordered_set<std::string_view>* keep);

  std::vector<Message> messages_;
  Batches<protocol::Jobs> jobs_;
  Batches<protocol::WorkerAbort> aborts_;
  Batches<protocol::ClientResults> results_;
  Dirty<protocol::Jobs> jobs_dirty_;
  Dirty<protocol::WorkerAbort> aborts_dirty_;
  Dirty<protocol::ClientResults> results_dirty_;
  std::vector<Publication> publications_;
};

}  // namespace proletariat::broker
