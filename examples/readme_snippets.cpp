// Every C++ snippet of README.md, in a program that compiles (issue 10, defect 1: the
// README's client example did not). tests/docs/check_snippets.py fails when a README
// snippet is not found here line for line, so the documentation cannot drift from
// code that builds. The lines between the snippets only give them a scope.
#include <chrono>
#include <string>
#include <vector>

#include <proletariat/proletariat.hpp>

namespace {

void readme_worker() {
  // worker
  proletariat::WorkerOptions options;
  options.endpoint = "tcp://127.0.0.1:1917";
  options.slots = 16;
  options.priority_slots = {{5, 4}};          // 4 slots guaranteed to priority >= 5
  proletariat::Worker worker(options);
  worker.on_work([](const proletariat::JobPtr& job) {
    auto args = job->args().to_json();
    job->reply(proletariat::Payload::json(args["a"].get<double>() + args["b"].get<double>()));
  });
  worker.start();
}

void readme_client() {
  // client
  proletariat::Client client({.endpoint = "tcp://127.0.0.1:1917"});
  proletariat::WorkOptions options;
  options.timeout = std::chrono::seconds(10);
  options.priority = 1;
  auto results = client.work({nlohmann::json{{"a", 1}, {"b", 2}}}, options).get();
  // results[0].err is empty and results[0].data.to_json() == 3
  (void)results;
}

void readme_system_messages(proletariat::Client& client, proletariat::Worker& worker) {
  client.on_sysmsg([](const nlohmann::json& msg, const std::string& from) { /* ... */ });
  auto receipt = client.system_message({{"reload", true}}).get();            // everybody
  auto ack = worker.system_message({{"hello", 1}}, std::string(proletariat::kToManager)); // the manager's sysmsg event
  nlohmann::json status = client.status().get();   // queues, ranges, workers, clients, why jobs wait
  (void)receipt;
  (void)status;
}

void readme_lifecycle(proletariat::Client& client, proletariat::Worker& worker,
                      std::vector<proletariat::JobSpec> jobs) {
  proletariat::WorkOptions options;
  options.retry = proletariat::RetryPolicy{.max = 3, .codes = {"EBUSY"}, .initial = std::chrono::milliseconds(500)};
  options.delay = std::chrono::seconds(30);   // or options.at = a std::chrono::system_clock time
  options.group = "tenant-7";                 // the manager's per-group limits apply
  client.work_individual(
      jobs, options,
      [](const proletariat::Result& r, const proletariat::JobRef& ref) { /* r.attempts: how many runs */ },
      [] { /* all done */ },
      [](const proletariat::Payload& progress, const proletariat::JobRef& ref) { /* before that job's result */ });

  worker.on_work([](const proletariat::JobPtr& job) {
    job->progress(proletariat::Payload::json({{"done", 0.5}}));   // reaches the client's progress callback
    job->fail("EBUSY", "try later");                               // retried by the manager, with backoff
  });
}

}  // namespace

// Built, not run: the snippets name the default endpoint, which a test must not use.
int main(int argc, char**) {
  if (argc > 1) {
    readme_worker();
    readme_client();
    proletariat::Client client;
    proletariat::Worker worker({});
    readme_system_messages(client, worker);
    readme_lifecycle(client, worker, {});
  }
  return 0;
}
