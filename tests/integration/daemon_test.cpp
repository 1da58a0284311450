// The daemon as a program: port 0 with the bound ports announced, --parent-watch
// (issue 10, defect 9: a daemon a program starts must end with it), the config file
// and JSON log lines (issue 13).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "support/cluster.hpp"
#include "support/daemon.hpp"

namespace proletariat::testing {
namespace {

TEST(Daemon, PortZeroBindsFreePortsAndAnnouncesThem) {
  Daemon daemon(PROLETARIAT_DAEMON, {"--log-level", "warn"});
  EXPECT_GT(daemon.port(), 0U);
  EXPECT_GT(daemon.pub_port(), 0U);
  EXPECT_NE(daemon.port(), daemon.pub_port());
  Client client(client_options(daemon.endpoint()));
  ASSERT_TRUE(client.wait_connected(5s)) << daemon.endpoint();
  const auto status = client.my_status().get();
  EXPECT_EQ(status["id"], client.id());
}

TEST(Daemon, ParentWatchStopsGracefullyWhenStdinCloses) {
  Daemon daemon(PROLETARIAT_DAEMON, {"--parent-watch", "--log-level", "warn"});
  Client client(client_options(daemon.endpoint()));
  ASSERT_TRUE(client.wait_connected(5s));
  daemon.close_stdin();
  EXPECT_EQ(daemon.wait_exit(10s), std::optional<int>(0)) << "a graceful stop exits 0";
}

TEST(Daemon, WithoutParentWatchAClosedStdinChangesNothing) {
  Daemon daemon(PROLETARIAT_DAEMON, {"--log-level", "warn"});
  daemon.close_stdin();
  Client client(client_options(daemon.endpoint()));
  EXPECT_TRUE(client.wait_connected(5s)) << "still serving";
}

// Runs the daemon through the shell with `args`, stdin closed (so --parent-watch stops
// it once started), and returns its exit code and everything it wrote.
struct Run {
  int exit_code = -1;
  std::string output;
};
Run run_daemon(const std::string& args) {
  const std::string command = std::string(PROLETARIAT_DAEMON) + " " + args + " </dev/null 2>&1";
  Run run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class ConfigFile : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    const auto path = dir_ / ("config-" + std::to_string(files_++) + ".conf");
    std::ofstream(path) << text;
    return path.string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_ = [] {
    auto dir = std::filesystem::temp_directory_path() / ("prlt-config-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    return dir;
  }();
  int files_ = 0;
};

TEST_F(ConfigFile, AValidFileChecksAndEveryProblemExitsTwoNamingTheLine) {
  const auto valid = write("# a comment\n\n  endpoint = tcp://127.0.0.1:19170\nhold-similar-work = true\n"
                           "sacred-guarantees = false\nHOLDSIMILARWORK = true\nmax-peers = 100\n");
  const auto ok = run_daemon("--check-config " + valid);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  const std::pair<std::string, std::string> bad[] = {
      {"endpoint = tcp://127.0.0.1:1\nnot-an-option = 3\n", ":2: unknown key 'not-an-option'"},
      {"heartbeat-interval = soon\n", ":1: bad value 'soon' for 'heartbeat-interval'"},
      {"sacred-guarantees = yes\n", ":1: 'sacred-guarantees' is a switch: true or false"},
      {"endpoint\n", ":1: expected 'key = value'"},
      {"config = /etc/other.conf\n", ":1: 'config' cannot be set in a config file"},
  };
  for (const auto& [text, message] : bad) {
    const auto path = write(text);
    const auto run = run_daemon("--check-config " + path);
    EXPECT_EQ(run.exit_code, 2) << text;
    EXPECT_NE(run.output.find(path + message), std::string::npos) << run.output;
  }
  const auto missing = run_daemon("--check-config " + (dir_ / "absent.conf").string());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("cannot read"), std::string::npos) << missing.output;
}

TEST_F(ConfigFile, TheDaemonRunsWithTheFileAndItsFlagsWin) {
  // The file asks for a fixed port and text logs; the flags for a free port and JSON:
  // the daemon must announce a port of the kernel's choice and log JSON.
  const auto path = write("port = 1\nlog-format = text\nlog-level = info\n");
  const auto run = run_daemon("--config " + path + " --port 0 --announce --parent-watch --log-format json");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  std::istringstream lines(run.output);
  std::string line;
  bool announced = false;
  unsigned logged = 0;
  while (std::getline(lines, line)) {
    const auto json = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << "not one JSON object a line: " << line;
    if (json.contains("event")) {
      announced = true;
      EXPECT_NE(json.at("port").get<unsigned>(), 1U);
      continue;
    }
    ++logged;
    EXPECT_TRUE(json.at("time").is_string()) << line;
    EXPECT_TRUE(json.at("level").is_string()) << line;
    EXPECT_TRUE(json.at("msg").is_string()) << line;
  }
  EXPECT_TRUE(announced) << run.output;
  EXPECT_GE(logged, 3U) << "listening, draining, stopped: " << run.output;
  EXPECT_NE(run.output.find("\"msg\":\"stopped\""), std::string::npos) << run.output;
}

TEST_F(ConfigFile, CommentsAfterValuesAByteOrderMarkAndSwitchValuesOnTheCommandLine) {
  const auto path = write("\xEF\xBB\xBF# written by an editor that marks UTF-8\n"
                          "heartbeat-interval = 250   # a comment after the value\n"
                          "hold-similar-work = true\t# and after a switch\n");
  const auto ok = run_daemon("--check-config " + path + " --sacred-guarantees=false --debug=true");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  const auto bad_switch = run_daemon("--check-config " + path + " --sacred-guarantees=maybe");
  EXPECT_EQ(bad_switch.exit_code, 2);
  EXPECT_NE(bad_switch.output.find("--sacred-guarantees is a switch"), std::string::npos) << bad_switch.output;
  const auto twice = run_daemon("--config " + path + " --check-config " + path);
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.output.find("one config file at most"), std::string::npos) << twice.output;
  EXPECT_EQ(run_daemon("--check-config " + path + " --http 127.0.0.1:70000").exit_code, 2);
}

TEST_F(ConfigFile, ABadLogFormatExitsTwo) {
  EXPECT_EQ(run_daemon("--log-format xml").exit_code, 2);
  EXPECT_EQ(run_daemon("--config " + write("log-format = xml\n")).exit_code, 2);
}

}  // namespace
}  // namespace proletariat::testing
