// proletariat-ctl's `dead` and `groups` against a real manager (issue 14): every
// operation answers, with the manager's data, and exits 0. They waited on the
// client's DEAD and GROUPLIMITS futures with a timeout, and those futures were deferred
// (wait_for() said `deferred` at once): every such command reported an unreachable
// manager, exit 3, without waiting.
#include <gtest/gtest.h>

#include "support/cluster.hpp"
#include "support/lifecycle.hpp"
#include "support/process.hpp"

namespace proletariat::testing {
namespace {

class LifecycleCtl : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<Manager>(loopback_options());
    manager_->start();
    endpoint_ = manager_->endpoint();
    worker_ = start_worker(endpoint_, [this](const JobPtr& job) {
      if (!succeed_) {
        job->fail("EBUSY", "busy");
        return;
      }
      job->reply(Payload::json({{"ran", job->args().to_json()}}));
    });
    client_ = std::make_unique<Client>(client_options(endpoint_));
    ASSERT_TRUE(client_->wait_connected(5s));
  }
  void TearDown() override {
    client_.reset();
    worker_.reset();
    manager_.reset();
  }

  ProcessResult ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {PROLETARIAT_CTL, "--endpoint", endpoint_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
  }
  static json parsed(const ProcessResult& r) { return json::parse(r.out, nullptr, false); }

  std::atomic<bool> succeed_{false};
  std::unique_ptr<Manager> manager_;
  std::string endpoint_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Client> client_;
};

TEST_F(LifecycleCtl, DeadListsShowsRequeuesAndPurges) {
  WorkOptions options;
  options.retry = quick_retry(1);
  options.group = "tenant";
  auto future = client_->work(std::vector<JobSpec>{json{{"n", 1}}, json{{"n", 2}}}, options);
  const auto results = get_within(future);
  ASSERT_EQ(results.size(), 2U);

  auto listed = ctl({"dead", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const json list = parsed(listed);
  ASSERT_EQ(list["letters"].size(), 2U) << listed.out;
  const auto newest = list["letters"][0]["id"].get<std::uint64_t>();
  const auto oldest = list["letters"][1]["id"].get<std::uint64_t>();
  EXPECT_EQ(list["letters"][0]["group"], "tenant");
  EXPECT_EQ(list["letters"][0]["attempts"], 2);

  auto table = ctl({"dead"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("EBUSY: busy"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("2 dead letters kept"), std::string::npos) << table.out;

  auto shown = ctl({"dead", "show", std::to_string(oldest)});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const json show = parsed(shown);
  ASSERT_EQ(show.size(), 1U) << shown.out;
  EXPECT_EQ(show[0]["id"], oldest);
  EXPECT_EQ(show[0]["payload"], (json{{"n", 1}}));

  succeed_ = true;
  auto requeued = ctl({"dead", "requeue", std::to_string(oldest)});
  ASSERT_EQ(requeued.exit_code, 0) << requeued.err;
  EXPECT_NE(requeued.out.find("letter " + std::to_string(oldest) + " requeued as job"), std::string::npos)
      << requeued.out;
  EXPECT_NE(requeued.out.find("1 dead letters kept"), std::string::npos) << requeued.out;

  auto purged = ctl({"dead", "purge", "--all"});
  ASSERT_EQ(purged.exit_code, 0) << purged.err;
  EXPECT_NE(purged.out.find("1 letters purged"), std::string::npos) << purged.out;
  auto empty = ctl({"dead", "--json"});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(parsed(empty)["total"], 0);
  EXPECT_EQ(entry_of(parsed(empty)["letters"], "id", newest), nullptr);
}

TEST_F(LifecycleCtl, GroupsSetListAndClear) {
  auto set = ctl({"groups", "set", "tenant", "--max-running", "3"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(set.out.find("tenant"), std::string::npos) << set.out;
  auto rate = ctl({"groups", "set", "tenant", "--rate", "2.5", "--json"});
  ASSERT_EQ(rate.exit_code, 0) << rate.err;
  const json limits = entry(parsed(rate)["groups"], "group", "tenant");
  EXPECT_EQ(limits["maxRunning"], 3) << "an option left out keeps the group's value";
  EXPECT_EQ(limits["rate"], 2.5);
  EXPECT_EQ(limits["custom"], true);

  auto listed = ctl({"groups", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(entry(parsed(listed)["groups"], "group", "tenant")["maxRunning"], 3);

  auto cleared = ctl({"groups", "clear", "tenant", "--json"});
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(entry_of(parsed(cleared)["groups"], "group", "tenant"), nullptr) << "no jobs, no limits of its own";
}

}  // namespace
}  // namespace proletariat::testing
