// The encoding half of the codec: typed messages in, frames out.
#include <charconv>
#include <cmath>

#include <proletariat/error.hpp>

#include "protocol/codec.hpp"
#include "protocol/json_text.hpp"
#include "protocol/wire.hpp"

namespace proletariat::protocol {
namespace {

using nlohmann::json;
using namespace wire;
using namespace json_text;

Frames start_message(Cmd cmd, const json& header) {
  Frames frames;
  frames.reserve(kFixedFrames);
  frames.emplace_back();
  frames.push_back(frame_of(kSignature));
  frames.push_back(frame_of(name_of(cmd)));
  if (header.empty()) {
    frames.emplace_back();
  } else {
    frames.push_back(frame_of(header.dump()));
  }
  return frames;
}

Frames with_payloads(Frames frames, Frames&& payloads) {
  frames.reserve(frames.size() + payloads.size());
  for (auto& p : payloads) frames.push_back(std::move(p));
  return frames;
}

// Headers that list one entry per job (JOBS, RESULT, PUSH, ACCEPTED) are written as
// text directly (json_text.hpp): building a JSON DOM costs several allocations per
// entry, and these are the manager's hot path. Other messages use nlohmann::json.
void append_error(std::string& out, const JobError& err) {
  out += "{\"code\":";
  append_string(out, err.code);
  out += ",\"message\":";
  append_string(out, err.message);
  out += '}';
}

Frames start_message_text(Cmd cmd, const std::string& header) {
  Frames frames;
  frames.reserve(kFixedFrames);
  frames.emplace_back();
  frames.push_back(frame_of(kSignature));
  frames.push_back(frame_of(name_of(cmd)));
  frames.push_back(frame_of(header));
  return frames;
}

void append_id_list(std::string& out, const std::vector<std::uint64_t>& ids) {
  append_list(out, ids, [&](std::uint64_t id) { append_uint(out, id); });
}

// One entry of a RESULT header, either direction: a worker's also names the attempt.
void append_result_entry(std::string& out, std::uint64_t id, std::optional<unsigned> attempt,
                         const std::optional<JobError>& err, bool raw) {
  out += "{\"id\":";
  append_uint(out, id);
  if (attempt) {
    append_field(out, "attempt");
    append_uint(out, *attempt);
  }
  if (err) {
    append_field(out, "err");
    append_error(out, *err);
  }
  if (raw) out += ",\"raw\":true";
  out += '}';
}

json attempts_json(const std::vector<JobAttempt>& jobs) {
  json arr = json::array();
  for (const auto& j : jobs) arr.push_back({{"id", j.id}, {"attempt", j.attempt}});
  return arr;
}


}  // namespace

Frames encode(const Hello& msg) {
  json h = json::object();
  if (!msg.name.empty()) h["name"] = msg.name;
  if (!msg.lang.empty()) h["lang"] = msg.lang;
  if (!msg.sysmsg) h["sysmsg"] = false;
  if (!msg.identity.empty()) h["identity"] = msg.identity;
  return start_message(Cmd::hello, h);
}

Frames encode(const Offer& msg) {
  json h = {{"slots", msg.slots}};
  if (!msg.priority_slots.empty()) {
    json ps = json::object();
    for (const auto& [start, slots] : msg.priority_slots) ps[priority_text(start)] = slots;
    h["prioritySlots"] = std::move(ps);
  }
  if (!msg.services.empty()) h["services"] = msg.services;
  return start_message(Cmd::offer, h);
}

json retry_json(const RetryPolicy& retry) {
  json out = {{"max", retry.max},
              {"initial", retry.initial.count()},
              {"factor", retry.factor},
              {"maxDelay", retry.max_delay.count()},
              {"jitter", retry.jitter}};
  if (!retry.codes.empty()) out["codes"] = retry.codes;
  return out;
}

namespace {

// The lifecycle fields of a push header or entry, each named by `field` (PROTOCOL §14).
template <typename Field>
void append_lifecycle(std::string& h, const Lifecycle& life, Field&& field) {
  if (life.due.delay_ms) {
    field("delay");
    append_uint(h, *life.due.delay_ms);
  }
  if (life.due.at_ms) {
    field("at");
    append_uint(h, *life.due.at_ms);
  }
  if (life.group) {
    field("group");
    append_string(h, *life.group);
  }
  if (life.retry) {
    field("retry");
    h += retry_json(*life.retry).dump();
  }
}

}  // namespace

Frames encode(Push&& msg) {
  std::string h;
  h.reserve(96 + msg.jobs.size() * 8);
  h += "{\"req\":";
  append_uint(h, msg.req);
  if (msg.priority != 0) {
    append_field(h, "priority");
    append_number(h, msg.priority);
  }
  if (msg.assign_timeout_ms) {
    append_field(h, "assigntimeout");
    append_uint(h, *msg.assign_timeout_ms);
  }
  if (msg.run_timeout_ms) {
    append_field(h, "runTimeout");
    append_uint(h, *msg.run_timeout_ms);
  }
  append_lifecycle(h, msg.lifecycle, [&](std::string_view name) { append_field(h, name); });
  h += ",\"jobs\":";
  append_list(h, msg.jobs, [&](const PushJob& j) {
    h += '{';
    bool first = true;
    const auto field = [&](std::string_view name) {
      if (!first) h += ',';
      first = false;
      append_string(h, name);
      h += ':';
    };
    if (!j.key.empty()) {
      field("key");
      append_string(h, j.key);
    }
    if (!j.service.empty()) {
      field("service");
      append_string(h, j.service);
    }
    if (j.raw) {
      field("raw");
      h += "true";
    }
    if (j.priority) {
      field("priority");
      append_number(h, *j.priority);
    }
    if (j.assign_timeout_ms) {
      field("assigntimeout");
      append_uint(h, *j.assign_timeout_ms);
    }
    if (j.run_timeout_ms) {
      field("runTimeout");
      append_uint(h, *j.run_timeout_ms);
    }
    append_lifecycle(h, j.lifecycle, field);
    h += '}';
  });
  h += '}';
  return with_payloads(start_message_text(Cmd::push, h), std::move(msg.payloads));
}

Frames encode(const ClientAbort& msg) { return start_message(Cmd::abort, {{"ids", msg.ids}}); }

Frames encode(const Received& msg) { return start_message(Cmd::received, {{"ids", msg.ids}}); }

Frames encode(const Drain&) { return start_message(Cmd::drain, json::object()); }

Frames encode(WorkerResults&& msg) {
  std::string h;
  h.reserve(16 + msg.results.size() * 32);
  h += "{\"results\":";
  append_list(h, msg.results,
              [&](const WorkerResult& res) { append_result_entry(h, res.id, res.attempt, res.err, res.raw); });
  h += '}';
  return with_payloads(start_message_text(Cmd::result, h), std::move(msg.payloads));
}

Frames encode(const Reject& msg) { return start_message(Cmd::reject, {{"jobs", attempts_json(msg.jobs)}}); }

Frames encode(const Heartbeat&) { return start_message(Cmd::heartbeat, json::object()); }

Frames encode(const Bye& msg) {
  json h = json::object();
  if (!msg.reason.empty()) h["reason"] = msg.reason;
  return start_message(Cmd::bye, h);
}

Frames encode(const Welcome& msg) {
  json h = {{"id", msg.id},
            {"protocol", msg.protocol},
            {"heartbeat_ms", msg.heartbeat_ms},
            {"liveness", msg.liveness},
            {"max_message_bytes", msg.max_message_bytes},
            {"max_frames", msg.max_frames}};
  if (msg.pub_port) h["pub_port"] = *msg.pub_port;
  if (!msg.pub_endpoint.empty()) h["pub_endpoint"] = msg.pub_endpoint;
  if (msg.entry_options) h["entry_options"] = true;
  if (!msg.journal.empty()) h["journal"] = msg.journal;
  if (msg.lifecycle) h["lifecycle"] = true;
  return start_message(Cmd::welcome, h);
}

Frames encode(const Offered& msg) {
  json ranges = json::array();
  for (const auto& r : msg.ranges) ranges.push_back({{"start", r.start}, {"slots", r.slots}});
  return start_message(Cmd::offered, {{"slots", msg.slots}, {"ranges", std::move(ranges)}});
}

Frames encode(const Accepted& msg) {
  std::string h;
  h.reserve(24 + msg.ids.size() * 8);
  h += "{\"req\":";
  append_uint(h, msg.req);
  h += ",\"ids\":";
  append_id_list(h, msg.ids);
  h += '}';
  return start_message_text(Cmd::accepted, h);
}

Frames encode(Jobs&& msg) {
  std::string h;
  h.reserve(16 + msg.jobs.size() * 64);
  h += "{\"jobs\":";
  append_list(h, msg.jobs, [&](const JobAssignment& j) {
    h += "{\"id\":";
    append_uint(h, j.id);
    append_field(h, "attempt");
    append_uint(h, j.attempt);
    append_field(h, "priority");
    append_number(h, j.priority);
    if (j.run_timeout_ms) {
      append_field(h, "runTimeout");
      append_uint(h, *j.run_timeout_ms);
    }
    if (!j.key.empty()) {
      append_field(h, "key");
      append_string(h, j.key);
    }
    if (!j.service.empty()) {
      append_field(h, "service");
      append_string(h, j.service);
    }
    if (j.raw) h += ",\"raw\":true";
    if (!j.client.empty()) {
      append_field(h, "client");
      append_string(h, j.client);
    }
    h += '}';
  });
  h += '}';
  return with_payloads(start_message_text(Cmd::jobs, h), std::move(msg.payloads));
}

Frames encode(const WorkerAbort& msg) { return start_message(Cmd::abort, {{"jobs", attempts_json(msg.jobs)}}); }

Frames encode(ClientResults&& msg) {
  std::string h;
  h.reserve(16 + msg.results.size() * 20);
  h += "{\"results\":";
  append_list(h, msg.results,
              [&](const ClientResult& res) {
                append_result_entry(h, res.id, std::nullopt, res.err, res.raw);
                if (res.attempts != 0) {
                  h.pop_back();  // the entry's '}'
                  append_field(h, "attempts");
                  append_uint(h, res.attempts);
                  h += '}';
                }
              });
  h += '}';
  return with_payloads(start_message_text(Cmd::result, h), std::move(msg.payloads));
}

Frames encode(const ErrorReply& msg) {
  json h = {{"code", msg.code},
            {"message", msg.message},
            {"class", std::string(to_string(error_class(msg.code)))}};
  if (!msg.command.empty()) h["command"] = msg.command;
  if (msg.req) h["req"] = *msg.req;
  // The message and command may quote what a peer sent (an unknown command's bytes,
  // a field name cut at 32 bytes): bytes that are not UTF-8 become U+FFFD, so that
  // refusing a message never throws (found by fuzz/peer_decode_fuzz).
  return start_message_text(Cmd::error, h.dump(-1, ' ', false, json::error_handler_t::replace));
}

Frames encode(SysMsg&& msg) {
  json h = {{"req", msg.req}};
  h["to"] = msg.to ? json(*msg.to) : json(nullptr);
  Frames content;
  content.push_back(std::move(msg.content));
  return with_payloads(start_message(Cmd::sysmsg, h), std::move(content));
}

Frames encode(const SysAck& msg) { return start_message(Cmd::sysack, {{"msg", msg.msg}}); }

Frames encode(const StatusRequest& msg) {
  json h = json::object();
  if (msg.req) h["req"] = *msg.req;
  return start_message(msg.mine ? Cmd::mystatus : Cmd::status, h);
}

Frames encode(const SysDone& msg) {
  return start_message(Cmd::sysdone, {{"req", msg.req}, {"sentTo", msg.sent_to}, {"receivedBy", msg.received_by}});
}

Frames encode_status(bool mine, const std::string& header) {
  return start_message_text(mine ? Cmd::mystatus : Cmd::status, header);
}

Frames encode(const StatusReply& msg) { return start_message(msg.mine ? Cmd::mystatus : Cmd::status, msg.status); }

Frames encode(Published&& msg) {
  Frames frames;
  frames.reserve(5);
  frames.push_back(frame_of(msg.topic));
  frames.push_back(frame_of(kSignature));
  frames.push_back(frame_of(name_of(Cmd::sysmsg)));
  frames.push_back(frame_of(json{{"msg", msg.msg}, {"from", msg.from}}.dump()));
  frames.push_back(std::move(msg.content));
  return frames;
}

zmq::message_t to_frame(const Payload& payload) { return detail::PayloadAccess::frame(payload); }

std::string priority_text(double priority) {
  constexpr double kMaxExact = 9007199254740992.0;  // 2^53
  if (priority == std::floor(priority) && std::fabs(priority) < kMaxExact) {
    return std::to_string(static_cast<std::int64_t>(priority));
  }
  return json(priority).dump();
}

namespace {

template <typename Entries>
std::string progress_header(const Entries& entries, bool with_attempt) {
  std::string h;
  h.reserve(16 + entries.size() * 32);
  h += "{\"progress\":";
  append_list(h, entries, [&](const ProgressEntry& e) {
    h += "{\"id\":";
    append_uint(h, e.id);
    if (with_attempt) {
      append_field(h, "attempt");
      append_uint(h, e.attempt);
    }
    if (e.raw) h += ",\"raw\":true";
    h += '}';
  });
  h += '}';
  return h;
}

std::string_view op_name(DeadOp op) {
  switch (op) {
    case DeadOp::list: return "list";
    case DeadOp::show: return "show";
    case DeadOp::requeue: return "requeue";
    case DeadOp::purge: return "purge";
  }
  return "list";
}

std::string_view op_name(GroupLimitsOp op) {
  switch (op) {
    case GroupLimitsOp::list: return "list";
    case GroupLimitsOp::set: return "set";
    case GroupLimitsOp::clear: return "clear";
  }
  return "list";
}

}  // namespace

Frames encode(WorkerProgress&& msg) {
  return with_payloads(start_message_text(Cmd::progress, progress_header(msg.entries, true)), std::move(msg.payloads));
}

Frames encode(ClientProgress&& msg) {
  return with_payloads(start_message_text(Cmd::progress, progress_header(msg.entries, false)), std::move(msg.payloads));
}

Frames encode(const DeadRequest& msg) {
  json h = {{"req", msg.req}, {"op", op_name(msg.op)}};
  if (!msg.ids.empty()) h["ids"] = msg.ids;
  if (msg.all) h["all"] = true;
  if (msg.op == DeadOp::list) h["limit"] = msg.limit;
  return start_message(Cmd::dead, h);
}

Frames encode(DeadLettersReply&& msg) {
  return with_payloads(start_message(Cmd::deadletters, msg.header), std::move(msg.payloads));
}

Frames encode(const GroupLimitsRequest& msg) {
  json h = {{"req", msg.req}, {"op", op_name(msg.op)}};
  if (!msg.group.empty()) h["group"] = msg.group;
  if (msg.max_running) h["maxRunning"] = *msg.max_running ? json(**msg.max_running) : json(nullptr);
  if (msg.rate) h["rate"] = *msg.rate ? json(**msg.rate) : json(nullptr);
  return start_message(Cmd::grouplimits, h);
}

Frames encode(const GroupLimitsReply& msg) { return start_message(Cmd::grouplimits, msg.header); }

}  // namespace proletariat::protocol
