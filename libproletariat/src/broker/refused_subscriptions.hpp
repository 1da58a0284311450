// Topics of the XPUB subscriptions the manager refused, counted per topic.
//
// Why keep them: with XPUB_MANUAL, libzmq hands the manager an unsubscription for
// every topic a connection asked for when that connection closes, refused or not, and
// such an unsubscription carries no key. Counting refusals lets the dispatcher match
// it to a refusal before it takes a granted subscription away from the peer that owns
// the topic (a stranger closing its connection must not silence the owner).
//
// Bounded: past `max_topics` distinct topics new refusals are no longer counted (one
// log line); the cost of that is only that a closing stranger may end a grant early,
// which the owner's next subscription (every reconnection sends one) restores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "log.hpp"

namespace proletariat::broker {

class RefusedSubscriptions {
 public:
  explicit RefusedSubscriptions(std::size_t max_topics = 65536) : max_topics_(max_topics) {}

  void remember(const std::string& topic) {
    ++refused_;
    auto it = counts_.find(topic);
    if (it != counts_.end()) {
      ++it->second;
    } else if (counts_.size() < max_topics_) {
      counts_.emplace(topic, 1);
    } else if (!warned_full_) {
      warned_full_ = true;
      detail::log().warn("more than {} distinct refused subscription topics: no longer counting new ones",
                         max_topics_);
    }
  }

  // True when a refusal of `topic` was still counted (and is now one fewer).
  bool forget(const std::string& topic) {
    auto it = counts_.find(topic);
    if (it == counts_.end()) return false;
    if (--it->second == 0) counts_.erase(it);
    return true;
  }

  [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; }
  [[nodiscard]] std::size_t topics() const noexcept { return counts_.size(); }

 private:
  std::size_t max_topics_;
  std::unordered_map<std::string, std::uint32_t> counts_;
  std::uint64_t refused_ = 0;
  bool warned_full_ = false;
};

}  // namespace proletariat::broker
