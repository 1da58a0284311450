#include <proletariat/error.hpp>

#include <array>

namespace proletariat {

namespace {
struct CodeClass {
  std::string_view code;
  ErrorClass cls;
};
// The one table of codes and classes; docs/PROTOCOL.md §6 mirrors it.
constexpr std::array kCodeClasses{
    CodeClass{errc::kClientTimeout, ErrorClass::retry}, CodeClass{errc::kRunTimeout, ErrorClass::retry},
    CodeClass{errc::kAssignTimeout, ErrorClass::retry}, CodeClass{errc::kWorkerLost, ErrorClass::fault},
    CodeClass{errc::kAborted, ErrorClass::request},     CodeClass{errc::kConnectionLost, ErrorClass::retry},
    CodeClass{errc::kHandler, ErrorClass::fault},       CodeClass{errc::kNoHello, ErrorClass::request},
    CodeClass{errc::kVersion, ErrorClass::request},     CodeClass{errc::kBadFrame, ErrorClass::request},
    CodeClass{errc::kBadJson, ErrorClass::request},     CodeClass{errc::kBadField, ErrorClass::request},
    CodeClass{errc::kUnknownCommand, ErrorClass::request}, CodeClass{errc::kState, ErrorClass::request},
    CodeClass{errc::kBadOffer, ErrorClass::request},    CodeClass{errc::kTooBig, ErrorClass::request},
    CodeClass{errc::kLimit, ErrorClass::retry},         CodeClass{errc::kInternal, ErrorClass::fault},
    CodeClass{errc::kNoPeer, ErrorClass::request},
};
}  // namespace

ErrorClass error_class(std::string_view code) noexcept {
  for (const auto& c : kCodeClasses) {
    if (c.code == code) return c.cls;
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
