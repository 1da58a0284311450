// Turning a STATUS document (PROTOCOL §8.2) into readable tables for proletariat-ctl.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace proletariat::ctl {

// The overview: totals, queues per priority, priority ranges, workers, clients and
// the waiting jobs with the reason they wait. `width` bounds the usage bars.
[[nodiscard]] std::string render_status(const nlohmann::json& status, int width = 30);
// One line per worker: id, name, state, slot usage bar, services.
[[nodiscard]] std::string render_workers(const nlohmann::json& status, int width = 30);
// A DEADLETTERS reply (PROTOCOL §14.2): one line per letter, then the totals.
[[nodiscard]] std::string render_dead_letters(const nlohmann::json& reply);
// A GROUPLIMITS reply (PROTOCOL §14.5): the defaults, then one line per group.
[[nodiscard]] std::string render_groups(const nlohmann::json& reply);
// A bar "[#####.....] 5/10" of `used` out of `total`.
[[nodiscard]] std::string usage_bar(std::uint64_t used, std::uint64_t total, int width);

}  // namespace proletariat::ctl
