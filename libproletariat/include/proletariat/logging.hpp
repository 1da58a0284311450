// The library's log level, for hosts that do not use spdlog themselves. Everything
// proletariat logs goes through one spdlog logger named "proletariat" (stderr by
// default); a host that uses spdlog can also fetch it, or register its own logger
// under that name before creating any proletariat object, to redirect the output.
#pragma once

#include <string_view>

namespace proletariat {

// "trace", "debug", "info" (the default), "warn", "error", "critical" or "off".
// Throws proletariat::Error (EBADFIELD) for any other name. Thread-safe.
void set_log_level(std::string_view level);

}  // namespace proletariat
