#include "peer/control_requests.hpp"

#include <utility>
#include <variant>

namespace proletariat::peer {

namespace {

JobError not_connected() { return JobError{std::string(errc::kConnectionLost), "not connected to a manager"}; }

// Takes the callback of request `req` out of `pending`, if it waits there.
template <typename Done>
std::optional<Done> take(std::map<std::uint64_t, Done>& pending, std::uint64_t req) {
  auto it = pending.find(req);
  if (it == pending.end()) return std::nullopt;
  auto done = std::move(it->second);
  pending.erase(it);
  return done;
}

}  // namespace

void ControlRequests::system_message(Session& session, const nlohmann::json& msg, std::optional<std::string> to,
                                     SysmsgDone done) {
  if (!session.registered()) {
    done(not_connected(), {});
    return;
  }
  const std::uint64_t req = next_req_++;
  const auto text = msg.dump();
  sysmsgs_.emplace(req, std::move(done));
  session.send(protocol::encode(protocol::SysMsg{req, std::move(to), zmq::message_t(text.data(), text.size())}));
}

void ControlRequests::request_status(Session& session, bool mine, StatusDone done) {
  if (!session.registered()) {
    done(not_connected(), nlohmann::json());
    return;
  }
  const std::uint64_t req = next_req_++;
  statuses_.emplace(req, std::move(done));
  session.send(protocol::encode(protocol::StatusRequest{req, mine}));
}

namespace {

bool announces_lifecycle(Session& session, const ControlRequests::AdminDone& done) {
  if (!session.registered()) {
    done(not_connected(), nlohmann::json(), {});
    return false;
  }
  if (!session.welcome().lifecycle) {
    done(JobError{std::string(errc::kNotSupported), "the manager does not announce the job lifecycle (PROTOCOL §14)"},
         nlohmann::json(), {});
    return false;
  }
  return true;
}

}  // namespace

void ControlRequests::request_dead(Session& session, protocol::DeadRequest request, AdminDone done) {
  if (!announces_lifecycle(session, done)) return;
  request.req = next_req_++;
  admins_.emplace(request.req, std::move(done));
  session.send(protocol::encode(request));
}

void ControlRequests::request_group_limits(Session& session, protocol::GroupLimitsRequest request, AdminDone done) {
  if (!announces_lifecycle(session, done)) return;
  request.req = next_req_++;
  admins_.emplace(request.req, std::move(done));
  session.send(protocol::encode(request));
}

bool ControlRequests::answer(protocol::ManagerMessage& msg) {
  if (auto* dead = std::get_if<protocol::DeadLettersReply>(&msg)) {
    if (auto done = take(admins_, dead->header.value("req", std::uint64_t{0}))) {
      (*done)(std::nullopt, std::move(dead->header), std::move(dead->payloads));
    }
    return true;
  }
  if (auto* limits = std::get_if<protocol::GroupLimitsReply>(&msg)) {
    if (auto done = take(admins_, limits->header.value("req", std::uint64_t{0}))) {
      (*done)(std::nullopt, std::move(limits->header), {});
    }
    return true;
  }
  if (auto* sysdone = std::get_if<protocol::SysDone>(&msg)) {
    if (auto done = take(sysmsgs_, sysdone->req)) (*done)(std::nullopt, SysmsgReceipt{sysdone->sent_to, sysdone->received_by});
    return true;
  }
  if (auto* status = std::get_if<protocol::StatusReply>(&msg)) {
    if (auto done = take(statuses_, status->status.value("req", std::uint64_t{0}))) {
      (*done)(std::nullopt, std::move(status->status));
    }
    return true;
  }
  auto* error = std::get_if<protocol::ErrorReply>(&msg);
  if (error == nullptr || !error->req) return false;
  const JobError err{error->code, error->message};
  if (error->command == "SYSMSG") {
    if (auto done = take(sysmsgs_, *error->req)) {
      (*done)(err, {});
      return true;
    }
  } else if (error->command == "DEAD" || error->command == "GROUPLIMITS") {
    if (auto done = take(admins_, *error->req)) {
      (*done)(err, nlohmann::json(), {});
      return true;
    }
  } else if (error->command == "STATUS" || error->command == "MYSTATUS") {
    if (auto done = take(statuses_, *error->req)) {
      (*done)(err, nlohmann::json());
      return true;
    }
  }
  return false;
}

void ControlRequests::fail_all(std::string_view why) {
  auto sysmsgs = std::move(sysmsgs_);
  auto statuses = std::move(statuses_);
  auto admins = std::move(admins_);
  sysmsgs_.clear();
  statuses_.clear();
  admins_.clear();
  const JobError err{std::string(errc::kConnectionLost), std::string(why)};
  for (auto& [req, done] : sysmsgs) done(err, {});
  for (auto& [req, done] : statuses) done(err, nlohmann::json());
  for (auto& [req, done] : admins) done(err, nlohmann::json(), {});
}

}  // namespace proletariat::peer
