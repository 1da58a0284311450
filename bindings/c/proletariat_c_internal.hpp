// Internals shared by the files of the C API (not installed): the per-thread last
// error, the exception guard every entry point runs in, callback scopes, and the
// conversions between C structs and the C++ library's types.
//
// Rules the C API keeps:
//  - No exception crosses extern "C": every entry point runs its body in guard(),
//    which turns proletariat::Error into a status plus the per-thread last error, and
//    anything else into PROLETARIAT_ENOMEM or PROLETARIAT_EINTERNAL. Lambdas handed to
//    the C++ library (which it calls on its threads) catch everything or cannot throw.
//  - The last error lives in fixed thread-local buffers, so recording it cannot fail.
//  - Callbacks into C run inside a CallbackScope naming the object they belong to, so
//    that destroying or stopping that object from its own callback (which would join
//    the calling thread) and waiting on a client's own I/O thread are refused instead of
//    deadlocking.
//  - Entry points have C linkage from their declarations in proletariat.h.
#pragma once

#include "proletariat.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include <proletariat/proletariat.hpp>

namespace proletariat::c_api {

using std::chrono::milliseconds;
namespace errc = proletariat::errc;

// --- the per-thread last error --------------------------------------------------------

// Codes are short (the longest wire code is 11 characters); messages are truncated
// here rather than allocated, so that recording an error never fails.
inline constexpr std::size_t kCodeBytes = 32;
inline constexpr std::size_t kMessageBytes = 1024;

struct LastError {
  proletariat_status status = PROLETARIAT_OK;
  char code[kCodeBytes] = {};
  char message[kMessageBytes] = {};
};
inline thread_local LastError tl_error;

// Not inlined: GCC 12 -O2 inlines it into callers passing temporaries and reports a
// false -Warray-bounds on the memcpy (the length is bounded by both buffers).
[[gnu::noinline]] inline void copy_truncated(char* dst, std::size_t size, std::string_view src) noexcept {
  const std::size_t n = std::min(src.size(), size - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

inline proletariat_status set_error(proletariat_status status, std::string_view code,
                                    std::string_view message) noexcept {
  tl_error.status = status;
  copy_truncated(tl_error.code, kCodeBytes, code);
  copy_truncated(tl_error.message, kMessageBytes, message);
  return status;
}

inline proletariat_status invalid(std::string_view message) noexcept {
  return set_error(PROLETARIAT_EINVAL, errc::kBadField, message);
}

inline proletariat_status bad_state(std::string_view message) noexcept {
  return set_error(PROLETARIAT_ESTATE, errc::kState, message);
}

inline constexpr std::string_view kTimedOut = "ETIMEDOUT";  // C API only, never on the wire
inline constexpr std::string_view kNoMemory = "ENOMEM";     // C API only, never on the wire

inline proletariat_status status_of(std::string_view code) noexcept {
  if (code == errc::kBadField || code == errc::kBadJson || code == errc::kBadOffer || code == errc::kTooBig) {
    return PROLETARIAT_EINVAL;
  }
  if (code == errc::kState) return PROLETARIAT_ESTATE;
  return PROLETARIAT_EFAILED;
}

// proletariat::Error's what() is "CODE: message"; the message alone is wanted here.
inline std::string_view message_of(const proletariat::Error& e) noexcept {
  std::string_view what = e.what();
  if (what.size() >= e.code().size() + 2 && what.substr(0, e.code().size()) == e.code() &&
      what.substr(e.code().size(), 2) == ": ") {
    what.remove_prefix(e.code().size() + 2);
  }
  return what;
}

// Runs an entry point's body; no exception gets out.
template <typename F>
proletariat_status guard(F&& body) noexcept {
  try {
    return body();
  } catch (const proletariat::Error& e) {
    return set_error(status_of(e.code()), e.code(), message_of(e));
  } catch (const std::bad_alloc&) {
    return set_error(PROLETARIAT_ENOMEM, kNoMemory, "out of memory");
  } catch (const std::exception& e) {
    return set_error(PROLETARIAT_EINTERNAL, errc::kInternal, e.what());
  } catch (...) {
    return set_error(PROLETARIAT_EINTERNAL, errc::kInternal, "unknown exception");
  }
}

// --- callback scopes ---------------------------------------------------------------------

// The object whose C callback the current thread is running, if any.
inline thread_local const void* tl_callback_owner = nullptr;

class CallbackScope {
 public:
  explicit CallbackScope(const void* owner) noexcept : previous_(tl_callback_owner) { tl_callback_owner = owner; }
  ~CallbackScope() { tl_callback_owner = previous_; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  const void* previous_;
};

inline bool in_callback_of(const void* owner) noexcept {
  return owner != nullptr && tl_callback_owner == owner;
}

// --- conversions ---------------------------------------------------------------------------

// Options structs: `size` records sizeof as the caller was compiled. Version 1 of each
// struct is its current size; a member added later must be read only when
// options->size covers it (offsetof(member) + sizeof(member) <= size).
template <typename T>
void init_sized(T* options, std::size_t size, const T& defaults) noexcept {
  if (options == nullptr || size < sizeof(std::size_t)) return;
  std::memset(static_cast<void*>(options), 0, size);
  std::memcpy(static_cast<void*>(options), &defaults, std::min(size, sizeof(T)));
  options->size = size;
}

template <typename T>
bool initialised(const T* options) noexcept {
  return options->size >= sizeof(T);
}

// For a struct that grew: initialised by a caller built against version 1, which
// was `v1_size` bytes; read the later members only where covers() says so.
template <typename T>
bool initialised(const T* options, std::size_t v1_size) noexcept {
  return options->size >= v1_size;
}

template <typename T>
bool covers(const T* options, std::size_t offset, std::size_t member_size) noexcept {
  return options->size >= offset + member_size;
}

inline std::string copy_string(const char* s) {
  return s != nullptr ? std::string(s) : std::string();
}

// A duration option: -1 means none; other negative values are refused.
inline std::optional<milliseconds> optional_ms(std::int64_t ms, const char* name) {
  if (ms == PROLETARIAT_NO_TIMEOUT) return std::nullopt;
  if (ms < 0) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(name) + " must be >= 0 or PROLETARIAT_NO_TIMEOUT, not " + std::to_string(ms));
  }
  return milliseconds{ms};
}

inline milliseconds required_ms(std::int64_t ms, const char* name) {
  if (ms < 0) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(name) + " must be >= 0, not " + std::to_string(ms));
  }
  return milliseconds{ms};
}

// A limit option (added in API version 1.3): PROLETARIAT_NO_LIMIT means none; other
// negative values are refused.
inline std::optional<std::uint64_t> optional_limit(std::int64_t value, const char* name) {
  if (value == PROLETARIAT_NO_LIMIT) return std::nullopt;
  if (value < 0) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(name) + " must be >= 0 or PROLETARIAT_NO_LIMIT, not " + std::to_string(value));
  }
  return static_cast<std::uint64_t>(value);
}

// A rate (starts a second): PROLETARIAT_NO_LIMIT means none; else a finite number >= 0.
inline std::optional<double> optional_rate(double value, const char* name) {
  if (value == PROLETARIAT_NO_LIMIT) return std::nullopt;
  if (!std::isfinite(value) || value < 0) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(name) + " must be a finite number >= 0 or PROLETARIAT_NO_LIMIT");
  }
  return value;
}

inline proletariat::Payload json_payload(const char* json, std::size_t len, const char* what) {
  if (json == nullptr) {
    if (len != 0) throw proletariat::Error(std::string(errc::kBadField), std::string(what) + " is NULL with a length");
    return proletariat::Payload{};
  }
  if (len == 0) len = std::strlen(json);
  if (!nlohmann::json::accept(json, json + len)) {
    throw proletariat::Error(std::string(errc::kBadJson), std::string(what) + " is not valid JSON");
  }
  return proletariat::Payload::json_text(std::string(json, len));
}

inline proletariat::Payload raw_payload(const void* bytes, std::size_t len, const char* what) {
  if (bytes == nullptr && len != 0) {
    throw proletariat::Error(std::string(errc::kBadField), std::string(what) + " is NULL with a length");
  }
  const auto* p = static_cast<const char*>(bytes);
  return proletariat::Payload::raw(len == 0 ? std::string() : std::string(p, len));
}

// The CURVE options of a peer (three Z85 strings): all NULL, none; else all three,
// each a Z85 key (proletariat::Error EBADFIELD otherwise; messages name the option,
// never quote a key).
inline std::optional<proletariat::CurveOptions> curve_options(const char* server_key, const char* public_key,
                                                              const char* secret_key, const char* who) {
  const int given = (server_key != nullptr) + (public_key != nullptr) + (secret_key != nullptr);
  if (given == 0) return std::nullopt;
  if (given != 3) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(who) +
                                 ": curve_server_key, curve_public_key and curve_secret_key go together (all three "
                                 "or none)");
  }
  const auto check = [who](const char* key, const char* name) {
    if (!proletariat::is_z85_key(key)) {
      throw proletariat::Error(std::string(errc::kBadField),
                               std::string(who) + ": " + name + " is not a Z85 CURVE key (40 characters)");
    }
  };
  check(server_key, "curve_server_key");
  check(public_key, "curve_public_key");
  check(secret_key, "curve_secret_key");
  return proletariat::CurveOptions{server_key, {public_key, secret_key}};
}

inline constexpr const char* kJsonNull = "null";

// The C API promises NUL-terminated bytes; a Payload that views a received frame has
// none after it, so the C API keeps this one copy (owned strings end in NUL).
inline proletariat::Payload c_payload(const proletariat::Payload& payload) {
  return payload.is_raw() ? proletariat::Payload::raw(payload.str()) : proletariat::Payload::json_text(payload.str());
}
inline proletariat::Result c_result(const proletariat::Result& result) {
  return {result.err, c_payload(result.data), result.attempts};
}

// `payload` must come from c_payload() (or be empty).
inline void payload_view(const proletariat::Payload& payload, const char** data, std::size_t* len, int* raw) noexcept {
  if (payload.is_raw()) {
    *data = payload.bytes().empty() ? "" : payload.bytes().data();
    *len = payload.bytes().size();
    *raw = 1;
  } else if (payload.bytes().empty()) {
    *data = kJsonNull;
    *len = 4;
    *raw = 0;
  } else {
    *data = payload.bytes().data();
    *len = payload.bytes().size();
    *raw = 0;
  }
}

inline proletariat_result result_view(const proletariat::Result& result) noexcept {
  proletariat_result view{};
  if (result.err) {
    view.error_code = result.err->code.c_str();
    view.error_message = result.err->message.c_str();
  }
  payload_view(result.data, &view.data, &view.data_len, &view.raw);
  view.attempts = result.attempts;
  return view;
}

inline proletariat_job_info info_view(const proletariat::JobInfo& job) noexcept {
  proletariat_job_info view{};
  view.id = job.id;
  view.client = job.client.c_str();
  view.priority = job.priority;
  view.key = job.key.c_str();
  view.service = job.service.c_str();
  view.attempt = job.attempt;
  return view;
}

// Waits on a condition with a C timeout (PROLETARIAT_NO_TIMEOUT: forever).
// `wait_for(ms)` returns whether the condition holds.
template <typename WaitFor>
bool wait_with_timeout(std::int64_t timeout_ms, WaitFor&& wait_for) {
  if (timeout_ms >= 0) return wait_for(milliseconds{timeout_ms});
  constexpr milliseconds kSlice{3600 * 1000};  // an hour: keeps clock arithmetic far from overflow
  while (!wait_for(kSlice)) {
  }
  return true;
}

inline proletariat_status check_timeout_arg(std::int64_t timeout_ms) noexcept {
  if (timeout_ms < PROLETARIAT_NO_TIMEOUT) {
    return invalid("timeout_ms must be >= 0 or PROLETARIAT_NO_TIMEOUT, not " + std::to_string(timeout_ms));
  }
  return PROLETARIAT_OK;
}

inline proletariat_status timed_out(std::string_view what, std::int64_t timeout_ms) noexcept {
  try {
    return set_error(PROLETARIAT_ETIMEDOUT, kTimedOut,
                     std::string(what) + " did not happen within " + std::to_string(timeout_ms) + " ms");
  } catch (...) {
    return set_error(PROLETARIAT_ETIMEDOUT, kTimedOut, what);
  }
}

inline std::size_t copy_id(const std::string& id, char* buf, std::size_t buf_size) noexcept {
  if (buf != nullptr && buf_size > 0) copy_truncated(buf, buf_size, id);
  return id.size();
}

}  // namespace proletariat::c_api
