// The dispatcher's system-message routing (PROTOCOL §8): who a SYSMSG goes to, what
// the XPUB socket's subscriptions say about who can receive, and SYSDONE to senders.
// The bookkeeping of each message in flight is SystemMessages' (sysmsg.hpp); this file
// joins it to the peer registry.
#include "broker/dispatcher.hpp"

#include <proletariat/error.hpp>

#include "log.hpp"

namespace proletariat::broker {

void Dispatcher::on_sysmsg(Peer& peer, protocol::SysMsg& msg, TimePoint now) {
  auto& content = msg.content;
  auto parsed = nlohmann::json::parse(content.data<char>(), content.data<char>() + content.size(), nullptr, false);
  if (parsed.is_discarded()) {
    reply_error(peer.routing_id, errc::kBadJson, "system message content is not JSON", "SYSMSG", msg.req);
    return;
  }
  // The manager counts as a recipient only when it is the one addressed: a broadcast
  // counts peers, so a broadcast with no other peer completes at once with 0/0.
  std::vector<Recipient> recipients;
  bool manager_counts = false;
  bool manager_receives = false;
  if (msg.to && *msg.to == protocol::kToManager) {
    manager_counts = manager_receives = true;
  } else if (msg.to) {
    Peer* target = peers_.find_by_id(*msg.to);
    if (target == nullptr) {
      reply_error(peer.routing_id, errc::kNoPeer, "no peer '" + msg.to->substr(0, 64) + "' is registered", "SYSMSG",
                  msg.req);
      return;
    }
    if (!target->takes_sysmsg) {
      reply_error(peer.routing_id, errc::kNoPeer, "peer '" + target->id + "' takes no system messages", "SYSMSG",
                  msg.req);
      return;
    }
    recipients.push_back({target->id, target->subscribed});
  } else {
    manager_receives = true;
    peers_.for_each([&](Peer& p) {
      if (p.routing_id != peer.routing_id && p.takes_sysmsg) recipients.push_back({p.id, p.subscribed});
    });
  }
  if (manager_receives && events_.sysmsg) events_.sysmsg(parsed, peer.id);
  std::vector<Publication> publish;
  std::vector<SysmsgDone> done;
  sysmsgs_.start(peer.routing_id, peer.id, msg.req, content, recipients, manager_counts, now + liveness_window_,
                 publish, done);
  for (auto& p : publish) outbox_.publish(std::move(p));
  send_completions(done);
}

void Dispatcher::on_subscription(const zmq::message_t& frame, TimePoint now) {
  now_ = now;
  // XPUB hands up "\x01topic" for a subscription and "\x00topic" for its end.
  constexpr std::size_t kMaxTopicBytes = protocol::spec::kMaxTopicBytes;
  if (frame.size() < 2 || frame.size() > kMaxTopicBytes + 1) {
    detail::log().warn("ignored a subscription of {} bytes on the system-message channel", frame.size());
    return;
  }
  const auto* bytes = frame.data<char>();
  const bool subscribe = bytes[0] == 1;
  const std::string topic(bytes + 1, frame.size() - 1);
  Peer* peer = peers_.find_by_id(topic);
  if (peer == nullptr) {
    if (subscribe) detail::log().debug("subscription to '{}' names no registered peer", protocol::snippet(frame));
    return;
  }
  peer->subscribed = subscribe;
  if (subscribe) {
    std::vector<Publication> publish;
    sysmsgs_.subscribed(peer->id, publish);
    for (auto& p : publish) outbox_.publish(std::move(p));
  }
}

void Dispatcher::send_completions(std::vector<SysmsgDone>& done) {
  for (const auto& c : done) {
    Peer* sender = peers_.find(c.sender_routing_id);
    if (sender == nullptr) continue;
    sender->last_sent = now_;
    outbox_.send(c.sender_routing_id, protocol::encode(c.reply));
  }
  done.clear();
}

}  // namespace proletariat::broker
