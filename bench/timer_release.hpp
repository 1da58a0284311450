// The scheduler's timers alone (PROTOCOL §14.3): what a delayed job costs and how fast
// many come due at once, measured in this process without sockets (docs/BENCHMARKS.md).
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

namespace proletariat::bench {

// `total` delayed jobs, `due` of them at one moment and the rest an hour later:
// heap bytes per delayed job (malloc's count, the scheduler's records and timer heap
// together), and the time of the dispatch() that releases the `due` ones, into
// queues with no worker and, in a second scheduler, onto workers with a slot for each.
[[nodiscard]] nlohmann::ordered_json scheduler_release_figures(std::size_t total, std::size_t due);

}  // namespace proletariat::bench
