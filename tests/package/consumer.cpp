// Runs one job through an in-process manager, worker and client, using only the
// installed headers and library. Exit 0 when the answer is right.
#include <cstdio>

#include <proletariat/proletariat.hpp>

int main() {
  proletariat::ManagerOptions mo;
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  proletariat::Manager manager(mo);
  manager.start();

  proletariat::WorkerOptions wo;
  wo.endpoint = manager.endpoint();
  wo.slots = 2;
  proletariat::Worker worker(wo);
  worker.on_work([](const proletariat::JobPtr& job) {
    job->reply(proletariat::Payload::json(job->args().to_json().get<int>() * 2));
  });
  worker.start();

  proletariat::ClientOptions co;
  co.endpoint = manager.endpoint();
  proletariat::Client client(co);
  auto future = client.work(proletariat::JobSpec(nlohmann::json(21)));
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return 1;
  auto result = future.get();
  std::printf("consumer: %s (library %s)\n", result.ok() ? result.data.str().c_str() : result.err->code.c_str(),
              PROLETARIAT_VERSION_STRING);
  return result.ok() && result.data.to_json() == 42 ? 0 : 1;
}
