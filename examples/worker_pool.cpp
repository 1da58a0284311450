// A worker: offers 16 slots, 4 of them guaranteed to priority >= 5, and answers each
// job {"a": x, "b": y} with x + y.
//
//   worker_pool [tcp://127.0.0.1:1917]
#include <csignal>
#include <iostream>

#include <proletariat/proletariat.hpp>

int main(int argc, char** argv) {
  proletariat::WorkerOptions options;
  if (argc > 1) options.endpoint = argv[1];
  options.slots = 16;
  options.priority_slots = {{5, 4}};
  options.handler_threads = 4;

  proletariat::Worker worker(options);
  worker.on_work([](const proletariat::JobPtr& job) {
    const auto args = job->args().to_json();
    if (!args.contains("a") || !args.contains("b")) {
      job->fail("EBADARGS", "expected {\"a\": number, \"b\": number}");
      return;
    }
    job->reply(proletariat::Payload::json(args["a"].get<double>() + args["b"].get<double>()));
  });
  worker.start();

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int sig = 0;
  sigwait(&signals, &sig);
  worker.stop();
}
