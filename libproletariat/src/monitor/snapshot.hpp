// What the loop thread hands the HTTP thread: a copy of everything the endpoints show,
// taken between two passes of the loop, so that no HTTP client ever reads the
// manager's state (or makes the loop wait) while it changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "monitor/counters.hpp"

namespace proletariat::monitor {

struct Snapshot {
  std::uint64_t sequence = 0;  // grows by one a snapshot
  std::chrono::steady_clock::time_point taken{};  // when it was handed over
  std::string status;          // the STATUS document (PROTOCOL §8.2), JSON text
  Counters counters;
  bool journal = false;  // the status has a "journal" object
};

}  // namespace proletariat::monitor
