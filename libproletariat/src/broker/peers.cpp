#include "broker/peers.hpp"

namespace proletariat::broker {

std::string_view to_string(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::bye:
      return "bye";
    case DropReason::heartbeat_expired:
      return "heartbeat expired";
    case DropReason::shutdown:
      return "shutdown";
    case DropReason::key_revoked:
      return "key revoked";
  }
  return "?";
}

std::string_view to_string(Role role) noexcept {
  switch (role) {
    case Role::unknown:
      return "peer";
    case Role::worker:
      return "worker";
    case Role::client:
      return "client";
  }
  return "?";
}

Peer& Peers::add(const std::string& routing_id, TimePoint now) {
  Peer peer;
  peer.routing_id = routing_id;
  // "<n>@<prefix>": the prefix has a fixed length and no '@', the counter no leading
  // zero, so no id is a prefix of another; the XPUB socket matches topics by prefix.
  peer.id = std::to_string(next_id_++) + "@" + id_prefix_;
  peer.connected_at = now;
  peer.last_seen = now;
  peer.last_sent = now;
  routing_of_[peer.id] = routing_id;
  auto [it, inserted] = peers_.insert_or_assign(routing_id, std::move(peer));
  return it->second;
}

Peer* Peers::find(const std::string& routing_id) {
  auto it = peers_.find(routing_id);
  return it == peers_.end() ? nullptr : &it->second;
}

Peer* Peers::find_by_id(const std::string& id) {
  auto it = routing_of_.find(id);
  return it == routing_of_.end() ? nullptr : find(it->second);
}

Peer* Peers::by_worker(WorkerSlot slot) {
  if (slot >= worker_routing_.size() || worker_routing_[slot].empty()) return nullptr;
  return find(worker_routing_[slot]);
}

Peer* Peers::by_client(ClientSlot slot) {
  if (slot >= client_routing_.size() || client_routing_[slot].empty()) return nullptr;
  return find(client_routing_[slot]);
}

void Peers::make_worker(Peer& peer, WorkerSlot slot) {
  peer.role = Role::worker;
  peer.worker = slot;
  if (worker_routing_.size() <= slot) worker_routing_.resize(slot + 1);
  worker_routing_[slot] = peer.routing_id;
}

ClientSlot Peers::make_client(Peer& peer) {
  ClientSlot slot = 0;
  if (!free_client_slots_.empty()) {
    slot = free_client_slots_.back();
    free_client_slots_.pop_back();
  } else {
    slot = static_cast<ClientSlot>(client_routing_.size());
    client_routing_.emplace_back();
  }
  client_routing_[slot] = peer.routing_id;
  peer.role = Role::client;
  peer.client = slot;
  return slot;
}

ClientSlot Peers::reserve_client_slot() {
  if (!free_client_slots_.empty()) {
    const ClientSlot slot = free_client_slots_.back();
    free_client_slots_.pop_back();
    return slot;
  }
  client_routing_.emplace_back();
  return static_cast<ClientSlot>(client_routing_.size() - 1);
}

void Peers::attach_client(Peer& peer, ClientSlot slot) {
  if (client_routing_.size() <= slot) client_routing_.resize(slot + 1);
  client_routing_[slot] = peer.routing_id;
  peer.role = Role::client;
  peer.client = slot;
}

void Peers::release_client_slot(ClientSlot slot) {
  if (slot < client_routing_.size()) client_routing_[slot].clear();
  free_client_slots_.push_back(slot);
}

void Peers::remove(const std::string& routing_id, bool keep_client_slot) {
  auto it = peers_.find(routing_id);
  if (it == peers_.end()) return;
  const Peer& peer = it->second;
  if (peer.worker) worker_routing_[*peer.worker].clear();
  if (peer.client) {
    client_routing_[*peer.client].clear();
    if (!keep_client_slot) free_client_slots_.push_back(*peer.client);
  }
  routing_of_.erase(peer.id);
  peers_.erase(it);
}

std::vector<std::string> Peers::silent_since(TimePoint now, std::chrono::milliseconds max_silence) const {
  std::vector<std::string> out;
  for (const auto& [rid, peer] : peers_) {
    if (now - peer.last_seen > max_silence) out.push_back(rid);
  }
  return out;
}

}  // namespace proletariat::broker
