// Value types shared by clients, workers and the manager: payloads, job specs,
// results. Plain values, safe to copy and move between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace proletariat {

// Job arguments or result data. On the wire a payload is its own frame, forwarded by
// the manager without being parsed: JSON text by default, or opaque bytes (`raw`).
//
// A Payload is an immutable, reference-counted view of its bytes: copies share them,
// and a payload that arrived from the network is the received frame itself, handed
// from the socket to the handler (and a result back to the socket) without a copy.
class Payload {
 public:
  Payload() = default;  // JSON null

  [[nodiscard]] static Payload json(const nlohmann::json& value) { return owning(value.dump(), false); }
  // Already-serialised JSON text; not validated here (the receiver parses it).
  [[nodiscard]] static Payload json_text(std::string text) { return owning(std::move(text), false); }
  [[nodiscard]] static Payload raw(std::string bytes) { return owning(std::move(bytes), true); }
  // Bytes that `owner` keeps alive, taken as they are (no copy): how the library hands
  // over a received frame. `bytes` must stay valid and unchanged while `owner` lives.
  [[nodiscard]] static Payload adopt(std::shared_ptr<const void> owner, std::string_view bytes, bool raw) {
    Payload p;
    p.owner_ = std::move(owner);
    p.bytes_ = bytes;
    p.raw_ = raw;
    return p;
  }

  [[nodiscard]] bool is_raw() const noexcept { return raw_; }
  // JSON text (empty means null) or the raw bytes; valid while any copy of this
  // Payload lives. Not NUL-terminated in general: use str() for a std::string.
  [[nodiscard]] std::string_view bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::string str() const { return std::string(bytes_); }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  // What keeps the bytes alive (null for an empty payload).
  [[nodiscard]] const std::shared_ptr<const void>& owner() const noexcept { return owner_; }
  // Parses JSON text; raw bytes come back as a JSON binary value. Throws
  // proletariat::Error(EBADJSON) if the text is not JSON.
  [[nodiscard]] nlohmann::json to_json() const;

  friend bool operator==(const Payload& a, const Payload& b) noexcept {
    return a.raw_ == b.raw_ && a.bytes_ == b.bytes_;
  }

 private:
  static Payload owning(std::string bytes, bool raw) {
    if (bytes.empty()) return adopt(nullptr, {}, raw);
    auto text = std::make_shared<const std::string>(std::move(bytes));
    const std::string_view view(*text);
    return adopt(std::move(text), view, raw);
  }
  std::shared_ptr<const void> owner_;
  std::string_view bytes_;
  bool raw_ = false;
};

// An error value as it travels in a result: a stable code and a human message.
struct JobError {
  std::string code;
  std::string message;
  friend bool operator==(const JobError&, const JobError&) = default;
};

// The outcome of one job: {err, data} as in the original.
struct Result {
  std::optional<JobError> err;
  Payload data;
  // Attempts a worker answered for the job, this one included, when the push asked for
  // retries (PROTOCOL §14.1); 0 otherwise.
  unsigned attempts = 0;
  [[nodiscard]] bool ok() const noexcept { return !err.has_value(); }
};

// How the manager retries a job whose worker answered an error (PROTOCOL §14.1).
struct RetryPolicy {
  unsigned max = 0;                // attempts after the first, at most max_retries (100)
  std::vector<std::string> codes;  // the error codes retried; empty: every code but ETO
  std::chrono::milliseconds initial{1000};
  double factor = 2;  // >= 1
  std::chrono::milliseconds max_delay{300000};
  double jitter = 0.2;  // 0..1: each backoff is shortened by a random fraction up to this
  friend bool operator==(const RetryPolicy&, const RetryPolicy&) = default;
};

// One job as a client pushes it.
struct JobSpec {
  Payload args;
  std::string key;      // hold-similar-work key (the original's `_key`); empty: none
  std::string service;  // only workers offering this service take it; empty: none

  JobSpec() = default;
  JobSpec(Payload a) : args(std::move(a)) {}  // NOLINT(google-explicit-constructor): jobs read as values
  JobSpec(const nlohmann::json& a) : args(Payload::json(a)) {}  // NOLINT(google-explicit-constructor)
};

// Options of one push (PROTOCOL §4 PUSH; README "Options"). All timeouts optional.
struct WorkOptions {
  // Whole-request deadline counted from the call; unfinished jobs get ECSTO and are
  // aborted on the manager.
  std::optional<std::chrono::milliseconds> timeout;
  // Per job, counted on the worker from the moment the job starts; expiry gives ETO.
  std::optional<std::chrono::milliseconds> run_timeout;
  // Per job, counted from the manager's receipt until a worker takes it; expiry gives EATO.
  std::optional<std::chrono::milliseconds> assign_timeout;
  // >= 0, fractions allowed; higher runs first.
  double priority = 0;

  // Job lifecycle (PROTOCOL §14); a manager that does not announce it fails such jobs
  // with ENOTSUPPORTED. At most one of delay and at.
  // The jobs queue this long after the manager received them...
  std::optional<std::chrono::milliseconds> delay;
  // ... or at this time of the manager's clock.
  std::optional<std::chrono::system_clock::time_point> at;
  // The jobs' group: the manager's per-group limits apply (max running, starts a second).
  std::string group;
  std::optional<RetryPolicy> retry;
};

}  // namespace proletariat
