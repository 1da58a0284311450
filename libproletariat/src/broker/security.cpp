// The dispatcher's side of CURVE (SPEC 10, PROTOCOL §13): which roles each command
// needs, and what a reload of the allow-lists does to connected peers. The handshake
// itself (who may connect at all) is the ZAP handler's (zap_handler.cpp).
#include <proletariat/error.hpp>

#include "broker/dispatcher.hpp"
#include "log.hpp"

namespace proletariat::broker {

std::optional<std::string> Dispatcher::denied(const protocol::PeerMessage& msg, const std::string& key) const {
  const KeyRoles* roles = keys_->find(key);
  if (roles == nullptr) return "the key " + key + " is not allowed (any more)";
  const auto need = [&](bool has, const char* role) -> std::optional<std::string> {
    if (has) return std::nullopt;
    return std::string("needs a ") + role + " key; " + key + " is not listed as one";
  };
  if (std::holds_alternative<protocol::Offer>(msg) || std::holds_alternative<protocol::WorkerResults>(msg) ||
      std::holds_alternative<protocol::Reject>(msg) || std::holds_alternative<protocol::Drain>(msg) ||
      std::holds_alternative<protocol::WorkerProgress>(msg)) {
    return need(roles->worker, "worker");
  }
  if (std::holds_alternative<protocol::Push>(msg) || std::holds_alternative<protocol::ClientAbort>(msg) ||
      std::holds_alternative<protocol::Received>(msg)) {
    return need(roles->client, "client");
  }
  if (const auto* status = std::get_if<protocol::StatusRequest>(&msg); status != nullptr && !status->mine) {
    return need(roles->admin, "admin");
  }
  if (const auto* sysmsg = std::get_if<protocol::SysMsg>(&msg); sysmsg != nullptr && !sysmsg->to) {
    return need(roles->admin, "admin");
  }
  if (std::holds_alternative<protocol::DeadRequest>(msg)) return need(roles->admin, "admin");
  if (const auto* limits = std::get_if<protocol::GroupLimitsRequest>(&msg);
      limits != nullptr && limits->op != protocol::GroupLimitsOp::list) {
    return need(roles->admin, "admin");
  }
  return std::nullopt;
}

void Dispatcher::keys_reloaded(TimePoint now) {
  now_ = now;
  std::vector<std::string> revoked;
  peers_.for_each([&](Peer& peer) {
    if (!peer.key.empty() && keys_->find(peer.key) == nullptr) revoked.push_back(peer.routing_id);
  });
  for (const auto& rid : revoked) {
    Peer* peer = peers_.find(rid);
    if (peer == nullptr) continue;
    detail::log().warn("{} {} (key {}) is no longer allowed: dropped with BYE \"key revoked\"", to_string(peer->role), peer->id, peer->key);
    const std::string kept_rid = rid;
    drop_peer(kept_rid, DropReason::key_revoked);
    // drop_peer forgot the outbox of the peer: the BYE goes out anyway.
    outbox_.send(kept_rid, protocol::encode(protocol::Bye{"key revoked"}));
  }
}

}  // namespace proletariat::broker
