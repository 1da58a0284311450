// StatusView: the STATUS and MYSTATUS documents (PROTOCOL §8.2), the operator's view
// of the manager, read from the peer registry and the scheduler.
//
// Read-only by construction: it holds const references and changes nothing, so
// asking for status can never alter what it reports. The dispatcher makes one per
// request (it is two references and a few numbers) and sends the text it returns.
#pragma once

#include <cstdint>
#include <string>

#include "broker/dead_letters.hpp"
#include "broker/peers.hpp"
#include "monitor/acceptance_clock.hpp"
#include "scheduler/scheduler.hpp"

namespace proletariat::broker {

// What the documents report that neither the peers nor the scheduler hold.
struct StatusContext {
  bool sacred_guarantees = false;
  bool hold_similar_work = false;
  // The manager's start, as ms since the Unix epoch and as the steady clock at the
  // same moment: wall-clock times without reading a clock.
  std::int64_t boot_wall_ms = 0;
  TimePoint boot{};
  TimePoint now{};
  std::uint64_t finished_total = 0;  // results and failures delivered since the start
  std::uint64_t received_total = 0;  // jobs accepted since the start
  std::uint64_t failed_total = 0;    // jobs ended with an error since the start
  // When each waiting job was accepted; null: not reported.
  const monitor::AcceptanceClock* accepted = nullptr;
  std::uint64_t subscriptions_refused = 0;  // XPUB subscriptions not granted (PROTOCOL §8.1)
  const DeadLetters* dead_letters = nullptr;  // PROTOCOL §14.2
  // With a journal (PROTOCOL §12): results kept until their client has them, and
  // whether the manager is draining.
  bool journal = false;
  std::uint64_t held_results = 0;
  bool draining = false;
  // The journal's counters, for operators and the benchmark (PROTOCOL §8.2).
  struct JournalFigures {
    std::string id;
    std::string sync;
    std::uint64_t records = 0;
    std::uint64_t commits = 0;
    std::uint64_t syncs = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t bytes_on_disk = 0;
    std::uint64_t live_jobs = 0;
    std::uint64_t compactions = 0;
  } journal_figures;
};

// A group as GROUPLIMITS and STATUS list it (PROTOCOL §14.5).
[[nodiscard]] nlohmann::json group_json(const GroupStats& group);
[[nodiscard]] nlohmann::json limit_json(const GroupLimits& limits);

class StatusView {
 public:
  StatusView(const Peers& peers, const Scheduler& scheduler, const StatusContext& context) noexcept
      : peers_(peers), scheduler_(scheduler), context_(context) {}

  // The whole document as JSON text: STATUS (every peer, queues, ranges, the oldest
  // waiting jobs and why) or, with `mine`, MYSTATUS (the asking peer only). `req`,
  // when given, is echoed first. Written directly rather than through a DOM: with
  // thousands of workers a DOM is the main cost of a status request.
  [[nodiscard]] std::string document(const Peer& asker, bool mine, std::optional<std::uint64_t> req) const;

 private:
  void append_manager_fields(std::string& out) const;
  void append_peer_fields(std::string& out, const Peer& peer) const;
  void append_lifecycle_fields(std::string& out, const SchedulerStats& stats) const;
  [[nodiscard]] std::int64_t wall_ms(TimePoint t) const;

  const Peers& peers_;
  const Scheduler& scheduler_;
  const StatusContext& context_;
};

}  // namespace proletariat::broker
