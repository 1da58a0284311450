#include <proletariat/error.hpp>

#include "protocol/spec.hpp"

namespace proletariat {

namespace {

constexpr bool described(std::string_view code) {
  for (const auto& e : protocol::spec::kErrors) {
    if (e.code == code) return true;
  }
  return false;
}
// Every public code is in the one description (protocol/protocol.json).
static_assert(described(errc::kClientTimeout) && described(errc::kRunTimeout) && described(errc::kAssignTimeout) &&
              described(errc::kWorkerLost) && described(errc::kPoison) && described(errc::kAborted) &&
              described(errc::kConnectionLost) && described(errc::kHandler) && described(errc::kNoHello) &&
              described(errc::kVersion) && described(errc::kBadFrame) && described(errc::kBadJson) &&
              described(errc::kBadField) && described(errc::kUnknownCommand) && described(errc::kState) &&
              described(errc::kBadOffer) && described(errc::kTooBig) && described(errc::kLimit) &&
              described(errc::kInternal) && described(errc::kNoPeer) && described(errc::kDraining) && described(errc::kDenied) &&
              described(errc::kNotSupported));

}  // namespace

ErrorClass error_class(std::string_view code) noexcept {
  for (const auto& e : protocol::spec::kErrors) {
    if (e.code != code) continue;
    if (e.cls == "retry") return ErrorClass::retry;
    if (e.cls == "request") return ErrorClass::request;
    return ErrorClass::fault;
  }
  return ErrorClass::fault;
}

std::string_view to_string(ErrorClass cls) noexcept {
  switch (cls) {
    case ErrorClass::retry:
      return "retry";
    case ErrorClass::request:
      return "request";
    case ErrorClass::fault:
      return "fault";
  }
  return "fault";
}

}  // namespace proletariat
