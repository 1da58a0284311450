// The session scripts of tests/vectors/sessions.json (issue 10), run against the C++
// Worker and Client. The scripted fake manager is tests/support/session_runner.hpp;
// this file only maps the scripts' protocol terms onto the C++ API.
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <proletariat/client.hpp>
#include <proletariat/error.hpp>
#include <proletariat/worker.hpp>

#include "support/session_runner.hpp"

namespace proletariat {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
namespace s = sessions;

const json& sessions_doc() {
  static const json doc = s::load_sessions(PROLETARIAT_VECTORS_DIR "/sessions.json");
  return doc;
}

// Scripts this library is known to fail, by name, with the bug as the reason. Empty:
// a failing script is a bug to fix, not to list here without a reason.
const std::map<std::string, std::string>& known_failures() {
  static const std::map<std::string, std::string> known{};
  return known;
}

// The scripts' standard worker application (sessions.json, "THE APPLICATION").
class ScriptedHandler {
 public:
  void operator()(const JobPtr& job) {
    const auto& args = job->args();
    if (args.is_raw()) return job->reply(Payload::raw(std::string(args.bytes())));
    const auto value = args.to_json();
    if (value.is_object() && value.contains("progress")) {
      for (const auto& report : value["progress"]) job->progress(Payload::json(report));
    }
    if (value.is_object() && value.contains("echo")) return job->reply(Payload::json(value["echo"]));
    if (value.is_object() && value.contains("fail")) return job->fail(value["fail"].get<std::string>(), "scripted failure");
    if (value.is_object() && value.value("hang", false)) {
      std::lock_guard lock(mutex_);
      hanging_.push_back(job);  // never answered; kept so that nothing answers it for us
      return;
    }
    job->fail(std::string(errc::kHandler), "no scripted behaviour for " + value.dump());
  }

 private:
  std::mutex mutex_;
  std::vector<JobPtr> hanging_;
};

class CppAdapter : public s::SessionAdapter {
 public:
  void start(const std::string& endpoint, const std::string& peer, const json& config) override {
    const milliseconds retry(config.value("conRetryTime", 50));
    const bool sysmsgs = config.value("systemMessages", true);
    if (peer == "worker") {
      WorkerOptions o;
      o.endpoint = endpoint;
      o.slots = config.value("slots", 100u);
      const json guarantees = config.value("prioritySlots", json::object());
      for (const auto& [start, slots] : guarantees.items()) {
        o.priority_slots[std::stod(start)] = slots.get<unsigned>();
      }
      o.services = config.value("services", std::vector<std::string>{});
      o.con_retry_time = retry;
      o.handler_threads = 2;
      o.name = "session-script";
      o.system_messages = sysmsgs;
      worker_ = std::make_unique<Worker>(o);
      worker_->on_work([h = handler_](const JobPtr& job) { (*h)(job); });
      if (sysmsgs) worker_->on_sysmsg([this](const json& msg, const std::string& from) { record(msg, from); });
      worker_->start();
    } else {
      ClientOptions o;
      o.endpoint = endpoint;
      o.keep_state = config.value("keepState", false);
      o.con_retry_time = retry;
      o.name = "session-script";
      o.system_messages = sysmsgs;
      client_ = std::make_unique<Client>(o);
      if (sysmsgs) client_->on_sysmsg([this](const json& msg, const std::string& from) { record(msg, from); });
    }
  }

  std::string start_error_code(const std::exception& e) override {
    const auto* err = dynamic_cast<const Error*>(&e);
    return err != nullptr ? err->code() : std::string{};
  }

  void work(const std::string& name, const json& jobs, const json& options, bool individual) override {
    std::vector<JobSpec> specs;
    for (const auto& job : jobs) {
      JobSpec spec = job.contains("raw") ? JobSpec(Payload::raw(s::bytes_of_hex(job["raw"].get<std::string>())))
                                         : JobSpec(Payload::json(job["args"]));
      spec.key = job.value("key", std::string{});
      spec.service = job.value("service", std::string{});
      specs.push_back(std::move(spec));
    }
    WorkOptions o;
    o.priority = options.value("priority", 0.0);
    if (options.contains("timeout")) o.timeout = milliseconds(options["timeout"].get<long>());
    if (options.contains("runTimeout")) o.run_timeout = milliseconds(options["runTimeout"].get<long>());
    if (options.contains("assigntimeout")) o.assign_timeout = milliseconds(options["assigntimeout"].get<long>());
    if (options.contains("delay")) o.delay = milliseconds(options["delay"].get<long>());
    if (options.contains("at")) {
      o.at = std::chrono::system_clock::time_point(milliseconds(options["at"].get<std::int64_t>()));
    }
    o.group = options.value("group", std::string{});
    if (options.contains("retry")) {
      const auto& r = options["retry"];
      RetryPolicy retry;
      retry.max = r.value("max", 0U);
      retry.codes = r.value("codes", std::vector<std::string>{});
      if (r.contains("initial")) retry.initial = milliseconds(r["initial"].get<long>());
      if (r.contains("maxDelay")) retry.max_delay = milliseconds(r["maxDelay"].get<long>());
      retry.factor = r.value("factor", retry.factor);
      retry.jitter = r.value("jitter", retry.jitter);
      o.retry = retry;
    }
    const auto outcome_of = [](const Result& r) {
      json out;
      if (r.err) {
        out = {{"err", std::string(r.err->code)}};
      } else if (r.data.is_raw()) {
        out = {{"raw", s::hex_of(std::string(r.data.bytes()))}};
      } else {
        out = {{"data", r.data.to_json()}};
      }
      if (r.attempts != 0) out["attempts"] = r.attempts;
      return out;
    };
    Client::RequestId req = 0;
    if (individual) {
      // Results and progress per job index, the outcome once `done` says all are in.
      auto state = std::make_shared<std::pair<json, json>>(json::array(), json::array());
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        state->first.push_back(nullptr);
        state->second.push_back(json::array());
      }
      req = client_->work_individual(
          std::move(specs), o,
          [state, outcome_of](const Result& r, const JobRef& ref) { state->first[ref.index] = outcome_of(r); },
          [this, name, state] {
            json out = state->first;
            for (std::size_t i = 0; i < out.size(); ++i) out[i]["progress"] = state->second[i];
            finish(name, std::move(out));
          },
          [state](const Payload& progress, const JobRef& ref) { state->second[ref.index].push_back(progress.to_json()); });
    } else {
      req = client_->work(std::move(specs), o, [this, name, outcome_of](std::vector<Result> results) {
        json out = json::array();
        for (const auto& r : results) out.push_back(outcome_of(r));
        finish(name, std::move(out));
      });
    }
    std::lock_guard lock(mutex_);
    requests_[name] = req;
  }

  void abort(const std::string& name, const std::optional<std::vector<std::size_t>>& indices) override {
    Client::RequestId req = 0;
    {
      std::lock_guard lock(mutex_);
      req = requests_.at(name);
    }
    if (indices) {
      client_->abort(req, *indices);
    } else {
      client_->abort(req);
    }
  }

  void sysmsg(const std::string& name, const json& msg, const std::optional<std::string>& to) override {
    auto done = [this, name](std::optional<JobError> err, SysmsgReceipt receipt) {
      finish(name, err ? json::array({"err", std::string(err->code)}) : json::array({"sysdone", receipt.sent_to, receipt.received_by}));
    };
    if (worker_) {
      worker_->system_message(msg, to, done);
    } else {
      client_->system_message(msg, to, done);
    }
  }

  bool wait_registered(milliseconds timeout) override {
    return worker_ ? worker_->wait_ready(timeout) : client_->wait_connected(timeout);
  }

  std::optional<json> work_outcome(const std::string& name, milliseconds timeout) override {
    return outcome(name, timeout);
  }
  std::optional<json> sysmsg_outcome(const std::string& name, milliseconds timeout) override {
    return outcome(name, timeout);
  }

  json received(std::size_t count, milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return got_.size() >= count; });
    return got_;
  }

  void close() override {
    if (worker_) worker_->stop();
    worker_.reset();
    client_.reset();
  }

 private:
  void record(const json& msg, const std::string& from) {
    {
      std::lock_guard lock(mutex_);
      got_.push_back({{"content", msg}, {"from", from}});
    }
    changed_.notify_all();
  }

  void finish(const std::string& name, json outcome) {
    {
      std::lock_guard lock(mutex_);
      outcomes_[name] = std::move(outcome);
    }
    changed_.notify_all();
  }

  std::optional<json> outcome(const std::string& name, milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return outcomes_.count(name) > 0; })) return std::nullopt;
    return outcomes_[name];
  }

  std::shared_ptr<ScriptedHandler> handler_ = std::make_shared<ScriptedHandler>();
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Client::RequestId> requests_;
  std::map<std::string, json> outcomes_;
  json got_ = json::array();
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Client> client_;
};

class SessionScripts : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SessionScripts, Run) {
  const auto& script = sessions_doc()["scripts"][GetParam()];
  const auto name = script["name"].get<std::string>();
  if (auto it = known_failures().find(name); it != known_failures().end()) GTEST_SKIP() << it->second;
  CppAdapter adapter;
  try {
    s::SessionRunner(sessions_doc(), script, adapter).run();
  } catch (const s::ScriptFailure& e) {
    FAIL() << e.what();
  }
}

std::vector<std::size_t> script_indices() {
  std::vector<std::size_t> out(sessions_doc()["scripts"].size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

// A gtest name: the script's name with every run of other characters as one '_'.
std::string test_name(const ::testing::TestParamInfo<std::size_t>& info) {
  std::string out;
  for (char c : sessions_doc()["scripts"][info.param]["name"].get<std::string>()) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (word) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

// No prefix: the tests are SessionScripts.Run/<script>, so --gtest_filter='SessionScripts*' runs them.
INSTANTIATE_TEST_SUITE_P(, SessionScripts, ::testing::ValuesIn(script_indices()), test_name);

}  // namespace
}  // namespace proletariat
