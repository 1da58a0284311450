// proletariat-bench --journal, the start-up half: how long the daemon takes to start
// on a journal holding many queued jobs, and on one that has seen many finished jobs
// (issue 11: recovery of 1,000,000 queued jobs; start after 10,000,000 finished).
// The journals are written in this process with the manager's own journal code
// (journal::JobJournal), record for record what a manager would have written.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace proletariat::bench {

struct RecoveryRun {
  std::string daemon;
  std::string dir;       // an empty directory to write the journal in
  std::string log_path;  // the daemon's log
  std::size_t jobs = 0;
  std::size_t bytes = 20;
};

// Writes `jobs` accepted jobs (payload of `bytes`) and starts the daemon on them:
// seconds to write, seconds until the daemon listens, and the queued count it reports.
[[nodiscard]] nlohmann::ordered_json measure_recovery_of_queued(const RecoveryRun& run);
// The floor a journal commit cannot beat on this disk: 4 KiB appended and fdatasync'ed,
// `count` times, in `dir` (the same filesystem as the journals).
[[nodiscard]] nlohmann::ordered_json measure_fdatasync_floor(const std::string& dir, std::size_t count);
// Writes `jobs` jobs accepted, finished and received, then starts the daemon.
[[nodiscard]] nlohmann::ordered_json measure_start_after_finished(const RecoveryRun& run);

}  // namespace proletariat::bench
