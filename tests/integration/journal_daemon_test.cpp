// The journal with the real daemon: SIGKILLed under load and restarted on the same
// directory, again and again, every accepted job is answered exactly once and
// correctly; SIGTERM drains without losing or repeating a job.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "support/cluster.hpp"
#include "support/daemon.hpp"

namespace proletariat::testing {
namespace {

namespace fs = std::filesystem;

struct JournalDir {
  JournalDir() {
    std::string pattern = (fs::temp_directory_path() / "prlt-jd-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~JournalDir() { fs::remove_all(path); }
  std::string path;
};

std::vector<std::string> daemon_args(const JournalDir& dir, unsigned port = 0, unsigned pub_port = 0) {
  std::vector<std::string> args = {"--journal", dir.path, "--heartbeat-interval", "50", "--heartbeat-liveness", "10",
                                   "--log-level", "warn"};
  if (port != 0) {
    args.insert(args.end(), {"--endpoint", "tcp://127.0.0.1:" + std::to_string(port), "--pub-endpoint",
                             "tcp://127.0.0.1:" + std::to_string(pub_port)});
  }
  return args;
}

// The daemon on a journal directory, restartable on the same ports and directory.
struct JournaledDaemon {
  JournalDir dir;
  std::unique_ptr<Daemon> daemon;
  unsigned port = 0;
  unsigned pub_port = 0;
  std::string endpoint;

  JournaledDaemon() { start(); }
  void start() {
    daemon.reset();  // the ports and the directory are free for the next one
    daemon = std::make_unique<Daemon>(PROLETARIAT_DAEMON, daemon_args(dir, port, pub_port));
    port = daemon->port();
    pub_port = daemon->pub_port();
    endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  }
};

// Results per job index: how many came, and whether each was the right one.
struct Tally {
  explicit Tally(std::size_t n) : count(n) {}
  std::mutex mutex;
  std::vector<int> count;
  std::size_t wrong = 0;
  std::size_t errors = 0;
  std::atomic<std::size_t> done{0};
  void take(const Result& result, const JobRef& ref) {
    std::lock_guard lock(mutex);
    ++count[ref.index];
    if (result.err) {
      ++errors;
    } else if (result.data.to_json() != nlohmann::json{{"echo", {{"n", ref.index}}}}) {
      ++wrong;
    }
    ++done;
  }
  // Pushes jobs {"n": 0} .. {"n": count.size() - 1} as one request of individual results.
  void submit(Client& client) {
    std::vector<JobSpec> jobs;
    for (std::size_t i = 0; i < count.size(); ++i) jobs.emplace_back(nlohmann::json{{"n", i}});
    client.work_individual(std::move(jobs), {}, [this](const Result& r, const JobRef& ref) { take(r, ref); },
                           [this] { all_done = true; });
  }
  // Every job answered exactly once, correctly, and none failed.
  void expect_each_answered_once() {
    std::lock_guard lock(mutex);
    EXPECT_EQ(wrong, 0U);
    EXPECT_EQ(errors, 0U) << "no job may fail: the journal had them all";
    for (std::size_t i = 0; i < count.size(); ++i) ASSERT_EQ(count[i], 1) << "job " << i;
  }
  std::atomic<bool> all_done{false};
};

TEST(JournalDaemon, Kill9UnderLoadLosesAndRepeatsNothing) {
  JournaledDaemon manager;
  const std::string endpoint = manager.endpoint;
  auto worker = echo_worker(endpoint, 8);
  Client client(client_options(endpoint));
  ASSERT_TRUE(client.wait_connected(5s));

  constexpr std::size_t kJobs = 3000;
  Tally tally(kJobs);
  tally.submit(client);
  auto& all_done = tally.all_done;

  for (int kill = 1; kill <= 4; ++kill) {
    const std::size_t before = tally.done.load();
    const std::size_t target = std::min(kJobs, before + kJobs / 6);
    ASSERT_TRUE(wait_until([&] { return tally.done.load() >= target || all_done; }, 30s))
        << "no progress before kill " << kill << ": " << tally.done.load() << " of " << kJobs;
    if (all_done) break;
    manager.daemon->kill_hard();
    manager.start();
  }
  ASSERT_TRUE(wait_until([&] { return all_done.load(); }, 60s)) << tally.done.load() << " of " << kJobs << " answered";
  tally.expect_each_answered_once();
}

TEST(JournalDaemon, SigtermDrainsRunningJobsAndKeepsQueuedOnesForTheNextStart) {
  JournaledDaemon manager;
  const std::string endpoint = manager.endpoint;
  // A slow worker with 2 slots: most jobs are queued when the drain starts.
  auto options = worker_options(endpoint, 2);
  Worker worker(options);
  std::atomic<int> started{0};
  worker.on_work([&](const JobPtr& job) {
    ++started;
    std::this_thread::sleep_for(100ms);  // the job's work: it must be running when the drain begins
    job->reply(Payload::json({{"echo", job->args().to_json()}}));
  });
  worker.start();
  Client client(client_options(endpoint));
  ASSERT_TRUE(client.wait_connected(5s));
  constexpr std::size_t kJobs = 20;
  Tally tally(kJobs);
  tally.submit(client);
  auto& all_done = tally.all_done;
  ASSERT_TRUE(wait_until([&] { return started.load() >= 2; }, 10s));
  kill(manager.daemon->pid(), SIGTERM);
  EXPECT_EQ(manager.daemon->wait_exit(15s), std::optional<int>(0)) << "a drain ends with a clean exit";
  // The results left before the manager exited; the client may still be reading them.
  EXPECT_TRUE(wait_until([&] { return tally.done.load() >= 2; }, 5s)) << "the running jobs finished during the drain";
  const std::size_t answered_before_restart = tally.done.load();
  EXPECT_LT(answered_before_restart, kJobs) << "queued jobs were not sent during the drain";
  manager.start();
  ASSERT_TRUE(wait_until([&] { return all_done.load(); }, 30s)) << tally.done.load() << " of " << kJobs;
  tally.expect_each_answered_once();
}

// The disk fails (every fdatasync reports EIO from a moment on, through an LD_PRELOAD
// shim in the real daemon): the manager stops at once with status 3 and never
// acknowledges the push it could not make durable; started again on the same
// journal, the job the client still holds runs, once.
TEST(JournalDaemon, AFailedFdatasyncStopsTheManagerBeforeItAcknowledges) {
#ifdef PROLETARIAT_SANITIZED
  GTEST_SKIP() << "a sanitized daemon must load its runtime first: no LD_PRELOAD shim";
#endif
  const std::string flag = (std::filesystem::temp_directory_path() / ("prlt-fail-now-" + std::to_string(getpid()))).string();
  setenv("LD_PRELOAD", PROLETARIAT_FAIL_FDATASYNC, 1);
  setenv("PRLT_FAIL_FDATASYNC_WHEN", flag.c_str(), 1);
  JournaledDaemon manager;
  unsetenv("LD_PRELOAD");
  unsetenv("PRLT_FAIL_FDATASYNC_WHEN");
  const std::string endpoint = manager.endpoint;
  auto worker = echo_worker(endpoint, 4);
  Client client(client_options(endpoint));
  ASSERT_TRUE(client.wait_connected(5s));
  auto first = client.work(nlohmann::json{{"n", 1}});
  ASSERT_EQ(first.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(first.get().err) << "the disk still works";

  { std::ofstream(flag).put('1'); }
  auto second = client.work(nlohmann::json{{"n", 2}});
  EXPECT_EQ(manager.daemon->wait_exit(10s), std::optional<int>(3)) << "a failed fsync stops the manager with status 3";
  EXPECT_EQ(second.wait_for(200ms), std::future_status::timeout) << "nothing answered the push it could not keep";
  std::filesystem::remove(flag);

  manager.start();
  ASSERT_EQ(second.wait_for(20s), std::future_status::ready) << "the client pushes it again to the next manager";
  const auto result = second.get();
  ASSERT_FALSE(result.err) << result.err->code;
  EXPECT_EQ(result.data.to_json(), (nlohmann::json{{"echo", {{"n", 2}}}}));
}

}  // namespace
}  // namespace proletariat::testing
