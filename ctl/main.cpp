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
    "         [--assign-timeout MS] [--service S]\n"
    "                             jobs as JSON lines (file or stdin), one job per line;\n"
    "                             results as JSON lines {\"index\",\"err\",\"data\"} on stdout,\n"
    "                             in input order; a progress bar on stderr when it is a terminal\n"
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

bool is_switch(const std::string& name) { return name == "json" || name == "help"; }

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
