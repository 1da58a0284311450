// A runner for the session scripts of tests/vectors/sessions.json (their "about" field
// is the specification this follows): the scripted fake manager, a ROUTER (command
// socket) and an XPUB (system-message channel) on tcp://127.0.0.1:*, reading the
// peer's messages strictly in order as raw frames (no codec: what is checked is the
// wire). It knows nothing of the library: a SessionAdapter drives the peer under test
// (tests/integration/session_scripts_test.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace proletariat::sessions {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class ScriptFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a runner needs from the peer under test. Every wait is bounded by `timeout`.
class SessionAdapter {
 public:
  virtual ~SessionAdapter() = default;
  // Creates and starts the peer; throws on failure. start_error_code() names the
  // error code of what it threw (empty if it is not a library error).
  virtual void start(const std::string& endpoint, const std::string& peer, const json& config) = 0;
  virtual std::string start_error_code(const std::exception& e) = 0;
  // `individual`: through work_individual with a progress callback; the outcome's
  // entries then carry "progress" (the values handed to the application, in order).
  virtual void work(const std::string& name, const json& jobs, const json& options, bool individual) = 0;
  virtual void abort(const std::string& name, const std::optional<std::vector<std::size_t>>& indices) = 0;
  virtual void sysmsg(const std::string& name, const json& msg, const std::optional<std::string>& to) = 0;
  // True once the application sees the peer registered (client: WELCOME handled,
  // worker: OFFERED handled).
  virtual bool wait_registered(milliseconds timeout) = 0;
  // [{"data": v} | {"raw": "hex"} | {"err": code}] in job order, each with "attempts"
  // when the result had it; nullopt on timeout.
  virtual std::optional<json> work_outcome(const std::string& name, milliseconds timeout) = 0;
  // ["sysdone", sentTo, receivedBy] or ["err", code]; nullopt on timeout.
  virtual std::optional<json> sysmsg_outcome(const std::string& name, milliseconds timeout) = 0;
  // The system messages handed to the application ([{"content", "from"}]), once there
  // are `count` (or the timeout passed).
  virtual json received(std::size_t count, milliseconds timeout) = 0;
  // Stops the peer (before the runner's sockets close).
  virtual void close() = 0;
};

inline json load_sessions(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return json::parse(in);
}

inline std::string hex_of(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

inline std::string bytes_of_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

inline std::string show(const json* value) {
  if (value == nullptr) return "(absent)";
  auto text = value->dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 300 ? text : text.substr(0, 300) + "...";
}
inline std::string show(const json& value) { return show(&value); }

inline bool is_variable(const json& v) {
  static const std::regex pattern("^\\$[A-Za-z0-9_]+$");
  return v.is_string() && std::regex_match(v.get_ref<const std::string&>(), pattern);
}

// Empty if `actual` (nullptr: absent) matches `expected`, binding unbound variables
// in `vars`; else what differs.
inline std::string match(const json& expected, const json* actual, std::map<std::string, json>& vars,
                         const std::string& path = "") {
  const std::string at = path.empty() ? "(top)" : path;
  if (is_variable(expected)) {
    const auto& name = expected.get_ref<const std::string&>();
    if (actual == nullptr) return at + ": absent, but " + name + " needs a value";
    auto it = vars.find(name);
    if (it == vars.end()) {
      vars.emplace(name, *actual);
      return {};
    }
    return it->second == *actual ? std::string{} : at + ": " + show(actual) + ", but " + name + " is " + show(it->second);
  }
  if (expected.is_null()) {
    return actual == nullptr || actual->is_null() ? std::string{} : at + ": " + show(actual) + ", expected null or absent";
  }
  if (expected.is_object()) {
    if (actual == nullptr || !actual->is_object()) return at + ": " + show(actual) + ", expected an object";
    for (const auto& [key, value] : expected.items()) {
      auto found = actual->find(key);
      auto err = match(value, found == actual->end() ? nullptr : &*found, vars, path + "." + key);
      if (!err.empty()) return err;
    }
    return {};
  }
  if (expected.is_array()) {
    if (actual == nullptr || !actual->is_array() || actual->size() != expected.size()) {
      return at + ": " + show(actual) + ", expected an array of " + std::to_string(expected.size());
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto err = match(expected[i], &(*actual)[i], vars, path + "[" + std::to_string(i) + "]");
      if (!err.empty()) return err;
    }
    return {};
  }
  // nlohmann compares integers and floats by value, and never a bool with a number.
  return actual != nullptr && expected == *actual ? std::string{} : at + ": " + show(actual) + ", expected " + show(expected);
}

inline json substitute(const json& value, const std::map<std::string, json>& vars) {
  if (is_variable(value)) {
    auto it = vars.find(value.get<std::string>());
    if (it == vars.end()) throw ScriptFailure("the script uses " + value.get<std::string>() + " before any step bound it");
    return it->second;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items()) out[k] = substitute(v, vars);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& v : value) out.push_back(substitute(v, vars));
    return out;
  }
  return value;
}

inline std::string payload_bytes(const json& spec) {
  if (spec.contains("hex")) return bytes_of_hex(spec["hex"].get<std::string>());
  return spec["json"].dump();
}

inline std::string match_payload(const json& spec, const std::string& frame) {
  if (spec.contains("hex")) {
    const auto want = bytes_of_hex(spec["hex"].get<std::string>());
    return frame == want ? std::string{} : "payload " + hex_of(frame) + ", expected hex " + spec["hex"].get<std::string>();
  }
  json value = json::parse(frame, nullptr, false);
  if (value.is_discarded()) return "payload " + frame.substr(0, 100) + " is not JSON, expected " + show(spec["json"]);
  return value == spec["json"] ? std::string{} : "payload " + show(value) + ", expected " + show(spec["json"]);
}

class SessionRunner {
 public:
  struct Message {
    std::string rid;
    std::string command;
    json header;
    std::vector<std::string> payloads;
    [[nodiscard]] std::string describe() const {
      auto text = command + " " + header.dump(-1, ' ', false, json::error_handler_t::replace);
      if (!payloads.empty()) {
        text += " + [";
        for (const auto& p : payloads) text += p.substr(0, 60) + ",";
        text += "]";
      }
      return text.size() <= 400 ? text : text.substr(0, 400) + "...";
    }
  };

  SessionRunner(const json& doc, const json& script, SessionAdapter& adapter, std::optional<milliseconds> wait = {})
      : doc_(doc),
        script_(script),
        adapter_(adapter),
        wait_(wait.value_or(milliseconds(doc["wait_ms"].get<long>()))),
        router_(context_, zmq::socket_type::router),
        xpub_(context_, zmq::socket_type::xpub) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    xpub_.set(zmq::sockopt::linger, 0);
    xpub_.bind("tcp://127.0.0.1:*");
    const auto pub = xpub_.get(zmq::sockopt::last_endpoint);
    pub_port_ = std::stoi(pub.substr(pub.rfind(':') + 1));
  }

  // Runs the script; throws ScriptFailure. Stops the peer in every case.
  void run() {
    try {
      run_steps();
    } catch (...) {
      adapter_.close();
      throw;
    }
    adapter_.close();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    const auto& steps = script_["steps"];
    std::string where = "start";
    if (step_ >= 0 && static_cast<std::size_t>(step_) < steps.size()) {
      where = "step " + std::to_string(step_) + " " + show(steps[static_cast<std::size_t>(step_)]);
    }
    throw ScriptFailure("session script \"" + script_["name"].get<std::string>() + "\", " + where + ": " + what);
  }

  static milliseconds left_until(Clock::time_point deadline) {
    return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
  }

  std::pair<std::size_t, std::size_t> limits(const std::string& rid) const {
    std::size_t bytes = 64u << 20, frames = 100004;
    if (auto it = welcomes_.find(rid); it != welcomes_.end()) {
      if (it->second.contains("max_message_bytes")) bytes = it->second["max_message_bytes"].get<std::size_t>();
      if (it->second.contains("max_frames")) frames = it->second["max_frames"].get<std::size_t>();
    }
    return {bytes, frames};
  }

  // The next message (heartbeats included), checked; nullopt after `timeout`.
  std::optional<Message> take(milliseconds timeout) {
    zmq_pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait)) return std::nullopt;
    Message msg;
    msg.rid = parts.at(0).to_string();
    std::vector<std::string> frames;
    for (std::size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
    if (frames.size() < 4 || !frames[0].empty() || frames[1] != "PRO1") {
      fail("the peer sent a malformed message of " + std::to_string(frames.size()) + " frames");
    }
    static const std::set<std::string> commands{"HELLO",     "OFFER", "PUSH",   "ABORT",  "RESULT",   "REJECT",
                                                "HEARTBEAT", "BYE",   "SYSMSG", "SYSACK", "STATUS",   "MYSTATUS",
                                                "RECEIVED",  "DRAIN", "PROGRESS", "DEAD", "GROUPLIMITS"};
    msg.command = frames[2];
    if (commands.count(msg.command) == 0) fail("the peer sent an unknown command " + msg.command);
    msg.header = frames[3].empty() ? json::object() : json::parse(frames[3], nullptr, false);
    if (msg.header.is_discarded()) fail("the peer's " + msg.command + " header is not JSON: " + frames[3].substr(0, 200));
    if (!msg.header.is_object()) fail("the peer's " + msg.command + " header is not an object: " + frames[3].substr(0, 200));
    long want = msg.command == "SYSMSG" ? 1 : 0;
    if (msg.command == "PUSH" || msg.command == "RESULT" || msg.command == "PROGRESS") {
      const auto& listed = msg.header.value(
          msg.command == "PUSH" ? "jobs" : msg.command == "RESULT" ? "results" : "progress", json());
      want = listed.is_array() ? static_cast<long>(listed.size()) : -1;
    }
    if (static_cast<long>(frames.size()) - 4 != want) {
      fail("the peer's " + msg.command + " has " + std::to_string(frames.size() - 4) + " payload frames for " +
           std::to_string(want) + " entries: " + show(msg.header));
    }
    std::size_t size = 0;
    for (const auto& f : frames) size += f.size();
    const auto [max_bytes, max_frames] = limits(msg.rid);
    if (size > max_bytes || frames.size() > max_frames) {
      fail("the peer's " + msg.command + " of " + std::to_string(size) + " bytes in " + std::to_string(frames.size()) +
           " frames exceeds the WELCOME's limits (" + std::to_string(max_bytes) + " bytes, " +
           std::to_string(max_frames) + " frames)");
    }
    msg.payloads.assign(frames.begin() + 4, frames.end());
    return msg;
  }

  Message next(const std::string& what, bool heartbeats = false) {
    const auto deadline = Clock::now() + wait_;
    while (true) {
      auto msg = take(left_until(deadline));
      if (!msg) fail("no " + what + " from the peer within " + std::to_string(wait_.count()) + " ms");
      if (msg->command == "HEARTBEAT" && !heartbeats) {
        ++heartbeats_;
        continue;
      }
      if (msg->command != "HELLO" && (!current_ || msg->rid != *current_)) {
        fail(msg->describe() + " came from a connection that is not the current one");
      }
      return std::move(*msg);
    }
  }

  void send_frames(const std::vector<std::string>& frames) {
    if (!current_) fail("nothing to send to: no HELLO yet");
    std::vector<zmq::const_buffer> parts;
    parts.push_back(zmq::buffer(*current_));
    for (const auto& f : frames) parts.push_back(zmq::buffer(f));
    zmq::send_multipart(router_, parts);
  }

  void send(const std::string& command, const std::optional<json>& header, const std::vector<std::string>& payloads) {
    if (!current_) fail("nothing to send to: no HELLO yet");
    std::optional<json> head = header;
    if (command == "WELCOME") {
      json merged = doc_["welcome_defaults"];
      if (header) merged.update(*header);
      if (!merged.contains("pub_port") && !merged.contains("pub_endpoint")) merged["pub_port"] = pub_port_;
      welcomes_[*current_] = merged;
      head = merged;
    }
    std::vector<std::string> frames{"", "PRO1", command, head ? head->dump() : std::string{}};
    frames.insert(frames.end(), payloads.begin(), payloads.end());
    send_frames(frames);
  }

  bool read_subscription(milliseconds timeout) {
    zmq_pollitem_t item{xpub_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if ((item.revents & ZMQ_POLLIN) == 0) return false;
    zmq::message_t frame;
    if (!xpub_.recv(frame, zmq::recv_flags::dontwait)) return false;
    const auto text = frame.to_string();
    if (!text.empty() && text[0] == '\x01') {
      const auto topic = text.substr(1);
      if (std::find(subscriptions_.begin(), subscriptions_.end(), topic) == subscriptions_.end()) {
        subscriptions_.push_back(topic);
      }
    }
    return true;
  }

  static std::vector<std::string> payloads_of(const json& step) {
    std::vector<std::string> out;
    for (const auto& p : step.value("payloads", json::array())) out.push_back(payload_bytes(p));
    return out;
  }

  void run_steps() {
    const json config = script_.value("config", json::object());
    const auto& peer = script_["peer"].get_ref<const std::string&>();
    const std::string start_error = script_.value("start_error", std::string{});
    bool started = false;
    try {
      adapter_.start(endpoint_, peer, config);
      started = true;
    } catch (const ScriptFailure&) {
      throw;
    } catch (const std::exception& e) {
      const auto code = adapter_.start_error_code(e);
      if (start_error.empty() || code != start_error) fail("starting the " + peer + " failed: " + e.what());
    }
    if (started && !start_error.empty()) {
      fail("starting the " + peer + " with " + config.dump() + " succeeded; expected " + start_error);
    }
    const auto& steps = script_["steps"];
    for (std::size_t i = 0; i < steps.size(); ++i) {
      step_ = static_cast<long>(i);
      run_step(steps[i]);
    }
  }

  void run_step(const json& step) {
    if (step.contains("expect")) return step_expect(step);
    if (step.contains("collect")) return step_collect(step);
    if (step.contains("accept_pushes")) return step_accept_pushes(step["accept_pushes"]);
    if (step.contains("send")) {
      std::optional<json> header;
      if (step.contains("header")) header = substitute(step["header"], vars_);
      return send(step["send"].get<std::string>(), header, payloads_of(step));
    }
    if (step.contains("send_frames")) {
      std::vector<std::string> frames;
      for (const auto& f : step["send_frames"]) {
        frames.push_back(f.is_string() ? f.get<std::string>() : bytes_of_hex(f["hex"].get<std::string>()));
      }
      return send_frames(frames);
    }
    if (step.contains("expect_subscription")) {
      const auto topic = step["expect_subscription"].get<std::string>();
      const auto deadline = Clock::now() + wait_;
      while (std::find(subscriptions_.begin(), subscriptions_.end(), topic) == subscriptions_.end()) {
        const auto left = left_until(deadline);
        if (left <= milliseconds(0) || !read_subscription(left)) {
          fail("no subscription to \"" + topic + "\" within " + std::to_string(wait_.count()) + " ms (got " +
               show(json(subscriptions_)) + ")");
        }
      }
      return;
    }
    if (step.contains("subscriptions")) {
      while (read_subscription(milliseconds(0))) {
      }
      if (json(subscriptions_) != step["subscriptions"]) {
        fail("subscriptions " + show(json(subscriptions_)) + ", expected " + show(step["subscriptions"]));
      }
      return;
    }
    if (step.contains("publish")) {
      const auto& p = step["publish"];
      const std::vector<std::string> frames{p["topic"].get<std::string>(), "PRO1", "SYSMSG",
                                            substitute(p["header"], vars_).dump(), payload_bytes(p["payload"])};
      std::vector<zmq::const_buffer> parts;
      for (const auto& f : frames) parts.push_back(zmq::buffer(f));
      zmq::send_multipart(xpub_, parts);
      return;
    }
    if (step.contains("silence_ms")) {
      const auto deadline = Clock::now() + milliseconds(step["silence_ms"].get<long>());
      while (true) {
        const auto left = left_until(deadline);
        if (left <= milliseconds(0)) return;
        auto msg = take(left);
        if (!msg) return;
        if (msg->command == "HEARTBEAT") {
          ++heartbeats_;
          continue;
        }
        fail("expected silence, got " + msg->describe());
      }
    }
    if (step.contains("do")) return step_do(step);
    if (step.contains("outcome")) return step_outcome(step);
    if (step.contains("received")) {
      const auto& want = step["received"];
      const auto got = adapter_.received(want.size(), wait_);
      if (got != want) fail("the application was handed the system messages " + show(got) + ", expected " + show(want));
      return;
    }
    fail("unknown step");
  }

  void step_expect(const json& step) {
    const auto command = step["expect"].get<std::string>();
    auto msg = next(command, command == "HEARTBEAT");
    if (msg.command != command) fail("expected " + command + ", got " + msg.describe());
    if (step.contains("header")) {
      auto err = match(step["header"], &msg.header, vars_);
      if (!err.empty()) fail(command + " header " + msg.header.dump() + ": " + err);
    }
    if (step.contains("payloads")) {
      const auto& want = step["payloads"];
      if (msg.payloads.size() != want.size()) {
        fail(command + " has " + std::to_string(msg.payloads.size()) + " payloads, expected " + std::to_string(want.size()));
      }
      for (std::size_t i = 0; i < want.size(); ++i) {
        auto err = match_payload(want[i], msg.payloads[i]);
        if (!err.empty()) fail(command + " payload " + std::to_string(i) + ": " + err);
      }
    }
    if (command == "HELLO") {
      const bool earlier = std::find(connections_.begin(), connections_.end(), msg.rid) != connections_.end();
      if (step.value("new_connection", false) && earlier) fail("the HELLO came on an earlier connection; expected a new socket");
      current_ = msg.rid;
      if (!earlier) connections_.push_back(msg.rid);
    }
  }

  static std::string open_entries(const json& expected, const std::vector<bool>& matched) {
    json open = json::array();
    for (std::size_t k = 0; k < expected.size(); ++k) {
      if (!matched[k]) open.push_back(expected[k]);
    }
    return show(open);
  }

  void step_collect(const json& step) {
    const auto command = step["collect"].get<std::string>();
    const std::string field = command == "RESULT"     ? "results"
                              : command == "PROGRESS" ? "progress"
                              : command == "ABORT"    ? "ids"
                                                      : "jobs";
    const bool with_payloads = command == "RESULT" || command == "PROGRESS";
    const auto& expected = step["entries"];
    std::vector<bool> matched(expected.size(), false);
    while (std::find(matched.begin(), matched.end(), false) != matched.end()) {
      auto msg = next(command);
      if (msg.command != command) fail("expected " + command + ", got " + msg.describe());
      const auto entries = msg.header.value(field, json());
      if (!entries.is_array()) fail(command + " without a " + field + " list: " + msg.describe());
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const std::string* frame = with_payloads ? &msg.payloads[i] : nullptr;
        bool found = false;
        for (std::size_t k = 0; k < expected.size() && !found; ++k) {
          if (matched[k]) continue;
          auto trial = vars_;
          if (!match(expected[k]["entry"], &entries[i], trial).empty()) continue;
          if (expected[k].contains("payload") &&
              (frame == nullptr || !match_payload(expected[k]["payload"], *frame).empty())) {
            continue;
          }
          matched[k] = true;
          vars_ = std::move(trial);
          found = true;
        }
        if (!found) {
          fail(command + " entry " + show(entries[i]) + (frame ? " with payload " + frame->substr(0, 100) : "") +
               " matches none of the expected entries still open: " + open_entries(expected, matched));
        }
      }
    }
  }

  void step_accept_pushes(const json& jobs) {
    std::vector<bool> matched(jobs.size(), false);
    while (std::find(matched.begin(), matched.end(), false) != matched.end()) {
      auto msg = next("PUSH");
      if (msg.command != "PUSH") fail("expected PUSH, got " + msg.describe());
      const auto welcome = welcomes_.find(*current_);
      const bool entry_options = welcome != welcomes_.end() && welcome->second.value("entry_options", false);
      const bool lifecycle = welcome != welcomes_.end() && welcome->second.value("lifecycle", false);
      const auto& header = msg.header;
      json ids = json::array();
      const auto entries = header.value("jobs", json::array());
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& entry = entries[i];
        if (!entry.is_object()) fail("PUSH entry " + std::to_string(i) + " is not an object: " + msg.describe());
        json view = json::object();
        for (const char* name : {"priority", "assigntimeout", "runTimeout"}) {
          if (entry.contains(name)) {
            if (!entry_options) {
              fail("PUSH entry " + show(entry) + " carries " + name + ", but the WELCOME did not announce entry_options");
            }
            view[name] = entry[name];
          } else if (header.contains(name)) {
            view[name] = header[name];
          }
        }
        if (!view.contains("priority")) view["priority"] = 0;
        for (const char* name : {"delay", "at", "group", "retry"}) {
          if ((entry.contains(name) || header.contains(name)) && !lifecycle) {
            fail("PUSH " + show(entry.contains(name) ? entry : header) + " carries " + name +
                 ", but the WELCOME did not announce lifecycle");
          }
        }
        // An entry's delay or at replaces both of the header's (PROTOCOL §4).
        const bool entry_due = entry.contains("delay") || entry.contains("at");
        for (const char* name : {"delay", "at"}) {
          if (entry_due ? entry.contains(name) : header.contains(name)) view[name] = entry_due ? entry[name] : header[name];
        }
        for (const char* name : {"group", "retry"}) {
          if (entry.contains(name)) {
            view[name] = entry[name];
          } else if (header.contains(name)) {
            view[name] = header[name];
          }
        }
        for (const char* name : {"key", "service", "raw"}) {
          if (entry.contains(name)) view[name] = entry[name];
        }
        const auto& frame = msg.payloads[i];
        bool found = false;
        for (std::size_t k = 0; k < jobs.size() && !found; ++k) {
          std::map<std::string, json> none;
          if (matched[k] || !match(jobs[k]["job"], &view, none).empty()) continue;
          if (jobs[k].contains("payload") && !match_payload(jobs[k]["payload"], frame).empty()) continue;
          matched[k] = true;
          ids.push_back(jobs[k]["id"]);
          found = true;
        }
        if (!found) {
          fail("pushed job " + show(view) + " with payload " + frame.substr(0, 100) +
               " matches none of the jobs still expected: " + open_entries(jobs, matched));
        }
      }
      send("ACCEPTED", json{{"req", header.value("req", json())}, {"ids", ids}}, {});
    }
  }

  void step_do(const json& step) {
    const auto action = step["do"].get<std::string>();
    if (action == "work") {
      adapter_.work(step["as"].get<std::string>(), step["jobs"], step.value("options", json::object()),
                    step.value("individual", false));
    } else if (action == "abort") {
      std::optional<std::vector<std::size_t>> indices;
      if (step.contains("indices")) indices = step["indices"].get<std::vector<std::size_t>>();
      adapter_.abort(step["request"].get<std::string>(), indices);
    } else if (action == "sysmsg") {
      std::optional<std::string> to;
      if (step.contains("to") && !step["to"].is_null()) to = step["to"].get<std::string>();
      adapter_.sysmsg(step["as"].get<std::string>(), step["msg"], to);
    } else if (action == "wait_registered") {
      if (!adapter_.wait_registered(wait_)) {
        fail("the " + script_["peer"].get<std::string>() + " did not say it is registered within " +
             std::to_string(wait_.count()) + " ms");
      }
    } else {
      fail("unknown action " + action);
    }
  }

  void step_outcome(const json& step) {
    const auto name = step["outcome"].get<std::string>();
    if (step.contains("results")) {
      const auto got = adapter_.work_outcome(name, wait_);
      if (!got) fail("request \"" + name + "\" did not finish within " + std::to_string(wait_.count()) + " ms");
      const auto& want = step["results"];
      std::string problems;
      if (got->size() != want.size()) {
        problems += std::to_string(got->size()) + " results for " + std::to_string(want.size()) + "; ";
      }
      for (std::size_t i = 0; i < std::min(want.size(), got->size()); ++i) {
        const auto& w = want[i];
        const auto& g = (*got)[i];
        const bool failed = g.contains("err");
        bool ok = false;
        if (w.contains("err")) {
          ok = failed && g["err"] == w["err"];
        } else if (w.contains("raw")) {
          ok = !failed && g.contains("raw") && g["raw"] == w["raw"];
        } else {
          ok = !failed && g.contains("data") && g["data"] == w["data"];
        }
        if (w.contains("attempts")) ok = ok && g.value("attempts", json()) == w["attempts"];
        if (w.contains("progress")) ok = ok && g.value("progress", json()) == w["progress"];
        if (!ok) problems += "result " + std::to_string(i) + " is " + show(g) + ", expected " + show(w) + "; ";
      }
      if (!problems.empty()) fail("request \"" + name + "\": " + problems);
      return;
    }
    const auto got = adapter_.sysmsg_outcome(name, wait_);
    if (!got) fail("system message \"" + name + "\" did not finish within " + std::to_string(wait_.count()) + " ms");
    const json want = step.contains("sysdone")
                          ? json::array({"sysdone", step["sysdone"]["sentTo"], step["sysdone"]["receivedBy"]})
                          : json::array({"err", step["err"]});
    if (*got != want) fail("system message \"" + name + "\" ended as " + show(*got) + ", expected " + show(want));
  }

  const json& doc_;
  const json& script_;
  SessionAdapter& adapter_;
  milliseconds wait_;
  zmq::context_t context_;
  zmq::socket_t router_;
  zmq::socket_t xpub_;
  std::string endpoint_;
  int pub_port_ = 0;
  std::map<std::string, json> vars_;
  std::optional<std::string> current_;
  std::vector<std::string> connections_;
  std::map<std::string, json> welcomes_;
  std::vector<std::string> subscriptions_;
  int heartbeats_ = 0;
  long step_ = -1;
};

}  // namespace proletariat::sessions
