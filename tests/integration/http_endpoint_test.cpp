// The manager's HTTP endpoint (SPEC 11, docs/OPERATIONS.md) with a real in-process
// Manager: the metrics count what happened, /status is the STATUS document, and only
// a token (the token file's, or an admin key's with CURVE) reads either.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <httplib.h>

#include <proletariat/error.hpp>

#include "support/cluster.hpp"

namespace proletariat::testing {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "prlt-http-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

struct Reply {
  int status = 0;
  std::string body;
};

Reply get(const std::string& address, const std::string& path, const std::string& token = {}) {
  const auto colon = address.rfind(':');
  httplib::Client http(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  http.set_read_timeout(10, 0);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  const auto response = http.Get(path.c_str(), headers);
  if (!response) return {};
  return {response->status, response->body};
}

// "name{labels}" -> value, from the Prometheus text format (every sample line).
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

ManagerOptions http_options() {
  auto options = loopback_options();
  options.http = "127.0.0.1:0";
  return options;
}

TEST(HttpEndpoint, MetricsAndStatusCountWhatHappened) {
  Manager manager(http_options());
  manager.start();
  ASSERT_FALSE(manager.http_address().empty());
  auto worker = std::make_unique<Worker>(worker_options(manager.endpoint(), 2));
  worker->on_work([](const JobPtr& job) {
    if (job->args().to_json().at("n").get<int>() % 4 == 0) {
      job->fail("EBAD", "a multiple of four");
    } else {
      job->reply(Payload::json({{"ok", true}}));
    }
  });
  worker->start();
  Client client(client_options(manager.endpoint()));
  std::vector<JobSpec> jobs;
  for (int n = 1; n <= 20; ++n) jobs.emplace_back(nlohmann::json{{"n", n}});
  auto results = client.work(std::move(jobs));
  ASSERT_EQ(results.wait_for(10s), std::future_status::ready);
  // Three jobs for a service nobody offers: queued, with a reason and an age.
  std::vector<JobSpec> orphans(3, JobSpec(nlohmann::json{{"n", 0}}));
  for (auto& job : orphans) job.service = "nobody";
  auto waiting = client.work(std::move(orphans));
  ASSERT_TRUE(wait_until([&] { return client.status().get().at("queued") == 3; }));

  const auto metrics = get(manager.http_address(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  auto m = samples(metrics.body);
  EXPECT_EQ(m["proletariat_jobs_received_total"], 23);
  EXPECT_EQ(m["proletariat_jobs_finished_total{outcome=\"ok\"}"], 15);
  EXPECT_EQ(m["proletariat_jobs_finished_total{outcome=\"handler_error\"}"], 5);
  EXPECT_EQ(m["proletariat_jobs_failed_total"], 5);
  EXPECT_EQ(m["proletariat_job_wait_seconds_count"], 20);
  EXPECT_EQ(m["proletariat_job_run_seconds_count"], 20);
  EXPECT_EQ(m["proletariat_job_run_seconds_bucket{le=\"+Inf\"}"], 20);
  EXPECT_EQ(m["proletariat_queue_depth{priority=\"0\",service=\"nobody\"}"], 3);
  EXPECT_EQ(m["proletariat_jobs_queued"], 3);
  EXPECT_EQ(m["proletariat_workers"], 1);
  EXPECT_EQ(m["proletariat_clients"], 1);
  EXPECT_EQ(m["proletariat_slots_total"], 2);
  EXPECT_EQ(m["proletariat_range_slots{range=\"0\"}"], 2);
  EXPECT_GE(m["proletariat_oldest_waiting_seconds"], 0);
  for (const auto& [name, value] : m) EXPECT_EQ(name.find("id=\""), std::string::npos) << "a job id in a label: " << name;

  const auto status = get(manager.http_address(), "/status");
  ASSERT_EQ(status.status, 200);
  const auto doc = nlohmann::json::parse(status.body);
  EXPECT_EQ(doc.at("received"), 23);
  EXPECT_EQ(doc.at("finished"), 20);
  EXPECT_EQ(doc.at("failed"), 5);
  ASSERT_EQ(doc.at("workers").size(), 1U);
  EXPECT_EQ(doc.at("workers")[0].at("slots"), 2);
  ASSERT_EQ(doc.at("waiting").size(), 3U);
  EXPECT_EQ(doc.at("waiting")[0].at("reason"), "no_worker_for_service");
  EXPECT_LE(doc.at("waiting")[0].at("since").get<std::int64_t>(), doc.at("now").get<std::int64_t>());
  EXPECT_EQ(doc.at("oldestWaiting"), doc.at("waiting")[0].at("since"));
  ASSERT_EQ(doc.at("queues").size(), 1U);
  EXPECT_EQ(doc.at("queues")[0].at("service"), "nobody");

  const auto page = get(manager.http_address(), "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("dashboard.js"), std::string::npos);
  EXPECT_EQ(get(manager.http_address(), "/dashboard.js").status, 200);
  EXPECT_EQ(get(manager.http_address(), "/nothing-here").status, 404);
}

TEST(HttpEndpoint, AbortedJobsAreCountedAndANameCutInsideACharacterKeepsMetricsReadable) {
  Manager manager(http_options());
  manager.start();
  // 127 bytes then a two-byte character: the manager keeps 128 bytes of a name, which
  // would end inside the character.
  auto options = worker_options(manager.endpoint(), 2);
  options.name = std::string(127, 'a') + "\xc3\xa9";
  std::atomic<bool> release{false};
  Worker worker(options);
  worker.on_work([&](const JobPtr& job) {
    while (!release && !job->cancelled()) std::this_thread::sleep_for(1ms);
    job->reply(Payload::json(1));
  });
  worker.start();
  ASSERT_TRUE(worker.wait_ready(5s));
  Client client(client_options(manager.endpoint()));
  std::promise<void> done;
  const auto request = client.work(std::vector<JobSpec>(3, JobSpec(nlohmann::json(1))), WorkOptions{},
                                   [&](std::vector<Result>) { done.set_value(); });
  ASSERT_TRUE(wait_until([&] { return worker.running() == 2; }));
  client.abort(request);
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  release = true;
  // The client's library ends the group at once; its ABORT reaches the manager after.
  std::map<std::string, double> m;
  EXPECT_TRUE(wait_until([&] {
    const auto metrics = get(manager.http_address(), "/metrics");
    if (metrics.status != 200) return false;
    m = samples(metrics.body);
    return m["proletariat_jobs_finished_total{outcome=\"aborted\"}"] == 3;
  })) << "aborted: " << m["proletariat_jobs_finished_total{outcome=\"aborted\"}"];
  EXPECT_EQ(m["proletariat_jobs_received_total"], 3);
  EXPECT_EQ(m["proletariat_job_run_seconds_count"], 0) << "an aborted run is not a run";
  const auto doc = nlohmann::json::parse(get(manager.http_address(), "/status").body);
  EXPECT_EQ(doc.at("workers")[0].at("name"), std::string(127, 'a'));
}

TEST(HttpEndpoint, AnOpenEndpointAnswersOnlyALoopbackHost) {
  Manager manager(http_options());
  manager.start();
  const auto colon = manager.http_address().rfind(':');
  httplib::Client http(manager.http_address().substr(0, colon), std::stoi(manager.http_address().substr(colon + 1)));
  // A page of another site that rebound its name to 127.0.0.1 sends its own Host.
  const auto rebound = http.Get("/status", httplib::Headers{{"Host", "attacker.example:80"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  const auto lookalike = http.Get("/metrics", httplib::Headers{{"Host", "127.attacker.example"}});
  ASSERT_TRUE(lookalike);
  EXPECT_EQ(lookalike->status, 403);
  EXPECT_EQ(get(manager.http_address(), "/status").status, 200);
  const auto named = http.Get("/status", httplib::Headers{{"Host", "localhost:9917"}});
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 200);
}

TEST(HttpEndpoint, ATokenFileGuardsTheData) {
  TempDir dir;
  const std::string token = "0123456789abcdef-token";
  std::ofstream(dir.path + "/token") << token << "\n";
  auto options = http_options();
  options.http_token_file = dir.path + "/token";
  Manager manager(options);
  manager.start();
  for (const char* path : {"/metrics", "/status"}) {
    EXPECT_EQ(get(manager.http_address(), path).status, 401) << path;
    EXPECT_EQ(get(manager.http_address(), path, "wrong-token-0123456789").status, 401) << path;
    EXPECT_EQ(get(manager.http_address(), path, token).status, 200) << path;
  }
  EXPECT_EQ(get(manager.http_address(), std::string("/status?token=") + token).status, 200);
  // The page and its files hold no data: a browser loads them without the token.
  for (const char* path : {"/", "/dashboard.js", "/dashboard.css"}) {
    const auto page = get(manager.http_address(), path);
    EXPECT_EQ(page.status, 200) << path;
    EXPECT_EQ(page.body.find("\"boot\":"), std::string::npos) << path;
  }
}

TEST(HttpEndpoint, AnAddressBeyondLoopbackNeedsATokenOrCurve) {
  auto options = http_options();
  options.http = "0.0.0.0:0";
  Manager open(options);
  try {
    open.start();
    FAIL() << "an open HTTP endpoint on every address started";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::kBadField);
  }
  TempDir dir;
  std::ofstream(dir.path + "/token") << "a-token-long-enough\n";
  options.http_token_file = dir.path + "/token";
  Manager guarded(options);
  EXPECT_NO_THROW(guarded.start());
  EXPECT_FALSE(guarded.http_address().empty());
}

TEST(HttpEndpoint, WithCurveOnlyAnAdminKeysTokenReadsAndRevokingTheKeyEndsIt) {
  TempDir dir;
  for (const char* role : {"workers", "clients", "admins"}) fs::create_directories(fs::path(dir.path) / role);
  const auto server = generate_curve_key_pair();
  const auto admin = generate_curve_key_pair();
  const auto client = generate_curve_key_pair();
  std::ofstream(dir.path + "/admins/ops.pub") << admin.public_key << "\n";
  std::ofstream(dir.path + "/clients/app.pub") << client.public_key << "\n";
  auto options = http_options();
  options.curve_keys = server;
  options.curve_keys_dir = dir.path;
  Manager manager(options);
  manager.start();
  const auto admin_token = http_token(admin.secret_key, server.public_key);
  EXPECT_EQ(admin_token, http_token(server.secret_key, admin.public_key)) << "both ends compute the same token";
  EXPECT_EQ(get(manager.http_address(), "/status").status, 401) << "never open with CURVE";
  EXPECT_EQ(get(manager.http_address(), "/status", http_token(client.secret_key, server.public_key)).status, 401)
      << "a client key is no admin";
  EXPECT_EQ(get(manager.http_address(), "/status", admin_token).status, 200);
  fs::remove(dir.path + "/admins/ops.pub");
  manager.reload_keys();
  EXPECT_TRUE(wait_until([&] { return get(manager.http_address(), "/status", admin_token).status == 401; }));
}

}  // namespace
}  // namespace proletariat::testing
