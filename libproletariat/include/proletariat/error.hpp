// proletariat::Error and the stable error codes of the wire protocol.
//
// Error codes are strings in the original node-proletariat style ("ECSTO", "ETO",
// "EATO" are kept as they were so that programs testing err.code keep working).
// They never change meaning and are never reused. The one table of codes and classes
// is protocol/protocol.json (docs/PROTOCOL.md §6 is checked against it); every
// constant below is checked at compile time to be in it.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace proletariat {

namespace errc {
// Job errors.
inline constexpr std::string_view kClientTimeout = "ECSTO";
inline constexpr std::string_view kRunTimeout = "ETO";
inline constexpr std::string_view kAssignTimeout = "EATO";
// Retired, no longer sent (managers before EPOISON sent it after max_attempts deaths).
inline constexpr std::string_view kWorkerLost = "EWORKERLOST";
// The job's worker died while running it alone: the job kills workers (SPEC 5).
inline constexpr std::string_view kPoison = "EPOISON";
inline constexpr std::string_view kAborted = "EABORTED";
inline constexpr std::string_view kConnectionLost = "ECONNLOST";
inline constexpr std::string_view kHandler = "EHANDLER";
// Protocol errors.
inline constexpr std::string_view kNoHello = "ENOHELLO";
inline constexpr std::string_view kVersion = "EVERSION";
inline constexpr std::string_view kBadFrame = "EBADFRAME";
inline constexpr std::string_view kBadJson = "EBADJSON";
inline constexpr std::string_view kBadField = "EBADFIELD";
inline constexpr std::string_view kUnknownCommand = "EUNKNOWNCMD";
inline constexpr std::string_view kState = "ESTATE";
inline constexpr std::string_view kBadOffer = "EBADOFFER";
inline constexpr std::string_view kTooBig = "ETOOBIG";
inline constexpr std::string_view kLimit = "ELIMIT";
inline constexpr std::string_view kInternal = "EINTERNAL";
inline constexpr std::string_view kNoPeer = "ENOPEER";
inline constexpr std::string_view kDraining = "EDRAINING";
inline constexpr std::string_view kDenied = "EDENIED";
inline constexpr std::string_view kNotSupported = "ENOTSUPPORTED";
}  // namespace errc

// What a caller should do about an error.
enum class ErrorClass {
  retry,    // transient: try again later
  request,  // the request was wrong: fix it
  fault,    // something broke: report it
};

// The class of a code from errc; unknown codes (application errors) are `fault`.
[[nodiscard]] ErrorClass error_class(std::string_view code) noexcept;
[[nodiscard]] std::string_view to_string(ErrorClass cls) noexcept;

// Thrown on misuse of the C++ API and on configuration errors (bad offer, endpoint
// that cannot be bound). Carries one of the codes above.
class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(code + ": " + message), code_(std::move(code)) {}
  [[nodiscard]] const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace proletariat
