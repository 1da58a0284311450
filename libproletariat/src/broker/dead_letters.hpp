// The dead-letter list (PROTOCOL §14.2): jobs that exhausted their retries and poison
// jobs, kept with their last error for an operator to list, inspect, requeue or purge.
//
// Pure state, bounded by count and age; the dispatcher journals what it adds and
// drops. Letters are kept in id order, which is the order they died in, so the
// oldest go first and eviction is O(1) per letter.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <proletariat/job.hpp>

namespace proletariat::broker {

struct DeadLetter {
  std::uint64_t id = 0;
  std::uint64_t job = 0;
  std::string client;    // the client's peer id when the job died (for people)
  std::string identity;  // the client's identity; empty: anonymous
  double priority = 0;
  std::string key;
  std::string service;
  std::string group;
  std::optional<std::uint64_t> run_timeout_ms;
  std::shared_ptr<const RetryPolicy> retry;
  JobError err;
  unsigned attempts = 0;
  std::int64_t since_wall_ms = 0;
  bool raw = false;
  zmq::message_t payload;
};

class DeadLetters {
 public:
  DeadLetters(std::size_t max_count, std::chrono::milliseconds max_age)
      : max_count_(max_count), max_age_ms_(max_age.count()) {}

  // The id the next letter gets (above every id given, also across restarts).
  [[nodiscard]] std::uint64_t next_id() const noexcept { return next_id_; }
  void advance_past(std::uint64_t id) noexcept { next_id_ = std::max(next_id_, id + 1); }

  // Keeps the letter (its id must be next_id() or taken back from a journal); returns
  // the letters dropped to stay within the count.
  std::vector<DeadLetter> add(DeadLetter letter);
  // Letters older than the age limit at `now_wall_ms`, removed.
  std::vector<DeadLetter> expire(std::int64_t now_wall_ms);
  // The earliest wall time at which expire() has something to do.
  [[nodiscard]] std::optional<std::int64_t> next_expiry() const;

  // Newest first, at most `limit`.
  [[nodiscard]] std::vector<const DeadLetter*> newest(std::size_t limit) const;
  [[nodiscard]] const DeadLetter* find(std::uint64_t id) const;
  // Removes and returns the letters named (unknown ids skipped), or every letter.
  std::vector<DeadLetter> take(std::span<const std::uint64_t> ids);
  std::vector<DeadLetter> take_all();

  [[nodiscard]] std::size_t size() const noexcept { return letters_.size(); }
  [[nodiscard]] std::uint64_t added() const noexcept { return added_; }

  // A letter as DEADLETTERS lists it (PROTOCOL §14.2); the payload travels apart.
  [[nodiscard]] static nlohmann::json describe(const DeadLetter& letter);

 private:
  std::size_t max_count_;
  std::int64_t max_age_ms_;
  std::map<std::uint64_t, DeadLetter> letters_;
  std::uint64_t next_id_ = 1;
  std::uint64_t added_ = 0;
};

}  // namespace proletariat::broker
