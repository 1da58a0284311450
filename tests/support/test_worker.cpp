// A worker process for tests that kill workers and for interop tests: runs jobs that
// take --job-ms and answer {"worker": "c++", "args": args}, prints "ready <id>" once
// the manager accepted its offer, "started <id>" as each job starts, and
// "sysmsg <from> <json>" for each system message. --priority-slots START:N may repeat;
// --service NAME may repeat. A job whose args are an object with "crash_after_ms": N
// kills the whole process with abort() N ms after it starts (a poison job; no core
// file is written).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <proletariat/worker.hpp>

int main(int argc, char** argv) {
  proletariat::WorkerOptions options;
  long job_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--endpoint") options.endpoint = value;
    else if (flag == "--slots") options.slots = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--job-ms") job_ms = std::stol(value);
    else if (flag == "--service") options.services.push_back(value);
    else if (flag == "--priority-slots") {
      const auto colon = value.find(':');
      options.priority_slots[std::stod(value.substr(0, colon))] = static_cast<unsigned>(std::stoul(value.substr(colon + 1)));
    }
    else {
      std::fprintf(stderr, "test_worker: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  options.handler_threads = options.slots;
  options.con_retry_time = std::chrono::milliseconds(50);
  proletariat::Worker worker(options);
  worker.on_work([job_ms](const proletariat::JobPtr& job) {
    std::printf("started %llu\n", static_cast<unsigned long long>(job->id()));
    std::fflush(stdout);
    const nlohmann::json args = job->args().to_json();
    if (args.is_object() && args.contains("crash_after_ms") && args["crash_after_ms"].is_number_integer()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(args["crash_after_ms"].get<long>()));
      const rlimit no_core{0, 0};
      setrlimit(RLIMIT_CORE, &no_core);
      std::abort();
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(job_ms);
    while (std::chrono::steady_clock::now() < until && !job->cancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    job->reply(proletariat::Payload::json({{"worker", "c++"}, {"args", job->args().to_json()}}));
  });
  worker.on_sysmsg([](const nlohmann::json& msg, const std::string& from) {
    std::printf("sysmsg %s %s\n", from.c_str(), msg.dump().c_str());
    std::fflush(stdout);
  });
  worker.start();
  if (!worker.wait_ready(std::chrono::seconds(10))) return 1;
  std::printf("ready %s\n", worker.id().c_str());
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
}
