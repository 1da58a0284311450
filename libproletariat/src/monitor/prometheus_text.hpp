// The metrics of docs/OPERATIONS.md in the Prometheus text exposition format
// (version 0.0.4), from a snapshot: counters and histograms as the dispatcher kept
// them, gauges read from its STATUS document. No job ids in labels: the labels are
// outcomes, error codes, priorities, services and ranges, all bounded by the
// deployment, not by the traffic.
#pragma once

#include <string>

#include "monitor/snapshot.hpp"

namespace proletariat::monitor {

// Throws nlohmann::json::exception if the snapshot's status is not JSON.
[[nodiscard]] std::string prometheus_text(const Snapshot& snapshot);

}  // namespace proletariat::monitor
