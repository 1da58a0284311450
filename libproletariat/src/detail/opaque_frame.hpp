// OpaqueFrame: a received ZeroMQ frame held by code that must not depend on ZeroMQ.
//
// The scheduler keeps each job's payload in its own job record (one table per job,
// issue 6) but never reads it, and its headers include no ZeroMQ header (issue 10),
// so the frame rides as this opaque buffer: the same 64 bytes as a zmq_msg_t,
// moved in and shared out without copying what ZeroMQ allocated. Only the code that
// creates or sends frames (the dispatcher) sees zmq::message_t, through the
// conversions declared here and defined in opaque_frame.cpp.
#pragma once

#include <cstddef>

namespace zmq {
class message_t;
}

namespace proletariat::detail {

class OpaqueFrame {
 public:
  OpaqueFrame() noexcept;  // an empty frame
  explicit OpaqueFrame(zmq::message_t&& frame) noexcept;
  OpaqueFrame(OpaqueFrame&& other) noexcept;
  OpaqueFrame& operator=(OpaqueFrame&& other) noexcept;
  OpaqueFrame(const OpaqueFrame&) = delete;
  OpaqueFrame& operator=(const OpaqueFrame&) = delete;
  ~OpaqueFrame();

  // A second frame with the same bytes: a reference count for frames ZeroMQ
  // allocated, a copy of the few bytes of a small one. `const` because the bytes
  // never change; the count inside the frame does, as ZeroMQ's own copy does.
  [[nodiscard]] zmq::message_t share() const;
  [[nodiscard]] std::size_t size() const noexcept;

 private:
  // zmq_msg_t: 64 bytes aligned to a pointer (zmq.h); opaque_frame.cpp checks it.
  alignas(void*) mutable unsigned char storage_[64];
};

}  // namespace proletariat::detail
