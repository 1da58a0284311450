#include "monitor/counters.hpp"

#include <proletariat/error.hpp>

namespace proletariat::monitor {

std::string_view outcome_name(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::ok:
      return "ok";
    case Outcome::handler_error:
      return "handler_error";
    case Outcome::run_timeout:
      return "run_timeout";
    case Outcome::assign_timeout:
      return "assign_timeout";
    case Outcome::aborted:
      return "aborted";
    case Outcome::poison:
      return "poison";
    case Outcome::internal:
    case Outcome::count_:
      break;
  }
  return "internal";
}

Outcome outcome_of(std::string_view code) noexcept {
  if (code.empty()) return Outcome::ok;
  if (code == errc::kRunTimeout) return Outcome::run_timeout;
  if (code == errc::kAssignTimeout) return Outcome::assign_timeout;
  if (code == errc::kAborted) return Outcome::aborted;
  if (code == errc::kPoison) return Outcome::poison;
  if (code == errc::kInternal) return Outcome::internal;
  return Outcome::handler_error;
}

}  // namespace proletariat::monitor
