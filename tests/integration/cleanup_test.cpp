// CLEANUP_REQS / CLEANUP_CHECKINT give memory back after a burst (issue 3): the
// daemon's resident memory grows while 40,000 jobs of 2 KiB wait, and shrinks again
// once they are done.
#include <fstream>

#include <gtest/gtest.h>

#include "support/cluster.hpp"
#include "support/daemon.hpp"

namespace proletariat::testing {
namespace {

// Resident set size of a process, in KiB (0 if unknown).
long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
  }
  return 0;
}

TEST(Cleanup, ManagerGivesMemoryBackAfterABurst) {
#ifdef PROLETARIAT_SANITIZED
  GTEST_SKIP() << "resident memory is not meaningful under a sanitizer's allocator";
#endif
  Daemon daemon(PROLETARIAT_DAEMON, {"--cleanup-reqs", "1000", "--cleanup-checkint", "200", "--heartbeat-interval",
                                     "50", "--heartbeat-liveness", "20", "--log-level", "warn"});
  const std::string endpoint = daemon.endpoint();
  const pid_t pid = daemon.pid();

  Client client(client_options(endpoint));
  ASSERT_TRUE(client.wait_connected(5s)) << "the daemon did not come up on " << endpoint;
  const long baseline = rss_kib(pid);
  ASSERT_GT(baseline, 0);

  constexpr int kJobs = 40000;
  const std::string filler(2048, 'x');
  std::vector<JobSpec> jobs;
  jobs.reserve(kJobs);
  for (int i = 0; i < kJobs; ++i) jobs.push_back(JobSpec(Payload::raw(filler)));
  auto future = client.work(std::move(jobs));
  // Nobody works yet: every job waits in the manager.
  ASSERT_TRUE(wait_until([&] { return rss_kib(pid) > baseline + 60 * 1024; }, 10s))
      << "baseline " << baseline << " KiB, now " << rss_kib(pid) << " KiB";
  const long peak = rss_kib(pid);

  auto worker = std::make_unique<Worker>(worker_options(endpoint, 64));
  worker->on_work([](const JobPtr& job) { job->reply(Payload::json(nullptr)); });
  worker->start();
  ASSERT_EQ(future.wait_for(60s), std::future_status::ready);
  for (const auto& r : future.get()) ASSERT_TRUE(r.ok());

  // The burst is over: tables shrink and memory goes back to the OS.
  const long allowed = baseline + (peak - baseline) / 4;
  EXPECT_TRUE(wait_until([&] { return rss_kib(pid) < allowed; }, 10s))
      << "baseline " << baseline << " KiB, peak " << peak << " KiB, after " << rss_kib(pid) << " KiB";
}

}  // namespace
}  // namespace proletariat::testing
