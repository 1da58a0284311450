// The library's one logger. Everything proletariat logs goes through it, so a host
// program can redirect or silence it (spdlog::get("proletariat")).
#pragma once

#include <memory>

#include <spdlog/spdlog.h>

namespace proletariat::detail {

// Created on first use with a stderr sink at level info, unless the host registered
// a logger named "proletariat" first.
[[nodiscard]] spdlog::logger& log();
[[nodiscard]] std::shared_ptr<spdlog::logger> log_ptr();

}  // namespace proletariat::detail
