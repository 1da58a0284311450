#include "detail/opaque_frame.hpp"

#include <new>
#include <utility>

#include <zmq.hpp>

namespace proletariat::detail {

namespace {

static_assert(sizeof(zmq_msg_t) == 64 && alignof(zmq_msg_t) <= alignof(void*),
              "OpaqueFrame's storage no longer fits zmq_msg_t");

zmq_msg_t* as_msg(unsigned char* storage) noexcept { return std::launder(reinterpret_cast<zmq_msg_t*>(storage)); }

}  // namespace

OpaqueFrame::OpaqueFrame() noexcept { zmq_msg_init(new (storage_) zmq_msg_t); }

OpaqueFrame::OpaqueFrame(zmq::message_t&& frame) noexcept : OpaqueFrame() {
  zmq_msg_move(as_msg(storage_), frame.handle());
}

OpaqueFrame::OpaqueFrame(OpaqueFrame&& other) noexcept : OpaqueFrame() {
  zmq_msg_move(as_msg(storage_), as_msg(other.storage_));
}

OpaqueFrame& OpaqueFrame::operator=(OpaqueFrame&& other) noexcept {
  if (this != &other) zmq_msg_move(as_msg(storage_), as_msg(other.storage_));  // closes ours first
  return *this;
}

OpaqueFrame::~OpaqueFrame() { zmq_msg_close(as_msg(storage_)); }

zmq::message_t OpaqueFrame::share() const {
  zmq::message_t out;
  // Fails only for an invalid message, which a frame built here never is.
  zmq_msg_copy(out.handle(), as_msg(storage_));
  return out;
}

std::size_t OpaqueFrame::size() const noexcept { return zmq_msg_size(as_msg(storage_)); }

}  // namespace proletariat::detail
