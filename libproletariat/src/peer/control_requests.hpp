// peer::ControlRequests — the system messages (SYSMSG, answered by SYSDONE) and status
// requests (STATUS, MYSTATUS) a peer has sent and not yet had answered (PROTOCOL §8).
//
// Each request gets a number of its own (`req`), which the answer or the manager's
// ERROR names. Every callback runs exactly once, on the owner's I/O thread: with the
// answer, with the manager's error, or with ECONNLOST when the request could not be
// sent or its session ended first (fail_all).
//
// Threading: not thread-safe; lives on the owner's I/O thread beside its Session.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <proletariat/error.hpp>
#include <proletariat/sysmsg.hpp>

#include "peer/session.hpp"
#include "protocol/codec.hpp"

namespace proletariat::peer {

class ControlRequests {
 public:
  using SysmsgDone = std::function<void(std::optional<JobError>, SysmsgReceipt)>;
  using StatusDone = std::function<void(std::optional<JobError>, nlohmann::json)>;
  // DEAD and GROUPLIMITS (PROTOCOL §14): the reply's header and payload frames.
  using AdminDone = std::function<void(std::optional<JobError>, nlohmann::json, protocol::Frames)>;

  // Sends SYSMSG with `msg` as content, to `to` or to every peer.
  void system_message(Session& session, const nlohmann::json& msg, std::optional<std::string> to, SysmsgDone done);
  // Sends MYSTATUS when `mine`, else STATUS.
  void request_status(Session& session, bool mine, StatusDone done);
  // DEAD or GROUPLIMITS; their `req` is set here. ENOTSUPPORTED without lifecycle.
  void request_dead(Session& session, protocol::DeadRequest request, AdminDone done);
  void request_group_limits(Session& session, protocol::GroupLimitsRequest request, AdminDone done);
  // True if `msg` answered one of these requests (it is consumed then).
  bool answer(protocol::ManagerMessage& msg);
  // Fails every request in flight with ECONNLOST and `why`.
  void fail_all(std::string_view why);

 private:
  std::uint64_t next_req_ = 1;
  std::map<std::uint64_t, SysmsgDone> sysmsgs_;
  std::map<std::uint64_t, StatusDone> statuses_;
  std::map<std::uint64_t, AdminDone> admins_;
};

}  // namespace proletariat::peer
