// Payloads and ZeroMQ frames without copies (issue 10: "payloads without copies at the
// edges"). A received frame becomes the Payload the handler reads (moved into a
// reference-counted block, viewed in place), and a Payload becomes the frame sent by
// lending its bytes to ZeroMQ (zmq_msg_init_data with a release callback that drops a
// reference) when they are large enough that a copy costs more than the two small
// allocations of lending; small ones are copied, which for up to 33 bytes needs no
// allocation at all (ZeroMQ keeps them inside the message). Lending, unlike
// zmq_msg_copy of a received frame, writes nothing into the source, so one Payload
// may be sent from several threads at once.
#pragma once

#include <memory>
#include <string_view>

#include <zmq.hpp>

#include <proletariat/job.hpp>

namespace proletariat::detail {

struct PayloadAccess {
  // Payloads at least this big are lent to ZeroMQ instead of copied into a frame.
  static constexpr std::size_t kLendBytes = 1024;

  static Payload adopt(zmq::message_t&& frame, bool raw) {
    if (frame.size() == 0) return Payload::adopt(nullptr, {}, raw);
    auto owner = std::make_shared<const zmq::message_t>(std::move(frame));
    const std::string_view bytes(owner->data<char>(), owner->size());
    return Payload::adopt(std::move(owner), bytes, raw);
  }

  static zmq::message_t frame(const Payload& payload) {
    const std::string_view bytes = payload.bytes();
    if (bytes.size() < kLendBytes) return zmq::message_t(bytes.data(), bytes.size());
    // The frame keeps a reference to the payload's owner until ZeroMQ has sent it.
    auto* keep = new std::shared_ptr<const void>(payload.owner());
    return zmq::message_t(const_cast<char*>(bytes.data()), bytes.size(), &release, keep);
  }

 private:
  static void release(void* /*data*/, void* hint) { delete static_cast<std::shared_ptr<const void>*>(hint); }
};

}  // namespace proletariat::detail
