// The job lifecycle (PROTOCOL §14) across a crash: the real daemon on a journal
// directory is killed with SIGKILL and started again on the same directory and ports.
// A delayed job still waits for its due time, a job in a retry's backoff keeps its
// attempts and its due time, and dead letters come back with their ids and payloads;
// a letter requeued after the restart runs, and survives another crash before it does.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include <proletariat/error.hpp>

#include "support/cluster.hpp"
#include "support/daemon.hpp"
#include "support/lifecycle.hpp"

namespace proletariat::testing {
namespace {

namespace fs = std::filesystem;

struct JournalDir {
  JournalDir() {
    std::string pattern = (fs::temp_directory_path() / "prlt-lifecycle-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~JournalDir() { fs::remove_all(path); }
  std::string path;
};

// The daemon on a journal directory, restartable on the same ports and directory.
struct JournaledDaemon {
  JournalDir dir;
  std::unique_ptr<Daemon> daemon;
  unsigned port = 0;
  unsigned pub_port = 0;
  std::string endpoint;

  JournaledDaemon() { start(); }
  void start() {
    daemon.reset();
    std::vector<std::string> args = {
        "--journal", dir.path, "--heartbeat-interval", "50", "--heartbeat-liveness", "10", "--log-level", "warn"};
    if (port != 0) {
      args.insert(args.end(), {"--endpoint", "tcp://127.0.0.1:" + std::to_string(port), "--pub-endpoint",
                               "tcp://127.0.0.1:" + std::to_string(pub_port)});
    }
    daemon = std::make_unique<Daemon>(PROLETARIAT_DAEMON, args);
    port = daemon->port();
    pub_port = daemon->pub_port();
    endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  }
  // kill -9, then the same daemon again.
  void crash_and_restart() {
    daemon->kill_hard();
    start();
  }
};

// STATUS, or nothing while the client is between managers (ECONNLOST).
std::optional<json> try_status(Client& client) {
  auto future = client.status();
  if (future.wait_for(5s) != std::future_status::ready) return std::nullopt;
  try {
    return future.get();
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Polls STATUS until `condition` holds; `last` keeps the last document.
bool status_until(Client& client, json& last, const std::function<bool(const json&)>& condition,
                  std::chrono::milliseconds timeout = 10s) {
  return wait_until(
      [&] {
        auto doc = try_status(client);
        if (!doc) return false;
        last = std::move(*doc);
        return condition(last);
      },
      timeout);
}

// A DEAD request, asked again while the client reconnects.
DeadLetterReply dead(Client& client, const std::function<std::future<DeadLetterReply>(Client&)>& ask) {
  DeadLetterReply reply;
  const bool answered = wait_until(
      [&] {
        auto future = ask(client);
        if (future.wait_for(5s) != std::future_status::ready) return false;
        try {
          reply = future.get();
          return true;
        } catch (const Error&) {
          return false;
        }
      },
      10s);
  EXPECT_TRUE(answered) << "DEAD got no answer";
  return reply;
}
DeadLetterReply list(Client& client) {
  return dead(client, [](Client& c) { return c.dead_letters(); });
}

TEST(LifecycleDurability, DelayedJobsWaitForTheirDueTimeAcrossKill9) {
  JournaledDaemon manager;
  Client client(client_options(manager.endpoint));
  ASSERT_TRUE(client.wait_connected(5s));
  const auto pushed = Steady::now();
  const auto at = Wall::now() + 1500ms;
  WorkOptions delayed;
  delayed.delay = 1500ms;
  WorkOptions timed;
  timed.at = at;
  auto delayed_job = client.work(json{{"which", "delay"}}, delayed);
  auto timed_job = client.work(json{{"which", "at"}}, timed);
  // STATUS answers after the ACCEPTED of the same pushes: then the jobs are on disk.
  json before;
  ASSERT_TRUE(status_until(client, before, [](const json& s) { return s["delayed"] == 2; })) << before.dump();
  ASSERT_EQ(before["due"].size(), 2U);

  manager.crash_and_restart();
  // No worker yet: the restarted manager has both jobs waiting, due when they were.
  json after;
  ASSERT_TRUE(status_until(client, after, [](const json& s) { return s["delayed"] == 2; })) << after.dump();
  ASSERT_EQ(after["due"].size(), 2U) << after.dump();
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(after["due"][i]["id"], before["due"][i]["id"]);
    EXPECT_EQ(after["due"][i]["due"], before["due"][i]["due"]) << "a delay is not counted again after a restart";
    EXPECT_EQ(after["due"][i]["reason"], "delayed");
  }
  EXPECT_EQ(after["due"][1]["due"], wall_ms(at));

  Calls calls;
  auto worker = start_worker(manager.endpoint, [&](const JobPtr& job) {
    calls.add(job);
    job->reply(job->args());
  });
  for (auto* future : {&delayed_job, &timed_job}) {
    const Result r = get_within(*future, 15s);
    ASSERT_TRUE(r.ok()) << r.err->code;
  }
  const auto delayed_call = calls.with_args(json{{"which", "delay"}});
  const auto timed_call = calls.with_args(json{{"which", "at"}});
  ASSERT_EQ(delayed_call.size(), 1U) << "each job ran once";
  ASSERT_EQ(timed_call.size(), 1U);
  EXPECT_GE(delayed_call[0].started - pushed, 1500ms) << "the restart let the delayed job start early";
  EXPECT_GE(timed_call[0].started_wall, at - 2ms) << "the restart let the timed job start early";
}

TEST(LifecycleDurability, AJobInBackoffKeepsItsAttemptsAndDueTimeAcrossKill9) {
  JournaledDaemon manager;
  Client client(client_options(manager.endpoint));
  ASSERT_TRUE(client.wait_connected(5s));
  Calls calls;
  std::mutex mutex;
  std::vector<Steady::time_point> failed;
  auto worker = start_worker(manager.endpoint, [&](const JobPtr& job) {
    if (calls.add(job) <= 2) {
      {
        std::lock_guard lock(mutex);
        failed.push_back(Steady::now());
      }
      job->fail("EBUSY", "busy");
      return;
    }
    job->reply(Payload::json("third time"));
  });
  RetryPolicy policy;
  policy.max = 3;
  policy.codes = {"EBUSY"};
  policy.initial = 800ms;
  policy.factor = 1;
  policy.jitter = 0;
  WorkOptions options;
  options.retry = policy;
  auto future = client.work(json{{"n", 1}}, options);
  json before;
  ASSERT_TRUE(status_until(client, before, [](const json& s) { return s["retrying"] == 1; })) << before.dump();
  ASSERT_EQ(before["due"].size(), 1U);
  EXPECT_EQ(before["due"][0]["attempts"], 1);

  manager.crash_and_restart();
  json after;
  ASSERT_TRUE(status_until(client, after, [](const json& s) { return s["retrying"] == 1 || s["running"] == 1; }))
      << after.dump();
  if (after["retrying"] == 1) {  // the restart came before the backoff's end, as it should at 800 ms
    ASSERT_EQ(after["due"].size(), 1U);
    EXPECT_EQ(after["due"][0]["id"], before["due"][0]["id"]);
    EXPECT_EQ(after["due"][0]["reason"], "retry_backoff");
    EXPECT_EQ(after["due"][0]["attempts"], 1) << "the failed attempt is still counted";
    EXPECT_EQ(after["due"][0]["due"], before["due"][0]["due"]) << "the backoff is not started again";
  }

  const Result result = get_within(future, 20s);
  ASSERT_TRUE(result.ok()) << result.err->code << " " << result.err->message;
  EXPECT_EQ(result.data.to_json(), "third time");
  EXPECT_EQ(result.attempts, 3U) << "the attempt before the crash counts";
  const auto seen = calls.all();
  ASSERT_EQ(seen.size(), 3U);
  std::lock_guard lock(mutex);
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_GE(seen[1].started - failed[0], 800ms) << "the retry after the restart came before its backoff";
  EXPECT_GE(seen[1].started_wall,
            Wall::time_point(std::chrono::milliseconds(before["due"][0]["due"].get<std::int64_t>())) - 2ms);
  EXPECT_GE(seen[2].started - failed[1], 800ms);
}

TEST(LifecycleDurability, DeadLettersSurviveKill9AndARequeuedLetterRunsAfterIt) {
  JournaledDaemon manager;
  Client client(client_options(manager.endpoint));
  ASSERT_TRUE(client.wait_connected(5s));
  std::atomic<bool> succeed{false};
  Calls calls;
  const auto handler = [&](const JobPtr& job) {
    calls.add(job);
    if (!succeed) {
      job->fail("EBUSY", "busy");
      return;
    }
    job->reply(Payload::json({{"ran", job->args().to_json()}}));
  };
  auto worker = start_worker(manager.endpoint, handler);
  WorkOptions options;
  options.retry = quick_retry(1);
  options.group = "tenant";
  JobSpec text_job(json{{"n", 1}});
  text_job.key = "k-1";
  const std::string bytes("raw\x00bytes", 9);
  JobSpec raw_job(Payload::raw(bytes));
  auto future = client.work(std::vector<JobSpec>{text_job, raw_job}, options);
  const auto results = get_within(future);
  ASSERT_EQ(results.size(), 2U);
  for (const auto& r : results) {
    ASSERT_TRUE(r.err);
    EXPECT_EQ(r.attempts, 2U);
  }
  const auto before = list(client);
  ASSERT_EQ(before.reply["letters"].size(), 2U) << before.reply.dump();
  std::vector<std::uint64_t> ids;
  std::uint64_t highest_job = 0;
  for (const auto& letter : before.reply["letters"]) {
    ids.push_back(letter["id"]);
    highest_job = std::max(highest_job, letter["job"].get<std::uint64_t>());
  }
  const auto shown_before = dead(client, [&](Client& c) { return c.dead_letters_show(ids); });
  ASSERT_EQ(shown_before.payloads.size(), 2U);

  manager.crash_and_restart();
  const auto after = list(client);
  EXPECT_EQ(after.reply["total"], 2);
  EXPECT_EQ(after.reply["letters"], before.reply["letters"]) << "the same letters, ids, jobs, errors and times";
  const auto shown_after = dead(client, [&](Client& c) { return c.dead_letters_show(ids); });
  ASSERT_EQ(shown_after.payloads.size(), 2U);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(shown_after.payloads[i], shown_before.payloads[i]) << "letter " << ids[i] << "'s payload";
  }
  const auto text_letter = entry(after.reply["letters"], "key", "k-1");
  ASSERT_TRUE(text_letter.is_object());
  const auto raw_letter = entry(after.reply["letters"], "raw", true);
  ASSERT_TRUE(raw_letter.is_object());
  const auto raw_shown = dead(client, [&](Client& c) { return c.dead_letters_show({raw_letter["id"]}); });
  ASSERT_EQ(raw_shown.payloads.size(), 1U);
  EXPECT_TRUE(raw_shown.payloads[0].is_raw());
  EXPECT_EQ(raw_shown.payloads[0].str(), bytes);

  // Requeued after the restart, with no worker to run it, then another crash: the
  // requeued job is on disk and runs; its letter stays removed.
  worker.reset();
  const auto requeued = dead(client, [&](Client& c) { return c.dead_letters_requeue({text_letter["id"]}); });
  ASSERT_EQ(requeued.reply["requeued"].size(), 1U) << requeued.reply.dump();
  const auto job = requeued.reply["requeued"][0]["job"].get<std::uint64_t>();
  EXPECT_GT(job, highest_job) << "job ids are unique across restarts";
  json waiting;
  ASSERT_TRUE(status_until(client, waiting, [](const json& s) { return s["queued"] == 1; })) << waiting.dump();
  manager.crash_and_restart();
  const auto left = list(client);
  ASSERT_EQ(left.reply["letters"].size(), 1U) << "the requeued letter came back: " << left.reply.dump();
  EXPECT_EQ(left.reply["letters"][0]["id"], raw_letter["id"]);

  succeed = true;
  worker = start_worker(manager.endpoint, handler);
  ASSERT_TRUE(wait_until([&] { return calls.of(job).size() == 1; }, 10s)) << "the requeued job never ran";
  EXPECT_EQ(calls.of(job)[0].args, (json{{"n", 1}}));
  json idle;
  ASSERT_TRUE(status_until(client, idle, [](const json& s) { return s["queued"] == 0 && s["running"] == 0; }))
      << idle.dump();
  EXPECT_EQ(idle["dead"], 1) << "a requeued job that succeeds leaves no letter";

  // A letter made after the restarts gets an id above every earlier one.
  succeed = false;
  auto another = client.work(json{{"n", 2}}, options);
  ASSERT_TRUE(get_within(another, 15s).err);
  const auto newest = list(client);
  ASSERT_EQ(newest.reply["letters"].size(), 2U);
  EXPECT_GT(newest.reply["letters"][0]["id"].get<std::uint64_t>(), *std::max_element(ids.begin(), ids.end()));
}

// A retried job's result held for a client that is away (PROTOCOL §12) across kill -9:
// given back after the restart, it still says how many attempts the job took.
TEST(LifecycleDurability, AHeldResultKeepsItsAttemptsAcrossKill9) {
  JournaledDaemon manager;
  Client observer(client_options(manager.endpoint));
  ASSERT_TRUE(observer.wait_connected(5s));
  std::atomic<bool> finish{false};
  Calls calls;
  auto worker = start_worker(manager.endpoint, [&](const JobPtr& job) {
    if (calls.add(job) == 1) {
      job->fail("EBUSY", "busy");
      return;
    }
    while (!finish && !job->cancelled()) std::this_thread::sleep_for(1ms);
    job->reply(Payload::json("held"));
  });
  std::uint64_t id = 0;
  {
    Wire away(manager.endpoint);
    away.hello("away", {{"identity", "away-client"}});
    away.send("PUSH", {{"req", 1}, {"retry", {{"max", 2}, {"initial", 10}, {"jitter", 0}}}, {"jobs", {json::object()}}},
              {"1"});
    id = away.expect("ACCEPTED").header["ids"][0];
    ASSERT_TRUE(wait_until([&] { return calls.size() == 2; }));
  }  // gone without BYE: its session expires, its job runs on
  json doc;
  ASSERT_TRUE(status_until(observer, doc, [](const json& s) {
    return entry_of(s["clients"], "name", "away") == nullptr;
  })) << doc.dump();
  finish = true;
  ASSERT_TRUE(status_until(observer, doc, [](const json& s) { return s["heldResults"] == 1 && s["running"] == 0; }))
      << doc.dump();

  manager.crash_and_restart();
  Wire back(manager.endpoint);
  back.hello("back", {{"identity", "away-client"}});
  const auto result = back.expect("RESULT");
  ASSERT_EQ(result.header["results"].size(), 1U) << result.header.dump();
  EXPECT_EQ(result.header["results"][0]["id"], id);
  EXPECT_FALSE(result.header["results"][0].contains("err"));
  EXPECT_EQ(result.header["results"][0]["attempts"], 2) << result.header.dump();
  EXPECT_EQ(result.payloads.at(0), "\"held\"");
}

}  // namespace
}  // namespace proletariat::testing
