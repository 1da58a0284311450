// proletariatd: the manager as a daemon. Turns flags into ManagerOptions, sets up
// logging, runs the manager and stops it cleanly on SIGINT or SIGTERM.
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "json_log_formatter.hpp"

#include <proletariat/error.hpp>
#include <proletariat/manager.hpp>
#include <proletariat/version.hpp>

namespace {

using proletariat::ManagerOptions;

struct Flag {
  std::string_view name;   // --name
  std::string_view alias;  // the original's option name, also accepted
  std::string_view arg;    // "" for switches
  std::string_view help;
  std::function<bool(ManagerOptions&, const std::string&)> apply;
};

template <typename T>
bool parse_number(const std::string& text, T& out) {
  try {
    std::size_t used = 0;
    if constexpr (std::is_floating_point_v<T>) {
      out = static_cast<T>(std::stod(text, &used));
    } else {
      if (!text.empty() && text[0] == '-') return false;
      out = static_cast<T>(std::stoull(text, &used));
    }
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

bool set_ms(std::chrono::milliseconds& field, const std::string& text) {
  std::uint64_t ms = 0;
  if (!parse_number(text, ms)) return false;
  field = std::chrono::milliseconds(ms);
  return true;
}

std::string g_log_level = "info";
std::string g_log_format = "text";
bool g_events = false;
bool g_announce = false;
bool g_parent_watch = false;
bool g_max_attempts_used = false;  // the deprecated flag: warned about once logging is set up

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"endpoint", "", "ENDPOINT", "command socket (ROUTER) to bind [tcp://*:1917]",
       [](ManagerOptions& o, const std::string& v) { o.endpoint = v; return !v.empty(); }},
      {"pub-endpoint", "", "ENDPOINT", "system-message socket (XPUB) to bind [tcp://*:1918]",
       [](ManagerOptions& o, const std::string& v) { o.pub_endpoint = v; return !v.empty(); }},
      {"port", "", "PORT",
       "shorthand: bind tcp://*:PORT and tcp://*:PORT+1; 0 binds two free ports (see --announce)",
       [](ManagerOptions& o, const std::string& v) {
         unsigned port = 0;
         if (!parse_number(v, port) || port > 65534) return false;
         o.endpoint = port == 0 ? std::string("tcp://*:*") : "tcp://*:" + std::to_string(port);
         o.pub_endpoint = port == 0 ? std::string("tcp://*:*") : "tcp://*:" + std::to_string(port + 1);
         return true;
       }},
      {"avail-threshold", "AVAIL_THRESHOLD", "N",
       "after the system was full, free slots needed before distributing again [50]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.avail_threshold); }},
      {"cleanup-reqs", "CLEANUP_REQS", "N", "finished jobs between memory cleanups [1000]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.cleanup_reqs); }},
      {"cleanup-checkint", "CLEANUP_CHECKINT", "MS", "idle time before a memory cleanup [60000]",
       [](ManagerOptions& o, const std::string& v) { return set_ms(o.cleanup_checkint, v); }},
      {"distrib-randmax", "DISTRIB_RANDMAX", "MS", "random delay before a distribution round [0]",
       [](ManagerOptions& o, const std::string& v) { return set_ms(o.distrib_randmax, v); }},
      {"sacred-guarantees", "SACRED_GUARANTEES", "", "keep every range's guaranteed slots from higher ranges",
       [](ManagerOptions& o, const std::string&) { return o.sacred_guarantees = true; }},
      {"hold-similar-work", "HOLDSIMILARWORK", "", "hold jobs whose key matches a queued or running job",
       [](ManagerOptions& o, const std::string&) { return o.hold_similar_work = true; }},
      {"heartbeat-interval", "", "MS", "heartbeat interval [1000]",
       [](ManagerOptions& o, const std::string& v) { return set_ms(o.heartbeat_interval, v) && o.heartbeat_interval.count() > 0; }},
      {"heartbeat-liveness", "", "N", "missed heartbeats before a peer is dead [5]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.heartbeat_liveness) && o.heartbeat_liveness > 0; }},
      {"suspect-after", "", "N",
       "deaths of workers running a job before it is suspect and runs alone; a suspect whose worker dies is "
       "poison (EPOISON) [2]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.suspect_after) && o.suspect_after > 0; }},
      {"max-attempts", "", "N", "deprecated alias of --suspect-after",
       [](ManagerOptions& o, const std::string& v) {
         g_max_attempts_used = true;
         return parse_number(v, o.suspect_after) && o.suspect_after > 0;
       }},
      {"max-message-bytes", "", "N", "largest message accepted [67108864]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_message_bytes); }},
      {"max-frames", "", "N", "most frames in one message [100004]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_frames); }},
      {"max-jobs-per-client", "", "N", "outstanding jobs one client may have [1000000]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_jobs_per_client); }},
      {"max-client-bytes", "", "N",
       "bytes one client's outstanding jobs may hold, payloads plus 256 a job [335544320]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_client_bytes); }},
      {"max-jobs-per-service", "", "N", "jobs in the manager naming one service, all clients together [2000000]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_jobs_per_service); }},
      {"max-peers", "", "N", "registered peers; a HELLO beyond is refused with ELIMIT [12000]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_peers) && o.max_peers > 0; }},
      {"journal", "", "DIR",
       "keep a journal in DIR: accepted jobs survive a crash or restart of the manager (SPEC 9) [none]",
       [](ManagerOptions& o, const std::string& v) { o.journal_dir = v; return !v.empty(); }},
      {"journal-sync", "", "POLICY",
       "always (fdatasync before ACCEPTED), interval=MS (a power loss may lose MS of work) or off [always]",
       [](ManagerOptions& o, const std::string& v) {
         o.journal_sync = v;
         return v == "always" || v == "off" || (v.rfind("interval=", 0) == 0 && v.size() > 9);
       }},
      {"journal-repair", "", "", "start on a damaged journal by cutting it at the damage (what follows is lost)",
       [](ManagerOptions& o, const std::string&) { return o.journal_repair = true; }},
      {"held-results", "", "N", "results kept for clients that are away, at most [100000]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.held_results_max); }},
      {"held-results-age", "", "MS", "results kept for clients that are away, at most this old [86400000]",
       [](ManagerOptions& o, const std::string& v) { return set_ms(o.held_results_max_age, v); }},
      {"group-max-running", "", "N",
       "jobs of one group (a job's group) that may run at once, for every group without limits of its own "
       "(proletariat-ctl groups set) [none: no limit]",
       [](ManagerOptions& o, const std::string& v) {
         std::uint64_t n = 0;
         if (!parse_number(v, n)) return false;
         o.group_max_running = n;
         return true;
       }},
      {"group-rate", "", "R", "jobs of one group that may start a second (a token bucket), for every group without "
       "limits of its own [none: no limit]",
       [](ManagerOptions& o, const std::string& v) {
         char* end = nullptr;
         const double rate = std::strtod(v.c_str(), &end);
         if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(rate) || rate < 0) return false;
         o.group_rate = rate;
         return true;
       }},
      {"max-dead-letters", "", "N", "dead letters kept (jobs that exhausted their retries, poison jobs) [10000]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.max_dead_letters); }},
      {"dead-letter-max-age", "", "MS", "dead letters older than this are dropped [604800000]",
       [](ManagerOptions& o, const std::string& v) { return set_ms(o.dead_letter_max_age, v); }},
      {"drain-timeout", "", "MS",
       "on SIGTERM, how long running jobs may take to finish before the manager stops (a second signal stops it "
       "at once) [30000]",
       [](ManagerOptions& o, const std::string& v) { return set_ms(o.drain_timeout, v); }},
      {"curve-secret-key", "", "FILE",
       "run CURVE on both sockets with the manager's key pair from FILE (public = / secret = lines, as "
       "proletariat-ctl keygen writes them) [none: unauthenticated]",
       [](ManagerOptions& o, const std::string& v) {
         try {
           o.curve_keys = proletariat::read_secret_key_file(v);
         } catch (const proletariat::Error& e) {
           std::fprintf(stderr, "proletariatd: %s\n", e.what());
           return false;
         }
         return true;
       }},
      {"curve-keys", "", "DIR",
       "the CURVE allow-lists: DIR/workers, DIR/clients, DIR/admins hold public key files (*.pub); read again on "
       "SIGHUP and when they change",
       [](ManagerOptions& o, const std::string& v) { o.curve_keys_dir = v; return !v.empty(); }},
      {"allow-insecure-remote", "", "",
       "without CURVE, bind other addresses than loopback too (anyone who can connect may push and run jobs)",
       [](ManagerOptions& o, const std::string&) { return o.allow_insecure_remote = true; }},
      {"http", "", "HOST:PORT",
       "serve /metrics (Prometheus), /status (JSON) and the dashboard at / over HTTP on HOST:PORT; a HOST other than "
       "loopback needs a token or CURVE (docs/OPERATIONS.md) [none]",
       [](ManagerOptions& o, const std::string& v) {
         const auto colon = v.rfind(':');
         unsigned port = 0;
         o.http = v;
         return colon != std::string::npos && colon > 0 && parse_number(v.substr(colon + 1), port) && port <= 65535;
       }},
      {"http-token-file", "", "FILE",
       "HTTP requests must present the token on FILE's first line (Authorization: Bearer TOKEN, or ?token= in a "
       "browser); with CURVE, admin keys' tokens (proletariat-ctl http-token) work too [none]",
       [](ManagerOptions& o, const std::string& v) {
         o.http_token_file = v;
         try {
           (void)proletariat::read_http_token_file(v);
         } catch (const proletariat::Error& e) {
           std::fprintf(stderr, "proletariatd: %s\n", e.what());
           return false;
         }
         return true;
       }},
      {"seed", "", "N", "seed of the dispatch randomness (0: random) [0]",
       [](ManagerOptions& o, const std::string& v) { return parse_number(v, o.seed); }},
      {"debug", "DEBUG", "", "debug logging (same as --log-level debug)",
       [](ManagerOptions& o, const std::string&) {
         g_log_level = "debug";
         return o.debug = true;
       }},
      {"events", "", "", "write every manager event as a JSON line on stdout (for supervisors such as the Node.js Manager)",
       [](ManagerOptions&, const std::string&) { return g_events = true; }},
      {"announce", "", "",
       "once bound, write {\"event\":\"ready\",\"endpoint\",\"pub_endpoint\",\"port\",\"pub_port\"} (and \"http\", "
       "\"http_port\" with --http) as one line on stdout "
       "(--events does too), so a harness that asked for port 0 learns the ports without probing",
       [](ManagerOptions&, const std::string&) { return g_announce = true; }},
      {"parent-watch", "", "",
       "stop gracefully when the parent process dies or closes this process's stdin (for a daemon a program "
       "starts as its child, such as the Node.js Manager)",
       [](ManagerOptions&, const std::string&) { return g_parent_watch = true; }},
      {"log-format", "", "FORMAT", "text, or json: one JSON object a line (time, level, msg) [text]",
       [](ManagerOptions&, const std::string& v) {
         g_log_format = v;
         return v == "text" || v == "json";
       }},
      {"config", "", "FILE",
       "read options from FILE first: one 'key = value' a line, a key for each option here (switches take true or "
       "false), '#' comments; options given here win over the file (docs/OPERATIONS.md)",
       [](ManagerOptions&, const std::string&) { return true; }},
      {"check-config", "", "FILE", "check FILE (and the other options) as --config would read it, then exit: 0 when "
       "valid, 2 with the first problem",
       [](ManagerOptions&, const std::string&) { return true; }},
      {"log-level", "", "LEVEL", "trace, debug, info, warn, error, critical or off [info]",
       [](ManagerOptions&, const std::string& v) {
         g_log_level = v;
         return spdlog::level::from_str(v) != spdlog::level::off || v == "off";
       }},
  };
  return table;
}

void usage(std::FILE* out) {
  std::fprintf(out, "usage: proletariatd [options]\n\nThe proletariat manager (broker). Options:\n");
  for (const auto& f : flags()) {
    std::string left("  --");
    left += f.name;
    if (!f.arg.empty()) {
      left += ' ';
      left += f.arg;
    }
    std::fprintf(out, "%-34s %s\n", left.c_str(), std::string(f.help).c_str());
    if (!f.alias.empty()) std::fprintf(out, "%-34s (also --%s)\n", "", std::string(f.alias).c_str());
  }
  std::fprintf(out,
               "  --help                             this text\n"
               "  --version                          print the version\n\n"
               "Exit status: 0 after a clean stop (SIGINT, SIGTERM), 1 on a startup error, 2 on bad flags, 3 when the "
               "journal failed (a write or fsync error).\n");
}

const Flag* find_flag(std::string_view name) {
  for (const auto& f : flags()) {
    if (name == f.name || (!f.alias.empty() && name == f.alias)) return &f;
  }
  return nullptr;
}

bool is_config_flag(const Flag& flag) { return flag.name == "config" || flag.name == "check-config"; }


// A config file (--config): every option is a key, in the order of the file; the
// command line is applied after it, so its flags win. Returns the first problem as
// "FILE:LINE: what", or nothing.
std::optional<std::string> read_config(const std::string& path, ManagerOptions& options) {
  std::ifstream in(path);
  if (!in) return path + ": cannot read: " + std::strerror(errno);
  std::string line;
  for (unsigned number = 1; std::getline(in, line); ++number) {
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a byte-order mark
    // A '#' that starts the line or follows a blank starts a comment.
    for (std::size_t hash = line.find('#'); hash != std::string::npos; hash = line.find('#', hash + 1)) {
      if (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t') {
        line.resize(hash);
        break;
      }
    }
    const auto text = trim(line);
    if (text.empty()) continue;
    const auto where = path + ":" + std::to_string(number) + ": ";
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) return where + "expected 'key = value', got '" + std::string(text) + "'";
    const auto key = trim(text.substr(0, eq));
    const std::string value(trim(text.substr(eq + 1)));
    const Flag* flag = find_flag(key);
    if (flag == nullptr) return where + "unknown key '" + std::string(key) + "' (the keys are the options of --help)";
    if (is_config_flag(*flag)) return where + "'" + std::string(key) + "' cannot be set in a config file";
    if (flag->arg.empty()) {
      if (value == "false") continue;
      if (value != "true") return where + "'" + std::string(key) + "' is a switch: true or false, not '" + value + "'";
    }
    if (!flag->apply(options, value)) return where + "bad value '" + value + "' for '" + std::string(key) + "'";
  }
  if (in.bad()) return path + ": read error";
  return std::nullopt;
}

// The port of a bound TCP endpoint ("tcp://0.0.0.0:41234" -> 41234), or null.
nlohmann::json port_of(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (endpoint.rfind("tcp://", 0) != 0 || colon == std::string::npos) return nullptr;
  unsigned port = 0;
  return parse_number(endpoint.substr(colon + 1), port) ? nlohmann::json(port) : nlohmann::json(nullptr);
}

// --parent-watch: a daemon started by a program must not outlive it (issue 10, defect
// 9: the Node Manager's daemon kept the port after its program died). The kernel sends
// SIGTERM when the parent dies; a parent that closes our stdin (or dies, which closes
// it) is noticed by the reader thread. Either way the main thread's sigwait stops the
// manager as for an operator's SIGTERM.
void watch_parent() {
  const pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) kill(getpid(), SIGTERM);  // it died before the call
  std::thread([] {
    char buffer[256];
    for (;;) {
      const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      break;  // EOF or error: the parent is gone or let go of us
    }
    kill(getpid(), SIGTERM);
  }).detach();
}

nlohmann::json job_json(const proletariat::JobInfo& job) {
  nlohmann::json out = {{"id", job.id}, {"client", job.client}, {"priority", job.priority}, {"attempt", job.attempt}};
  if (!job.key.empty()) out["key"] = job.key;
  if (!job.service.empty()) out["service"] = job.service;
  return out;
}

// One JSON line per event on stdout (--events). Written from the manager's thread
// only; a flush per line, so a supervisor sees each event at once.
void emit(const nlohmann::json& line) {
  const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void install_event_lines(proletariat::Manager& manager) {
  manager.on_receive([](const proletariat::JobInfo& job) { emit({{"event", "receive"}, {"job", job_json(job)}}); });
  manager.on_finish([](const proletariat::JobInfo& job, const proletariat::Result& result) {
    nlohmann::json r = {{"err", nullptr}, {"data", nullptr}};
    if (result.err) r["err"] = {{"code", result.err->code}, {"message", result.err->message}};
    if (result.data.is_raw()) {
      r["raw"] = true;
    } else if (!result.data.bytes().empty()) {
      r["data"] = nlohmann::json::parse(result.data.bytes().begin(), result.data.bytes().end(), nullptr, false);
      if (r["data"].is_discarded()) r["data"] = nullptr;
    }
    emit({{"event", "finish"}, {"job", job_json(job)}, {"result", std::move(r)}});
  });
  manager.on_giveup([](const proletariat::JobInfo& job, const std::string& worker) {
    emit({{"event", "giveup"}, {"job", job_json(job)}, {"worker", worker}});
  });
  manager.on_abort([](const proletariat::JobInfo& job, const std::string& worker) {
    emit({{"event", "abort"}, {"job", job_json(job)}, {"worker", worker}});
  });
  manager.on_assigntimeout(
      [](const proletariat::JobInfo& job) { emit({{"event", "assigntimeout"}, {"job", job_json(job)}}); });
  manager.on_sysmsg([](const nlohmann::json& msg, const std::string& from) {
    emit({{"event", "sysmsg"}, {"msg", msg}, {"from", from}});
  });
  manager.on_cleanup([] { emit({{"event", "cleanup"}}); });
}

}  // namespace

int main(int argc, char** argv) {
  ManagerOptions options;
  // The config file first, wherever --config stands, so that every flag wins over it.
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    for (const std::string name : {"--config", "--check-config"}) {
      std::string value;
      if (arg == name && i + 1 < argc) {
        value = argv[i + 1];
      } else if (arg.rfind(name + "=", 0) == 0) {
        value = arg.substr(name.size() + 1);
      } else {
        continue;
      }
      if (!config_path.empty()) {
        std::fprintf(stderr, "proletariatd: one config file at most (%s, then %s)\n", config_path.c_str(),
                     value.c_str());
        return 2;
      }
      config_path = value;
      check_only = check_only || name == "--check-config";
    }
  }
  if (!config_path.empty()) {
    if (auto problem = read_config(config_path, options)) {
      std::fprintf(stderr, "proletariatd: %s\n", problem->c_str());
      return 2;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("proletariatd %s (protocol %s)\n", PROLETARIAT_VERSION_STRING, PROLETARIAT_PROTOCOL_SIGNATURE);
      return 0;
    }
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const Flag* flag = arg.rfind("--", 0) == 0 ? find_flag(std::string_view(arg).substr(2)) : nullptr;
    if (flag == nullptr) {
      std::fprintf(stderr, "proletariatd: unknown option '%s' (see --help)\n", arg.c_str());
      return 2;
    }
    if (flag->arg.empty() && has_value) {
      // --switch=true / --switch=false, as in a config file; false leaves it off.
      if (value != "true" && value != "false") {
        std::fprintf(stderr, "proletariatd: --%s is a switch: true or false, not '%s'\n", std::string(flag->name).c_str(),
                     value.c_str());
        return 2;
      }
      if (value == "false") continue;
    }
    if (!flag->arg.empty() && !has_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "proletariatd: --%s needs a value\n", std::string(flag->name).c_str());
        return 2;
      }
      value = argv[++i];
    }
    if (!flag->apply(options, value)) {
      std::fprintf(stderr, "proletariatd: bad value '%s' for --%s\n", value.c_str(), std::string(flag->name).c_str());
      return 2;
    }
  }
  if (check_only) {
    std::printf("proletariatd: %s: valid\n", config_path.c_str());
    return 0;
  }

  // Logs go to stderr: stdout carries the event lines of --events.
  auto logger = spdlog::stderr_color_mt("proletariat");
  if (g_log_format == "json") {
    logger->set_formatter(std::make_unique<proletariat::daemon::JsonLogFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(g_log_level));
  if (g_max_attempts_used) {
    logger->warn("--max-attempts is deprecated: it now means --suspect-after (jobs fail with EPOISON only when their "
                 "worker dies while running them alone); use --suspect-after {}",
                 options.suspect_after);
  }

  // Signals are taken by sigwait on this thread, so the manager's loop thread never
  // runs a handler: a clean stop, not an interrupted poll.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  proletariat::Manager manager(options);
  if (g_events) install_event_lines(manager);
  try {
    manager.start();
  } catch (const proletariat::Error& e) {
    logger->critical("cannot start: {}", e.what());
    return 1;
  }
  if (g_events || g_announce) {
    nlohmann::json ready = {{"event", "ready"},
                            {"endpoint", manager.endpoint()},
                            {"pub_endpoint", manager.pub_endpoint()},
                            {"port", port_of(manager.endpoint())},
                            {"pub_port", port_of(manager.pub_endpoint())}};
    if (const auto http = manager.http_address(); !http.empty()) {
      ready["http"] = http;
      ready["http_port"] = port_of("tcp://" + http);
    }
    emit(ready);
  }
  if (g_parent_watch) {
    logger->info("parent watch: stopping when the parent dies or closes stdin");
    watch_parent();
  }
  // The first SIGTERM drains (SPEC 9: pushes refused with EDRAINING, running jobs
  // finish); SIGINT or a second signal stops at once.
  bool draining = false;
  for (;;) {
    const timespec tick{0, 100 * 1000 * 1000};  // how soon the end of a drain is noticed
    siginfo_t info{};
    const int sig = sigtimedwait(&signals, &info, &tick);
    if (sig < 0) {
      if (!manager.running()) break;  // drained, or stopped on an error
      continue;
    }
    if (sig == SIGHUP) {
      logger->info("signal {}: reading the CURVE allow-lists again", sig);
      manager.reload_keys();
      continue;
    }
    if (sig == SIGTERM && !draining) {
      logger->info("signal {}: draining (a second signal stops at once)", sig);
      draining = true;
      manager.drain();
      continue;
    }
    logger->info("signal {}: stopping", sig);
    break;
  }
  const std::string failure = manager.failure();
  manager.stop();
  if (!failure.empty()) {
    logger->critical("stopped on an error: {}", failure);
    return 3;
  }
  logger->info("stopped");
  return 0;
}
