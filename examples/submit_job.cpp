// A client: pushes a group of three jobs with a timeout and a priority, prints the
// results in order, exits non-zero if any failed.
//
//   submit_job [tcp://127.0.0.1:1917]
#include <iostream>

#include <proletariat/proletariat.hpp>

int main(int argc, char** argv) {
  proletariat::ClientOptions options;
  if (argc > 1) options.endpoint = argv[1];
  proletariat::Client client(options);

  std::vector<proletariat::JobSpec> jobs = {nlohmann::json{{"a", 1}, {"b", 2}}, nlohmann::json{{"a", 3}, {"b", 4}},
                                            nlohmann::json{{"a", 5}, {"b", 6}}};
  proletariat::WorkOptions work_options;
  work_options.timeout = std::chrono::seconds(10);
  work_options.priority = 1;

  int failed = 0;
  for (const auto& result : client.work(std::move(jobs), work_options).get()) {
    if (result.err) {
      std::cout << "error " << result.err->code << ": " << result.err->message << "\n";
      ++failed;
    } else {
      std::cout << "result " << result.data.to_json().dump() << "\n";
    }
  }
  return failed == 0 ? 0 : 1;
}
