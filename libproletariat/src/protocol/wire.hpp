// Internals shared by the decoding (codec.cpp) and encoding (encode.cpp) halves of
// the codec: the command table and frame helpers. Not part of the codec's interface.
#pragma once

#include <optional>
#include <string_view>

#include <zmq.hpp>

#include "protocol/codec.hpp"

namespace proletariat::protocol::wire {

// Ids must survive a JavaScript number (PROTOCOL §2).
inline constexpr std::uint64_t kMaxSafeInteger = spec::kMaxSafeInteger;

// Commands and their wire names. Every command of the protocol is listed here once.
enum class Cmd {
  hello, offer, push, abort, result, reject, heartbeat, bye, welcome, offered, accepted, jobs, error,
  sysmsg, sysack, sysdone, status, mystatus, received, drain, progress, dead, deadletters, grouplimits
};

struct CmdName {
  Cmd cmd;
  std::string_view name;
};
inline constexpr CmdName kCommands[] = {
    {Cmd::hello, "HELLO"},       {Cmd::offer, "OFFER"},     {Cmd::push, "PUSH"},
    {Cmd::abort, "ABORT"},       {Cmd::result, "RESULT"},   {Cmd::reject, "REJECT"},
    {Cmd::heartbeat, "HEARTBEAT"}, {Cmd::bye, "BYE"},       {Cmd::welcome, "WELCOME"},
    {Cmd::offered, "OFFERED"},   {Cmd::accepted, "ACCEPTED"}, {Cmd::jobs, "JOBS"},
    {Cmd::error, "ERROR"},       {Cmd::sysmsg, "SYSMSG"},   {Cmd::sysack, "SYSACK"},
    {Cmd::sysdone, "SYSDONE"},   {Cmd::status, "STATUS"},   {Cmd::mystatus, "MYSTATUS"},
    {Cmd::received, "RECEIVED"}, {Cmd::drain, "DRAIN"},     {Cmd::progress, "PROGRESS"},
    {Cmd::dead, "DEAD"},         {Cmd::deadletters, "DEADLETTERS"}, {Cmd::grouplimits, "GROUPLIMITS"},
};

inline std::string_view name_of(Cmd cmd) {
  for (const auto& c : kCommands) {
    if (c.cmd == cmd) return c.name;
  }
  return "?";
}

inline std::optional<Cmd> cmd_of(std::string_view name) {
  for (const auto& c : kCommands) {
    if (c.name == name) return c.cmd;
  }
  return std::nullopt;
}

inline std::string_view view(const zmq::message_t& frame) { return {frame.data<char>(), frame.size()}; }

inline zmq::message_t frame_of(std::string_view text) { return zmq::message_t(text.data(), text.size()); }

}  // namespace proletariat::protocol::wire
