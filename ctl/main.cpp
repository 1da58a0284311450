// proletariat-ctl: the admin command line. Talks to a manager as an ordinary peer.
//
// Exit status (also in --help):
//   0  success
//   1  submit: at least one job failed
//   2  usage error (unknown command or flag, bad value, unreadable input)
//   3  the manager could not be reached within --connect-timeout
//   4  the manager answered with an error (e.g. sysmsg to an unknown peer)
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <proletariat/proletariat.hpp>

#include "render.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitJobsFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitManagerError = 4;

struct Args {
  std::string command;
  std::map<std::string, std::string> flags;  // --name value, or "" for switches
  std::vector<std::string> positional;
};

const char* kUsage =
    "usage: proletariat-ctl [--endpoint E] [--connect-timeout MS] COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  status [--json]            queues per priority, priority ranges, workers, clients, waiting jobs\n"
    "  workers [--json]           workers with their slot usage\n"
    "  watch [--interval MS]      status refreshed in place until interrupted\n"
    "  sysmsg [--to ID] JSON      system message to a peer id, MANAGER, or (no --to) everybody\n"
    "  submit [--file F] [--priority P] [--timeout MS] [--run-timeout MS]\n"
    "         [--assign-timeout MS] [--service S] [--delay MS] [--group G]\n"
    "         [--retry N [--retry-codes C,C] [--retry-initial MS]]\n"
    "                             jobs as JSON lines (file or stdin), one job per line;\n"
    "                             results as JSON lines {\"index\",\"err\",\"data\"} on stdout,\n"
    "                             in input order; a progress bar on stderr when it is a terminal\n"
    "  dead [list] [--limit N] [--json]\n"
    "                             dead letters (jobs that exhausted their retries, poison jobs), newest first\n"
    "  dead show ID...            letters with their payloads, as JSON\n"
    "  dead requeue (ID...|--all) letters back to the queues as new jobs; prints their new ids\n"
    "  dead purge (ID...|--all)   letters removed\n"
    "  groups [list] [--json]     job groups: limits, running and waiting jobs\n"
    "  groups set GROUP [--max-running N|none] [--rate R|none]\n"
    "                             the group's own limits (an option left out keeps its value)\n"
    "  groups clear GROUP         the group back to the manager's default limits\n"
    "  keygen NAME                write a CURVE key pair: NAME.pub (public) and NAME.key (secret, mode 0600)\n"
    "  http-token                 with --curve-key (an admin's) and --curve-server-key: the token for the\n"
    "                             manager's HTTP endpoint (Authorization: Bearer TOKEN), computed offline\n"
    "\n"
    "Global options:\n"
    "  --endpoint E               the manager [tcp://127.0.0.1:1917]\n"
    "  --connect-timeout MS       give up reaching the manager after this long [3000]\n"
    "  --curve-server-key FILE    connect with CURVE: the manager's public key file\n"
    "  --curve-key FILE           ... and this tool's own secret key file (an admin key for status)\n"
    "  --help                     this text (also after a command)\n"
    "\n"
    "Exit status: 0 success; 1 a submitted job failed; 2 usage error; 3 manager unreachable;\n"
    "4 the manager answered with an error.\n";

bool is_switch(const std::string& name) { return name == "json" || name == "help" || name == "all"; }

std::optional<Args> parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2);
      std::string value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (!is_switch(name)) {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "proletariat-ctl: --%s needs a value\n", name.c_str());
          return std::nullopt;
        }
        value = argv[++i];
      }
      args.flags[name] = value;
    } else if (args.command.empty()) {
      args.command = a;
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

std::optional<std::uint64_t> number_flag(const Args& args, const std::string& name) {
  auto it = args.flags.find(name);
  if (it == args.flags.end()) return std::nullopt;
  try {
    std::size_t used = 0;
    auto v = std::stoull(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument(name);
    return v;
  } catch (const std::exception&) {
    throw std::invalid_argument("bad value '" + it->second + "' for --" + name);
  }
}

std::string flag(const Args& args, const std::string& name, std::string fallback = "") {
  auto it = args.flags.find(name);
  return it == args.flags.end() ? fallback : it->second;
}

// Connects a client; nullptr (after a message) if the manager does not answer.
std::unique_ptr<proletariat::Client> connect(const Args& args) {
  proletariat::ClientOptions options;
  options.endpoint = flag(args, "endpoint", "tcp://127.0.0.1:1917");
  options.name = "proletariat-ctl";
  options.con_retry_time = 200ms;
  // A short-lived admin connection is never a recipient: a broadcast sent while it
  // runs must not wait for it (PROTOCOL §4 HELLO "sysmsg").
  options.system_messages = false;
  if (args.flags.count("curve-server-key") != 0 || args.flags.count("curve-key") != 0) {
    proletariat::CurveOptions curve;
    curve.server_public_key = proletariat::read_public_key_file(flag(args, "curve-server-key"));
    curve.keys = proletariat::read_secret_key_file(flag(args, "curve-key"));
    options.curve = curve;
  }
  auto client = std::make_unique<proletariat::Client>(options);
  const auto timeout = std::chrono::milliseconds(number_flag(args, "connect-timeout").value_or(3000));
  if (!client->wait_connected(timeout)) {
    std::fprintf(stderr, "proletariat-ctl: cannot reach the manager at %s within %lld ms\n", options.endpoint.c_str(),
                 static_cast<long long>(timeout.count()));
    return nullptr;
  }
  return client;
}

std::optional<nlohmann::json> fetch_status(proletariat::Client& client) {
  auto future = client.status();
  if (future.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "proletariat-ctl: the manager did not answer STATUS within 10 s\n");
    return std::nullopt;
  }
  return future.get();
}

int cmd_status(const Args& args, bool workers_only) {
  auto client = connect(args);
  if (!client) return kExitUnreachable;
  auto status = fetch_status(*client);
  if (!status) return kExitUnreachable;
  if (args.flags.count("json") != 0) {
    std::cout << (workers_only ? (*status)["workers"] : *status).dump(2) << "\n";
  } else {
    std::cout << (workers_only ? proletariat::ctl::render_workers(*status) : proletariat::ctl::render_status(*status));
  }
  return kExitOk;
}

int cmd_watch(const Args& args) {
  auto client = connect(args);
  if (!client) return kExitUnreachable;
  const auto interval = std::chrono::milliseconds(number_flag(args, "interval").value_or(1000));
  const auto rounds = number_flag(args, "count");  // for tests: stop after N refreshes
  for (std::uint64_t n = 0; !rounds || n < *rounds; ++n) {
    auto status = fetch_status(*client);
    if (!status) return kExitUnreachable;
    // Home the cursor and clear the screen, so the table is redrawn in place.
    std::cout << "\x1b[H\x1b[2J" << proletariat::ctl::render_status(*status) << std::flush;
    if (rounds && n + 1 == *rounds) break;
    std::this_thread::sleep_for(interval);
  }
  return kExitOk;
}

int cmd_sysmsg(const Args& args) {
  if (args.positional.size() != 1) {
    std::fprintf(stderr, "proletariat-ctl: sysmsg needs exactly one JSON message\n");
    return kExitUsage;
  }
  auto message = nlohmann::json::parse(args.positional[0], nullptr, false);
  if (message.is_discarded()) {
    std::fprintf(stderr, "proletariat-ctl: the message is not valid JSON: %s\n", args.positional[0].c_str());
    return kExitUsage;
  }
  auto client = connect(args);
  if (!client) return kExitUnreachable;
  std::optional<std::string> to;
  if (args.flags.count("to") != 0) to = flag(args, "to");
  auto future = client->system_message(message, to);
  if (future.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "proletariat-ctl: no acknowledgement within 30 s\n");
    return kExitUnreachable;
  }
  try {
    auto receipt = future.get();
    std::cout << nlohmann::json{{"sentTo", receipt.sent_to}, {"receivedBy", receipt.received_by}}.dump() << "\n";
    return kExitOk;
  } catch (const proletariat::Error& e) {
    std::fprintf(stderr, "proletariat-ctl: %s\n", e.what());
    return kExitManagerError;
  }
}

void draw_progress(std::size_t done, std::size_t total) {
  std::fprintf(stderr, "\r%s", proletariat::ctl::usage_bar(done, total, 40).c_str());
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// Waits for an admin reply; nullopt after a message (unreachable, or the manager's error).
template <typename T>
std::optional<T> answer_of(std::future<T> future, const char* what, int& exit_code) {
  if (future.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "proletariat-ctl: the manager did not answer %s within 10 s\n", what);
    exit_code = kExitUnreachable;
    return std::nullopt;
  }
  try {
    return future.get();
  } catch (const proletariat::Error& e) {
    std::fprintf(stderr, "proletariat-ctl: %s: %s\n", what, e.what());
    exit_code = kExitManagerError;
    return std::nullopt;
  }
}

std::vector<std::uint64_t> ids_of(const Args& args, std::size_t first) {
  std::vector<std::uint64_t> ids;
  for (std::size_t i = first; i < args.positional.size(); ++i) {
    try {
      std::size_t used = 0;
      ids.push_back(std::stoull(args.positional[i], &used));
      if (used != args.positional[i].size()) throw std::invalid_argument("id");
    } catch (const std::exception&) {
      throw std::invalid_argument("'" + args.positional[i] + "' is not a dead letter id");
    }
  }
  return ids;
}

int cmd_dead(const Args& args) {
  const std::string op = args.positional.empty() ? "list" : args.positional[0];
  if (op != "list" && op != "show" && op != "requeue" && op != "purge") {
    throw std::invalid_argument("dead needs list, show, requeue or purge, not '" + op + "'");
  }
  const auto ids = ids_of(args, 1);
  const bool all = args.flags.count("all") != 0;
  if (op == "show" && ids.empty()) throw std::invalid_argument("dead show needs letter ids");
  if ((op == "requeue" || op == "purge") && ids.empty() != all) {
    throw std::invalid_argument("dead " + op + " needs letter ids or --all (not both)");
  }
  auto client = connect(args);
  if (!client) return kExitUnreachable;
  int exit_code = kExitOk;
  std::optional<proletariat::DeadLetterReply> reply;
  if (op == "list") {
    reply = answer_of(client->dead_letters(number_flag(args, "limit").value_or(100)), "DEAD", exit_code);
  } else if (op == "show") {
    reply = answer_of(client->dead_letters_show(ids), "DEAD", exit_code);
  } else if (op == "requeue") {
    reply = answer_of(client->dead_letters_requeue(ids), "DEAD", exit_code);
  } else {
    reply = answer_of(client->dead_letters_purge(ids), "DEAD", exit_code);
  }
  if (!reply) return exit_code;
  if (op == "show") {
    nlohmann::json letters = reply->reply["letters"];
    for (std::size_t i = 0; i < letters.size() && i < reply->payloads.size(); ++i) {
      const auto& payload = reply->payloads[i];
      try {
        letters[i]["payload"] = payload.is_raw() ? nlohmann::json(payload.str()) : payload.to_json();
      } catch (const proletariat::Error&) {
        letters[i]["payload"] = payload.str();
      }
    }
    std::cout << letters.dump(2) << "\n";
  } else if (args.flags.count("json") != 0) {
    std::cout << reply->reply.dump(2) << "\n";
  } else {
    std::cout << proletariat::ctl::render_dead_letters(reply->reply);
  }
  return kExitOk;
}

int cmd_groups(const Args& args) {
  const std::string op = args.positional.empty() ? "list" : args.positional[0];
  if (op != "list" && op != "set" && op != "clear") throw std::invalid_argument("groups needs list, set or clear");
  if (op != "list" && args.positional.size() != 2) throw std::invalid_argument("groups " + op + " needs one GROUP");
  auto client = connect(args);
  if (!client) return kExitUnreachable;
  int exit_code = kExitOk;
  std::optional<nlohmann::json> reply;
  if (op == "list") {
    reply = answer_of(client->group_limits(), "GROUPLIMITS", exit_code);
  } else if (op == "clear") {
    reply = answer_of(client->clear_group_limits(args.positional[1]), "GROUPLIMITS", exit_code);
  } else {
    // An option left out keeps the group's value: start from what is in force.
    auto current = answer_of(client->group_limits(), "GROUPLIMITS", exit_code);
    if (!current) return exit_code;
    nlohmann::json limits = (*current)["defaults"];
    for (const auto& group : (*current)["groups"]) {
      if (group.value("group", "") == args.positional[1]) limits = group;
    }
    std::optional<std::uint64_t> max_running;
    if (limits.contains("maxRunning") && limits["maxRunning"].is_number_unsigned()) {
      max_running = limits["maxRunning"].get<std::uint64_t>();
    }
    std::optional<double> rate;
    if (limits.contains("rate") && limits["rate"].is_number()) rate = limits["rate"].get<double>();
    if (args.flags.count("max-running") != 0) {
      max_running = flag(args, "max-running") == "none" ? std::nullopt : number_flag(args, "max-running");
    }
    if (args.flags.count("rate") != 0) {
      const std::string text = flag(args, "rate");
      if (text == "none") {
        rate.reset();
      } else {
        std::size_t used = 0;
        double value = -1;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
        }
        if (used != text.size() || !(value >= 0)) throw std::invalid_argument("bad value '" + text + "' for --rate");
        rate = value;
      }
    }
    reply = answer_of(client->set_group_limits(args.positional[1], max_running, rate), "GROUPLIMITS", exit_code);
  }
  if (!reply) return exit_code;
  if (args.flags.count("json") != 0) {
    std::cout << reply->dump(2) << "\n";
  } else {
    std::cout << proletariat::ctl::render_groups(*reply);
  }
  return kExitOk;
}

int cmd_submit(const Args& args) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (args.flags.count("file") != 0) {
    file.open(flag(args, "file"));
    if (!file) {
      std::fprintf(stderr, "proletariat-ctl: cannot read %s\n", flag(args, "file").c_str());
      return kExitUsage;
    }
    in = &file;
  }
  std::vector<proletariat::JobSpec> jobs;
  std::string line;
  for (std::size_t number = 1; std::getline(*in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto value = nlohmann::json::parse(line, nullptr, false);
    if (value.is_discarded()) {
      std::fprintf(stderr, "proletariat-ctl: line %zu is not valid JSON\n", number);
      return kExitUsage;
    }
    proletariat::JobSpec job(value);
    job.service = flag(args, "service");
    jobs.push_back(std::move(job));
  }
  proletariat::WorkOptions options;
  try {
    if (auto p = args.flags.find("priority"); p != args.flags.end()) {
      options.priority = std::stod(p->second);
      if (options.priority < 0) throw std::invalid_argument("priority");
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "proletariat-ctl: bad value for --priority\n");
    return kExitUsage;
  }
  if (auto v = number_flag(args, "timeout")) options.timeout = std::chrono::milliseconds(*v);
  if (auto v = number_flag(args, "run-timeout")) options.run_timeout = std::chrono::milliseconds(*v);
  if (auto v = number_flag(args, "assign-timeout")) options.assign_timeout = std::chrono::milliseconds(*v);
  if (auto v = number_flag(args, "delay")) options.delay = std::chrono::milliseconds(*v);
  options.group = flag(args, "group");
  if (auto v = number_flag(args, "retry")) {
    proletariat::RetryPolicy retry;
    retry.max = static_cast<unsigned>(*v);
    if (auto initial = number_flag(args, "retry-initial")) retry.initial = std::chrono::milliseconds(*initial);
    const std::string codes = flag(args, "retry-codes");
    for (std::size_t at = 0; at < codes.size();) {
      const auto comma = codes.find(',', at);
      const auto code = codes.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      if (!code.empty()) retry.codes.push_back(code);
      at = comma == std::string::npos ? codes.size() : comma + 1;
    }
    options.retry = retry;
  }

  auto client = connect(args);
  if (!client) return kExitUnreachable;
  const std::size_t total = jobs.size();
  const bool progress = isatty(STDERR_FILENO) != 0;
  std::vector<proletariat::Result> results(total);
  std::mutex mutex;
  std::size_t done = 0;
  std::promise<void> all_done;
  if (total == 0) all_done.set_value();
  if (progress) draw_progress(0, total);
  if (total > 0) {
    client->work_individual(
        std::move(jobs), options,
        [&](const proletariat::Result& result, const proletariat::JobRef& ref) {
          std::lock_guard lock(mutex);
          results[ref.index] = result;
          ++done;
          if (progress && (done % 64 == 0 || done == total)) draw_progress(done, total);
        },
        [&] { all_done.set_value(); });
  }
  all_done.get_future().wait();
  int failed = 0;
  for (std::size_t i = 0; i < total; ++i) {
    nlohmann::json line_out = {{"index", i}, {"err", nullptr}, {"data", nullptr}};
    if (results[i].err) {
      ++failed;
      line_out["err"] = {{"code", results[i].err->code}, {"message", results[i].err->message}};
    }
    try {
      line_out["data"] = results[i].data.to_json();
    } catch (const proletariat::Error&) {
      line_out["data"] = results[i].data.str();
    }
    std::cout << line_out.dump() << "\n";
  }
  std::cout << std::flush;
  if (failed > 0) std::fprintf(stderr, "proletariat-ctl: %d of %zu jobs failed\n", failed, total);
  return failed > 0 ? kExitJobsFailed : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) return kExitUsage;
  if (args->flags.count("help") != 0 || args->command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  // The library logs reconnects and the like through the logger named "proletariat";
  // registering it first keeps a command-line tool's output to its own messages.
  spdlog::stderr_color_mt("proletariat")->set_level(spdlog::level::err);
  try {
    if (args->command == "status") return cmd_status(*args, false);
    if (args->command == "workers") return cmd_status(*args, true);
    if (args->command == "watch") return cmd_watch(*args);
    if (args->command == "sysmsg") return cmd_sysmsg(*args);
    if (args->command == "submit") return cmd_submit(*args);
    if (args->command == "dead") return cmd_dead(*args);
    if (args->command == "groups") return cmd_groups(*args);
    if (args->command == "http-token") {
      if (args->flags.count("curve-server-key") == 0 || args->flags.count("curve-key") == 0) {
        throw std::invalid_argument("http-token needs --curve-key (an admin's secret key file) and --curve-server-key");
      }
      const auto own = proletariat::read_secret_key_file(args->flags.at("curve-key"));
      const auto server = proletariat::read_public_key_file(args->flags.at("curve-server-key"));
      std::printf("%s\n", proletariat::http_token(own.secret_key, server).c_str());
      return kExitOk;
    }
    if (args->command == "keygen") {
      if (args->positional.size() != 1) throw std::invalid_argument("keygen needs one NAME (it writes NAME.pub and NAME.key)");
      proletariat::write_key_files(args->positional[0], proletariat::generate_curve_key_pair());
      std::printf("%s.pub %s.key\n", args->positional[0].c_str(), args->positional[0].c_str());
      return kExitOk;
    }
  } catch (const proletariat::Error& e) {
    std::fprintf(stderr, "proletariat-ctl: %s\n", e.what());
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "proletariat-ctl: %s\n", e.what());
    return kExitUsage;
  }
  std::fprintf(stderr, "proletariat-ctl: %s\n%s", args->command.empty() ? "no command given" : ("unknown command '" + args->command + "'").c_str(), kUsage);
  return kExitUsage;
}
