// Fuzz target: protocol::decode_from_peer, the manager's one decode boundary.
//
// Input: one option byte, then the frames of one message as a DEALER sends them
// (fuzz_input.hpp). Option bit 0 decodes under small limits (8 frames, 512 bytes), so
// that the EBIGMSG paths are reached too. Beyond "no crash, no sanitizer report" it
// checks two properties:
//   - a refused message gets an ERROR reply that encodes (as Dispatcher::reply_error
//     sends it: the code, message and command the decoder filled in);
//   - a decoded message encodes to frames that decode again to a message that encodes
//     to the same bytes (decode . encode is the identity on what decode accepts).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_input.hpp"
#include "protocol/codec.hpp"

namespace {

using namespace proletariat::protocol;

template <typename T>
Frames encode_one(T& msg) {
  if constexpr (std::is_same_v<T, Push> || std::is_same_v<T, WorkerResults> || std::is_same_v<T, SysMsg> ||
                std::is_same_v<T, WorkerProgress>) {
    return encode(std::move(msg));
  } else {
    return encode(msg);
  }
}

Frames encode_any(PeerMessage& msg) {
  return std::visit([](auto& m) { return encode_one(m); }, msg);
}

std::vector<std::string> texts(const Frames& frames) {
  std::vector<std::string> out;
  out.reserve(frames.size());
  for (const auto& f : frames) out.push_back(f.to_string());
  return out;
}

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "peer_decode_fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  proletariat::fuzz::FuzzInput in(data, size);
  const std::uint8_t options = in.byte();
  Limits limits;
  if ((options & 1) != 0) {
    limits.max_frames = 8;
    limits.max_message_bytes = 512;
  }
  Frames frames;
  while (!in.empty()) in.append_frame(frames);

  auto decoded = decode_from_peer(frames, 0, limits);
  if (auto* err = std::get_if<DecodeError>(&decoded)) {
    const ErrorReply reply{std::string(err->code), err->message, err->command, err->req};
    (void)encode(reply);
    return 0;
  }
  auto& msg = std::get<PeerMessage>(decoded);
  const Frames first = encode_any(msg);
  const auto first_text = texts(first);
  Frames again;
  for (const auto& t : first_text) again.emplace_back(t.data(), t.size());
  auto redecoded = decode_from_peer(again, 0, Limits{});
  if (auto* err = std::get_if<DecodeError>(&redecoded)) {
    fail("an encoded message does not decode:", std::string(err->code) + " " + err->message);
  }
  if (texts(encode_any(std::get<PeerMessage>(redecoded))) != first_text) {
    fail("decode(encode(m)) encodes differently from m:", first_text.size() > 3 ? first_text[3] : std::string());
  }
  return 0;
}
