// The decoding half of the codec: frames in, typed messages or an error out.
#include "protocol/codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include <proletariat/error.hpp>

#include "protocol/list_header.hpp"
#include "protocol/offer.hpp"
#include "protocol/wire.hpp"

namespace proletariat::protocol {
namespace {

using nlohmann::json;
using namespace wire;

// nlohmann's lexer takes a NUL byte for the end of the input and so accepts
// `{"slots":1}\0anything`; JSON text never holds a raw NUL (not even in a string), and
// the streamed readers and the other bindings refuse it, so every DOM parse goes here.
json parse_header(const char* begin, std::size_t size) {
  if (std::memchr(begin, '\0', size) != nullptr) return json(json::value_t::discarded);
  return json::parse(begin, begin + size, nullptr, false);
}

// A range's lowest priority as an object key: JSON number syntax, not negative
// (PROTOCOL §4 OFFER). strtod alone would also take " 1", "0x10", "inf" and "1e".
bool is_priority_key(std::string_view text) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - from;
  };
  const std::size_t int_start = i;
  const std::size_t int_digits = digits();
  if (int_digits == 0 || (int_digits > 1 && text[int_start] == '0')) return false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == text.size();
}

// Reads typed fields out of a header, recording the first problem. Each getter
// returns false (and leaves the output alone) when the field is absent and optional.
class FieldReader {
 public:

  [[nodiscard]] bool ok() const { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

  const json* find(const json& obj, std::string_view name) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool uint(const json& obj, std::string_view name, std::uint64_t& out, bool required,
            std::uint64_t max = kMaxSafeInteger) {
    const json* v = find(obj, name);
    if (v == nullptr) {
      if (required) fail("missing field '" + std::string(name) + "'");
      return false;
    }
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<std::int64_t>() >= 0)) {
      fail("field '" + std::string(name) + "' must be an unsigned integer");
      return false;
    }
    auto value = v->get<std::uint64_t>();
    if (value > max) {
      fail("field '" + std::string(name) + "' is out of range");
      return false;
    }
    out = value;
    return true;
  }

  bool number(const json& obj, std::string_view name, double& out) {
    const json* v = find(obj, name);
    if (v == nullptr) return false;
    if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < 0) {
      fail("field '" + std::string(name) + "' must be a finite number >= 0");
      return false;
    }
    out = v->get<double>();
    return true;
  }

  bool string(const json& obj, std::string_view name, std::string& out) {
    const json* v = find(obj, name);
    if (v == nullptr) return false;
    if (!v->is_string()) {
      fail("field '" + std::string(name) + "' must be a string");
      return false;
    }
    out = v->get<std::string>();
    return true;
  }

  bool boolean(const json& obj, std::string_view name, bool& out) {
    const json* v = find(obj, name);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      fail("field '" + std::string(name) + "' must be a boolean");
      return false;
    }
    out = v->get<bool>();
    return true;
  }

  const json* array(const json& obj, std::string_view name, bool required) {
    const json* v = find(obj, name);
    if (v == nullptr) {
      if (required) fail("missing field '" + std::string(name) + "'");
      return nullptr;
    }
    if (!v->is_array()) {
      fail("field '" + std::string(name) + "' must be an array");
      return nullptr;
    }
    return v;
  }

  // An array of objects; each element must be an object.
  const json* objects(const json& obj, std::string_view name) {
    const json* arr = array(obj, name, true);
    if (arr == nullptr) return nullptr;
    for (const auto& e : *arr) {
      if (!e.is_object()) {
        fail("entries of '" + std::string(name) + "' must be objects");
        return nullptr;
      }
    }
    return arr;
  }

  bool attempt_list(const json& obj, std::string_view name, std::vector<JobAttempt>& out) {
    const json* arr = objects(obj, name);
    if (arr == nullptr) return false;
    out.reserve(arr->size());
    for (const auto& e : *arr) {
      JobAttempt a;
      std::uint64_t attempt = 0;
      uint(e, "id", a.id, true);
      uint(e, "attempt", attempt, true, std::numeric_limits<unsigned>::max());
      a.attempt = static_cast<unsigned>(attempt);
      out.push_back(a);
    }
    return ok();
  }

 private:
  std::string error_;
};

// Checks the fixed frames and size limits, parses the header. On success `cmd` and
// `header` are set.
struct Envelope {
  std::string command;
  std::optional<Cmd> cmd;
  json header;                                // empty when `streamed`
  const zmq::message_t* header_frame = nullptr;
  bool streamed = false;                      // left for a ListHeaderReader
  std::size_t payload_begin = 0;
};

// `streamed` names commands whose header the caller reads with a ListHeaderReader
// instead of a DOM (the per-job lists of the hot path).
std::optional<DecodeError> open_envelope(const Frames& frames, std::size_t first, const Limits* limits,
                                         Envelope& env, std::initializer_list<Cmd> streamed = {}) {
  if (frames.size() < first + kFixedFrames) {
    return DecodeError{errc::kBadFrame, "a message needs a delimiter, signature, command and header frame", {}, {}};
  }
  if (limits != nullptr) {
    // The command frame is small and read without parsing anything: naming it lets a
    // client tell which of its messages was refused (PROTOCOL §10).
    const std::string command = cmd_of(view(frames[first + 2])) ? std::string(view(frames[first + 2])) : std::string();
    if (frames.size() - first > limits->max_frames) {
      return DecodeError{errc::kTooBig,
                         "message has " + std::to_string(frames.size() - first) + " frames, the limit is " +
                             std::to_string(limits->max_frames),
                         command, {}};
    }
    std::size_t bytes = 0;
    for (std::size_t i = first; i < frames.size(); ++i) bytes += frames[i].size();
    if (bytes > limits->max_message_bytes) {
      return DecodeError{errc::kTooBig,
                         "message has " + std::to_string(bytes) + " bytes, the limit is " +
                             std::to_string(limits->max_message_bytes),
                         command, {}};
    }
  }
  if (frames[first].size() != 0) {
    return DecodeError{errc::kBadFrame, "frame 0 must be the empty delimiter", {}, {}};
  }
  if (view(frames[first + 1]) != kSignature) {
    return DecodeError{errc::kVersion, "frame 1 must be the protocol signature PRO1", {}, {}};
  }
  const auto command = view(frames[first + 2]);
  env.command = std::string(command.substr(0, 32));
  env.cmd = cmd_of(command);
  const auto& header_frame = frames[first + 3];
  env.header_frame = &header_frame;
  env.streamed = env.cmd && std::find(streamed.begin(), streamed.end(), *env.cmd) != streamed.end();
  if (env.streamed) {
    // Parsed (and its JSON checked) by the command's reader.
  } else if (header_frame.size() == 0) {
    env.header = json::object();
  } else {
    env.header = parse_header(header_frame.data<char>(), header_frame.size());
    if (env.header.is_discarded() || !env.header.is_object()) {
      return DecodeError{errc::kBadJson, "header is not a JSON object", env.command, {}};
    }
  }
  if (!env.cmd) {
    return DecodeError{errc::kUnknownCommand, "unknown command '" + env.command + "'", env.command, {}};
  }
  env.payload_begin = first + kFixedFrames;
  return std::nullopt;
}

std::optional<DecodeError> take_payloads(Frames& frames, const Envelope& env, std::size_t expected, Frames& out,
                                         std::optional<std::uint64_t> req = std::nullopt) {
  const std::size_t available = frames.size() - env.payload_begin;
  if (available != expected) {
    return DecodeError{errc::kBadFrame,
                       "header lists " + std::to_string(expected) + " entries but " + std::to_string(available) +
                           " payload frames follow",
                       env.command, req};
  }
  out.reserve(expected);
  for (std::size_t i = env.payload_begin; i < frames.size(); ++i) out.push_back(std::move(frames[i]));
  return std::nullopt;
}

std::optional<DecodeError> no_payloads(const Frames& frames, const Envelope& env) {
  if (frames.size() != env.payload_begin) {
    return DecodeError{errc::kBadFrame, env.command + " carries no payload frames", env.command, {}};
  }
  return std::nullopt;
}

DecodeError field_error(const Envelope& env, const FieldReader& r, std::optional<std::uint64_t> req = {}) {
  return DecodeError{errc::kBadField, r.error(), env.command, req};
}

// Streams a header through `sink`; the error a failure becomes.
std::optional<DecodeError> read_list_header(const Envelope& env, std::string_view list, ListHeaderSink& sink,
                                            const std::optional<std::uint64_t>& req) {
  std::string problem;
  ListHeaderReader reader(list, sink);
  const auto& frame = *env.header_frame;
  switch (reader.read(frame.data<char>(), frame.data<char>() + frame.size(), problem)) {
    case ListHeaderOutcome::ok:
      return std::nullopt;
    case ListHeaderOutcome::bad_json:
      return DecodeError{errc::kBadJson, "header is not a JSON object", env.command, req};
    case ListHeaderOutcome::bad_field:
      break;
  }
  return DecodeError{errc::kBadField, std::move(problem), env.command, req};
}

std::string need_unsigned(std::string_view key, const Scalar& v, std::uint64_t& out,
                          std::uint64_t max = kMaxSafeInteger) {
  if (!v.is_unsigned()) return "field '" + std::string(key) + "' must be an unsigned integer";
  if (v.as_unsigned() > max) return "field '" + std::string(key) + "' is out of range";
  out = v.as_unsigned();
  return {};
}

std::string need_string(std::string_view key, const Scalar& v, std::string& out) {
  if (v.kind != Scalar::Kind::string) return "field '" + std::string(key) + "' must be a string";
  out.assign(v.s);
  return {};
}

std::string need_boolean(std::string_view key, const Scalar& v, bool& out) {
  if (v.kind != Scalar::Kind::boolean) return "field '" + std::string(key) + "' must be a boolean";
  out = v.boolean;
  return {};
}

std::string need_priority(const Scalar& v, double& out) {
  if (!v.is_number() || !std::isfinite(v.as_double()) || v.as_double() < 0) {
    return "field 'priority' must be a finite number >= 0";
  }
  out = v.as_double();
  return {};
}

// One of a push's lifecycle fields (PROTOCOL §14) at the header or in an entry; not
// one of them: nothing (an empty problem and `taken` false).
std::string lifecycle_field(std::string_view key, const Scalar& v, Lifecycle& out, bool& taken) {
  taken = true;
  std::uint64_t n = 0;
  if (key == "delay" || key == "at") {
    auto problem = need_unsigned(key, v, n);
    if (!problem.empty()) return problem;
    if (key == "delay") {
      if (out.due.delay_ms) return "field 'delay' is given twice";
      out.due.delay_ms = n;
    } else {
      if (out.due.at_ms) return "field 'at' is given twice";
      out.due.at_ms = n;
    }
    if (out.due.delay_ms && out.due.at_ms) return "a job has 'delay' or 'at', not both";
    return {};
  }
  if (key == "group") {
    if (v.kind != Scalar::Kind::string) return "field 'group' must be a string";
    if (v.s.empty() || v.s.size() > spec::kMaxGroupBytes) {
      return "field 'group' must be 1 to " + std::to_string(spec::kMaxGroupBytes) + " bytes";
    }
    out.group.emplace(v.s);
    return {};
  }
  if (key == "retry") {
    if (v.kind != Scalar::Kind::compound || v.s.empty() || v.s.front() != '{') return "field 'retry' must be an object";
    // A stream of pushes repeats one policy: the last one parsed (per thread: each
    // peer's I/O thread and the manager's loop decode alone) is reused when the text
    // is the same, so a push costs a comparison, not a JSON parse and an allocation.
    thread_local std::string last_text;
    thread_local std::shared_ptr<const RetryPolicy> last_policy;
    if (last_policy && v.s == last_text) {
      out.retry = last_policy;
      return {};
    }
    auto parsed = parse_retry(v.s);
    if (auto* problem = std::get_if<std::string>(&parsed)) return std::move(*problem);
    out.retry = std::make_shared<const RetryPolicy>(std::get<RetryPolicy>(std::move(parsed)));
    last_text.assign(v.s);
    last_policy = out.retry;
    return {};
  }
  taken = false;
  return {};
}

class PushSink final : public ListHeaderSink {
 public:
  explicit PushSink(Push& push) : push_(push) {}
  bool has_req = false;

  bool wants_text(bool, std::string_view key) override { return key == "retry"; }

  std::string top(std::string_view key, const Scalar& v) override {
    std::uint64_t n = 0;
    bool taken = false;
    auto lifecycle_problem = lifecycle_field(key, v, push_.lifecycle, taken);
    if (taken) return lifecycle_problem;
    if (key == "req") {
      auto problem = need_unsigned(key, v, push_.req);
      has_req = problem.empty();
      return problem;
    }
    if (key == "priority") return need_priority(v, push_.priority);
    if (key == "assigntimeout") {
      auto problem = need_unsigned(key, v, n);
      if (problem.empty()) push_.assign_timeout_ms = n;
      return problem;
    }
    if (key == "runTimeout") {
      auto problem = need_unsigned(key, v, n);
      if (problem.empty()) push_.run_timeout_ms = n;
      return problem;
    }
    return {};
  }
  std::string begin_entry() override {
    push_.jobs.emplace_back();
    return {};
  }
  std::string entry(std::string_view key, const Scalar& v) override {
    auto& job = push_.jobs.back();
    bool taken = false;
    auto lifecycle_problem = lifecycle_field(key, v, job.lifecycle, taken);
    if (taken) return lifecycle_problem;
    if (key == "key") return need_string(key, v, job.key);
    if (key == "service") return need_string(key, v, job.service);
    if (key == "raw") return need_boolean(key, v, job.raw);
    std::uint64_t n = 0;
    if (key == "priority") {
      double priority = 0;
      auto problem = need_priority(v, priority);
      if (problem.empty()) job.priority = priority;
      return problem;
    }
    if (key == "assigntimeout") {
      auto problem = need_unsigned(key, v, n);
      if (problem.empty()) job.assign_timeout_ms = n;
      return problem;
    }
    if (key == "runTimeout") {
      auto problem = need_unsigned(key, v, n);
      if (problem.empty()) job.run_timeout_ms = n;
      return problem;
    }
    return {};
  }
  std::string entry_error(std::string_view, const Scalar&) override { return {}; }
  std::string end_entry() override { return {}; }

 private:
  Push& push_;
};

// The RESULT lists of both directions: a worker's entries also carry the attempt.
template <typename Results>
class ResultListSink final : public ListHeaderSink {
 public:
  explicit ResultListSink(Results& results) : results_(results) {}

  std::string top(std::string_view, const Scalar&) override { return {}; }
  std::string begin_entry() override {
    results_.results.emplace_back();
    seen_id_ = seen_attempt_ = false;
    return {};
  }
  std::string entry(std::string_view key, const Scalar& v) override {
    auto& res = results_.results.back();
    if (key == "id") {
      seen_id_ = true;
      return need_unsigned(key, v, res.id);
    }
    if constexpr (kWithAttempt) {
      if (key == "attempt") {
        seen_attempt_ = true;
        std::uint64_t attempt = 0;
        auto problem = need_unsigned(key, v, attempt, std::numeric_limits<unsigned>::max());
        res.attempt = static_cast<unsigned>(attempt);
        return problem;
      }
    }
    if (key == "raw") return need_boolean(key, v, res.raw);
    if constexpr (!kWithAttempt) {
      if (key == "attempts") {
        std::uint64_t attempts = 0;
        auto problem = need_unsigned(key, v, attempts, std::numeric_limits<unsigned>::max());
        res.attempts = static_cast<unsigned>(attempts);
        return problem;
      }
    }
    if (key == "err") return "field 'err' must be null or an object";  // a compound that is not an object
    return {};
  }
  std::string entry_error(std::string_view key, const Scalar& v) override {
    auto& res = results_.results.back();
    if (!res.err) res.err.emplace();
    if (key == "code") return need_string(key, v, res.err->code);
    if (key == "message") return need_string(key, v, res.err->message);
    return {};
  }
  std::string end_entry() override {
    auto& res = results_.results.back();
    if (!seen_id_) return "missing field 'id'";
    if (kWithAttempt && !seen_attempt_) return "missing field 'attempt'";
    if (res.err && res.err->code.empty()) res.err->code = std::string(errc::kHandler);
    return {};
  }

 private:
  static constexpr bool kWithAttempt = std::is_same_v<Results, WorkerResults>;
  Results& results_;
  bool seen_id_ = false;
  bool seen_attempt_ = false;
};

class JobsSink final : public ListHeaderSink {
 public:
  explicit JobsSink(Jobs& jobs) : jobs_(jobs) {}

  std::string top(std::string_view, const Scalar&) override { return {}; }
  std::string begin_entry() override {
    jobs_.jobs.emplace_back();
    seen_id_ = seen_attempt_ = false;
    return {};
  }
  std::string entry(std::string_view key, const Scalar& v) override {
    auto& job = jobs_.jobs.back();
    if (key == "id") {
      seen_id_ = true;
      return need_unsigned(key, v, job.id);
    }
    if (key == "attempt") {
      seen_attempt_ = true;
      std::uint64_t attempt = 0;
      auto problem = need_unsigned(key, v, attempt, std::numeric_limits<unsigned>::max());
      job.attempt = static_cast<unsigned>(attempt);
      return problem;
    }
    if (key == "priority") {
      if (!v.is_number() || !std::isfinite(v.as_double()) || v.as_double() < 0) {
        return "field 'priority' must be a finite number >= 0";
      }
      job.priority = v.as_double();
      return {};
    }
    if (key == "runTimeout") {
      std::uint64_t ms = 0;
      auto problem = need_unsigned(key, v, ms);
      if (problem.empty()) job.run_timeout_ms = ms;
      return problem;
    }
    if (key == "key") return need_string(key, v, job.key);
    if (key == "service") return need_string(key, v, job.service);
    if (key == "raw") return need_boolean(key, v, job.raw);
    if (key == "client") return need_string(key, v, job.client);
    return {};
  }
  std::string entry_error(std::string_view, const Scalar&) override { return {}; }
  std::string end_entry() override {
    if (!seen_id_) return "missing field 'id'";
    if (!seen_attempt_) return "missing field 'attempt'";
    return {};
  }

 private:
  Jobs& jobs_;
  bool seen_id_ = false;
  bool seen_attempt_ = false;
};

// PROGRESS entries of both directions: a worker's also carry the attempt.
class ProgressSink final : public ListHeaderSink {
 public:
  ProgressSink(std::vector<ProgressEntry>& entries, bool with_attempt)
      : entries_(entries), with_attempt_(with_attempt) {}

  std::string top(std::string_view, const Scalar&) override { return {}; }
  std::string begin_entry() override {
    entries_.emplace_back();
    seen_id_ = seen_attempt_ = false;
    return {};
  }
  std::string entry(std::string_view key, const Scalar& v) override {
    auto& e = entries_.back();
    if (key == "id") {
      seen_id_ = true;
      return need_unsigned(key, v, e.id);
    }
    if (with_attempt_ && key == "attempt") {
      seen_attempt_ = true;
      std::uint64_t attempt = 0;
      auto problem = need_unsigned(key, v, attempt, std::numeric_limits<unsigned>::max());
      e.attempt = static_cast<unsigned>(attempt);
      return problem;
    }
    if (key == "raw") return need_boolean(key, v, e.raw);
    return {};
  }
  std::string entry_error(std::string_view, const Scalar&) override { return {}; }
  std::string end_entry() override {
    if (!seen_id_) return "missing field 'id'";
    if (with_attempt_ && !seen_attempt_) return "missing field 'attempt'";
    return {};
  }

 private:
  std::vector<ProgressEntry>& entries_;
  bool with_attempt_;
  bool seen_id_ = false;
  bool seen_attempt_ = false;
};

std::variant<DeadRequest, DecodeError> decode_dead(const Envelope& env) {
  FieldReader r;
  DeadRequest d;
  const bool has_req = r.uint(env.header, "req", d.req, true);
  const std::optional<std::uint64_t> req = has_req ? std::optional(d.req) : std::nullopt;
  std::string op;
  r.string(env.header, "op", op);
  if (op == "list") {
    d.op = DeadOp::list;
  } else if (op == "show") {
    d.op = DeadOp::show;
  } else if (op == "requeue") {
    d.op = DeadOp::requeue;
  } else if (op == "purge") {
    d.op = DeadOp::purge;
  } else if (r.ok()) {
    r.fail("field 'op' must be list, show, requeue or purge");
  }
  bool has_ids = false;
  if (const json* ids = r.array(env.header, "ids", false)) {
    has_ids = true;
    for (const auto& id : *ids) {
      if (!id.is_number_unsigned()) {
        r.fail("ids must be unsigned integers");
        break;
      }
      d.ids.push_back(id.get<std::uint64_t>());
    }
  }
  r.boolean(env.header, "all", d.all);
  std::uint64_t limit = 0;
  if (r.uint(env.header, "limit", limit, false)) d.limit = static_cast<std::size_t>(std::min<std::uint64_t>(limit, spec::kMaxLettersListed));
  if (r.ok() && (d.op == DeadOp::requeue || d.op == DeadOp::purge) && !has_ids && !d.all) {
    r.fail(op + " needs 'ids' or \"all\": true");
  }
  if (r.ok() && d.op == DeadOp::show && !has_ids) r.fail("show needs 'ids'");
  if (!r.ok()) return DecodeError{errc::kBadField, r.error(), env.command, req};
  return d;
}

std::variant<GroupLimitsRequest, DecodeError> decode_group_limits(const Envelope& env) {
  FieldReader r;
  GroupLimitsRequest g;
  const bool has_req = r.uint(env.header, "req", g.req, true);
  const std::optional<std::uint64_t> req = has_req ? std::optional(g.req) : std::nullopt;
  std::string op;
  r.string(env.header, "op", op);
  if (op == "list") {
    g.op = GroupLimitsOp::list;
  } else if (op == "set") {
    g.op = GroupLimitsOp::set;
  } else if (op == "clear") {
    g.op = GroupLimitsOp::clear;
  } else if (r.ok()) {
    r.fail("field 'op' must be list, set or clear");
  }
  r.string(env.header, "group", g.group);
  if (g.group.size() > spec::kMaxGroupBytes) r.fail("field 'group' is longer than max_group_bytes");
  if (r.ok() && g.op != GroupLimitsOp::list && g.group.empty()) r.fail(op + " needs a non-empty 'group'");
  // null is a value here ("no limit"), so these two are read by hand.
  if (const auto it = env.header.find("maxRunning"); r.ok() && it != env.header.end()) {
    if (it->is_null()) {
      g.max_running.emplace(std::nullopt);
    } else if (it->is_number_unsigned() && it->get<std::uint64_t>() <= kMaxSafeInteger) {
      g.max_running.emplace(it->get<std::uint64_t>());
    } else {
      r.fail("field 'maxRunning' must be null or an unsigned integer");
    }
  }
  if (const auto it = env.header.find("rate"); r.ok() && it != env.header.end()) {
    if (it->is_null()) {
      g.rate.emplace(std::nullopt);
    } else if (it->is_number() && std::isfinite(it->get<double>()) && it->get<double>() >= 0) {
      g.rate.emplace(it->get<double>());
    } else {
      r.fail("field 'rate' must be null or a finite number >= 0");
    }
  }
  if (!r.ok()) return DecodeError{errc::kBadField, r.error(), env.command, req};
  return g;
}

std::variant<Offer, DecodeError> decode_offer(const Envelope& env) {
  FieldReader r;
  Offer offer;
  std::uint64_t slots = offer.slots;
  r.uint(env.header, "slots", slots, false, std::numeric_limits<unsigned>::max());
  offer.slots = static_cast<unsigned>(slots);
  if (const json* ps = r.find(env.header, "prioritySlots")) {
    if (!ps->is_object()) {
      r.fail("field 'prioritySlots' must be an object");
    } else {
      for (const auto& [start_text, guaranteed] : ps->items()) {
        // nlohmann converts without the global locale (a ',' decimal point must not matter).
        // A number too large for a double ("1e400") is refused too, not thrown.
        const json number = is_priority_key(start_text) ? json::parse(start_text, nullptr, false) : json();
        const double start = number.is_number() ? number.get<double>() : -1;
        if (!std::isfinite(start) || start < 0) {
          r.fail("prioritySlots key '" + start_text.substr(0, 32) + "' is not a number >= 0");
          break;
        }
        if (!guaranteed.is_number_unsigned() ||
            guaranteed.get<std::uint64_t>() > std::numeric_limits<unsigned>::max()) {
          r.fail("prioritySlots values must be unsigned integers");
          break;
        }
        offer.priority_slots[start] = guaranteed.get<unsigned>();
      }
    }
  }
  if (const json* services = r.array(env.header, "services", false)) {
    for (const auto& s : *services) {
      if (!s.is_string()) {
        r.fail("services must be strings");
        break;
      }
      offer.services.push_back(s.get<std::string>());
    }
  }
  // One rule for OFFER (PROTOCOL §4): a wrong type, range or sum is EBADOFFER.
  if (!r.ok()) return DecodeError{errc::kBadOffer, r.error(), env.command, {}};
  if (auto problem = validate_offer(offer.slots, offer.priority_slots, offer.services)) {
    return DecodeError{errc::kBadOffer, std::move(*problem), env.command, {}};
  }
  return offer;
}

}  // namespace

// The "ids" array of ABORT and RECEIVED: job ids, each an unsigned integer.
template <typename FieldReader>
void read_ids(FieldReader& r, const json& header, std::vector<std::uint64_t>& out) {
  const json* ids = r.array(header, "ids", true);
  if (ids == nullptr) return;
  for (const auto& id : *ids) {
    if (!id.is_number_unsigned()) {
      r.fail("ids must be unsigned integers");
      return;
    }
    out.push_back(id.get<std::uint64_t>());
  }
}

std::variant<PeerMessage, DecodeError> decode_from_peer(Frames& frames, std::size_t first, const Limits& limits) {
  Envelope env;
  if (auto err = open_envelope(frames, first, &limits, env, {Cmd::push, Cmd::result, Cmd::progress})) return *err;
  FieldReader r;
  switch (*env.cmd) {
    case Cmd::hello: {
      if (auto err = no_payloads(frames, env)) return *err;
      Hello hello;
      r.string(env.header, "name", hello.name);
      r.string(env.header, "lang", hello.lang);
      r.boolean(env.header, "sysmsg", hello.sysmsg);
      if (r.string(env.header, "identity", hello.identity) &&
          (hello.identity.empty() || hello.identity.size() > kMaxIdentityBytes)) {
        r.fail("field 'identity' must be 1 to " + std::to_string(kMaxIdentityBytes) + " bytes");
      }
      if (!r.ok()) return field_error(env, r);
      return PeerMessage{std::move(hello)};
    }
    case Cmd::offer: {
      if (auto err = no_payloads(frames, env)) return *err;
      auto offer = decode_offer(env);
      if (auto* e = std::get_if<DecodeError>(&offer)) return *e;
      return PeerMessage{std::get<Offer>(std::move(offer))};
    }
    case Cmd::push: {
      Push push;
      PushSink sink(push);
      auto problem = read_list_header(env, "jobs", sink, std::nullopt);
      const std::optional<std::uint64_t> req = sink.has_req ? std::optional(push.req) : std::nullopt;
      if (!problem && !sink.has_req) problem = DecodeError{errc::kBadField, "missing field 'req'", env.command, {}};
      if (problem) {
        problem->req = req;
        return *problem;
      }
      if (auto err = take_payloads(frames, env, push.jobs.size(), push.payloads, req)) return *err;
      return PeerMessage{std::move(push)};
    }
    case Cmd::abort: {
      if (auto err = no_payloads(frames, env)) return *err;
      ClientAbort abort;
      read_ids(r, env.header, abort.ids);
      if (!r.ok()) return field_error(env, r);
      return PeerMessage{std::move(abort)};
    }
    case Cmd::received: {
      if (auto err = no_payloads(frames, env)) return *err;
      Received received;
      read_ids(r, env.header, received.ids);
      if (!r.ok()) return field_error(env, r);
      return PeerMessage{std::move(received)};
    }
    case Cmd::drain:
      if (auto err = no_payloads(frames, env)) return *err;
      return PeerMessage{Drain{}};
    case Cmd::progress: {
      WorkerProgress progress;
      ProgressSink sink(progress.entries, true);
      if (auto problem = read_list_header(env, "progress", sink, std::nullopt)) return *problem;
      if (auto err = take_payloads(frames, env, progress.entries.size(), progress.payloads)) return *err;
      return PeerMessage{std::move(progress)};
    }
    case Cmd::dead: {
      if (auto err = no_payloads(frames, env)) return *err;
      auto dead = decode_dead(env);
      if (auto* e = std::get_if<DecodeError>(&dead)) return *e;
      return PeerMessage{std::get<DeadRequest>(std::move(dead))};
    }
    case Cmd::grouplimits: {
      if (auto err = no_payloads(frames, env)) return *err;
      auto limits_request = decode_group_limits(env);
      if (auto* e = std::get_if<DecodeError>(&limits_request)) return *e;
      return PeerMessage{std::get<GroupLimitsRequest>(std::move(limits_request))};
    }
    case Cmd::result: {
      WorkerResults results;
      ResultListSink<WorkerResults> sink(results);
      if (auto problem = read_list_header(env, "results", sink, std::nullopt)) return *problem;
      if (auto err = take_payloads(frames, env, results.results.size(), results.payloads)) return *err;
      return PeerMessage{std::move(results)};
    }
    case Cmd::reject: {
      if (auto err = no_payloads(frames, env)) return *err;
      Reject reject;
      r.attempt_list(env.header, "jobs", reject.jobs);
      if (!r.ok()) return field_error(env, r);
      return PeerMessage{std::move(reject)};
    }
    case Cmd::heartbeat:
      if (auto err = no_payloads(frames, env)) return *err;
      return PeerMessage{Heartbeat{}};
    case Cmd::bye: {
      if (auto err = no_payloads(frames, env)) return *err;
      Bye bye;
      r.string(env.header, "reason", bye.reason);
      return PeerMessage{std::move(bye)};
    }
    case Cmd::sysmsg: {
      SysMsg msg;
      const bool has_req = r.uint(env.header, "req", msg.req, true);
      const std::optional<std::uint64_t> req = has_req ? std::optional(msg.req) : std::nullopt;
      std::string to;
      if (r.string(env.header, "to", to)) msg.to = std::move(to);
      if (!r.ok()) return field_error(env, r, req);
      Frames content;
      if (auto err = take_payloads(frames, env, 1, content, req)) return *err;
      msg.content = std::move(content[0]);
      return PeerMessage{std::move(msg)};
    }
    case Cmd::sysack: {
      if (auto err = no_payloads(frames, env)) return *err;
      SysAck ack;
      r.uint(env.header, "msg", ack.msg, true);
      if (!r.ok()) return field_error(env, r);
      return PeerMessage{ack};
    }
    case Cmd::status:
    case Cmd::mystatus: {
      if (auto err = no_payloads(frames, env)) return *err;
      StatusRequest request;
      std::uint64_t req = 0;
      if (r.uint(env.header, "req", req, false)) request.req = req;
      request.mine = *env.cmd == Cmd::mystatus;
      if (!r.ok()) return field_error(env, r);
      return PeerMessage{request};
    }
    default:
      return DecodeError{errc::kUnknownCommand, env.command + " is not a command a peer may send", env.command, {}};
  }
}

std::variant<ManagerMessage, DecodeError> decode_from_manager(Frames& frames, std::size_t first) {
  Envelope env;
  if (auto err = open_envelope(frames, first, nullptr, env, {Cmd::jobs, Cmd::result, Cmd::progress})) return *err;
  FieldReader r;
  switch (*env.cmd) {
    case Cmd::welcome: {
      Welcome w;
      std::uint64_t protocol = 0;
      std::uint64_t liveness = 0;
      r.string(env.header, "id", w.id);
      r.uint(env.header, "protocol", protocol, true);
      r.uint(env.header, "heartbeat_ms", w.heartbeat_ms, true);
      r.uint(env.header, "liveness", liveness, true, 1000);
      r.uint(env.header, "max_message_bytes", w.max_message_bytes, false);
      r.uint(env.header, "max_frames", w.max_frames, false);
      std::uint64_t pub_port = 0;
      if (r.uint(env.header, "pub_port", pub_port, false, 65535)) w.pub_port = pub_port;
      r.string(env.header, "pub_endpoint", w.pub_endpoint);
      r.boolean(env.header, "entry_options", w.entry_options);
      r.string(env.header, "journal", w.journal);
      r.boolean(env.header, "lifecycle", w.lifecycle);
      w.protocol = static_cast<int>(protocol);
      w.liveness = static_cast<unsigned>(liveness);
      if (w.id.empty()) r.fail("missing field 'id'");
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{std::move(w)};
    }
    case Cmd::offered: {
      Offered o;
      std::uint64_t slots = 0;
      r.uint(env.header, "slots", slots, true, std::numeric_limits<unsigned>::max());
      o.slots = static_cast<unsigned>(slots);
      if (const json* ranges = r.array(env.header, "ranges", false)) {
        for (const auto& e : *ranges) {
          if (!e.is_object()) {
            r.fail("field 'ranges' must be an array of objects");
            break;
          }
          OfferedRange range;
          std::uint64_t s = 0;
          r.number(e, "start", range.start);
          r.uint(e, "slots", s, false, std::numeric_limits<unsigned>::max());
          range.slots = static_cast<unsigned>(s);
          o.ranges.push_back(range);
        }
      }
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{std::move(o)};
    }
    case Cmd::accepted: {
      Accepted a;
      r.uint(env.header, "req", a.req, true);
      if (const json* ids = r.array(env.header, "ids", true)) {
        for (const auto& id : *ids) {
          if (!id.is_number_unsigned()) {
            r.fail("ids must be unsigned integers");
            break;
          }
          a.ids.push_back(id.get<std::uint64_t>());
        }
      }
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{std::move(a)};
    }
    case Cmd::jobs: {
      Jobs jobs;
      JobsSink sink(jobs);
      if (auto problem = read_list_header(env, "jobs", sink, std::nullopt)) return *problem;
      if (auto err = take_payloads(frames, env, jobs.jobs.size(), jobs.payloads)) return *err;
      return ManagerMessage{std::move(jobs)};
    }
    case Cmd::abort: {
      WorkerAbort abort;
      r.attempt_list(env.header, "jobs", abort.jobs);
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{std::move(abort)};
    }
    case Cmd::result: {
      ClientResults results;
      ResultListSink<ClientResults> sink(results);
      if (auto problem = read_list_header(env, "results", sink, std::nullopt)) return *problem;
      if (auto err = take_payloads(frames, env, results.results.size(), results.payloads)) return *err;
      return ManagerMessage{std::move(results)};
    }
    case Cmd::heartbeat:
      return ManagerMessage{Heartbeat{}};
    case Cmd::error: {
      ErrorReply e;
      std::uint64_t req = 0;
      r.string(env.header, "code", e.code);
      r.string(env.header, "message", e.message);
      r.string(env.header, "command", e.command);
      if (r.uint(env.header, "req", req, false)) e.req = req;
      if (e.code.empty()) r.fail("missing field 'code'");
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{std::move(e)};
    }
    case Cmd::bye: {
      Bye bye;
      r.string(env.header, "reason", bye.reason);
      return ManagerMessage{std::move(bye)};
    }
    case Cmd::sysdone: {
      SysDone done;
      r.uint(env.header, "req", done.req, true);
      r.uint(env.header, "sentTo", done.sent_to, true);
      r.uint(env.header, "receivedBy", done.received_by, true);
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{done};
    }
    case Cmd::status:
    case Cmd::mystatus:
      return ManagerMessage{StatusReply{std::move(env.header), *env.cmd == Cmd::mystatus}};
    case Cmd::progress: {
      ClientProgress progress;
      ProgressSink sink(progress.entries, false);
      if (auto problem = read_list_header(env, "progress", sink, std::nullopt)) return *problem;
      if (auto err = take_payloads(frames, env, progress.entries.size(), progress.payloads)) return *err;
      return ManagerMessage{std::move(progress)};
    }
    case Cmd::deadletters: {
      const json* letters = r.array(env.header, "letters", true);
      std::uint64_t req = 0;
      std::uint64_t total = 0;
      r.uint(env.header, "req", req, true);
      r.uint(env.header, "total", total, true);
      std::string op;
      r.string(env.header, "op", op);
      if (r.ok() && op.empty()) r.fail("missing field 'op'");
      if (letters != nullptr && r.ok()) {
        for (const auto& letter : *letters) {
          std::uint64_t n = 0;
          if (!letter.is_object()) {
            r.fail("letters must be objects");
            break;
          }
          r.uint(letter, "id", n, true);
          r.uint(letter, "attempts", n, true, std::numeric_limits<unsigned>::max());
          r.uint(letter, "since", n, true);
          r.uint(letter, "bytes", n, true);
          if (!r.ok()) break;
        }
      }
      if (!r.ok()) return field_error(env, r);
      DeadLettersReply reply;
      const std::size_t count = letters != nullptr ? letters->size() : 0;
      if (auto err = take_payloads(frames, env, count, reply.payloads)) return *err;
      reply.header = std::move(env.header);
      return ManagerMessage{std::move(reply)};
    }
    case Cmd::grouplimits: {
      std::uint64_t req = 0;
      r.uint(env.header, "req", req, true);
      if (const json* groups = r.array(env.header, "groups", true)) {
        for (const auto& group : *groups) {
          std::uint64_t n = 0;
          std::string name;
          if (!group.is_object()) {
            r.fail("groups must be objects");
            break;
          }
          r.string(group, "group", name);
          r.uint(group, "running", n, true);
          r.uint(group, "waiting", n, true);
          if (!r.ok()) break;
        }
      }
      if (!r.ok()) return field_error(env, r);
      return ManagerMessage{GroupLimitsReply{std::move(env.header)}};
    }
    default:
      return DecodeError{errc::kUnknownCommand, env.command + " is not a command the manager sends", env.command, {}};
  }
}

std::variant<Published, DecodeError> decode_published(Frames& frames) {
  if (frames.size() != 5) return DecodeError{errc::kBadFrame, "a published message has 5 frames", {}, {}};
  if (view(frames[1]) != kSignature) return DecodeError{errc::kVersion, "frame 1 must be PRO1", {}, {}};
  if (view(frames[2]) != name_of(Cmd::sysmsg)) {
    return DecodeError{errc::kUnknownCommand, "only SYSMSG is published", std::string(view(frames[2]).substr(0, 32)), {}};
  }
  auto header = parse_header(frames[3].data<char>(), frames[3].size());
  if (header.is_discarded() || !header.is_object()) return DecodeError{errc::kBadJson, "header is not a JSON object", "SYSMSG", {}};
  Published out;
  FieldReader r;
  r.uint(header, "msg", out.msg, true);
  r.string(header, "from", out.from);
  if (!r.ok()) return DecodeError{errc::kBadField, r.error(), "SYSMSG", {}};
  out.topic = std::string(view(frames[0]));
  out.content = std::move(frames[4]);
  return out;
}

std::variant<RetryPolicy, std::string> parse_retry(std::string_view text) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::string("field 'retry' must be an object");
  RetryPolicy retry;
  const auto ms = [&](const char* name, std::chrono::milliseconds& out) -> std::string {
    const auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) return {};
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > kLongestTimeoutMs) {
      return std::string("retry field '") + name + "' must be an unsigned integer (ms)";
    }
    out = std::chrono::milliseconds(it->get<std::uint64_t>());
    return {};
  };
  const auto it_max = doc.find("max");
  if (it_max == doc.end() || !it_max->is_number_unsigned() || it_max->get<std::uint64_t>() > spec::kMaxRetries) {
    return "retry field 'max' must be an integer 0 to " + std::to_string(spec::kMaxRetries);
  }
  retry.max = it_max->get<unsigned>();
  if (auto problem = ms("initial", retry.initial); !problem.empty()) return problem;
  if (auto problem = ms("maxDelay", retry.max_delay); !problem.empty()) return problem;
  if (const auto it = doc.find("factor"); it != doc.end() && !it->is_null()) {
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 1) {
      return std::string("retry field 'factor' must be a number >= 1");
    }
    retry.factor = it->get<double>();
  }
  if (const auto it = doc.find("jitter"); it != doc.end() && !it->is_null()) {
    if (!it->is_number() || !(it->get<double>() >= 0 && it->get<double>() <= 1)) {
      return std::string("retry field 'jitter' must be a number from 0 to 1");
    }
    retry.jitter = it->get<double>();
  }
  if (const auto it = doc.find("codes"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return std::string("retry field 'codes' must be an array of strings");
    for (const auto& code : *it) {
      if (!code.is_string() || code.get_ref<const std::string&>().empty()) {
        return std::string("retry field 'codes' must hold non-empty strings");
      }
      retry.codes.push_back(code.get<std::string>());
    }
  }
  return retry;
}

Payload from_frame(zmq::message_t&& frame, bool raw) { return detail::PayloadAccess::adopt(std::move(frame), raw); }

std::string utf8_prefix(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Back off over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string snippet(const zmq::message_t& frame, std::size_t max_bytes) {
  std::string out;
  const auto text = view(frame);
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

}  // namespace proletariat::protocol
