// Worker::stop() against a real manager, in process (PROTOCOL §4 DRAIN, §12): a
// graceful stop lets the running jobs finish and their results reach the client while
// no new job starts on the stopping worker; a drain that runs out of time, and a hard
// stop, give the unfinished jobs back to the manager, which runs them elsewhere.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/cluster.hpp"

namespace proletariat::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A worker whose jobs run until the test releases them or the worker cancels them;
// a cancelled job still tries to reply (the library must drop that late answer).
// Answers say which worker gave them. The members its threads touch are declared
// before the worker, which is destroyed first.
class GatedWorker {
 public:
  GatedWorker(const std::string& endpoint, unsigned slots, std::chrono::milliseconds drain_timeout, std::string tag)
      : tag_(std::move(tag)) {
    auto options = worker_options(endpoint, slots);
    options.handler_threads = slots;  // every job blocks its own handler thread
    options.drain_timeout = drain_timeout;
    options.name = tag_;
    worker_ = std::make_unique<Worker>(options);
    worker_->on_work([this](const JobPtr& job) { run(job); });
    worker_->on_abort([this](const JobPtr&, const std::string& reason) {
      std::lock_guard lock(mutex_);
      reasons_.push_back(reason);
    });
    worker_->start();
  }
  GatedWorker(const GatedWorker&) = delete;
  GatedWorker& operator=(const GatedWorker&) = delete;
  ~GatedWorker() {
    release();
    worker_.reset();
  }

  Worker& worker() { return *worker_; }
  // Destroys the worker (its destructor stops it, as stop() does).
  void destroy() { worker_.reset(); }

  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }
  std::size_t started() {
    std::lock_guard lock(mutex_);
    return started_;
  }
  std::vector<std::string> reasons() {
    std::lock_guard lock(mutex_);
    return reasons_;
  }

 private:
  void run(const JobPtr& job) {
    {
      std::unique_lock lock(mutex_);
      ++started_;
      cv_.wait(lock, job->stop_token(), [this] { return released_; });
    }
    job->reply(Payload::json({{"by", tag_}, {"echo", job->args().to_json()}}));
  }

  const std::string tag_;
  std::mutex mutex_;
  std::condition_variable_any cv_;
  bool released_ = false;
  std::size_t started_ = 0;
  std::vector<std::string> reasons_;
  std::unique_ptr<Worker> worker_;
};

// A worker that answers at once, saying it was `tag`.
std::unique_ptr<Worker> answering_worker(const std::string& endpoint, const std::string& tag, unsigned slots = 4) {
  auto worker = std::make_unique<Worker>(worker_options(endpoint, slots));
  worker->on_work([tag](const JobPtr& job) { job->reply(Payload::json({{"by", tag}, {"echo", job->args().to_json()}})); });
  worker->start();
  return worker;
}

// Job 0 runs on worker a (until released or cancelled); worker b, started after, has
// nothing to do until a gives the job back.
struct JobOnA {
  JobOnA(const std::string& endpoint, std::chrono::milliseconds drain_timeout)
      : a(endpoint, 2, drain_timeout, "a"), client(client_options(endpoint)) {
    ok = a.worker().wait_ready(5s);
    job = client.work(nlohmann::json(0));
    ok = ok && wait_until([&] { return a.started() == 1; });
    b = answering_worker(endpoint, "b");
    ok = ok && b->wait_ready(5s);
  }
  GatedWorker a;
  Client client;
  std::future<Result> job;
  std::unique_ptr<Worker> b;
  bool ok = false;
};

class WorkerDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<Manager>(loopback_options());
    manager_->on_finish([this](const JobInfo&, const Result&) { ++finished_; });
    manager_->start();
    endpoint_ = manager_->endpoint();
  }
  void TearDown() override { manager_->stop(); }

  // Whether the manager's status lists a worker with this id.
  static bool listed(Client& client, const std::string& worker_id) {
    const auto status = client.status().get();
    for (const auto& worker : status.at("workers")) {
      if (worker.at("id") == worker_id) return true;
    }
    return false;
  }

  // Pushes `count` jobs numbered from `first`, each a request of its own.
  static std::vector<std::future<Result>> push(Client& client, int first, int count) {
    std::vector<std::future<Result>> futures;
    for (int i = first; i < first + count; ++i) futures.push_back(client.work(nlohmann::json(i)));
    return futures;
  }

  static void expect_answered_by(std::future<Result>& future, const std::string& tag, int echo) {
    ASSERT_EQ(future.wait_for(10s), std::future_status::ready) << "job " << echo;
    const auto result = future.get();
    ASSERT_TRUE(result.ok()) << "job " << echo << ": " << result.err->code << " " << result.err->message;
    EXPECT_EQ(result.data.to_json()["by"], tag) << "job " << echo;
    EXPECT_EQ(result.data.to_json()["echo"], echo);
  }

  std::unique_ptr<Manager> manager_;
  std::string endpoint_;
  std::atomic<int> finished_{0};
};

TEST_F(WorkerDrainTest, StopLetsRunningJobsFinishAndStartsNoNewOnes) {
  GatedWorker a(endpoint_, 4, 10s, "a");
  ASSERT_TRUE(a.worker().wait_ready(5s));
  Client client(client_options(endpoint_));
  auto first = push(client, 0, 2);
  ASSERT_TRUE(wait_until([&] { return a.started() == 2; }));
  const auto a_id = a.worker().id();

  auto stopped = std::async(std::launch::async, [&] { a.worker().stop(); });
  // The DRAIN is on its way once the worker no longer calls itself ready; a status
  // request on the worker's own socket follows it, so its answer means the manager
  // has taken the DRAIN.
  ASSERT_TRUE(wait_until([&] { return !a.worker().wait_ready(0ms); }));
  (void)a.worker().status().get();
  EXPECT_EQ(stopped.wait_for(0ms), std::future_status::timeout) << "stop() did not wait for the running jobs";

  // New work goes elsewhere, although the stopping worker has two slots free; with
  // nowhere to go it waits in the queue.
  auto queued = push(client, 2, 1);
  auto b = answering_worker(endpoint_, "b");
  auto later = push(client, 3, 3);
  expect_answered_by(queued[0], "b", 2);
  for (int i = 0; i < 3; ++i) expect_answered_by(later[i], "b", 3 + i);
  EXPECT_EQ(a.started(), 2u) << "a job started on the worker after stop() began";
  EXPECT_EQ(stopped.wait_for(0ms), std::future_status::timeout);

  // The running jobs finish: their results reach the client, and the stop completes.
  a.release();
  expect_answered_by(first[0], "a", 0);
  expect_answered_by(first[1], "a", 1);
  ASSERT_EQ(stopped.wait_for(5s), std::future_status::ready);
  stopped.get();
  EXPECT_TRUE(a.reasons().empty()) << "a drained job was taken away: " << a.reasons().front();
  EXPECT_TRUE(wait_until([&] { return !listed(client, a_id); })) << "the drained worker is still registered";
  EXPECT_EQ(finished_.load(), 6);
}

TEST_F(WorkerDrainTest, DrainTimeoutGivesTheUnfinishedJobToAnotherWorkerOnce) {
  constexpr auto kDrain = 300ms;
  JobOnA cluster(endpoint_, kDrain);
  ASSERT_TRUE(cluster.ok);

  // The destructor stops as stop() does: it waits out the drain timeout, no longer.
  const auto begun = Clock::now();
  cluster.a.destroy();
  const auto took = Clock::now() - begun;
  EXPECT_GE(took, kDrain);
  EXPECT_LT(took, kDrain + 2s);
  EXPECT_EQ(cluster.a.reasons(), std::vector<std::string>{"stop"});

  expect_answered_by(cluster.job, "b", 0);
  // The late reply of the cancelled handler never reached the manager.
  EXPECT_EQ(finished_.load(), 1);
  EXPECT_EQ(cluster.client.pending(), 0u);
}

TEST_F(WorkerDrainTest, HardStopGivesRunningJobsBackAtOnce) {
  enum class How { stop_zero, option_zero, second_stop_zero };
  for (const How how : {How::stop_zero, How::option_zero, How::second_stop_zero}) {
    SCOPED_TRACE(static_cast<int>(how));
    finished_ = 0;
    JobOnA cluster(endpoint_, how == How::option_zero ? 0ms : 30s);
    ASSERT_TRUE(cluster.ok);
    auto& a = cluster.a;

    const auto begun = Clock::now();
    switch (how) {
      case How::stop_zero:
        a.worker().stop(0ms);
        break;
      case How::option_zero:
        a.worker().stop();
        break;
      case How::second_stop_zero: {
        // A graceful stop under way on another thread is made immediate.
        auto graceful = std::async(std::launch::async, [&] { a.worker().stop(); });
        ASSERT_TRUE(wait_until([&] { return !a.worker().wait_ready(0ms); }));
        a.worker().stop(0ms);
        ASSERT_EQ(graceful.wait_for(2s), std::future_status::ready);
        break;
      }
    }
    EXPECT_LT(Clock::now() - begun, 2s);
    EXPECT_EQ(a.reasons(), std::vector<std::string>{"stop"});
    expect_answered_by(cluster.job, "b", 0);
    EXPECT_EQ(finished_.load(), 1);
  }
}

}  // namespace
}  // namespace proletariat::testing
