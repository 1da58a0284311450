#include "log.hpp"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace proletariat::detail {

std::shared_ptr<spdlog::logger> log_ptr() {
  static std::once_flag once;
  static std::shared_ptr<spdlog::logger> logger;
  std::call_once(once, [] {
    logger = spdlog::get("proletariat");
    if (!logger) {
      logger = spdlog::stderr_color_mt("proletariat");
      logger->set_level(spdlog::level::info);
    }
  });
  return logger;
}

spdlog::logger& log() { return *log_ptr(); }

}  // namespace proletariat::detail
