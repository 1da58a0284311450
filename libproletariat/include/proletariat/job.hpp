// Value types shared by clients, workers and the manager: payloads, job specs,
// results. Plain values, safe to copy and move between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace proletariat {

// Job arguments or result data. On the wire a payload is its own frame, forwarded by
// the manager without being parsed: JSON text by default, or opaque bytes (`raw`).
class Payload {
 public:
  Payload() = default;  // JSON null

  [[nodiscard]] static Payload json(const nlohmann::json& value) { return Payload(value.dump(), false); }
  // Already-serialised JSON text; not validated here (the receiver parses it).
  [[nodiscard]] static Payload json_text(std::string text) { return Payload(std::move(text), false); }
  [[nodiscard]] static Payload raw(std::string bytes) { return Payload(std::move(bytes), true); }

  [[nodiscard]] bool is_raw() const noexcept { return raw_; }
  // JSON text (empty means null) or the raw bytes.
  [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }
  // Parses JSON text; raw bytes come back as a JSON binary value. Throws
  // proletariat::Error(EBADJSON) if the text is not JSON.
  [[nodiscard]] nlohmann::json to_json() const;

  friend bool operator==(const Payload&, const Payload&) = default;

 private:
  Payload(std::string bytes, bool raw) : bytes_(std::move(bytes)), raw_(raw) {}
  std::string bytes_;
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
  [[nodiscard]] bool ok() const noexcept { return !err.has_value(); }
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

// Options of one push (SPEC 2.1). All timeouts optional.
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
};

}  // namespace proletariat
