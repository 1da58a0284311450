// System messages in flight (SPEC 6, PROTOCOL §8): who each was meant for, who has
// acknowledged, who has yet to subscribe, and when the sender is told it is done.
//
// Pure state: no sockets, no clock reads. Publishing means handing a Publication to
// the event loop, which sends it on the XPUB socket; completion means a SysmsgDone
// for the dispatcher to send as SYSDONE.
//
// Invariant per message: pending_ack ∪ pending_subscribe are the recipients still
// counted and not yet heard from; sent_to = received_by + |pending_ack| +
// |pending_subscribe| + (recipients taken out: never counted again). The message is
// complete, and forgotten, when both sets are empty.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "scheduler/scheduler.hpp"
#include "protocol/codec.hpp"

namespace proletariat::broker {

// What the event loop publishes on the XPUB socket.
using Publication = protocol::Published;

// A finished message: SYSDONE for its sender.
struct SysmsgDone {
  std::string sender_routing_id;
  protocol::SysDone reply;
};

struct Recipient {
  std::string id;
  bool subscribed = false;
};

class SystemMessages {
 public:
  // A new message from `sender_id` (its request `req`) to `recipients`. When
  // `manager_counts`, the manager counts as one recipient that received it at once.
  // Recipients not yet subscribed wait until `subscribe_deadline`.
  void start(const std::string& sender_routing_id, const std::string& sender_id, std::uint64_t req,
             zmq::message_t& content, const std::vector<Recipient>& recipients, bool manager_counts,
             TimePoint subscribe_deadline, std::vector<Publication>& publish, std::vector<SysmsgDone>& done);
  // `peer_id` acknowledged `msg`. Unknown or repeated acks are ignored.
  void ack(const std::string& peer_id, std::uint64_t msg, std::vector<SysmsgDone>& done);
  // `peer_id`'s subscription is live: publish what waited for it.
  void subscribed(const std::string& peer_id, std::vector<Publication>& publish);
  // A peer left: as a recipient it is taken out of every count; as a sender its
  // messages are forgotten.
  void peer_left(const std::string& peer_id, std::vector<SysmsgDone>& done);
  // Recipients that did not subscribe in time are taken out of the count.
  void expire(TimePoint now, std::vector<SysmsgDone>& done);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;
  [[nodiscard]] std::size_t in_flight() const noexcept { return messages_.size(); }

 private:
  struct Message {
    std::string sender_routing_id;
    std::string sender_id;
    std::uint64_t req = 0;
    std::string from;
    zmq::message_t content;
    std::set<std::string> pending_ack;
    std::set<std::string> pending_subscribe;
    TimePoint subscribe_deadline{};
    std::uint64_t sent_to = 0;
    std::uint64_t received_by = 0;
  };
  void finish_if_complete(std::uint64_t msg, std::vector<SysmsgDone>& done);
  Publication publication(std::uint64_t msg, Message& m, const std::string& topic);

  std::uint64_t next_msg_ = 1;
  std::map<std::uint64_t, Message> messages_;
};

}  // namespace proletariat::broker
