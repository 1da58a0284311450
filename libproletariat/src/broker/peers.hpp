// The registry of connected peers: who is a client, who is a worker, since when, and
// whether they are still alive.
//
// Pure state: no sockets, no clock reads (`now` is passed in). A peer is known by
// its ROUTER routing id (how the manager addresses it) and by the public id the
// manager gave it in WELCOME (how status and system messages name it). A worker
// also has a scheduler WorkerSlot and a client a ClientSlot; both are dense indexes,
// so the dispatcher can map scheduler effects back to peers in O(1).
//
// Invariant: every index below points at a live entry of `peers_`, and a peer
// leaves all of them at once in remove().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "scheduler/scheduler.hpp"

namespace proletariat::broker {

enum class Role { unknown, worker, client };

// Why a peer left the registry; logged, and later published on the system channel.
enum class DropReason { bye, heartbeat_expired, shutdown, key_revoked };
[[nodiscard]] std::string_view to_string(DropReason reason) noexcept;
[[nodiscard]] std::string_view to_string(Role role) noexcept;

struct Peer {
  std::string routing_id;
  std::string id;  // public id
  std::string name;
  std::string lang;
  std::string identity;  // HELLO "identity": a client that owns its jobs across sessions
  std::string key;       // its CURVE public key (Z85), with CURVE: its identity in status and logs
  Role role = Role::unknown;
  TimePoint connected_at{};
  TimePoint last_seen{};
  TimePoint last_sent{};
  std::optional<WorkerSlot> worker;
  std::optional<ClientSlot> client;
  std::size_t outstanding_jobs = 0;  // clients: accepted and not finished
  std::size_t outstanding_bytes = 0;  // clients: what those count against max_client_bytes
  unsigned subscriptions = 0;        // its SUB subscriptions granted on the XPUB socket and not ended
  bool takes_sysmsg = true;          // HELLO "sysmsg": false: never a recipient
};

class Peers {
 public:
  explicit Peers(std::string id_prefix) : id_prefix_(std::move(id_prefix)) {}

  // Registers a new peer (HELLO) and gives it a public id.
  Peer& add(const std::string& routing_id, TimePoint now);
  [[nodiscard]] Peer* find(const std::string& routing_id);
  [[nodiscard]] Peer* find_by_id(const std::string& id);
  [[nodiscard]] Peer* by_worker(WorkerSlot slot);
  [[nodiscard]] Peer* by_client(ClientSlot slot);

  // Role changes; each may happen once per peer.
  void make_worker(Peer& peer, WorkerSlot slot);
  ClientSlot make_client(Peer& peer);
  // A client slot with no peer: the jobs of a detached client (journal, identity).
  ClientSlot reserve_client_slot();
  // The peer becomes the client of a reserved slot (re-attachment).
  void attach_client(Peer& peer, ClientSlot slot);
  // `keep_client_slot`: the peer's client slot stays reserved for a later attach.
  void remove(const std::string& routing_id, bool keep_client_slot = false);
  void release_client_slot(ClientSlot slot);

  // Peers silent for longer than `max_silence` at `now`, as routing ids.
  [[nodiscard]] std::vector<std::string> silent_since(TimePoint now, std::chrono::milliseconds max_silence) const;

  [[nodiscard]] std::size_t size() const noexcept { return peers_.size(); }
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (auto& [rid, peer] : peers_) fn(peer);
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [rid, peer] : peers_) fn(peer);
  }

 private:
  std::string id_prefix_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, Peer> peers_;               // by routing id
  std::unordered_map<std::string, std::string> routing_of_;  // public id -> routing id
  std::vector<std::string> worker_routing_;                   // WorkerSlot -> routing id ("" if free)
  std::vector<std::string> client_routing_;                   // ClientSlot -> routing id ("" if free)
  std::vector<ClientSlot> free_client_slots_;
};

}  // namespace proletariat::broker
