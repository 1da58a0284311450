// proletariat-ctl against a real manager: output and exit codes (issue 4).
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include <gtest/gtest.h>

#include "support/cluster.hpp"
#include "support/process.hpp"

namespace proletariat::testing {
namespace {

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<Manager>(loopback_options());
    manager_->on_sysmsg([this](const nlohmann::json& msg, const std::string&) {
      std::lock_guard lock(mutex_);
      manager_got_ = msg.dump();
    });
    manager_->start();
    endpoint_ = manager_->endpoint();
    auto options = worker_options(endpoint_, 6);
    options.priority_slots = {{5, 2}};
    options.name = "ctl-worker";
    worker_ = std::make_unique<Worker>(options);
    worker_->on_work([](const JobPtr& job) {
      auto args = job->args().to_json();
      if (args == "fail") {
        job->fail("EBROKEN", "asked to fail");
      } else {
        job->reply(Payload::json({{"got", args}}));
      }
    });
    worker_->start();
    ASSERT_TRUE(worker_->wait_ready(5s));
  }

  void TearDown() override {
    worker_->stop();
    manager_->stop();
  }

  std::string manager_got() {
    std::lock_guard lock(mutex_);
    return manager_got_;
  }

  ProcessResult ctl(std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {PROLETARIAT_CTL, "--endpoint", endpoint_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, input);
  }

  static std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    }
    return out;
  }

  std::unique_ptr<Manager> manager_;
  std::string endpoint_;
  std::unique_ptr<Worker> worker_;
  std::mutex mutex_;
  std::string manager_got_;
};

TEST_F(CtlTest, StatusShowsWorkersRangesAndQueues) {
  auto r = ctl({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("WORKERS (1)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ctl-worker"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PRIORITY RANGES"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(">= 5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0/6"), std::string::npos) << r.out;  // slot usage of the worker
}

TEST_F(CtlTest, StatusJsonIsTheManagersDocument) {
  auto r = ctl({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["totalSlots"], 6);
  ASSERT_EQ(doc["workers"].size(), 1u);
  EXPECT_EQ(doc["workers"][0]["id"], worker_->id());
  EXPECT_EQ(doc["ranges"].size(), 2u);
}

TEST_F(CtlTest, WorkersListsEachWorker) {
  auto r = ctl({"workers"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(worker_->id()), std::string::npos) << r.out;
  auto j = ctl({"workers", "--json"});
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(j.out)[0]["slots"], 6);
}

TEST_F(CtlTest, SubmitPrintsResultsInInputOrder) {
  auto r = ctl({"submit", "--priority", "1"}, "{\"n\":1}\n\"two\"\n3\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0]["data"]["got"]["n"], 1);
  EXPECT_EQ(lines[1]["data"]["got"], "two");
  EXPECT_EQ(lines[2]["data"]["got"], 3);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_TRUE(lines[i]["err"].is_null());
  }
  EXPECT_EQ(r.err.find('['), std::string::npos) << "no progress bar when stderr is not a terminal";
}

TEST_F(CtlTest, SubmitFromAFileExitsOneWhenAJobFails) {
  const std::string path = ::testing::TempDir() + "ctl_jobs.jsonl";
  std::ofstream(path) << "\"ok\"\n\"fail\"\n";
  auto r = ctl({"submit", "--file", path});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0]["err"].is_null());
  EXPECT_EQ(lines[1]["err"]["code"], "EBROKEN");
  EXPECT_NE(r.err.find("1 of 2 jobs failed"), std::string::npos) << r.err;
  std::remove(path.c_str());
}

TEST_F(CtlTest, SubmitRejectsALineThatIsNotJson) {
  auto r = ctl({"submit"}, "1\n{oops\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
}

TEST_F(CtlTest, SysmsgToTheManager) {
  auto r = ctl({"sysmsg", "--to", "MANAGER", "{\"reload\":true}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto receipt = nlohmann::json::parse(r.out);
  EXPECT_EQ(receipt["sentTo"], 1);
  EXPECT_EQ(receipt["receivedBy"], 1);
  EXPECT_TRUE(wait_until([&] { return !manager_got().empty(); }));
  EXPECT_EQ(manager_got(), "{\"reload\":true}");
}

TEST_F(CtlTest, SysmsgBroadcastReachesTheWorker) {
  std::atomic<int> got{0};
  worker_->on_sysmsg([&](const nlohmann::json& msg, const std::string&) {
    if (msg == nlohmann::json{{"all", 1}}) ++got;
  });
  auto r = ctl({"sysmsg", "{\"all\":1}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["receivedBy"], 1);
  EXPECT_EQ(got.load(), 1);
}

TEST_F(CtlTest, SysmsgToAnUnknownPeerExitsFour) {
  auto r = ctl({"sysmsg", "--to", "nobody.1", "{}"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("ENOPEER"), std::string::npos) << r.err;
}

TEST_F(CtlTest, UnreachableManagerExitsThreeWithAClearMessage) {
  auto r = run_process({PROLETARIAT_CTL, "--endpoint", "tcp://127.0.0.1:1", "--connect-timeout", "300", "status"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot reach the manager at tcp://127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(CtlTest, UsageErrorsExitTwoAndHelpExitsZero) {
  EXPECT_EQ(ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(ctl({}).exit_code, 2);
  EXPECT_EQ(ctl({"submit", "--timeout", "soon"}, "1\n").exit_code, 2);
  auto help = run_process({PROLETARIAT_CTL, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);
}

TEST_F(CtlTest, WatchRedrawsInPlace) {
  auto r = ctl({"watch", "--interval", "10", "--count", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t redraws = 0;
  for (auto pos = r.out.find("\x1b[H\x1b[2J"); pos != std::string::npos; pos = r.out.find("\x1b[H\x1b[2J", pos + 1)) {
    ++redraws;
  }
  EXPECT_EQ(redraws, 2u);
  EXPECT_NE(r.out.find("WORKERS (1)"), std::string::npos);
}

}  // namespace
}  // namespace proletariat::testing
