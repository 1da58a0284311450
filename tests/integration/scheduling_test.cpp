// Scheduling end to end on loopback (issue 3): the three timeouts, hold-similar-work,
// services, throttling options, a custom worker selector.
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "support/cluster.hpp"

namespace proletariat::testing {
namespace {

// A worker whose handler waits until the job is cancelled or `release` is set, then
// answers {"echo": args, "worker": name}. Records starts and abort reasons.
class ControlledWorker {
 public:
  ControlledWorker(const std::string& endpoint, unsigned slots, std::string name = "w",
                   std::vector<std::string> services = {})
      : name_(std::move(name)) {
    auto options = worker_options(endpoint, slots);
    options.services = std::move(services);
    options.handler_threads = slots * 2;  // a handler that ignores cancellation must not block the next job
    worker_ = std::make_unique<Worker>(options);
    worker_->on_work([this](const JobPtr& job) {
      {
        std::lock_guard lock(mutex_);
        started_.push_back(job->args().to_json());
      }
      while (!job->cancelled() && !release.load()) std::this_thread::sleep_for(1ms);
      if (ignore_cancel.load()) {
        // Answer late even when cancelled: the library must drop it.
        while (!release.load()) std::this_thread::sleep_for(1ms);
      } else if (job->cancelled()) {
        return;
      }
      job->reply(Payload::json({{"echo", job->args().to_json()}, {"worker", name_}}));
    });
    worker_->on_abort([this](const JobPtr&, const std::string& reason) {
      std::lock_guard lock(mutex_);
      aborts_.push_back(reason);
    });
    worker_->start();
    EXPECT_TRUE(worker_->wait_ready(5s));
  }

  std::size_t started() {
    std::lock_guard lock(mutex_);
    return started_.size();
  }
  std::vector<nlohmann::json> started_args() {
    std::lock_guard lock(mutex_);
    return started_;
  }
  std::size_t aborts(const std::string& reason) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count(aborts_.begin(), aborts_.end(), reason));
  }
  Worker& worker() { return *worker_; }

  std::atomic<bool> release{false};
  std::atomic<bool> ignore_cancel{false};

 private:
  std::string name_;
  std::mutex mutex_;
  std::vector<nlohmann::json> started_;
  std::vector<std::string> aborts_;
  std::unique_ptr<Worker> worker_;
};

class SchedulingTest : public ::testing::Test {
 protected:
  void start(ManagerOptions options = loopback_options()) {
    manager_ = std::make_unique<Manager>(std::move(options));
    manager_->on_assigntimeout([this](const JobInfo&) { ++assign_timeouts_; });
    manager_->start();
    endpoint_ = manager_->endpoint();
    client_ = std::make_unique<Client>(client_options(endpoint_));
  }

  void TearDown() override {
    client_.reset();
    if (manager_) manager_->stop();
  }

  static Result wait(std::future<Result>& f, std::chrono::seconds limit = 5s) {
    if (f.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "no result within " << limit.count() << " s";
      return {};
    }
    return f.get();
  }

  static std::string code(const Result& r) { return r.err ? r.err->code : std::string("ok"); }

  std::unique_ptr<Manager> manager_;
  std::string endpoint_;
  std::unique_ptr<Client> client_;
  std::atomic<int> assign_timeouts_{0};
};

TEST_F(SchedulingTest, ClientTimeoutGivesEcstoAndAbortsTheJobOnTheWorker) {
  start();
  ControlledWorker w(endpoint_, 2);
  WorkOptions o;
  o.timeout = 100ms;
  auto f = client_->work(JobSpec(nlohmann::json(1)), o);
  EXPECT_EQ(code(wait(f)), "ECSTO");
  EXPECT_TRUE(wait_until([&] { return w.aborts("abort") == 1; })) << "the abort did not reach the worker";
  EXPECT_TRUE(wait_until([&] { return w.worker().running() == 0; }));
}

TEST_F(SchedulingTest, RunTimeoutGivesEtoFreesTheSlotAndDropsTheLateResult) {
  start();
  ControlledWorker w(endpoint_, 1);
  w.ignore_cancel = true;
  WorkOptions o;
  o.run_timeout = 50ms;
  auto slow = client_->work(JobSpec(nlohmann::json("slow")), o);
  EXPECT_EQ(code(wait(slow)), "ETO");
  EXPECT_EQ(w.aborts("ETO"), 1u);
  // The slot is free again: the next job starts although the first handler still runs.
  auto next = client_->work(JobSpec(nlohmann::json("next")));
  ASSERT_TRUE(wait_until([&] { return w.started() == 2; })) << "the timed-out job kept its slot";
  w.release = true;
  auto r = wait(next);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.data.to_json()["echo"], "next");  // not the late answer of "slow"
}

TEST_F(SchedulingTest, AssignTimeoutGivesEatoAndTheManagerEvent) {
  start();
  WorkOptions o;
  o.assign_timeout = 50ms;
  auto f = client_->work(JobSpec(nlohmann::json(1)), o);
  EXPECT_EQ(code(wait(f)), "EATO");
  EXPECT_EQ(assign_timeouts_.load(), 1);
}

TEST_F(SchedulingTest, HeldJobsGetTheLeadersResultWithoutRunning) {
  auto options = loopback_options();
  options.hold_similar_work = true;
  start(options);
  ControlledWorker w(endpoint_, 4);
  std::vector<std::future<Result>> futures;
  for (int i = 0; i < 4; ++i) {
    auto job = JobSpec(nlohmann::json(i));
    job.key = "same";
    futures.push_back(client_->work(job));
    if (i == 0) {
      ASSERT_TRUE(wait_until([&] { return w.started() == 1; }));
    }
  }
  JobSpec other(nlohmann::json(99));
  other.key = "different";
  futures.push_back(client_->work(other));
  ASSERT_TRUE(wait_until([&] { return w.started() == 2; }));
  w.release = true;
  for (int i = 0; i < 4; ++i) {
    auto r = wait(futures[i]);
    ASSERT_TRUE(r.ok()) << code(r);
    EXPECT_EQ(r.data.to_json()["echo"], 0) << "job " << i << " should carry the leader's result";
  }
  EXPECT_EQ(wait(futures[4]).data.to_json()["echo"], 99);
  EXPECT_EQ(w.started(), 2u);  // the three held jobs never ran
}

TEST_F(SchedulingTest, WhenTheLeaderIsAbortedTheNextHeldJobLeads) {
  auto options = loopback_options();
  options.hold_similar_work = true;
  start(options);
  ControlledWorker w(endpoint_, 4);
  JobSpec job(nlohmann::json("first"));
  job.key = "k";
  std::promise<Result> first_result;
  const auto first = client_->work(job, {}, [&](Result r) { first_result.set_value(std::move(r)); });
  ASSERT_TRUE(wait_until([&] { return w.started() == 1; }));
  job.args = Payload::json("second");
  auto second = client_->work(job);
  client_->abort(first);
  auto f1 = first_result.get_future();
  ASSERT_EQ(f1.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(code(f1.get()), "EABORTED");
  ASSERT_TRUE(wait_until([&] { return w.started() == 2; })) << "the held job did not take the lead";
  EXPECT_EQ(w.started_args()[1], "second");
  w.release = true;
  auto r = wait(second);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.data.to_json()["echo"], "second");
}

TEST_F(SchedulingTest, WhenTheLeaderTimesOutTheNextHeldJobLeads) {
  auto options = loopback_options();
  options.hold_similar_work = true;
  start(options);
  ControlledWorker w(endpoint_, 4);
  JobSpec job(nlohmann::json("first"));
  job.key = "k";
  WorkOptions short_run;
  short_run.run_timeout = 60ms;
  auto first = client_->work(job, short_run);
  ASSERT_TRUE(wait_until([&] { return w.started() == 1; }));
  job.args = Payload::json("second");
  auto second = client_->work(job);
  EXPECT_EQ(code(wait(first)), "ETO");
  ASSERT_TRUE(wait_until([&] { return w.started() == 2; })) << "the held job did not take the lead";
  w.release = true;
  auto r = wait(second);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.data.to_json()["echo"], "second");
}

TEST_F(SchedulingTest, JobsGoOnlyToWorkersOfferingTheirService) {
  start();
  auto make = [&](const std::string& name, std::vector<std::string> services) {
    auto options = worker_options(endpoint_, 4);
    options.services = std::move(services);
    auto w = std::make_unique<Worker>(options);
    w->on_work([name](const JobPtr& job) {
      job->reply(Payload::json({{"worker", name}, {"service", job->service()}}));
    });
    w->start();
    EXPECT_TRUE(w->wait_ready(5s));
    return w;
  };
  auto resize_only = make("resize-only", {"resize"});
  auto multi = make("multi", {"ocr", "resize"});
  auto plain = make("plain", {});

  std::map<std::string, std::set<std::string>> seen;  // service -> workers
  std::vector<JobSpec> jobs;
  for (int i = 0; i < 60; ++i) {
    auto j = JobSpec(nlohmann::json(i));
    j.service = std::array<std::string, 3>{"resize", "ocr", ""}[i % 3];
    jobs.push_back(j);
  }
  auto results = client_->work(jobs).get();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << code(r);
    auto data = r.data.to_json();
    seen[data["service"].get<std::string>()].insert(data["worker"].get<std::string>());
  }
  EXPECT_EQ(seen["ocr"], (std::set<std::string>{"multi"}));
  EXPECT_EQ(seen[""], (std::set<std::string>{"plain"}));
  for (const auto& w : seen["resize"]) EXPECT_TRUE(w == "resize-only" || w == "multi") << w;

  // Nobody offers "translate": the job waits, then obeys its assigntimeout.
  JobSpec lost(nlohmann::json(0));
  lost.service = "translate";
  WorkOptions o;
  o.assign_timeout = 80ms;
  auto f = client_->work(lost, o);
  EXPECT_EQ(code(wait(f)), "EATO");
}

TEST_F(SchedulingTest, AvailThresholdAboveTotalCapacityNeverStalls) {
  auto options = loopback_options();
  options.avail_threshold = 50;  // the original's default, far above 2 x 3 slots
  start(options);
  auto w1 = echo_worker(endpoint_, 3);
  auto w2 = echo_worker(endpoint_, 3);
  std::vector<JobSpec> jobs;
  for (int i = 0; i < 300; ++i) jobs.emplace_back(nlohmann::json(i));
  auto f = client_->work(jobs);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << "distribution stalled";
  auto results = f.get();
  for (int i = 0; i < 300; ++i) EXPECT_EQ(results[i].data.to_json()["echo"], i);
}

TEST_F(SchedulingTest, DistribRandmaxDelaysButDeliversEverything) {
  auto options = loopback_options();
  options.distrib_randmax = 20ms;
  start(options);
  auto w = echo_worker(endpoint_, 8);
  std::vector<JobSpec> jobs;
  for (int i = 0; i < 50; ++i) jobs.emplace_back(nlohmann::json(i));
  auto f = client_->work(jobs);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto results = f.get();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(results[i].data.to_json()["echo"], i);
}

TEST_F(SchedulingTest, CustomSelectorChoosesTheWorker) {
  // Shared with the manager's thread, which may outlive this test body's stack.
  struct Preference {
    std::mutex mutex;
    std::string worker;
  };
  auto preference = std::make_shared<Preference>();
  auto options = loopback_options();
  manager_ = std::make_unique<Manager>(options);
  manager_->set_worker_selector([preference](const JobInfo&, std::span<const WorkerCandidate> candidates)
                                    -> std::optional<std::size_t> {
    std::lock_guard lock(preference->mutex);
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (candidates[i].id == preference->worker) return i;
    }
    return std::nullopt;  // wait for the preferred worker
  });
  manager_->start();
  endpoint_ = manager_->endpoint();
  client_ = std::make_unique<Client>(client_options(endpoint_));
  auto make = [&](const std::string& name) {
    auto w = std::make_unique<Worker>(worker_options(endpoint_, 8));
    w->on_work([name](const JobPtr& job) { job->reply(Payload::json(name)); });
    w->start();
    EXPECT_TRUE(w->wait_ready(5s));
    return w;
  };
  auto a = make("a");
  auto b = make("b");
  {
    std::lock_guard lock(preference->mutex);
    preference->worker = b->id();
  }
  std::vector<JobSpec> jobs;
  for (int i = 0; i < 40; ++i) jobs.emplace_back(nlohmann::json(i));
  auto f = client_->work(jobs);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  for (const auto& r : f.get()) EXPECT_EQ(r.data.to_json(), "b");
}

TEST_F(SchedulingTest, HigherPriorityRunsFirstAndGuaranteesHoldEndToEnd) {
  start();
  // 4 slots, 2 guaranteed to priority >= 5: low-priority work never takes more than 2.
  auto options = worker_options(endpoint_, 4);
  options.priority_slots = {{5, 2}};
  options.handler_threads = 4;
  std::atomic<int> low_running{0};
  std::atomic<int> max_low{0};
  std::atomic<bool> release{false};
  Worker w(options);
  w.on_work([&](const JobPtr& job) {
    const bool low = job->priority() < 5;
    if (low) max_low = std::max(max_low.load(), ++low_running);
    while (!release.load() && !job->cancelled()) std::this_thread::sleep_for(1ms);
    if (low) --low_running;
    job->reply(Payload::json(job->priority()));
  });
  w.start();
  ASSERT_TRUE(w.wait_ready(5s));
  std::vector<JobSpec> low_jobs(10, JobSpec(nlohmann::json("low")));
  auto low = client_->work(low_jobs);
  ASSERT_TRUE(wait_until([&] { return w.running() == 2; }));
  // The worker counts a job before its handler thread runs it: wait for both handlers.
  ASSERT_TRUE(wait_until([&] { return low_running.load() == 2; }));
  WorkOptions high_options;
  high_options.priority = 7;
  auto high = client_->work(std::vector<JobSpec>(2, JobSpec(nlohmann::json("high"))), high_options);
  ASSERT_TRUE(wait_until([&] { return w.running() == 4; })) << "high priority found no guaranteed slot";
  EXPECT_EQ(max_low.load(), 2);
  release = true;
  ASSERT_EQ(high.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(low.wait_for(5s), std::future_status::ready);
  EXPECT_LE(max_low.load(), 2);
}

}  // namespace
}  // namespace proletariat::testing
