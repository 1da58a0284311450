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

#include <proletariat/error.hpp>
#include <proletariat/logging.hpp>

namespace proletariat {

void set_log_level(std::string_view level) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for names it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    throw Error(std::string(errc::kBadField), "unknown log level '" + std::string(level) + "'");
  }
  detail::log().set_level(parsed);
}

}  // namespace proletariat
