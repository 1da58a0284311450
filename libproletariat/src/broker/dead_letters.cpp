#include "broker/dead_letters.hpp"

namespace proletariat::broker {

std::vector<DeadLetter> DeadLetters::add(DeadLetter letter) {
  advance_past(letter.id);
  ++added_;
  const std::uint64_t id = letter.id;
  letters_.insert_or_assign(id, std::move(letter));
  std::vector<DeadLetter> dropped;
  while (letters_.size() > max_count_) {
    auto oldest = letters_.begin();
    dropped.push_back(std::move(oldest->second));
    letters_.erase(oldest);
  }
  return dropped;
}

std::vector<DeadLetter> DeadLetters::expire(std::int64_t now_wall_ms) {
  std::vector<DeadLetter> dropped;
  // Ids follow the order letters died in, so the oldest is first (a letter taken back
  // from a journal keeps its time; those are older than any new one).
  while (!letters_.empty() && now_wall_ms - letters_.begin()->second.since_wall_ms >= max_age_ms_) {
    dropped.push_back(std::move(letters_.begin()->second));
    letters_.erase(letters_.begin());
  }
  return dropped;
}

std::optional<std::int64_t> DeadLetters::next_expiry() const {
  if (letters_.empty()) return std::nullopt;
  return letters_.begin()->second.since_wall_ms + max_age_ms_;
}

std::vector<const DeadLetter*> DeadLetters::newest(std::size_t limit) const {
  std::vector<const DeadLetter*> out;
  for (auto it = letters_.rbegin(); it != letters_.rend() && out.size() < limit; ++it) out.push_back(&it->second);
  return out;
}

const DeadLetter* DeadLetters::find(std::uint64_t id) const {
  const auto it = letters_.find(id);
  return it == letters_.end() ? nullptr : &it->second;
}

std::vector<DeadLetter> DeadLetters::take(std::span<const std::uint64_t> ids) {
  std::vector<DeadLetter> out;
  for (const std::uint64_t id : ids) {
    const auto it = letters_.find(id);
    if (it == letters_.end()) continue;
    out.push_back(std::move(it->second));
    letters_.erase(it);
  }
  return out;
}

std::vector<DeadLetter> DeadLetters::take_all() {
  std::vector<DeadLetter> out;
  out.reserve(letters_.size());
  for (auto& [id, letter] : letters_) out.push_back(std::move(letter));
  letters_.clear();
  return out;
}

nlohmann::json DeadLetters::describe(const DeadLetter& letter) {
  nlohmann::json out = {{"id", letter.id},
                        {"job", letter.job},
                        {"priority", letter.priority},
                        {"err", {{"code", letter.err.code}, {"message", letter.err.message}}},
                        {"attempts", letter.attempts},
                        {"since", letter.since_wall_ms},
                        {"raw", letter.raw},
                        {"bytes", letter.payload.size()}};
  if (!letter.service.empty()) out["service"] = letter.service;
  if (!letter.key.empty()) out["key"] = letter.key;
  if (!letter.group.empty()) out["group"] = letter.group;
  if (!letter.client.empty()) out["client"] = letter.client;
  return out;
}

}  // namespace proletariat::broker
