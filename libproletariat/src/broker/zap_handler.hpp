// The ZAP handler (RFC 27) of the manager's CURVE sockets: libzmq asks it, over
// inproc://zeromq.zap.01, whether a connecting peer's public key may in; it answers
// from the KeyDirectory and names the key (Z85) as the connection's User-Id, which
// every message from that peer then carries as metadata.
//
// Hand-written rather than CZMQ's zauth: the check is one lookup in the allow-lists
// the dispatcher already needs for roles, and answering on the manager's own loop
// keeps one thread and one copy of the lists (docs/architecture.md).
#pragma once

#include <zmq.hpp>

#include "broker/key_directory.hpp"

namespace proletariat::broker {

class ZapHandler {
 public:
  // Binds the ZAP endpoint of `context`; must happen before a CURVE server binds.
  ZapHandler(zmq::context_t& context, const KeyDirectory& keys);
  [[nodiscard]] zmq::socket_t& socket() noexcept { return socket_; }
  // Answers every request waiting on the socket.
  void handle_pending();

 private:
  void handle(std::vector<zmq::message_t>& request);
  zmq::socket_t socket_;
  const KeyDirectory& keys_;
};

}  // namespace proletariat::broker
