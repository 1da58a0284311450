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
    recipients.push_back({target->id, target->subscriptions > 0});
  } else {
    manager_receives = true;
    peers_.for_each([&](Peer& p) {
      if (p.routing_id != peer.routing_id && p.takes_sysmsg) recipients.push_back({p.id, p.subscriptions > 0});
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

bool Dispatcher::on_subscription(const zmq::message_t& frame, TimePoint now) {
  // Only a message that came through a connection carries metadata; the XPUB socket
  // makes up the unsubscriptions of a connection that closed, and those carry none.
  std::optional<std::string> subscriber_key;
  if (zmq_msg_gets(frame.handle(), "Socket-Type") != nullptr) {
    const char* user = zmq_msg_gets(frame.handle(), "User-Id");
    subscriber_key = user != nullptr ? user : "";
  }
  return on_subscription(std::string_view(frame.data<char>(), frame.size()), subscriber_key, now);
}

bool Dispatcher::on_subscription(std::string_view frame, const std::optional<std::string>& subscriber_key,
                                 TimePoint now) {
  now_ = now;
  // XPUB hands up "\x01topic" for a subscription and "\x00topic" for its end.
  constexpr std::size_t kMaxTopicBytes = protocol::spec::kMaxTopicBytes;
  if (frame.empty()) return false;
  const bool subscribe = frame[0] == 1;
  const std::string topic(frame.substr(1));
  if (subscribe && topic.size() > kMaxTopicBytes) {
    refused_subscriptions_.remember(topic);
    detail::log().warn("refused a subscription of {} bytes on the system-message channel", frame.size());
    return false;
  }
  Peer* peer = peers_.find_by_id(topic);
  // With CURVE a topic is granted only to a connection made with the key of the peer
  // it names (PROTOCOL §8.1): nobody reads another peer's messages, and nobody reads
  // everybody's by subscribing to a prefix of them all.
  const bool owner = peer != nullptr && (keys_ == nullptr || (subscriber_key && *subscriber_key == peer->key));
  if (!subscribe) {
    if (keys_ != nullptr && subscriber_key) {
      // CURVE names the connection: its own grant ends, or a refusal of it.
      if (owner) {
        if (peer->subscriptions > 0) --peer->subscriptions;
      } else {
        refused_subscriptions_.forget(topic);
      }
    } else if (!refused_subscriptions_.forget(topic) && peer != nullptr && peer->subscriptions > 0) {
      // Whose it is cannot be told (a closed connection, or no CURVE): refusals are
      // matched first, so that a stranger's connection closing does not take the
      // owner's subscription away.
      --peer->subscriptions;
    }
    return false;
  }
  if (!owner || !peer->takes_sysmsg) {
    refused_subscriptions_.remember(topic);
    if (topic.empty()) {
      detail::log().info("refused a subscription to everything (the empty topic) from key {}",
                         subscriber_key && !subscriber_key->empty() ? *subscriber_key : "(none)");
    } else if (peer == nullptr) {
      detail::log().debug("refused a subscription to '{}': no registered peer has that id",
                          protocol::snippet(zmq::message_t(topic.data(), topic.size())));
    } else if (!peer->takes_sysmsg) {
      detail::log().info("refused a subscription to peer {}: it said it takes no system messages", peer->id);
    } else {
      detail::log().warn("refused a subscription to peer {} from key {}: only its own key ({}) may read its messages",
                         peer->id, subscriber_key && !subscriber_key->empty() ? *subscriber_key : "(none)", peer->key);
    }
    return false;
  }
  ++peer->subscriptions;
  std::vector<Publication> publish;
  sysmsgs_.subscribed(peer->id, publish);
  for (auto& p : publish) outbox_.publish(std::move(p));
  return true;
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
