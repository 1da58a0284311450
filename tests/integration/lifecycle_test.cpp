// The job lifecycle (PROTOCOL §14, issue 14) with a real in-process Manager on
// loopback and the C++ Client and Worker: retries and their backoff, dead letters,
// delayed jobs, progress, group limits, hold-similar-work through retries, what the
// wire refuses, and the CURVE roles of DEAD, GROUPLIMITS and PROGRESS. Workers killed
// for real (SIGKILL, abort()) are the test worker process. Timing is asserted only
// from below: a backoff or a delay is never cut short; how fast anything goes is the
// benchmarks' business.
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <proletariat/error.hpp>

#include "support/cluster.hpp"
#include "support/lifecycle.hpp"

extern char** environ;

namespace proletariat::testing {
namespace {

namespace fs = std::filesystem;

// The test worker executable (tests/support/test_worker.cpp): a worker that can be
// killed for real; a job {"crash_after_ms": N} makes it abort() itself.
class WorkerProcess {
 public:
  WorkerProcess(const std::string& endpoint, unsigned slots, int job_ms) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> args = {
        PROLETARIAT_TEST_WORKER, "--endpoint", endpoint, "--slots", std::to_string(slots), "--job-ms",
        std::to_string(job_ms)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (spawned != 0) {
      close(fds[0]);
      throw std::runtime_error("cannot spawn the test worker");
    }
    out_ = fdopen(fds[0], "r");
  }
  ~WorkerProcess() {
    kill_now();
    if (out_ != nullptr) fclose(out_);
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Reads lines until one starts with `line` (the child prints promptly).
  bool read_until(const std::string& line) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, out_) != nullptr) {
      if (std::string(buf).rfind(line, 0) == 0) return true;
    }
    return false;
  }
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // True once the process ended by itself (reaped here).
  bool exited() {
    if (pid_ <= 0) return true;
    if (waitpid(pid_, nullptr, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

class Lifecycle : public ::testing::Test {
 protected:
  void start(ManagerOptions options = loopback_options()) {
    manager_ = std::make_unique<Manager>(std::move(options));
    manager_->on_receive([this](const JobInfo& job) {
      std::lock_guard lock(mutex_);
      received_.push_back(job.id);
    });
    manager_->start();
    endpoint_ = manager_->endpoint();
    client_ = std::make_unique<Client>(client_options(endpoint_));
    ASSERT_TRUE(client_->wait_connected(5s));
  }
  void TearDown() override {
    client_.reset();
    manager_.reset();
  }

  json status() {
    auto future = client_->status();
    return get_within(future, 5s);
  }
  // Polls STATUS until `condition` holds for it; last_ keeps the last document.
  bool status_until(const std::function<bool(const json&)>& condition, std::chrono::milliseconds timeout = 5s) {
    return wait_until(
        [&] {
          last_ = status();
          return last_.is_object() && condition(last_);
        },
        timeout);
  }
  // The ids of the jobs the manager accepted, in order.
  std::vector<std::uint64_t> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  DeadLetterReply letters(std::size_t limit = 100) {
    auto future = client_->dead_letters(limit);
    return get_within(future);
  }
  Result run(const JobSpec& job, const WorkOptions& options = {}) {
    auto future = client_->work(job, options);
    return get_within(future, 15s);
  }

  std::unique_ptr<Manager> manager_;
  std::string endpoint_;
  std::unique_ptr<Client> client_;
  json last_;
  std::mutex mutex_;
  std::vector<std::uint64_t> received_;
};

// --------------------------------------------------------------------- retries

TEST_F(Lifecycle, AJobFailingTwiceWithARetriedCodeGivesOneResultFromItsThirdAttempt) {
  start();
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const unsigned n = calls.add(job);
    if (n < 3) {
      job->fail("EBUSY", "busy, call " + std::to_string(n));
      return;
    }
    job->reply(Payload::json({{"attempt", job->attempt()}, {"call", n}, {"args", job->args().to_json()}}));
  });
  WorkOptions options;
  options.retry = quick_retry(3, {"EBUSY"});
  const Result result = run(json{{"n", 1}}, options);
  ASSERT_TRUE(result.ok()) << result.err->code << " " << result.err->message;
  EXPECT_EQ(result.attempts, 3U);
  EXPECT_EQ(result.data.to_json(), (json{{"attempt", 3}, {"call", 3}, {"args", {{"n", 1}}}}))
      << "the data of the third attempt";
  const auto seen = calls.all();
  ASSERT_EQ(seen.size(), 3U) << "one call per attempt, no more";
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].id, seen[0].id) << "a retry is the same job";
    EXPECT_EQ(seen[i].attempt, i + 1) << "each retry is a new attempt";
  }
  EXPECT_EQ(status()["retried"], 2);

  // Without a policy the first failure is the result, and it carries no attempts.
  const Result plain = run(json{{"n", 2}});
  ASSERT_TRUE(plain.err);
  EXPECT_EQ(plain.err->code, "EBUSY");
  EXPECT_EQ(plain.attempts, 0U);
  EXPECT_EQ(calls.size(), 4U);
  EXPECT_EQ(letters().reply["total"], 0) << "neither a success nor a job without a policy is a dead letter";
}

TEST_F(Lifecycle, OnlyTheCodesAPolicyNamesAreRetried) {
  start();
  Calls calls;
  // The job's args name how its first call fails; the second call succeeds.
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const unsigned n = calls.add(job);
    const auto args = job->args().to_json();
    if (n == 1) {
      const std::string code = args["code"];
      if (code == "throw") throw std::runtime_error("the handler threw");
      job->fail(code, "first call");
      return;
    }
    job->reply(Payload::json({{"call", n}}));
  });
  WorkOptions busy_only;
  busy_only.retry = quick_retry(3, {"EBUSY"});
  WorkOptions every_code;
  every_code.retry = quick_retry(3);

  const Result unlisted = run(json{{"code", "ENOPE"}}, busy_only);
  ASSERT_TRUE(unlisted.err);
  EXPECT_EQ(unlisted.err->code, "ENOPE") << "a code the policy does not list is the result";
  EXPECT_EQ(unlisted.attempts, 1U);
  EXPECT_EQ(calls.size(), 1U);

  const Result library_code = run(json{{"code", "ECONNLOST"}}, every_code);
  ASSERT_TRUE(library_code.err);
  EXPECT_EQ(library_code.err->code, "ECONNLOST") << "codes of the manager and the client library are never retried";
  EXPECT_EQ(library_code.attempts, 1U);
  EXPECT_EQ(calls.size(), 2U);

  const Result any = run(json{{"code", "EWHATEVER"}}, every_code);
  ASSERT_TRUE(any.ok()) << "without codes every worker code but ETO is retried: " << any.err->code;
  EXPECT_EQ(any.attempts, 2U);
  EXPECT_EQ(any.data.to_json(), (json{{"call", 2}}));

  const Result thrown = run(json{{"code", "throw"}}, every_code);
  ASSERT_TRUE(thrown.ok()) << "a handler's exception (EHANDLER) is retried: " << thrown.err->code;
  EXPECT_EQ(thrown.attempts, 2U);
  EXPECT_EQ(calls.size(), 6U);
  EXPECT_EQ(letters().reply["total"], 0) << "a code that is not retried makes no dead letter";
}

TEST_F(Lifecycle, EtoIsRetriedOnlyWhenThePolicyNamesIt) {
  start();
  Calls calls;
  // The first call of a job runs until its runTimeout takes it away; later ones answer.
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const unsigned n = calls.add(job);
    if (n == 1) {
      while (!job->cancelled()) std::this_thread::sleep_for(2ms);
      return;
    }
    job->reply(Payload::json({{"call", n}}));
  });
  WorkOptions by_default;
  by_default.run_timeout = 100ms;
  by_default.retry = quick_retry(2);
  const Result timed_out = run(json{{"n", 1}}, by_default);
  ASSERT_TRUE(timed_out.err);
  EXPECT_EQ(timed_out.err->code, "ETO") << "ETO is not among the default codes";
  EXPECT_EQ(timed_out.attempts, 1U);
  EXPECT_EQ(calls.size(), 1U);
  EXPECT_EQ(letters().reply["total"], 0);

  WorkOptions naming_eto = by_default;
  naming_eto.retry = quick_retry(2, {"ETO"});
  const Result retried = run(json{{"n", 2}}, naming_eto);
  ASSERT_TRUE(retried.ok()) << retried.err->code;
  EXPECT_EQ(retried.attempts, 2U);
  EXPECT_EQ(retried.data.to_json(), (json{{"call", 2}}));
  EXPECT_EQ(calls.size(), 3U);
}

TEST_F(Lifecycle, RetryMaxZeroAnswersTheFirstFailureAndBuriesIt) {
  start();
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    job->fail("EBUSY", "always busy");
  });
  WorkOptions options;
  options.retry = quick_retry(0);
  const Result result = run(json{{"n", 1}}, options);
  ASSERT_TRUE(result.err);
  EXPECT_EQ(result.err->code, "EBUSY");
  EXPECT_EQ(result.attempts, 1U) << "max 0 still reports its attempts";
  EXPECT_EQ(calls.size(), 1U);
  const auto dead = letters();
  ASSERT_EQ(dead.reply["letters"].size(), 1U) << "a retried code on the last allowed attempt: a dead letter";
  EXPECT_EQ(dead.reply["letters"][0]["attempts"], 1);
  EXPECT_EQ(dead.reply["letters"][0]["err"]["code"], "EBUSY");
}

TEST_F(Lifecycle, EveryRetryWaitsOutItsBackoff) {
  start();
  Calls calls;
  std::mutex mutex;
  std::vector<Steady::time_point> failed;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const unsigned n = calls.add(job);
    if (n < 3) {
      {
        std::lock_guard lock(mutex);
        failed.push_back(Steady::now());  // before the failure leaves: the manager's clock starts later
      }
      job->fail("EBUSY", "busy");
      return;
    }
    job->reply(Payload::json("done"));
  });
  RetryPolicy policy;
  policy.max = 2;
  policy.codes = {"EBUSY"};
  policy.initial = 200ms;
  policy.factor = 2;
  policy.jitter = 0;
  WorkOptions options;
  options.retry = policy;
  const Result result = run(json{{"n", 1}}, options);
  ASSERT_TRUE(result.ok()) << result.err->code;
  EXPECT_EQ(result.attempts, 3U);
  const auto seen = calls.all();
  ASSERT_EQ(seen.size(), 3U);
  std::lock_guard lock(mutex);
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_GE(seen[1].started - failed[0], 200ms) << "retry 1 waits initial";
  EXPECT_GE(seen[2].started - failed[1], 400ms) << "retry 2 waits initial x factor";
}

TEST_F(Lifecycle, StatusShowsAJobInBackoffAndAnAbortDropsIt) {
  start();
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    job->fail("EBUSY", "busy");
  });
  RetryPolicy policy = quick_retry(1);
  policy.initial = 60s;
  WorkOptions options;
  options.retry = policy;
  options.group = "tenant";
  std::promise<Result> got;
  const auto request = client_->work(json{{"n", 1}}, options, [&](Result r) { got.set_value(std::move(r)); });
  ASSERT_TRUE(status_until([](const json& s) { return s["retrying"] == 1; })) << last_.dump();
  const auto seen = calls.all();
  ASSERT_EQ(seen.size(), 1U);
  const json doc = last_;
  ASSERT_EQ(doc["due"].size(), 1U) << doc.dump();
  const json& due = doc["due"][0];
  EXPECT_EQ(due["id"], seen[0].id);
  EXPECT_EQ(due["reason"], "retry_backoff");
  EXPECT_EQ(due["attempts"], 1);
  EXPECT_EQ(due["group"], "tenant");
  EXPECT_GT(due["due"].get<std::int64_t>(), doc["now"].get<std::int64_t>()) << "its backoff has not passed";
  EXPECT_LE(due["due"].get<std::int64_t>() - doc["now"].get<std::int64_t>(), 60000);
  EXPECT_EQ(doc["nextDue"], due["due"]);
  EXPECT_EQ(doc["retried"], 1);
  EXPECT_EQ(doc["queued"], 0);
  EXPECT_EQ(doc["running"], 0);
  EXPECT_EQ(doc["delayed"], 0);
  EXPECT_EQ(entry_of(doc["waiting"], "id", seen[0].id), nullptr) << "a job in backoff is not waiting";

  client_->abort(request);
  auto future = got.get_future();
  const Result aborted = get_within(future);
  ASSERT_TRUE(aborted.err);
  EXPECT_EQ(aborted.err->code, "EABORTED");
  ASSERT_TRUE(status_until([](const json& s) { return s["retrying"] == 0 && s["due"].empty(); })) << last_.dump();
  EXPECT_FALSE(last_.contains("nextDue"));
  EXPECT_EQ(last_["queued"], 0) << "an aborted job in backoff is gone, not queued";
  EXPECT_EQ(last_["dead"], 0) << "an aborted job is no dead letter";
  EXPECT_EQ(calls.size(), 1U);
}

// A worker's death is not a failed attempt (PROTOCOL §14.1): it requeues the job
// without using a retry, so a policy of max 1 still has its retry for the EBUSY.
TEST_F(Lifecycle, AWorkerThatDiesUsesNoRetry) {
  start();
  WorkerProcess doomed(endpoint_, 1, 60000);
  ASSERT_TRUE(doomed.read_until("ready"));
  WorkOptions options;
  options.retry = quick_retry(1, {"EBUSY"});
  auto future = client_->work(json{{"n", 1}}, options);
  ASSERT_TRUE(doomed.read_until("started"));
  doomed.kill_now();
  Calls calls;
  auto rescuer = start_worker(endpoint_, [&](const JobPtr& job) {
    if (calls.add(job) == 1) {
      job->fail("EBUSY", "busy");
      return;
    }
    job->reply(Payload::json("rescued"));
  });
  const Result result = get_within(future, 15s);
  ASSERT_TRUE(result.ok()) << "the death used the retry: " << result.err->code;
  EXPECT_EQ(result.data.to_json(), "rescued");
  EXPECT_EQ(result.attempts, 2U) << "workers answered twice";
  const auto seen = calls.all();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].attempt, 2U) << "attempt 1 died with its worker";
  EXPECT_EQ(seen[1].attempt, 3U);
}

// ---------------------------------------------------------------- dead letters

TEST_F(Lifecycle, AJobThatExhaustsItsRetriesIsADeadLetterWithAllItNeeds) {
  start();
  Calls calls;
  auto worker = start_worker(endpoint_,
                             [&](const JobPtr& job) {
                               calls.add(job);
                               job->fail("EBUSY", "still busy");
                             },
                             4, {"resize"});
  JobSpec job(json{{"image", 42}});
  job.service = "resize";
  job.key = "img-42";
  WorkOptions options;
  options.retry = quick_retry(2);
  options.group = "tenant-7";
  options.priority = 1.5;
  const std::int64_t before = wall_ms_now();
  const Result result = run(job, options);
  const std::int64_t after = wall_ms_now();
  ASSERT_TRUE(result.err);
  EXPECT_EQ(result.err->code, "EBUSY");
  EXPECT_EQ(result.err->message, "still busy");
  EXPECT_EQ(result.attempts, 3U);
  ASSERT_EQ(calls.size(), 3U);

  // Asked after the result: the manager buried the job before it answered.
  const auto listed = letters();
  EXPECT_EQ(listed.reply["op"], "list");
  EXPECT_EQ(listed.reply["total"], 1);
  ASSERT_EQ(listed.reply["letters"].size(), 1U) << listed.reply.dump();
  ASSERT_EQ(listed.payloads.size(), 1U);
  EXPECT_EQ(listed.payloads[0].size(), 0U) << "list carries no payloads";
  const json letter = listed.reply["letters"][0];
  EXPECT_EQ(letter["job"], calls.all()[0].id);
  EXPECT_EQ(letter["err"]["code"], "EBUSY");
  EXPECT_EQ(letter["err"]["message"], "still busy");
  EXPECT_EQ(letter["attempts"], 3);
  EXPECT_EQ(letter["service"], "resize");
  EXPECT_EQ(letter["key"], "img-42");
  EXPECT_EQ(letter["group"], "tenant-7");
  EXPECT_EQ(letter["priority"], 1.5);
  EXPECT_EQ(letter["client"], client_->id());
  EXPECT_EQ(letter["raw"], false);
  EXPECT_EQ(letter["bytes"], (json{{"image", 42}}.dump().size()));
  EXPECT_GE(letter["since"].get<std::int64_t>(), before);
  EXPECT_LE(letter["since"].get<std::int64_t>(), after);

  auto show_future = client_->dead_letters_show({letter["id"].get<std::uint64_t>(), 987654321});
  const auto shown = get_within(show_future);
  EXPECT_EQ(shown.reply["op"], "show");
  ASSERT_EQ(shown.reply["letters"].size(), 1U) << "an unknown id is left out";
  ASSERT_EQ(shown.payloads.size(), 1U);
  EXPECT_EQ(shown.payloads[0].to_json(), (json{{"image", 42}}));
  EXPECT_EQ(shown.reply["letters"][0]["id"], letter["id"]);

  const json doc = status();
  EXPECT_EQ(doc["dead"], 1);
  ASSERT_EQ(doc["deadLetters"].size(), 1U);
  EXPECT_EQ(doc["deadLetters"][0]["id"], letter["id"]);

  // Raw bytes keep their bytes and their flag; the newest letter is listed first.
  const std::string bytes(
      "\x00\x01\xff"
      "bin",
      6);
  JobSpec raw_job(Payload::raw(bytes));
  raw_job.service = "resize";
  const Result raw_result = run(raw_job, options);
  ASSERT_TRUE(raw_result.err);
  const auto both = letters();
  ASSERT_EQ(both.reply["letters"].size(), 2U);
  const json raw_letter = both.reply["letters"][0];
  EXPECT_GT(raw_letter["id"].get<std::uint64_t>(), letter["id"].get<std::uint64_t>());
  EXPECT_EQ(raw_letter["raw"], true);
  EXPECT_EQ(raw_letter["bytes"], 6);
  EXPECT_FALSE(raw_letter.contains("key"));
  auto raw_show = client_->dead_letters_show({raw_letter["id"].get<std::uint64_t>()});
  const auto raw_shown = get_within(raw_show);
  ASSERT_EQ(raw_shown.payloads.size(), 1U);
  EXPECT_TRUE(raw_shown.payloads[0].is_raw());
  EXPECT_EQ(raw_shown.payloads[0].str(), bytes);
}

TEST_F(Lifecycle, ARequeuedLetterRunsAgainAsANewJobAndLeavesNoLetterWhenItSucceeds) {
  start();
  std::atomic<bool> succeed{false};
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    if (!succeed) {
      job->fail("EBUSY", "busy");
      return;
    }
    job->reply(Payload::json({{"done", job->args().to_json()}}));
  });
  WorkOptions options;
  options.retry = quick_retry(1);
  options.group = "g";
  const Result result = run(json{{"n", 7}}, options);
  ASSERT_TRUE(result.err);
  EXPECT_EQ(result.attempts, 2U);
  const std::uint64_t first_job = calls.all()[0].id;
  const auto listed = letters();
  ASSERT_EQ(listed.reply["letters"].size(), 1U);
  const auto first_letter = listed.reply["letters"][0]["id"].get<std::uint64_t>();

  // Requeued while the job still fails: it runs under a new id, with its retry
  // policy, and is buried again.
  auto again = client_->dead_letters_requeue({first_letter});
  const auto requeued = get_within(again);
  EXPECT_EQ(requeued.reply["op"], "requeue");
  ASSERT_EQ(requeued.reply["requeued"].size(), 1U) << requeued.reply.dump();
  EXPECT_EQ(requeued.reply["requeued"][0]["letter"], first_letter);
  const auto second_job = requeued.reply["requeued"][0]["job"].get<std::uint64_t>();
  EXPECT_GT(second_job, first_job) << "a requeued letter is a new job";
  EXPECT_EQ(requeued.reply["total"], 0) << "its letter is removed";
  ASSERT_TRUE(status_until([](const json& s) { return s["dead"] == 1; })) << last_.dump();
  const auto reburied = letters();
  ASSERT_EQ(reburied.reply["letters"].size(), 1U);
  const json second_letter = reburied.reply["letters"][0];
  EXPECT_GT(second_letter["id"].get<std::uint64_t>(), first_letter);
  EXPECT_EQ(second_letter["job"], second_job);
  EXPECT_EQ(second_letter["attempts"], 2) << "the retry policy came with it";
  EXPECT_EQ(second_letter["group"], "g");
  EXPECT_FALSE(second_letter.contains("client")) << "a requeued job has no client";
  const auto second_calls = calls.of(second_job);
  ASSERT_EQ(second_calls.size(), 2U);
  EXPECT_EQ(second_calls[0].args, (json{{"n", 7}})) << "the same payload";

  // Requeued with a worker that succeeds: it runs once and no letter is left.
  succeed = true;
  auto last = client_->dead_letters_requeue({second_letter["id"].get<std::uint64_t>(), 424242});
  const auto requeued_again = get_within(last);
  ASSERT_EQ(requeued_again.reply["requeued"].size(), 1U) << "an unknown id is skipped";
  const auto third_job = requeued_again.reply["requeued"][0]["job"].get<std::uint64_t>();
  ASSERT_TRUE(wait_until([&] { return calls.of(third_job).size() == 1; }));
  ASSERT_TRUE(status_until([](const json& s) { return s["running"] == 0 && s["queued"] == 0; })) << last_.dump();
  EXPECT_EQ(last_["dead"], 0);
  EXPECT_EQ(letters().reply["total"], 0);
  EXPECT_EQ(calls.of(third_job).size(), 1U);
}

TEST_F(Lifecycle, PurgeRemovesTheLettersNamedOrAll) {
  start();
  auto worker = start_worker(endpoint_, [](const JobPtr& job) { job->fail("EBUSY", "busy"); });
  WorkOptions options;
  options.retry = quick_retry(0);
  auto future = client_->work(std::vector<JobSpec>{json(1), json(2), json(3)}, options);
  const auto results = get_within(future);
  ASSERT_EQ(results.size(), 3U);
  const auto listed = letters();
  ASSERT_EQ(listed.reply["letters"].size(), 3U);
  std::vector<std::uint64_t> ids;
  for (const auto& letter : listed.reply["letters"]) ids.push_back(letter["id"]);

  auto one = client_->dead_letters_purge({ids[1], 999999});
  const auto purged_one = get_within(one);
  EXPECT_EQ(purged_one.reply["op"], "purge");
  EXPECT_EQ(purged_one.reply["purged"], 1);
  EXPECT_EQ(purged_one.reply["total"], 2);
  const auto left = letters();
  ASSERT_EQ(left.reply["letters"].size(), 2U);
  EXPECT_EQ(entry_of(left.reply["letters"], "id", ids[1]), nullptr);
  EXPECT_NE(entry_of(left.reply["letters"], "id", ids[0]), nullptr);
  EXPECT_NE(entry_of(left.reply["letters"], "id", ids[2]), nullptr);

  auto all = client_->dead_letters_purge();
  const auto purged_all = get_within(all);
  EXPECT_EQ(purged_all.reply["purged"], 2);
  EXPECT_EQ(purged_all.reply["total"], 0);
  EXPECT_TRUE(letters().reply["letters"].empty());
  EXPECT_EQ(status()["dead"], 0);
}

TEST_F(Lifecycle, MaxDeadLettersDropsTheOldest) {
  auto options = loopback_options();
  options.max_dead_letters = 2;
  start(options);
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    job->fail("EBUSY", "busy");
  });
  WorkOptions work;
  work.retry = quick_retry(0);
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(run(json{{"n", n}}, work).err);  // one after the other: they die in order
  const auto job_of = [&](int n) { return calls.with_args(json{{"n", n}}).at(0).id; };
  const auto listed = letters();
  EXPECT_EQ(listed.reply["total"], 2);
  ASSERT_EQ(listed.reply["letters"].size(), 2U);
  EXPECT_EQ(listed.reply["letters"][0]["job"], job_of(2)) << "newest first";
  EXPECT_EQ(listed.reply["letters"][1]["job"], job_of(1)) << "the oldest, job 0's, was dropped";
}

TEST_F(Lifecycle, DeadLettersOlderThanTheirMaxAgeAreDropped) {
  auto options = loopback_options();
  options.dead_letter_max_age = 1000ms;
  start(options);
  auto worker = start_worker(endpoint_, [](const JobPtr& job) { job->fail("EBUSY", "busy"); });
  WorkOptions work;
  work.retry = quick_retry(0);
  ASSERT_TRUE(run(json{{"n", 1}}, work).err);
  const auto listed = letters();
  ASSERT_EQ(listed.reply["letters"].size(), 1U);
  const auto since = listed.reply["letters"][0]["since"].get<std::int64_t>();
  ASSERT_TRUE(wait_until([&] { return letters().reply["total"] == 0; }, 10s)) << "the letter was never dropped";
  // The manager's wall clock is its steady clock from a sample at start: a few ms of slack.
  EXPECT_GE(wall_ms_now() - since, 1000 - 5) << "dropped before its age";
}

// A job that kills every worker that runs it: with suspect_after 1 its first death
// makes it suspect, the second (running alone) makes it poison, and poison is buried.
TEST_F(Lifecycle, APoisonJobIsADeadLetterWithEpoison) {
  auto options = loopback_options();
  options.suspect_after = 1;
  start(options);
  auto worker = std::make_unique<WorkerProcess>(endpoint_, 2, 0);
  ASSERT_TRUE(worker->read_until("ready"));
  WorkOptions work;
  work.retry = quick_retry(3);  // EPOISON is never retried
  auto future = client_->work(JobSpec(json{{"crash_after_ms", 10}}), work);
  int deaths = 0;
  const auto deadline = Steady::now() + 20s;
  while (future.wait_for(10ms) != std::future_status::ready && Steady::now() < deadline) {
    if (!worker->exited()) continue;
    ++deaths;
    worker = std::make_unique<WorkerProcess>(endpoint_, 2, 0);
    ASSERT_TRUE(worker->read_until("ready"));
  }
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready) << "after " << deaths << " worker deaths";
  const Result result = future.get();
  ASSERT_TRUE(result.err);
  EXPECT_EQ(result.err->code, "EPOISON") << result.err->message;
  EXPECT_GE(result.attempts, 1U);
  EXPECT_EQ(deaths, 2) << "suspect after the first death, poison at the second";
  const auto listed = letters();
  ASSERT_EQ(listed.reply["letters"].size(), 1U);
  const json letter = listed.reply["letters"][0];
  EXPECT_EQ(letter["err"]["code"], "EPOISON");
  auto show = client_->dead_letters_show({letter["id"].get<std::uint64_t>()});
  const auto shown = get_within(show);
  ASSERT_EQ(shown.payloads.size(), 1U);
  EXPECT_EQ(shown.payloads[0].to_json(), (json{{"crash_after_ms", 10}}));
  const json doc = status();
  EXPECT_EQ(doc["poisoned"], 1);
  EXPECT_EQ(doc["dead"], 1);
}

// ---------------------------------------------------------------- delayed jobs

TEST_F(Lifecycle, DelayedJobsStartNoEarlierThanTheirDelayOrTime) {
  start();
  const auto at = Wall::now() + 400ms;
  WorkOptions delayed;
  delayed.delay = 300ms;
  WorkOptions timed;
  timed.at = at;
  WorkOptions past;
  past.at = Wall::now() - 1h;
  const auto pushed = Steady::now();
  auto past_job = client_->work(json{{"which", "past"}}, past);
  auto delayed_job = client_->work(json{{"which", "delay"}}, delayed);
  auto timed_job = client_->work(json{{"which", "at"}}, timed);
  // No worker yet: an `at` in the past is queued at once, waiting for one.
  ASSERT_TRUE(wait_until([&] { return received().size() == 3; }));
  const auto ids = received();
  ASSERT_TRUE(status_until([&](const json& s) { return entry_of(s["waiting"], "id", ids[0]) != nullptr; }))
      << last_.dump();
  EXPECT_EQ(entry(last_["waiting"], "id", ids[0])["reason"], "no_worker");
  EXPECT_EQ(entry_of(last_["due"], "id", ids[0]), nullptr) << "a past `at` is not delayed";

  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    job->reply(job->args());
  });
  for (auto* future : {&past_job, &delayed_job, &timed_job}) {
    const Result r = get_within(*future);
    ASSERT_TRUE(r.ok()) << r.err->code;
  }
  const auto delayed_call = calls.with_args(json{{"which", "delay"}});
  const auto timed_call = calls.with_args(json{{"which", "at"}});
  ASSERT_EQ(delayed_call.size(), 1U);
  ASSERT_EQ(timed_call.size(), 1U);
  EXPECT_GE(delayed_call[0].started - pushed, 300ms) << "started before its delay";
  // `at` travels in whole ms, the manager's wall clock is a sample of it: 2 ms of slack.
  EXPECT_GE(timed_call[0].started_wall, at - 2ms) << "started before its time";
}

TEST_F(Lifecycle, StatusCountsDelayedJobsAndAnAbortDropsThem) {
  start();
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    job->reply(job->args());
  });
  const auto at = Wall::now() + 60s;
  WorkOptions delayed;
  delayed.delay = 30s;
  delayed.group = "later";
  WorkOptions timed;
  timed.at = at;
  std::promise<Result> delayed_done;
  std::promise<Result> timed_done;
  const auto delayed_request =
      client_->work(json{{"n", 1}}, delayed, [&](Result r) { delayed_done.set_value(std::move(r)); });
  const auto timed_request =
      client_->work(json{{"n", 2}}, timed, [&](Result r) { timed_done.set_value(std::move(r)); });
  ASSERT_TRUE(status_until([](const json& s) { return s["delayed"] == 2; })) << last_.dump();
  const auto ids = received();
  ASSERT_EQ(ids.size(), 2U);
  const json doc = last_;
  ASSERT_EQ(doc["due"].size(), 2U) << doc.dump();
  EXPECT_EQ(doc["due"][0]["id"], ids[0]) << "soonest first";
  EXPECT_EQ(doc["due"][0]["reason"], "delayed");
  EXPECT_EQ(doc["due"][0]["group"], "later");
  EXPECT_GT(doc["due"][0]["due"].get<std::int64_t>(), doc["now"].get<std::int64_t>());
  EXPECT_LE(doc["due"][0]["due"].get<std::int64_t>() - doc["now"].get<std::int64_t>(), 30000);
  EXPECT_EQ(doc["due"][1]["id"], ids[1]);
  EXPECT_EQ(doc["due"][1]["reason"], "delayed");
  EXPECT_EQ(doc["due"][1]["due"], wall_ms(at)) << "an `at` is due at that time of the manager's clock";
  EXPECT_EQ(doc["nextDue"], doc["due"][0]["due"]);
  EXPECT_EQ(doc["queued"], 0);
  EXPECT_EQ(doc["retrying"], 0);
  EXPECT_TRUE(doc["waiting"].empty()) << "a delayed job is not waiting for a worker";

  client_->abort(delayed_request);
  auto delayed_future = delayed_done.get_future();
  const Result aborted = get_within(delayed_future);
  ASSERT_TRUE(aborted.err);
  EXPECT_EQ(aborted.err->code, "EABORTED");
  ASSERT_TRUE(status_until([](const json& s) { return s["delayed"] == 1; })) << last_.dump();
  ASSERT_EQ(last_["due"].size(), 1U);
  EXPECT_EQ(last_["due"][0]["id"], ids[1]);
  client_->abort(timed_request);
  auto timed_future = timed_done.get_future();
  EXPECT_EQ(get_within(timed_future).err.value_or(JobError{}).code, "EABORTED");
  ASSERT_TRUE(status_until([](const json& s) { return s["delayed"] == 0 && s["due"].empty(); })) << last_.dump();
  EXPECT_EQ(last_["queued"], 0) << "aborted delayed jobs are gone";
  const Result normal = run(json{{"n", 3}});
  ASSERT_TRUE(normal.ok());
  EXPECT_EQ(calls.size(), 1U) << "only the job that was not aborted ran";
}

TEST_F(Lifecycle, AssignTimeoutCountsFromTheMomentADelayedJobQueues) {
  start();
  JobSpec job(json{{"n", 1}});
  job.service = "nobody-serves-this";
  WorkOptions options;
  options.delay = 400ms;
  options.assign_timeout = 200ms;
  const auto pushed = Steady::now();
  const Result result = run(job, options);
  const auto elapsed = Steady::now() - pushed;
  ASSERT_TRUE(result.err);
  EXPECT_EQ(result.err->code, "EATO");
  EXPECT_GE(elapsed, 600ms) << "the assign timeout ran during the delay";

  // EATO is the manager's: never retried, and no dead letter.
  options.delay.reset();
  options.retry = quick_retry(3);
  const Result unassigned = run(job, options);
  ASSERT_TRUE(unassigned.err);
  EXPECT_EQ(unassigned.err->code, "EATO");
  EXPECT_EQ(unassigned.attempts, 1U);
  EXPECT_EQ(letters().reply["total"], 0);
  EXPECT_EQ(status()["retried"], 0);
}

// An assigntimeout bounds the wait for a first worker only (PROTOCOL §14.1): a retry
// that queues long after it has passed is not failed with EATO.
TEST_F(Lifecycle, AssignTimeoutDoesNotApplyToARetry) {
  start();
  Calls calls;
  auto first = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    job->fail("EBUSY", "busy");
  });
  WorkOptions options;
  options.assign_timeout = 100ms;
  options.retry = quick_retry(1);
  options.retry->initial = 300ms;
  auto future = client_->work(json{{"n", 1}}, options);
  ASSERT_TRUE(wait_until([&] { return calls.size() == 1; }));
  first.reset();  // no worker when the retry queues, 300 ms after the failure
  ASSERT_TRUE(status_until([](const json& s) { return s["waiting"].size() == 1; })) << last_.dump();
  EXPECT_EQ(last_["waiting"][0]["reason"], "no_worker");
  EXPECT_GE(last_["now"].get<std::int64_t>() - last_["waiting"][0]["since"].get<std::int64_t>(), 100)
      << "the job waits past its assigntimeout";
  auto second = start_worker(endpoint_, [](const JobPtr& job) { job->reply(Payload::json("second")); });
  const Result result = get_within(future);
  ASSERT_TRUE(result.ok()) << "the retry was failed by the assigntimeout: " << result.err->code;
  EXPECT_EQ(result.attempts, 2U);
}

// A delayed job's key counts for HOLDSIMILARWORK only once it is due (PROTOCOL §14.3).
TEST_F(Lifecycle, ADelayedJobHoldsNothingBehindItsKeyBeforeItIsDue) {
  auto options = loopback_options();
  options.hold_similar_work = true;
  start(options);
  auto worker = start_worker(endpoint_, [](const JobPtr& job) { job->reply(job->args()); });
  JobSpec later(json{{"n", "later"}});
  later.key = "k";
  JobSpec now(json{{"n", "now"}});
  now.key = "k";
  WorkOptions delayed;
  delayed.delay = 30s;
  std::promise<Result> later_done;
  const auto later_request = client_->work(later, delayed, [&](Result r) { later_done.set_value(std::move(r)); });
  ASSERT_TRUE(status_until([](const json& s) { return s["delayed"] == 1; }));
  const Result ran = run(now);
  ASSERT_TRUE(ran.ok()) << ran.err->code;
  EXPECT_EQ(ran.data.to_json(), (json{{"n", "now"}})) << "its own result, not held behind the delayed job";
  client_->abort(later_request);
  auto later_future = later_done.get_future();
  EXPECT_EQ(get_within(later_future).err.value_or(JobError{}).code, "EABORTED");
}

// A client that leaves (BYE) takes its delayed jobs and its jobs in backoff with it.
TEST_F(Lifecycle, AClientThatLeavesTakesItsDelayedAndRetryingJobs) {
  start();
  auto worker = start_worker(endpoint_, [](const JobPtr& job) { job->fail("EBUSY", "busy"); });
  {
    Client leaving(client_options(endpoint_));
    WorkOptions delayed;
    delayed.delay = 30s;
    WorkOptions retrying;
    retrying.retry = quick_retry(1);
    retrying.retry->initial = 30s;
    (void)leaving.work(json{{"n", 1}}, delayed);
    (void)leaving.work(json{{"n", 2}}, retrying);
    ASSERT_TRUE(status_until([](const json& s) { return s["delayed"] == 1 && s["retrying"] == 1; })) << last_.dump();
  }
  ASSERT_TRUE(status_until([](const json& s) { return s["delayed"] == 0 && s["retrying"] == 0 && s["due"].empty(); }))
      << last_.dump();
  EXPECT_EQ(last_["dead"], 0);
}

// -------------------------------------------------------------------- progress

struct ProgressEvent {
  bool result = false;  // the job's `each`; otherwise a progress report
  std::uint64_t request = 0;
  std::size_t index = 0;
  std::uint64_t id = 0;
  json value;
};

// Collects what work_individual reports, in the order the callbacks ran.
struct ProgressLog {
  std::mutex mutex;
  std::vector<ProgressEvent> events;
  std::atomic<int> done{0};

  Client::RequestId submit(Client& client, std::vector<JobSpec> jobs, const WorkOptions& options = {}) {
    return client.work_individual(
        std::move(jobs), options,
        [this](const Result& r, const JobRef& ref) {
          std::lock_guard lock(mutex);
          events.push_back(
              {true, ref.request, ref.index, ref.id, r.ok() ? r.data.to_json() : json{{"err", r.err->code}}});
        },
        [this] { ++done; },
        [this](const Payload& p, const JobRef& ref) {
          std::lock_guard lock(mutex);
          events.push_back({false, ref.request, ref.index, ref.id, p.to_json()});
        });
  }
  std::vector<ProgressEvent> of(std::uint64_t request, std::size_t index) {
    std::lock_guard lock(mutex);
    std::vector<ProgressEvent> out;
    for (const auto& e : events) {
      if (e.request == request && e.index == index) out.push_back(e);
    }
    return out;
  }
};

TEST_F(Lifecycle, ProgressReachesTheCallbackInOrderBeforeTheResult) {
  start();
  auto worker = start_worker(endpoint_, [](const JobPtr& job) {
    const int n = job->args().to_json()["n"];
    for (int step = 1; step <= 5; ++step) job->progress(Payload::json({{"n", n}, {"step", step}}));
    job->reply(Payload::json({{"n", n}}));
  });
  ProgressLog log;
  std::vector<JobSpec> jobs;
  for (int n = 0; n < 4; ++n) jobs.emplace_back(json{{"n", n}});
  const auto request = log.submit(*client_, std::move(jobs));
  ASSERT_TRUE(wait_until([&] { return log.done == 1; }, 10s));
  for (std::size_t index = 0; index < 4; ++index) {
    const auto events = log.of(request, index);
    ASSERT_EQ(events.size(), 6U) << "five reports and the result of job " << index;
    for (std::size_t step = 0; step < 5; ++step) {
      EXPECT_FALSE(events[step].result) << "job " << index << ": the result came before report " << step + 1;
      EXPECT_EQ(events[step].value, (json{{"n", index}, {"step", step + 1}})) << "in the order they were sent";
      EXPECT_EQ(events[step].id, events[5].id);
    }
    EXPECT_TRUE(events[5].result);
    EXPECT_EQ(events[5].value, (json{{"n", index}}));
  }
}

TEST_F(Lifecycle, ProgressAfterTheAnswerOrAfterEtoNeverReachesTheClient) {
  start();
  std::atomic<bool> reporter_done{false};
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const std::string kind = job->args().to_json()["kind"];
    if (kind == "answer-then-report") {
      job->reply(Payload::json("answered"));
      for (int i = 0; i < 3; ++i) job->progress(Payload::json("after-answer"));
    } else if (kind == "ignores-timeout") {
      // Reports on for 300 ms, far past its runTimeout, whatever it is told.
      const auto until = Steady::now() + 300ms;
      while (Steady::now() < until) {
        job->progress(Payload::json(job->cancelled() ? "after-eto" : "before-eto"));
        std::this_thread::sleep_for(5ms);
      }
      reporter_done = true;
    } else {
      job->progress(Payload::json("marker"));
      job->reply(Payload::json("marked"));
    }
  });
  ProgressLog log;
  const auto answered = log.submit(*client_, {JobSpec(json{{"kind", "answer-then-report"}})});
  ASSERT_TRUE(wait_until([&] { return log.done == 1; }));
  WorkOptions short_run;
  short_run.run_timeout = 50ms;
  const auto timed_out = log.submit(*client_, {JobSpec(json{{"kind", "ignores-timeout"}})}, short_run);
  ASSERT_TRUE(wait_until([&] { return log.done == 2 && reporter_done; }));
  // A last job's report travels behind anything the others sent late.
  const auto marked = log.submit(*client_, {JobSpec(json{{"kind", "marker"}})});
  ASSERT_TRUE(wait_until([&] { return log.done == 3; }));

  const auto first = log.of(answered, 0);
  ASSERT_EQ(first.size(), 1U) << "reports after the answer are dropped";
  EXPECT_TRUE(first[0].result);
  const auto second = log.of(timed_out, 0);
  ASSERT_FALSE(second.empty());
  EXPECT_TRUE(second.back().result) << "a report arrived after the ETO result";
  EXPECT_EQ(second.back().value, (json{{"err", "ETO"}}));
  for (const auto& e : second) EXPECT_NE(e.value, "after-eto");
  const auto third = log.of(marked, 0);
  ASSERT_EQ(third.size(), 2U);
  EXPECT_EQ(third[0].value, "marker");
  EXPECT_TRUE(third[1].result);
}

// The manager's own promise, without the libraries' filters: a raw worker reports after
// its ETO, after its result and with a stale attempt; a raw client never sees those.
TEST_F(Lifecycle, TheManagerForwardsNoProgressOfAJobThatAnsweredOrOfAnotherAttempt) {
  auto options = loopback_options();
  options.heartbeat_interval = 100ms;
  options.heartbeat_liveness = 20;  // one raw peer is silent while the test reads the other
  start(options);
  Wire worker(endpoint_);
  Wire client(endpoint_);
  worker.hello("raw-worker");
  worker.send("OFFER", {{"slots", 4}});
  (void)worker.expect("OFFERED");
  client.hello("raw-client");

  // The client's messages until RESULT for `id`, which must come last.
  const auto read_until_result = [&](std::uint64_t id) {
    std::vector<WireMessage> got;
    for (;;) {
      auto msg = client.next();
      if (!msg) {
        ADD_FAILURE() << "no RESULT for job " << id;
        return got;
      }
      got.push_back(*msg);
      if (msg->command == "RESULT" && msg->header["results"][0]["id"] == id) return got;
    }
  };
  const auto push = [&](std::uint64_t req, json header) {
    header["req"] = req;
    header["jobs"] = json::array({json::object()});
    client.send("PUSH", header, {"1"});
    const auto accepted = client.expect("ACCEPTED");
    const auto jobs = worker.expect("JOBS");
    EXPECT_EQ(jobs.header["jobs"][0]["id"], accepted.header["ids"][0]);
    return std::make_pair(jobs.header["jobs"][0]["id"].get<std::uint64_t>(),
                          jobs.header["jobs"][0]["attempt"].get<unsigned>());
  };
  const auto progress = [&](std::uint64_t id, unsigned attempt, const std::string& text) {
    worker.send("PROGRESS", {{"progress", {{{"id", id}, {"attempt", attempt}}}}}, {json(text).dump()});
  };

  const auto [eto_job, eto_attempt] = push(1, {{"runTimeout", 100}});
  progress(eto_job, eto_attempt, "before-eto");
  worker.send(
      "RESULT",
      {{"results", {{{"id", eto_job}, {"attempt", eto_attempt}, {"err", {{"code", "ETO"}, {"message", "late"}}}}}}},
      {""});
  progress(eto_job, eto_attempt, "after-eto");
  auto got = read_until_result(eto_job);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0].command, "PROGRESS");
  EXPECT_EQ(got[0].header["progress"][0]["id"], eto_job);
  EXPECT_EQ(got[0].payloads.at(0), "\"before-eto\"");
  EXPECT_EQ(got[1].header["results"][0]["err"]["code"], "ETO");

  const auto [ok_job, ok_attempt] = push(2, json::object());
  worker.send("RESULT", {{"results", {{{"id", ok_job}, {"attempt", ok_attempt}}}}}, {"\"done\""});
  progress(ok_job, ok_attempt, "after-result");
  got = read_until_result(ok_job);
  ASSERT_EQ(got.size(), 1U) << "nothing but the result: " << got[0].command;

  const auto [marked_job, marked_attempt] = push(3, json::object());
  progress(marked_job, marked_attempt + 1, "stale-attempt");
  progress(marked_job, marked_attempt, "marker");
  worker.send("RESULT", {{"results", {{{"id", marked_job}, {"attempt", marked_attempt}}}}}, {"\"marked\""});
  got = read_until_result(marked_job);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0].command, "PROGRESS");
  EXPECT_EQ(got[0].payloads.at(0), "\"marker\"") << "the late and stale reports were dropped; this one was not";

  // A client may not report progress.
  client.send("PROGRESS", {{"progress", {{{"id", marked_job}, {"attempt", marked_attempt}}}}}, {"1"});
  EXPECT_EQ(client.expect_error("PROGRESS"), "ESTATE");
}

// ---------------------------------------------------------------- group limits

TEST_F(Lifecycle, AGroupNeverRunsMoreThanItsLimitAndDoesNotHoldUpAnother) {
  auto options = loopback_options();
  options.group_max_running = 2;
  start(options);
  Concurrency concurrency;
  std::atomic<bool> release{false};
  auto worker = start_worker(
      endpoint_,
      [&](const JobPtr& job) {
        const std::string group = job->args().to_json()["g"];
        concurrency.enter(group);
        while (!release && !job->cancelled()) std::this_thread::sleep_for(1ms);
        concurrency.leave(group);
        job->reply(job->args());
      },
      8);
  std::vector<JobSpec> a_jobs;
  for (int i = 0; i < 10; ++i) a_jobs.emplace_back(json{{"g", "a"}, {"i", i}});
  std::vector<JobSpec> b_jobs;
  for (int i = 0; i < 4; ++i) b_jobs.emplace_back(json{{"g", "b"}, {"i", i}});
  WorkOptions in_a;
  in_a.group = "a";
  WorkOptions in_b;
  in_b.group = "b";
  auto a_future = client_->work(std::move(a_jobs), in_a);
  auto b_future = client_->work(std::move(b_jobs), in_b);

  // "b" runs beside "a", although every job of "a" was queued before it.
  ASSERT_TRUE(wait_until([&] { return concurrency.current("a") == 2 && concurrency.current("b") == 2; }))
      << "a " << concurrency.current("a") << ", b " << concurrency.current("b");
  const auto group_of = [](const json& doc, const std::string& name) { return entry_of(doc["groups"], "group", name); };
  ASSERT_TRUE(status_until([&](const json& s) {
    const json* a = group_of(s, "a");
    const json* b = group_of(s, "b");
    return a != nullptr && b != nullptr && (*a)["waiting"] == 8 && (*b)["waiting"] == 2 && s["groupLimited"] == 10;
  })) << last_.dump();
  const json doc = last_;
  EXPECT_EQ(doc["running"], 4);
  EXPECT_EQ(entry(doc["groups"], "group", "a")["running"], 2);
  EXPECT_EQ(entry(doc["groups"], "group", "b")["running"], 2);
  std::size_t explained = 0;
  for (const auto& waiting : doc["waiting"]) {
    EXPECT_EQ(waiting["reason"], "group_running_limit") << waiting.dump();
    EXPECT_TRUE(waiting["group"] == "a" || waiting["group"] == "b") << waiting.dump();
    ++explained;
  }
  EXPECT_EQ(explained, 10U);

  auto limits_future = client_->group_limits();
  const json limits = get_within(limits_future);
  EXPECT_EQ(limits["defaults"]["maxRunning"], 2);
  EXPECT_TRUE(limits["defaults"]["rate"].is_null());
  ASSERT_EQ(limits["groups"].size(), 2U) << limits.dump();
  EXPECT_EQ(limits["groups"][0]["group"], "a") << "the most waiting first";
  EXPECT_EQ(limits["groups"][0]["running"], 2);
  EXPECT_EQ(limits["groups"][0]["waiting"], 8);
  EXPECT_EQ(limits["groups"][0]["started"], 2);
  EXPECT_EQ(limits["groups"][0]["maxRunning"], 2);
  EXPECT_EQ(limits["groups"][0]["custom"], false);
  EXPECT_EQ(limits["groups"][1]["group"], "b");
  EXPECT_EQ(limits["groups"][1]["waiting"], 2);

  release = true;
  const auto a_results = get_within(a_future);
  const auto b_results = get_within(b_future);
  ASSERT_EQ(a_results.size(), 10U);
  ASSERT_EQ(b_results.size(), 4U);
  for (const auto& r : a_results) EXPECT_TRUE(r.ok());
  for (const auto& r : b_results) EXPECT_TRUE(r.ok());
  EXPECT_EQ(concurrency.highest("a"), 2) << "group a ran more than its limit at once";
  EXPECT_EQ(concurrency.highest("b"), 2);
}

TEST_F(Lifecycle, AGroupPausedAtRunTimeWaitsAndResumes) {
  start();
  auto paused_future = client_->set_group_limits("p", 0, std::nullopt);
  const json paused = get_within(paused_future);
  const json* p = entry_of(paused["groups"], "group", "p");
  ASSERT_NE(p, nullptr) << paused.dump();
  EXPECT_EQ((*p)["maxRunning"], 0);
  EXPECT_TRUE((*p)["rate"].is_null());
  EXPECT_EQ((*p)["custom"], true);

  Concurrency concurrency;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const std::string group = job->args().to_json()["g"];
    concurrency.enter(group);
    std::this_thread::sleep_for(20ms);  // the job's work: long enough for two to overlap
    concurrency.leave(group);
    job->reply(job->args());
  });
  std::vector<JobSpec> jobs;
  for (int i = 0; i < 3; ++i) jobs.emplace_back(json{{"g", "p"}, {"i", i}});
  WorkOptions in_p;
  in_p.group = "p";
  auto p_future = client_->work(std::move(jobs), in_p);
  const Result ungrouped = run(json{{"g", "none"}});
  ASSERT_TRUE(ungrouped.ok()) << "a paused group holds up nobody else";
  ASSERT_TRUE(status_until([](const json& s) {
    const json* g = entry_of(s["groups"], "group", "p");
    return g != nullptr && (*g)["waiting"] == 3;
  })) << last_.dump();
  EXPECT_EQ(entry(last_["groups"], "group", "p")["running"], 0);
  ASSERT_EQ(last_["waiting"].size(), 3U);
  for (const auto& waiting : last_["waiting"]) EXPECT_EQ(waiting["reason"], "group_running_limit");
  EXPECT_EQ(concurrency.highest("p"), 0) << "a paused group started a job";

  auto resumed_future = client_->set_group_limits("p", 1, std::nullopt);
  const json resumed = get_within(resumed_future);
  EXPECT_EQ(entry(resumed["groups"], "group", "p")["maxRunning"], 1);
  const auto results = get_within(p_future);
  ASSERT_EQ(results.size(), 3U);
  for (const auto& r : results) EXPECT_TRUE(r.ok());
  EXPECT_EQ(concurrency.highest("p"), 1) << "maxRunning 1 ran more at once";

  auto cleared_future = client_->clear_group_limits("p");
  const json cleared = get_within(cleared_future);
  const json* gone = entry_of(cleared["groups"], "group", "p");
  EXPECT_TRUE(gone == nullptr || (*gone)["custom"] == false) << cleared.dump();
}

TEST_F(Lifecycle, AGroupsRateSpacesItsStartsAfterTheBurst) {
  start();
  constexpr double kRate = 20;  // a bucket of 20 tokens, refilled at 20 a second
  constexpr int kBurst = 20;
  constexpr int kJobs = 30;
  auto limited = client_->set_group_limits("r", std::nullopt, kRate);
  const json limits = get_within(limited);
  EXPECT_EQ(entry(limits["groups"], "group", "r")["rate"], kRate);
  Calls calls;
  auto worker = start_worker(
      endpoint_,
      [&](const JobPtr& job) {
        calls.add(job);
        job->reply(job->args());
      },
      8);
  std::vector<JobSpec> jobs;
  for (int i = 0; i < kJobs; ++i) jobs.emplace_back(json(i));
  WorkOptions in_r;
  in_r.group = "r";
  const auto pushed = Steady::now();
  auto future = client_->work(std::move(jobs), in_r);
  const auto results = get_within(future);
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kJobs));
  for (const auto& r : results) EXPECT_TRUE(r.ok());
  std::vector<Steady::time_point> starts;
  for (const auto& c : calls.all()) starts.push_back(c.started);
  ASSERT_EQ(starts.size(), static_cast<std::size_t>(kJobs));
  std::sort(starts.begin(), starts.end());
  // The k-th start needs k tokens: the full bucket and what refilled since the push.
  for (int k = kBurst + 1; k <= kJobs; ++k) {
    const auto earliest = std::chrono::duration<double>((k - kBurst) / kRate);
    EXPECT_GE(starts[k - 1] - pushed + 1ms, earliest) << "start " << k << " came before its token";
  }
  EXPECT_GE(starts.back() - pushed + 1ms, std::chrono::duration<double>((kJobs - kBurst) / kRate));
}

TEST_F(Lifecycle, ARateLimitedJobWaitsWithGroupRateLimit) {
  start();
  auto slow = client_->set_group_limits("slow", std::nullopt, 0.5);  // one token, the next in 2 s
  (void)get_within(slow);
  auto worker = start_worker(endpoint_, [](const JobPtr& job) { job->reply(job->args()); });
  WorkOptions in_slow;
  in_slow.group = "slow";
  auto future = client_->work(std::vector<JobSpec>{json(1), json(2), json(3)}, in_slow);
  ASSERT_TRUE(status_until([](const json& s) {
    const json* waiting = entry_of(s["waiting"], "reason", "group_rate_limit");
    return waiting != nullptr && (*waiting)["group"] == "slow";
  })) << last_.dump();
  for (const auto& waiting : last_["waiting"]) EXPECT_EQ(waiting["reason"], "group_rate_limit") << waiting.dump();
  EXPECT_GE(last_["groupLimited"].get<int>(), 1);
  auto unlimited = client_->set_group_limits("slow", std::nullopt, std::nullopt);
  (void)get_within(unlimited);
  const auto results = get_within(future);
  ASSERT_EQ(results.size(), 3U);
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << "a lifted limit lets the group go";
}

// A job in backoff is not running (PROTOCOL §14.1): it holds none of its group's
// running budget, and a job of the group waiting for the budget can be aborted.
TEST_F(Lifecycle, AJobInBackoffHoldsNoneOfItsGroupsBudget) {
  auto options = loopback_options();
  options.group_max_running = 1;
  start(options);
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    calls.add(job);
    if (job->args().to_json()["n"] == 1) {
      job->fail("EBUSY", "busy");
      return;
    }
    job->reply(job->args());
  });
  WorkOptions in_g;
  in_g.group = "g";
  WorkOptions retrying = in_g;
  retrying.retry = quick_retry(1);
  retrying.retry->initial = 30s;
  std::promise<Result> first_done;
  const auto first = client_->work(json{{"n", 1}}, retrying, [&](Result r) { first_done.set_value(std::move(r)); });
  ASSERT_TRUE(status_until([](const json& s) { return s["retrying"] == 1; })) << last_.dump();
  const Result second = run(json{{"n", 2}}, in_g);
  ASSERT_TRUE(second.ok()) << "the job in backoff held its group's only running place";
  client_->abort(first);
  auto first_future = first_done.get_future();
  EXPECT_EQ(get_within(first_future).err.value_or(JobError{}).code, "EABORTED");

  // Paused, the group's jobs wait; aborted, they are gone from the group.
  auto paused = client_->set_group_limits("g", 0, std::nullopt);
  (void)get_within(paused);
  std::promise<std::vector<Result>> held_done;
  const auto held = client_->work(std::vector<JobSpec>{json{{"n", 3}}, json{{"n", 4}}}, in_g,
                                  [&](std::vector<Result> r) { held_done.set_value(std::move(r)); });
  ASSERT_TRUE(status_until([](const json& s) { return s["groupLimited"] == 2; })) << last_.dump();
  client_->abort(held);
  auto held_future = held_done.get_future();
  for (const auto& r : get_within(held_future)) EXPECT_EQ(r.err.value_or(JobError{}).code, "EABORTED");
  ASSERT_TRUE(status_until([](const json& s) { return s["groupLimited"] == 0 && s["waiting"].empty(); }))
      << last_.dump();
  const json g = entry(last_["groups"], "group", "g");
  EXPECT_EQ(g["waiting"], 0) << last_.dump();
  EXPECT_EQ(calls.size(), 2U) << "the aborted jobs never ran";
}

// ------------------------------------------------- hold-similar-work and retries

TEST_F(Lifecycle, JobsHeldBehindARetryingLeaderGetItsFinalResult) {
  auto options = loopback_options();
  options.hold_similar_work = true;
  start(options);
  Calls calls;
  std::atomic<bool> followers_held{false};
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    const unsigned n = calls.add(job);
    if (n == 1) {
      // The first attempt ends only once the followers wait behind it.
      while (!followers_held && !job->cancelled()) std::this_thread::sleep_for(1ms);
    }
    if (n < 3) {
      job->fail("EBUSY", "busy");
      return;
    }
    job->progress(Payload::json("leader's progress"));
    job->reply(Payload::json({{"leader", job->args().to_json()}, {"attempt", job->attempt()}}));
  });
  JobSpec leader(json{{"n", "leader"}});
  leader.key = "same";
  WorkOptions retrying;
  retrying.retry = quick_retry(2, {"EBUSY"});
  retrying.retry->initial = 100ms;  // a backoff the followers wait through
  auto leader_future = client_->work(leader, retrying);
  ASSERT_TRUE(wait_until([&] { return calls.size() == 1; }));
  std::vector<JobSpec> followers;
  for (const char* name : {"f1", "f2"}) {
    JobSpec follower(json{{"n", name}});
    follower.key = "same";
    followers.push_back(std::move(follower));
  }
  ProgressLog followers_log;  // held jobs get their leader's result, not its progress
  const auto followers_request = followers_log.submit(*client_, std::move(followers));
  ASSERT_TRUE(status_until([](const json& s) { return s["held"] == 2; })) << last_.dump();
  for (const auto& waiting : last_["waiting"]) EXPECT_EQ(waiting["reason"], "held_behind_key");
  followers_held = true;

  const Result led = get_within(leader_future);
  ASSERT_TRUE(led.ok()) << led.err->code;
  EXPECT_EQ(led.attempts, 3U);
  const json expected = {{"leader", {{"n", "leader"}}}, {"attempt", 3}};
  EXPECT_EQ(led.data.to_json(), expected);
  ASSERT_TRUE(wait_until([&] { return followers_log.done == 1; }));
  for (std::size_t index = 0; index < 2; ++index) {
    const auto events = followers_log.of(followers_request, index);
    ASSERT_EQ(events.size(), 1U) << "follower " << index << ": its result only";
    EXPECT_TRUE(events[0].result);
    EXPECT_EQ(events[0].value, expected) << "followers get the leader's final result, not an attempt's failure";
  }
  EXPECT_EQ(calls.size(), 3U) << "the followers never ran";
  for (const auto& c : calls.all()) EXPECT_EQ(c.args, (json{{"n", "leader"}}));
}

// ----------------------------------------------------------------- wire errors

TEST_F(Lifecycle, TheWireRefusesBadLifecycleFieldsAndServesEveryoneElse) {
  auto options = loopback_options();
  options.heartbeat_interval = 100ms;
  options.heartbeat_liveness = 20;
  start(options);
  auto worker = echo_worker(endpoint_, 4);
  const auto served = [&](int n) {
    const Result r = run(json{{"n", n}});
    ASSERT_TRUE(r.ok()) << r.err->code;
    EXPECT_EQ(r.data.to_json(), (json{{"echo", {{"n", n}}}}));
  };
  Wire raw(endpoint_);
  const json welcome = raw.hello("wire");
  EXPECT_EQ(welcome["lifecycle"], true);
  const std::int64_t later = wall_ms_now() + 60000;
  const auto push = [&](std::uint64_t req, json header, json entry = json::object()) {
    header["req"] = req;
    header["jobs"] = json::array({entry});
    raw.send("PUSH", header, {"1"});
  };
  const std::vector<std::pair<json, json>> refused = {
      {{{"delay", 100}, {"at", later}}, json::object()},
      {json::object(), {{"delay", 100}, {"at", later}}},
      {{{"delay", -5}}, json::object()},
      {{{"delay", "100"}}, json::object()},
      {{{"at", 1.5}}, json::object()},
      {{{"group", ""}}, json::object()},
      {{{"group", std::string(257, 'g')}}, json::object()},
      {{{"group", 7}}, json::object()},
      {{{"retry", {{"codes", {"EBUSY"}}}}}, json::object()},
      {{{"retry", {{"max", 101}}}}, json::object()},
      {{{"retry", {{"max", 1}, {"factor", 0.5}}}}, json::object()},
      {{{"retry", {{"max", 1}, {"jitter", 2}}}}, json::object()},
      {{{"retry", {{"max", 1}, {"codes", {""}}}}}, json::object()},
      {json::object(), {{"retry", 3}}},
  };
  std::uint64_t req = 1;
  for (const auto& [header, entry] : refused) {
    push(req, header, entry);
    EXPECT_EQ(raw.expect_error("PUSH", req), "EBADFIELD") << "header " << header.dump() << ", entry " << entry.dump();
    ++req;
  }
  served(1);
  // An entry's delay overrides the header's `at`: this job queues at once.
  push(req, {{"at", later}}, {{"delay", 0}});
  const auto accepted = raw.expect("ACCEPTED");
  EXPECT_EQ(accepted.header["req"], req);
  const auto result = raw.expect("RESULT");
  EXPECT_EQ(result.header["results"][0]["id"], accepted.header["ids"][0]);
  ++req;

  const std::vector<json> bad_dead = {
      {{"op", "bogus"}},
      {{"op", "requeue"}},
      {{"op", "purge"}},
      {{"op", "purge"}, {"ids", "1"}},
      {{"op", "show"}, {"ids", {-1}}},
      {{"op", "list"}, {"limit", "ten"}},
      {{"op", "purge"}, {"all", "yes"}},
  };
  for (json dead : bad_dead) {
    dead["req"] = req;
    raw.send("DEAD", dead);
    EXPECT_EQ(raw.expect_error("DEAD", req), "EBADFIELD") << dead.dump();
    ++req;
  }
  raw.send("DEAD", {{"req", req}, {"op", "list"}});
  const auto listed = raw.expect("DEADLETTERS");
  EXPECT_EQ(listed.header["req"], req);
  EXPECT_EQ(listed.header["total"], 0);
  ++req;

  const std::vector<json> bad_limits = {
      {{"op", "set"}},
      {{"op", "clear"}},
      {{"op", "set"}, {"group", "g"}, {"maxRunning", -1}},
      {{"op", "set"}, {"group", "g"}, {"maxRunning", 1.5}},
      {{"op", "set"}, {"group", "g"}, {"rate", -1}},
      {{"op", "set"}, {"group", "g"}, {"rate", "fast"}},
      {{"op", "pause"}, {"group", "g"}},
  };
  for (json limits : bad_limits) {
    limits["req"] = req;
    raw.send("GROUPLIMITS", limits);
    EXPECT_EQ(raw.expect_error("GROUPLIMITS", req), "EBADFIELD") << limits.dump();
    ++req;
  }
  raw.send("GROUPLIMITS", {{"req", req}, {"op", "list"}});
  const auto listed_groups = raw.expect("GROUPLIMITS");
  EXPECT_EQ(listed_groups.header["req"], req);
  served(2);
}

// A client away (its session expired, PROTOCOL §12) has the result of its retried job
// held for it; given back when it returns, the result still says how many attempts.
TEST_F(Lifecycle, AHeldResultOfARetriedJobKeepsItsAttempts) {
  std::string pattern = (fs::temp_directory_path() / "prlt-life-XXXXXX").string();
  const std::string dir = mkdtemp(pattern.data());
  auto options = loopback_options();
  options.journal_dir = dir;
  start(options);
  std::atomic<bool> finish{false};
  Calls calls;
  auto worker = start_worker(endpoint_, [&](const JobPtr& job) {
    if (calls.add(job) == 1) {
      job->fail("EBUSY", "busy");
      return;
    }
    while (!finish && !job->cancelled()) std::this_thread::sleep_for(1ms);
    job->reply(Payload::json("held"));
  });
  std::uint64_t id = 0;
  {
    Wire away(endpoint_);
    away.hello("away", {{"identity", "away-client"}});
    away.send("PUSH", {{"req", 1}, {"retry", {{"max", 2}, {"initial", 10}, {"jitter", 0}}}, {"jobs", {json::object()}}},
              {"1"});
    id = away.expect("ACCEPTED").header["ids"][0];
    ASSERT_TRUE(wait_until([&] { return calls.size() == 2; }));
  }  // gone without BYE: its session expires, its job runs on
  ASSERT_TRUE(status_until([](const json& s) { return entry_of(s["clients"], "name", "away") == nullptr; }, 10s))
      << last_.dump();
  finish = true;
  ASSERT_TRUE(status_until([](const json& s) { return s["heldResults"] == 1 && s["running"] == 0; })) << last_.dump();
  Wire back(endpoint_);
  back.hello("back", {{"identity", "away-client"}});
  const auto result = back.expect("RESULT");
  ASSERT_EQ(result.header["results"].size(), 1U);
  EXPECT_EQ(result.header["results"][0]["id"], id);
  EXPECT_FALSE(result.header["results"][0].contains("err"));
  EXPECT_EQ(result.header["results"][0]["attempts"], 2) << result.header.dump();
  EXPECT_EQ(result.payloads.at(0), "\"held\"");
  worker.reset();
  client_.reset();
  manager_.reset();
  fs::remove_all(dir);
}

// ------------------------------------------------------------------ CURVE roles

class LifecycleRoles : public ::testing::Test {
 protected:
  LifecycleRoles() {
    std::string pattern = (fs::temp_directory_path() / "prlt-life-keys-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    for (const char* role : {"workers", "clients", "admins"}) fs::create_directories(fs::path(dir_) / role);
    server_ = generate_curve_key_pair();
    worker_key_ = allow("workers", "worker");
    client_key_ = allow("clients", "client");
    admin_key_ = allow("clients", "admin");
    write_key(fs::path(dir_) / "admins" / "admin.pub", admin_key_.public_key);
    auto options = loopback_options();
    options.curve_keys = server_;
    options.curve_keys_dir = dir_;
    manager_ = std::make_unique<Manager>(options);
    manager_->start();
  }
  ~LifecycleRoles() override {
    manager_.reset();
    fs::remove_all(dir_);
  }
  static void write_key(const fs::path& path, const std::string& key) { std::ofstream(path) << key << "\n"; }
  CurveKeyPair allow(const char* role, const std::string& name) {
    auto keys = generate_curve_key_pair();
    write_key(fs::path(dir_) / role / (name + ".pub"), keys.public_key);
    return keys;
  }
  CurveOptions curve(const CurveKeyPair& keys) const { return CurveOptions{server_.public_key, keys}; }
  std::unique_ptr<Client> client(const CurveKeyPair& keys) {
    auto options = client_options(manager_->endpoint());
    options.curve = curve(keys);
    auto c = std::make_unique<Client>(options);
    EXPECT_TRUE(c->wait_connected(5s));
    return c;
  }
  // The code a refused request failed with; empty if it was not refused.
  template <typename T>
  static std::string refusal(std::future<T> future) {
    if (future.wait_for(10s) != std::future_status::ready) return "no answer";
    try {
      (void)future.get();
      return {};
    } catch (const Error& e) {
      return e.code();
    }
  }

  std::string dir_;
  CurveKeyPair server_;
  CurveKeyPair worker_key_;
  CurveKeyPair client_key_;
  CurveKeyPair admin_key_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(LifecycleRoles, DeadNeedsAnAdminKey) {
  auto plain = client(client_key_);
  auto as_worker = client(worker_key_);
  auto admin = client(admin_key_);
  EXPECT_EQ(refusal(plain->dead_letters()), "EDENIED");
  EXPECT_EQ(refusal(plain->dead_letters_show({1})), "EDENIED");
  EXPECT_EQ(refusal(plain->dead_letters_requeue()), "EDENIED");
  EXPECT_EQ(refusal(plain->dead_letters_purge()), "EDENIED");
  EXPECT_EQ(refusal(as_worker->dead_letters()), "EDENIED");
  auto listed = admin->dead_letters();
  const auto reply = get_within(listed);
  EXPECT_EQ(reply.reply["total"], 0);
  EXPECT_EQ(refusal(admin->dead_letters_purge()), "");
  // The refused sessions go on.
  auto worker = std::make_unique<Worker>([&] {
    auto o = lifecycle_worker_options(manager_->endpoint(), 2);
    o.curve = curve(worker_key_);
    return o;
  }());
  worker->on_work([](const JobPtr& job) { job->reply(job->args()); });
  worker->start();
  auto served = plain->work(json{{"n", 1}});
  const Result r = get_within(served);
  EXPECT_TRUE(r.ok());
}

TEST_F(LifecycleRoles, GroupLimitsSetAndClearNeedAnAdminKeyAndListAnyKey) {
  auto plain = client(client_key_);
  auto as_worker = client(worker_key_);
  auto admin = client(admin_key_);
  EXPECT_EQ(refusal(plain->set_group_limits("g", 1, std::nullopt)), "EDENIED");
  EXPECT_EQ(refusal(plain->clear_group_limits("g")), "EDENIED");
  EXPECT_EQ(refusal(as_worker->set_group_limits("g", 1, std::nullopt)), "EDENIED");
  EXPECT_EQ(refusal(plain->group_limits()), "") << "any listed key may list";
  EXPECT_EQ(refusal(as_worker->group_limits()), "");
  auto set = admin->set_group_limits("g", 3, 1.5);
  const json limits = get_within(set);
  ASSERT_NE(entry_of(limits["groups"], "group", "g"), nullptr) << limits.dump();
  auto listed = plain->group_limits();
  const json seen = get_within(listed);
  const json* g = entry_of(seen["groups"], "group", "g");
  ASSERT_NE(g, nullptr) << "the refused set changed nothing, the admin's did: " << seen.dump();
  EXPECT_EQ((*g)["maxRunning"], 3);
  EXPECT_EQ((*g)["rate"], 1.5);
  EXPECT_EQ(refusal(admin->clear_group_limits("g")), "");
}

TEST_F(LifecycleRoles, ProgressNeedsAWorkerKey) {
  // A client key that reports progress is refused, and its session goes on.
  Wire impostor(manager_->endpoint(), curve(client_key_));
  impostor.hello("impostor");
  impostor.send("PROGRESS", {{"progress", {{{"id", 1}, {"attempt", 1}}}}}, {"1"});
  EXPECT_EQ(impostor.expect_error("PROGRESS"), "EDENIED");
  impostor.send("DEAD", {{"req", 5}, {"op", "list"}});
  EXPECT_EQ(impostor.expect_error("DEAD", 5), "EDENIED");
  impostor.send("GROUPLIMITS", {{"req", 6}, {"op", "list"}});
  EXPECT_EQ(impostor.expect("GROUPLIMITS").header["req"], 6);

  // A worker key's reports reach the client.
  auto options = lifecycle_worker_options(manager_->endpoint(), 2);
  options.curve = curve(worker_key_);
  Worker worker(options);
  worker.on_work([](const JobPtr& job) {
    job->progress(Payload::json("halfway"));
    job->reply(Payload::json("done"));
  });
  worker.start();
  auto c = client(client_key_);
  ProgressLog log;
  const auto request = log.submit(*c, {JobSpec(json{{"n", 1}})});
  ASSERT_TRUE(wait_until([&] { return log.done == 1; }, 10s));
  const auto events = log.of(request, 0);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].value, "halfway");
  EXPECT_TRUE(events[1].result);
}

}  // namespace
}  // namespace proletariat::testing
