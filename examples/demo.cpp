// The quick-start demo: a manager on the default port, several workers and one client
// pushing 10,000 jobs in groups; checks every result and prints a summary.
//
//   proletariat-demo [--jobs N] [--workers W] [--slots S] [--group G] [--window R]
//
// Exit status 0 when every job came back with the right answer.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <proletariat/proletariat.hpp>

namespace {

struct Settings {
  int jobs = 10000;
  int workers = 4;
  unsigned slots = 16;
  int group = 100;   // jobs per work() call
  int window = 20;   // groups outstanding at once
};

bool parse(int argc, char** argv, Settings& s) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (value <= 0) return false;
    if (flag == "--jobs") s.jobs = value;
    else if (flag == "--workers") s.workers = value;
    else if (flag == "--slots") s.slots = static_cast<unsigned>(value);
    else if (flag == "--group") s.group = value;
    else if (flag == "--window") s.window = value;
    else return false;
  }
  return argc % 2 == 1;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  if (!parse(argc, argv, s)) {
    std::fprintf(stderr, "usage: proletariat-demo [--jobs N] [--workers W] [--slots S] [--group G] [--window R]\n");
    return 2;
  }

  proletariat::set_log_level("warn");  // the summary below is the demo's output

  proletariat::ManagerOptions manager_options;  // the embedded defaults: ports 1917/1918
  manager_options.endpoint = "tcp://127.0.0.1:1917";
  manager_options.pub_endpoint = "tcp://127.0.0.1:1918";
  proletariat::Manager manager(manager_options);
  manager.start();

  std::vector<std::unique_ptr<proletariat::Worker>> workers;
  for (int w = 0; w < s.workers; ++w) {
    proletariat::WorkerOptions o;
    o.endpoint = manager.endpoint();
    o.slots = s.slots;
    o.name = "demo-worker-" + std::to_string(w);
    auto worker = std::make_unique<proletariat::Worker>(o);
    worker->on_work([](const proletariat::JobPtr& job) {
      const auto args = job->args().to_json();
      job->reply(proletariat::Payload::json(args["a"].get<long long>() + args["b"].get<long long>()));
    });
    worker->start();
    workers.push_back(std::move(worker));
  }
  for (auto& w : workers) {
    if (!w->wait_ready(std::chrono::seconds(10))) {
      std::fprintf(stderr, "demo: a worker could not register with the manager\n");
      return 1;
    }
  }

  proletariat::ClientOptions client_options;
  client_options.endpoint = manager.endpoint();
  auto client_ptr = std::make_unique<proletariat::Client>(client_options);
  auto& client = *client_ptr;

  std::mutex mutex;
  std::condition_variable cv;
  int outstanding = 0;
  int done = 0;
  int wrong = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int first = 0; first < s.jobs; first += s.group) {
    const int count = std::min(s.group, s.jobs - first);
    std::vector<proletariat::JobSpec> jobs;
    jobs.reserve(static_cast<std::size_t>(count));
    for (int i = first; i < first + count; ++i) jobs.emplace_back(nlohmann::json{{"a", i}, {"b", 2 * i}});
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return outstanding < s.window; });
      ++outstanding;
    }
    client.work(std::move(jobs), {}, [&, first](std::vector<proletariat::Result> results) {
      int bad = 0;
      for (std::size_t i = 0; i < results.size(); ++i) {
        const long long n = first + static_cast<long long>(i);
        if (!results[i].ok() || results[i].data.to_json().get<long long>() != 3 * n) ++bad;
      }
      std::lock_guard lock(mutex);
      done += static_cast<int>(results.size());
      wrong += bad;
      --outstanding;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, std::chrono::seconds(120), [&] { return done == s.jobs; })) {
      std::fprintf(stderr, "demo: only %d of %d jobs finished within 120 s\n", done, s.jobs);
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf("proletariat demo: %d jobs, %d workers x %u slots, groups of %d\n", s.jobs, s.workers, s.slots, s.group);
  std::printf("  finished: %d   wrong or failed: %d\n", done, wrong);
  std::printf("  time: %.3f s   throughput: %.0f jobs/s\n", seconds, s.jobs / seconds);
  client_ptr.reset();
  workers.clear();
  manager.stop();
  return wrong == 0 ? 0 : 1;
}
