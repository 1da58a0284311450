// A manager embedded in a program: logs its events and replaces the weighted-random
// choice of worker with "the worker with the most free slots".
//
//   embedded_manager [tcp://*:1917]
#include <csignal>
#include <iostream>

#include <proletariat/proletariat.hpp>

int main(int argc, char** argv) {
  proletariat::ManagerOptions options;
  if (argc > 1) options.endpoint = argv[1];
  proletariat::Manager manager(options);

  manager.on_receive([](const proletariat::JobInfo& job) { std::cout << "receive " << job.id << "\n"; });
  manager.on_finish([](const proletariat::JobInfo& job, const proletariat::Result& result) {
    std::cout << "finish " << job.id << (result.ok() ? " ok" : " " + result.err->code) << "\n";
  });
  manager.on_giveup([](const proletariat::JobInfo& job, const std::string& worker) {
    std::cout << "giveup " << job.id << " on " << worker << "\n";
  });
  manager.on_assigntimeout([](const proletariat::JobInfo& job) { std::cout << "assigntimeout " << job.id << "\n"; });
  manager.set_worker_selector(
      [](const proletariat::JobInfo&, std::span<const proletariat::WorkerCandidate> candidates)
          -> std::optional<std::size_t> {
        std::size_t best = 0;
        for (std::size_t i = 1; i < candidates.size(); ++i) {
          if (candidates[i].free_slots > candidates[best].free_slots) best = i;
        }
        return best;
      });

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  manager.start();
  std::cout << "manager on " << manager.endpoint() << "\n";
  int sig = 0;
  sigwait(&signals, &sig);
  manager.stop();
}
