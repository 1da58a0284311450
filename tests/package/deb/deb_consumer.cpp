// A worker and a client against a running proletariatd, built from the unpacked
// libproletariat-dev package (tests/package/deb_test.sh).
//
//   deb_consumer ENDPOINT SERVE
//
// Registers a worker named "deb-test-worker" (it doubles numbers), runs one job
// through its own client, prints "ready" on stdout, then keeps the worker until it
// has run SERVE more jobs (the test's proletariat-ctl submit), at most 30 s.
// Exit 0 when every answer was right and all SERVE jobs came.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <proletariat/proletariat.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: deb_consumer ENDPOINT SERVE\n");
    return 2;
  }
  const std::string endpoint = argv[1];
  const int serve = std::atoi(argv[2]);
  std::atomic<int> ran{0};

  proletariat::WorkerOptions wo;
  wo.endpoint = endpoint;
  wo.slots = 4;
  wo.name = "deb-test-worker";
  proletariat::Worker worker(wo);
  worker.on_work([&ran](const proletariat::JobPtr& job) {
    ran.fetch_add(1);
    job->reply(proletariat::Payload::json(job->args().to_json().get<int>() * 2));
  });
  worker.start();
  if (!worker.wait_ready(std::chrono::seconds(10))) {
    std::fprintf(stderr, "deb_consumer: the worker did not register with %s\n", endpoint.c_str());
    return 1;
  }

  proletariat::ClientOptions co;
  co.endpoint = endpoint;
  proletariat::Client client(co);
  auto future = client.work(proletariat::JobSpec(nlohmann::json(21)));
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "deb_consumer: no result within 10 s\n");
    return 1;
  }
  auto result = future.get();
  if (!result.ok() || result.data.to_json() != 42) {
    std::fprintf(stderr, "deb_consumer: wrong result: %s\n",
                 result.ok() ? result.data.str().c_str() : result.err->code.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ran.load() < 1 + serve && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (ran.load() < 1 + serve) {
    std::fprintf(stderr, "deb_consumer: ran %d of %d jobs\n", ran.load(), 1 + serve);
    return 1;
  }
  return 0;
}
