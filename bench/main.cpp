// proletariat-bench: throughput, latency, manager CPU and memory of proletariat,
// measured against a raw ZeroMQ forwarder under the same load (docs/BENCHMARKS.md).
//
// Processes: the manager is the real daemon (proletariatd); the baseline forwarder
// and the fake-worker sets are this executable started again with --internal. The
// load generators (proletariat::Worker and proletariat::Client objects, or the raw
// baseline peers) are threads of the bench process. CPU time and memory are read
// from /proc for the manager's and the forwarder's processes only.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <proletariat/curve.hpp>
#include <proletariat/version.hpp>

#include "fake_workers.hpp"
#include "forwarder.hpp"
#include "load.hpp"
#include "proc.hpp"
#include "report.hpp"
#include "timer_release.hpp"
#include "systems.hpp"
#include "journal_recovery.hpp"

namespace proletariat::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

struct Options {
  std::string mode = "run";  // run, scale, queued, status, features, lifecycle, groups, delayed
  std::size_t groups = 10000;     // --groups
  std::size_t delayed = 1000000;  // --delayed
  bool baseline = false;
  std::size_t jobs = 1000000;
  bool jobs_set = false;
  std::size_t latency_jobs = 50000;
  std::size_t clients = 1;
  std::size_t window = 128;
  std::size_t workers = 4;
  bool workers_set = false;
  unsigned slots = 16;
  unsigned handler_threads = 0;
  std::size_t bytes = 20;
  bool fake_workers = false;
  std::string daemon = PROLETARIAT_DAEMON_PATH;
  std::vector<std::string> manager_args;
  unsigned repeat = 1;
  std::vector<std::size_t> scale_workers = {10, 10000};
  std::size_t queued = 1000000;
  unsigned status_repeats = 50;
  std::string cdf_path;
  std::string perf_prefix;
  std::string log_level = "error";
  double timeout_s = 0;
  bool keep_logs = false;
  // --journal: the same runs against a journaled manager, then its start-up figures.
  bool journal = false;
  // --curve: the same runs against a manager with CURVE, every peer connecting with it.
  bool curve = false;
  std::size_t journal_queued = 1000000;
  std::size_t journal_finished = 10000000;
};

const char* kUsage = R"(usage: proletariat-bench [mode] [options]

Measures proletariat: jobs/s, push-to-result latency (p50/p99/p999, microseconds),
the manager's CPU seconds per 100,000 jobs and its peak RSS. Prints one JSON line
per measured run on stdout. The manager is the daemon (proletariatd) in a process of
its own; workers and clients are threads of this process using the public C++ API
(proletariat::Worker, proletariat::Client), or fake protocol-speaking workers in
helper processes (--fake-workers). See docs/BENCHMARKS.md.

Modes (default: a throughput run with --window, then a latency run with window 1):
  --scale                 manager CPU per job with few vs many connected (fake)
                          workers; one line per worker count, then a summary
  --scale-workers LIST    worker counts for --scale [10,10000]
  --queued N              push N jobs with no worker; the manager's memory per job
  --status-latency        STATUS round trips with --workers (fake) workers connected
  --status-repeats N      round trips to time [50]
  --lifecycle             retries, a delay and group limits configured on every job but
                          never triggered, vs none (PROTOCOL §14)
  --groups N              jobs spread over N groups with limits (never reached), vs no
                          group: the manager's CPU per job [10000]
  --delayed N             N jobs delayed by an hour: the manager's memory per delayed
                          job; then the scheduler alone: releasing 100,000 due at once
                          among N [1000000]
  --features              priority guarantees, timeouts and hold-similar-work on vs
                          off, same load; one line per repetition

Load:
  --jobs N                jobs per throughput run [1000000; 200000 for --scale,
                          --features]
  --latency-jobs N        jobs in the latency run (window 1); 0 skips it [50000]
  --clients C             client objects, each keeping the window [1]
  --window P              jobs outstanding per client in the throughput run [128]
  --workers W             workers [4; 10000 for --status-latency]
  --slots S               slots per worker [16]
  --bytes B               bytes of each job's arguments and of its result [20]
  --handler-threads N     WorkerOptions::handler_threads of the library workers;
                          0 runs the no-op handler on the worker's I/O thread, as
                          the forwarder's workers do [0]
  --fake-workers          lightweight protocol-speaking workers (helper processes)
                          instead of proletariat::Worker objects

Journal (issue 11):
  --journal               after the in-memory runs, the same runs against a manager
                          with a journal (sync always, then interval=10), with records
                          per fdatasync and journal bytes per job; then the daemon's
                          start time on a journal of --journal-queued queued jobs and
                          on one that saw --journal-finished finished jobs
  --journal-queued N      queued jobs for the recovery figure; 0 skips it [1000000]
  --journal-finished N    finished jobs for the start figure; 0 skips it [10000000]

Security (issue 12):
  --curve                 each run repeated right after against a manager with
                          CURVE on both sockets (ZAP allow-lists), every worker and
                          client connecting with a key of its role; the ratios to the
                          runs without CURVE (library workers only)

Comparison and output:
  --baseline              also run a minimal raw ZeroMQ forwarder (DEALER -> ROUTER
                          -> DEALER, one credit per slot) under the same load, and
                          print our figures as ratios of it
  --repeat R              repeat every measurement R times (one line each) [1]
  --cdf FILE              write the latency run's quantiles (ours, baseline) to FILE
  --perf PREFIX           record each measured run of the manager with `perf record
                          -g` into PREFIX-<mode>-<phase>-w<workers>-<n>.data
  --daemon PATH           the manager daemon [the one built with this tool]
  --manager-arg ARG       extra option for the daemon (repeatable), e.g.
                          --manager-arg=--avail-threshold=0
  --timeout SECONDS       give up on a run after this long [60 + 0.5 ms per job]
  --log-level LEVEL       the peer libraries' log level in this process [error]
  --keep-logs             keep the daemon's log files (path printed on stderr)
  --help, --version

Exit status: 0 when every run finished; 1 when one failed or timed out; 2 on bad
options.
)";

bool parse_size(const std::string& text, std::size_t& out) {
  try {
    std::size_t used = 0;
    if (text.empty() || text[0] == '-') return false;
    out = static_cast<std::size_t>(std::stoull(text, &used));
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<Options> parse(int argc, char** argv, int& exit_code) {
  Options o;
  std::map<std::string, std::function<bool(const std::string&)>> with_value = {
      {"--jobs",
       [&](const std::string& v) {
         o.jobs_set = true;
         return parse_size(v, o.jobs) && o.jobs > 0;
       }},
      {"--latency-jobs", [&](const std::string& v) { return parse_size(v, o.latency_jobs); }},
      {"--journal-queued", [&](const std::string& v) { return parse_size(v, o.journal_queued); }},
      {"--journal-finished", [&](const std::string& v) { return parse_size(v, o.journal_finished); }},
      {"--clients", [&](const std::string& v) { return parse_size(v, o.clients) && o.clients > 0; }},
      {"--window", [&](const std::string& v) { return parse_size(v, o.window) && o.window > 0; }},
      {"--workers",
       [&](const std::string& v) {
         o.workers_set = true;
         return parse_size(v, o.workers) && o.workers > 0;
       }},
      {"--slots",
       [&](const std::string& v) {
         std::size_t s = 0;
         if (!parse_size(v, s) || s == 0 || s > 1000000) return false;
         o.slots = static_cast<unsigned>(s);
         return true;
       }},
      {"--bytes", [&](const std::string& v) { return parse_size(v, o.bytes) && o.bytes >= 2; }},
      {"--handler-threads",
       [&](const std::string& v) {
         std::size_t n = 0;
         if (!parse_size(v, n) || n > 64) return false;
         o.handler_threads = static_cast<unsigned>(n);
         return true;
       }},
      {"--daemon",
       [&](const std::string& v) {
         o.daemon = v;
         return !v.empty();
       }},
      {"--manager-arg",
       [&](const std::string& v) {
         o.manager_args.push_back(v);
         return !v.empty();
       }},
      {"--repeat",
       [&](const std::string& v) {
         std::size_t r = 0;
         if (!parse_size(v, r) || r == 0) return false;
         o.repeat = static_cast<unsigned>(r);
         return true;
       }},
      {"--scale-workers",
       [&](const std::string& v) {
         o.scale_workers.clear();
         std::stringstream ss(v);
         std::string item;
         while (std::getline(ss, item, ',')) {
           std::size_t w = 0;
           if (!parse_size(item, w) || w == 0) return false;
           o.scale_workers.push_back(w);
         }
         return !o.scale_workers.empty();
       }},
      {"--groups",
       [&](const std::string& v) {
         o.mode = "groups";
         return parse_size(v, o.groups) && o.groups > 0;
       }},
      {"--delayed",
       [&](const std::string& v) {
         o.mode = "delayed";
         return parse_size(v, o.delayed) && o.delayed >= 100000;
       }},
      {"--queued",
       [&](const std::string& v) {
         o.mode = "queued";
         return parse_size(v, o.queued) && o.queued > 0;
       }},
      {"--status-repeats",
       [&](const std::string& v) {
         std::size_t r = 0;
         if (!parse_size(v, r) || r == 0) return false;
         o.status_repeats = static_cast<unsigned>(r);
         return true;
       }},
      {"--cdf",
       [&](const std::string& v) {
         o.cdf_path = v;
         return !v.empty();
       }},
      {"--perf",
       [&](const std::string& v) {
         o.perf_prefix = v;
         return !v.empty();
       }},
      {"--log-level",
       [&](const std::string& v) {
         o.log_level = v;
         return !v.empty();
       }},
      {"--timeout",
       [&](const std::string& v) {
         std::size_t s = 0;
         if (!parse_size(v, s) || s == 0) return false;
         o.timeout_s = static_cast<double>(s);
         return true;
       }},
  };
  std::map<std::string, std::function<void()>> switches = {
      {"--journal", [&] { o.journal = true; }},
      {"--curve", [&] { o.curve = true; }},
      {"--baseline", [&] { o.baseline = true; }},   {"--fake-workers", [&] { o.fake_workers = true; }},
      {"--scale", [&] { o.mode = "scale"; }},       {"--status-latency", [&] { o.mode = "status"; }},
      {"--features", [&] { o.mode = "features"; }}, {"--keep-logs", [&] { o.keep_logs = true; }},
      {"--lifecycle", [&] { o.mode = "lifecycle"; }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      exit_code = 0;
      return std::nullopt;
    }
    if (arg == "--version") {
      std::printf("proletariat-bench %s (protocol %s)\n", PROLETARIAT_VERSION_STRING, PROLETARIAT_PROTOCOL_SIGNATURE);
      exit_code = 0;
      return std::nullopt;
    }
    if (auto s = switches.find(arg); s != switches.end()) {
      s->second();
      continue;
    }
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto f = with_value.find(arg);
    if (f == with_value.end()) {
      std::fprintf(stderr, "proletariat-bench: unknown option '%s' (see --help)\n", arg.c_str());
      exit_code = 2;
      return std::nullopt;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "proletariat-bench: %s needs a value\n", arg.c_str());
        exit_code = 2;
        return std::nullopt;
      }
      value = argv[++i];
    }
    if (!f->second(value)) {
      std::fprintf(stderr, "proletariat-bench: bad value '%s' for %s\n", value.c_str(), arg.c_str());
      exit_code = 2;
      return std::nullopt;
    }
  }
  if (!o.jobs_set && (o.mode == "scale" || o.mode == "features" || o.mode == "lifecycle" || o.mode == "groups")) {
    o.jobs = 200000;
  }
  if (!o.workers_set && o.mode == "status") o.workers = 10000;
  return o;
}

// A directory for the daemons' logs, removed at exit unless kept.
class LogDir {
 public:
  explicit LogDir(bool keep) : keep_(keep) {
    std::string pattern = (std::filesystem::temp_directory_path() / "proletariat-bench.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    if (keep_) std::fprintf(stderr, "proletariat-bench: logs in %s\n", path_.c_str());
  }
  ~LogDir() {
    if (!keep_) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  [[nodiscard]] std::string file(const std::string& name) {
    return path_ + "/" + name + "-" + std::to_string(n_++) + ".log";
  }
  // A fresh empty directory inside this one (a journal).
  [[nodiscard]] std::string directory(const std::string& name) {
    const std::string dir = path_ + "/" + name + "-" + std::to_string(n_++);
    std::filesystem::create_directories(dir);
    return dir;
  }

 private:
  bool keep_;
  std::string path_;
  int n_ = 0;
};

Clock::time_point deadline_for(const Options& o, std::size_t jobs) {
  const double s = o.timeout_s > 0 ? o.timeout_s : 60.0 + 0.0005 * static_cast<double>(jobs);
  return Clock::now() + std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

json header(const Options& o, const std::string& phase, std::size_t window, std::size_t workers, unsigned rep) {
  return {
      {"bench", "proletariat-bench"},
      {"version", PROLETARIAT_VERSION_STRING},
      {"mode", o.mode},
      {"phase", phase},
      {"repeat", rep},
      {"manager", "proletariatd"},
      {"manager_args", o.manager_args},
      {"peers", o.fake_workers || o.mode == "scale" || o.mode == "status" ? "fake-workers+library-client" : "library"},
      {"clients", o.clients},
      {"window", window},
      {"workers", workers},
      {"slots", o.slots},
      {"handler_threads", o.handler_threads},
      {"bytes", o.bytes},
      {"cpus", std::thread::hardware_concurrency()},
      {"load1", load_average()},
  };
}

void emit(const json& line) {
  std::cout << line.dump() << std::endl;
}

// One measured run of proletariat: the load over the clients, CPU and memory of the
// manager process around it.
// `perf record` attached to a process for the length of a run (--perf).
class Profiler {
 public:
  Profiler(const std::string& file, pid_t pid) {
    if (file.empty()) return;
    child_ = std::make_unique<Child>(std::vector<std::string>{"/usr/bin/perf", "record", "-q", "-F", "1999", "-g", "-p",
                                                              std::to_string(pid), "-o", file},
                                     file + ".log");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // perf attaches
  }
  ~Profiler() {
    if (!child_) return;
    child_->signal(SIGINT);
    (void)child_->finish(std::chrono::milliseconds(30000));
  }

 private:
  std::unique_ptr<Child> child_;
};

std::string perf_file(const Options& o, const std::string& phase, std::size_t workers, unsigned rep) {
  if (o.perf_prefix.empty()) return {};
  return o.perf_prefix + "-" + o.mode + "-" + phase + "-w" + std::to_string(workers) + "-" + std::to_string(rep) +
         ".data";
}

// Per thread name: CPU seconds at the end minus at the start. `total` is the whole
// process's (getrusage); what live threads do not explain ran on threads that ended.
std::map<std::string, double> thread_delta(const std::map<std::string, double>& before,
                                           const std::map<std::string, double>& after, double total) {
  std::map<std::string, double> out;
  double named = 0;
  for (const auto& [name, seconds] : after) {
    const auto it = before.find(name);
    out[name] = seconds - (it == before.end() ? 0.0 : it->second);
    named += out[name];
  }
  if (total - named > 0.001) out["(ended threads)"] = total - named;
  return out;
}

// CPU seconds of the load generators: this process (clients, library workers, raw
// peers) and the fake-worker helper processes.
// CPU seconds of this process. getrusage counts threads that already ended (the raw
// clients of a baseline run are joined before the run's end); /proc/self/task would
// miss them.
double self_cpu() {
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(self.ru_utime) + seconds(self.ru_stime);
}

double peers_cpu(const std::vector<pid_t>& helpers) {
  double s = self_cpu();
  for (pid_t pid : helpers) s += process_cpu(pid).total_s;
  return s;
}

Measurement measure_ours(ManagerProcess& manager, LibraryClients& clients, std::size_t jobs, std::size_t window,
                         std::size_t bytes, const Features& features, Clock::time_point deadline,
                         const std::vector<pid_t>& helpers, const std::string& perf = {}) {
  Measurement m;
  m.jobs = jobs;
  Profiler profiler(perf, manager.pid());
  const auto cpu0 = process_cpu(manager.pid());
  const double peers0 = peers_cpu(helpers);
  const auto threads0 = cpu_by_thread_name(getpid());
  const double self0 = self_cpu();
  const auto t0 = Clock::now();
  m.load = clients.run(jobs, window, bytes, features, deadline);
  const auto t1 = Clock::now();
  const auto cpu1 = process_cpu(manager.pid());
  m.peers_cpu_s = peers_cpu(helpers) - peers0;
  m.peers_cpu_by_thread_s = thread_delta(threads0, cpu_by_thread_name(getpid()), self_cpu() - self0);
  m.seconds = std::chrono::duration<double>(t1 - t0).count();
  m.cpu.total_s = cpu1.total_s - cpu0.total_s;
  m.cpu.zmq_io_s = cpu1.zmq_io_s - cpu0.zmq_io_s;
  m.peak_rss_kib = peak_rss_kib(manager.pid());
  m.finish();
  return m;
}

Measurement measure_baseline(ForwarderProcess& forwarder, std::size_t clients, std::size_t jobs, std::size_t window,
                             std::size_t bytes, Clock::time_point deadline) {
  Measurement m;
  m.jobs = jobs;
  std::vector<LoadResult> results(clients);
  const auto cpu0 = process_cpu(forwarder.pid());
  const double peers0 = peers_cpu({});
  const auto threads0 = cpu_by_thread_name(getpid());
  const double self0 = self_cpu();
  const auto t0 = Clock::now();
  {
    std::vector<std::jthread> threads;
    for (std::size_t c = 0; c < clients; ++c) {
      const std::size_t share = jobs / clients + (c < jobs % clients ? 1 : 0);
      threads.emplace_back(
          [&, c, share] { results[c] = run_raw_client(forwarder.endpoint(), share, window, bytes, deadline); });
    }
  }
  const auto t1 = Clock::now();
  const auto cpu1 = process_cpu(forwarder.pid());
  m.peers_cpu_s = peers_cpu({}) - peers0;
  // The raw clients' threads have ended by now: their time is "(ended threads)".
  m.peers_cpu_by_thread_s = thread_delta(threads0, cpu_by_thread_name(getpid()), self_cpu() - self0);
  m.seconds = std::chrono::duration<double>(t1 - t0).count();
  m.cpu.total_s = cpu1.total_s - cpu0.total_s;
  m.cpu.zmq_io_s = cpu1.zmq_io_s - cpu0.zmq_io_s;
  m.peak_rss_kib = peak_rss_kib(forwarder.pid());
  for (auto& r : results) {
    m.load.latencies_ns.insert(m.load.latencies_ns.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    m.load.errors += r.errors;
    m.load.timed_out = m.load.timed_out || r.timed_out;
  }
  m.finish();
  return m;
}

bool failed(const Measurement& m) {
  return m.load.timed_out || m.load.errors > 0;
}

// The workers of one proletariat system: library objects or fake helper processes.
struct Workers {
  std::unique_ptr<LibraryWorkers> library;
  std::unique_ptr<FakeWorkerProcesses> fakes;

  Workers(const Options& o, const std::string& endpoint, std::size_t count, const Features& features, bool fake,
          const std::optional<CurveOptions>& curve = std::nullopt) {
    if (fake) {
      const unsigned guaranteed = features.on && o.slots >= 4 ? o.slots / 4 : 0;
      fakes = std::make_unique<FakeWorkerProcesses>(endpoint, count, o.slots, guaranteed, o.bytes);
    } else {
      library = std::make_unique<LibraryWorkers>(endpoint, count, o.slots, o.handler_threads, o.bytes, features, curve);
    }
  }
  [[nodiscard]] std::vector<pid_t> helper_pids() const { return fakes ? fakes->pids() : std::vector<pid_t>{}; }
  bool wait_ready(std::size_t count) {
    const auto timeout = std::chrono::milliseconds(30000 + 20 * static_cast<long long>(count));
    return fakes ? fakes->wait_ready(timeout) : library->wait_ready(timeout);
  }
};

// A manager daemon with its workers and clients, connected and ready.
struct System {
  std::unique_ptr<ManagerProcess> manager;
  std::unique_ptr<Workers> workers;
  std::unique_ptr<LibraryClients> clients;

  // `curve`: the manager runs CURVE (its arguments are in `extra_args`); the workers
  // connect with `curve->worker`, the clients with `curve->client`.
  struct Keys {
    CurveOptions worker;
    CurveOptions client;
  };
  System(const Options& o, LogDir& logs, std::size_t worker_count, const Features& features, bool fake,
         const std::vector<std::string>& extra_args = {}, const std::optional<Keys>& curve = std::nullopt) {
    auto args = o.manager_args;
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    manager = std::make_unique<ManagerProcess>(o.daemon, args, logs.file("proletariatd"));
    if (worker_count > 0) {
      workers = std::make_unique<Workers>(o, manager->endpoint(), worker_count, features, fake,
                                          curve ? std::optional<CurveOptions>(curve->worker) : std::nullopt);
      if (!workers->wait_ready(worker_count)) throw std::runtime_error("the workers did not all register in time");
    }
    clients = std::make_unique<LibraryClients>(manager->endpoint(), o.clients,
                                               curve ? std::optional<CurveOptions>(curve->client) : std::nullopt);
    if (!clients->wait_connected(std::chrono::seconds(15))) throw std::runtime_error("the clients did not connect");
  }
  [[nodiscard]] std::vector<pid_t> helpers() const { return workers ? workers->helper_pids() : std::vector<pid_t>{}; }
  ~System() {
    clients.reset();
    workers.reset();
    manager.reset();
  }
};

struct Baseline {
  std::unique_ptr<ForwarderProcess> forwarder;
  std::vector<std::unique_ptr<RawWorker>> workers;

  Baseline(const Options& o) {
    forwarder = std::make_unique<ForwarderProcess>();
    for (std::size_t i = 0; i < o.workers; ++i) {
      workers.push_back(std::make_unique<RawWorker>(forwarder->endpoint(), o.slots, o.bytes));
    }
  }
  ~Baseline() {
    workers.clear();
    forwarder.reset();
  }
};

// The journal's counters from a STATUS document (PROTOCOL §8.2).
json journal_counters(LibraryClients& clients) {
  auto f = clients.first().status();
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return json::object();
  const auto doc = f.get();
  return doc.contains("journal") ? json(doc["journal"]) : json::object();
}

json journal_figures(const json& before, const json& after, std::size_t jobs) {
  const auto delta = [&](const char* key) {
    return static_cast<double>(after.value(key, 0ULL)) - static_cast<double>(before.value(key, 0ULL));
  };
  const double syncs = delta("syncs");
  return {{"records_per_fdatasync", syncs > 0 ? delta("records") / syncs : 0.0},
          {"fdatasyncs_per_job", jobs > 0 ? syncs / static_cast<double>(jobs) : 0.0},
          {"journal_bytes_per_job", jobs > 0 ? delta("bytesWritten") / static_cast<double>(jobs) : 0.0},
          {"compactions", delta("compactions")}};
}

struct Phase {
  const char* name;
  std::size_t window;
  std::size_t jobs;
};

// The runs of mode_run against journaled managers, compared with the in-memory ones.
int journal_runs(const Options& o, LogDir& logs, const std::vector<Phase>& phases,
                 const std::map<std::string, Measurement>& memory) {
  int status = 0;
  {
    auto line = header(o, "journal_fdatasync_floor", 0, 0, 1);
    line.update(measure_fdatasync_floor(logs.directory("floor"), 500));
    emit(line);
  }
  for (const std::string sync : {"always", "interval=10"}) {
    System sys(o, logs, o.workers, Features{}, o.fake_workers,
               {"--journal=" + logs.directory("journal"), "--journal-sync=" + sync});
    for (const auto& phase : phases) {
      auto line = header(o, std::string("journal_") + phase.name, phase.window, o.workers, 1);
      line["journal_sync"] = sync;
      const auto before = journal_counters(*sys.clients);
      const auto m = measure_ours(*sys.manager, *sys.clients, phase.jobs, phase.window, o.bytes, Features{},
                                  deadline_for(o, phase.jobs), sys.helpers());
      line.update(figures(m));
      line["journal"] = journal_figures(before, journal_counters(*sys.clients), phase.jobs);
      if (auto it = memory.find(phase.name); it != memory.end()) line["vs_memory"] = ratios(m, it->second);
      if (failed(m)) status = 1;
      emit(line);
    }
  }
  const auto recovery = [&](const char* phase, std::size_t jobs, auto measure) {
    if (jobs == 0) return;
    auto line = header(o, phase, 0, 0, 1);
    try {
      line.update(measure(RecoveryRun{o.daemon, logs.directory("journal"), logs.file("proletariatd"), jobs, o.bytes}));
    } catch (const std::exception& e) {
      line["error"] = e.what();
      status = 1;
    }
    emit(line);
  };
  recovery("journal_recovery", o.journal_queued, measure_recovery_of_queued);
  recovery("journal_start_after_finished", o.journal_finished, measure_start_after_finished);
  return status;
}

// A manager with CURVE on both sockets, every peer connecting with a key of its role:
// --curve runs each phase against it right after the same phase without CURVE, so
// the two are compared under the same conditions (same repetition, same load).
std::unique_ptr<System> curve_system(const Options& o, LogDir& logs) {
  // One key per role, shared by all the workers and by all the clients (a key may
  // have any number of connections); the clients' key is an admin's too, for STATUS.
  const std::string dir = logs.directory("curve-keys");
  for (const char* role : {"workers", "clients", "admins"}) std::filesystem::create_directories(dir + "/" + role);
  const auto server = generate_curve_key_pair();
  const auto worker = generate_curve_key_pair();
  const auto client = generate_curve_key_pair();
  write_key_files(dir + "/manager", server);
  std::ofstream(dir + "/workers/bench.pub") << worker.public_key << "\n";
  std::ofstream(dir + "/clients/bench.pub") << client.public_key << "\n";
  std::ofstream(dir + "/admins/bench.pub") << client.public_key << "\n";
  const System::Keys keys{{server.public_key, worker}, {server.public_key, client}};
  return std::make_unique<System>(o, logs, o.workers, Features{}, false,
                                  std::vector<std::string>{"--curve-secret-key=" + dir + "/manager.key",
                                                           "--curve-keys=" + dir},
                                  keys);
}

int mode_run(const Options& o) {
  LogDir logs(o.keep_logs);
  auto ours = std::make_unique<System>(o, logs, o.workers, Features{}, o.fake_workers);
  std::unique_ptr<Baseline> base;
  if (o.baseline) base = std::make_unique<Baseline>(o);
  std::unique_ptr<System> curve;
  if (o.curve) curve = curve_system(o, logs);

  std::map<std::string, Measurement> memory;  // the last in-memory run per phase
  std::vector<Phase> phases = {{"throughput", o.window, o.jobs}};
  if (o.latency_jobs > 0) phases.push_back({"latency", 1, o.latency_jobs});
  int status = 0;
  for (unsigned rep = 1; rep <= o.repeat; ++rep) {
    for (const auto& phase : phases) {
      auto line = header(o, phase.name, phase.window, o.workers, rep);
      const auto m =
          measure_ours(*ours->manager, *ours->clients, phase.jobs, phase.window, o.bytes, Features{},
                       deadline_for(o, phase.jobs), ours->helpers(), perf_file(o, phase.name, o.workers, rep));
      line.update(figures(m));
      memory[phase.name] = m;
      if (failed(m)) status = 1;
      std::optional<Measurement> b;
      if (base) {
        b = measure_baseline(*base->forwarder, o.clients, phase.jobs, phase.window, o.bytes,
                             deadline_for(o, phase.jobs));
        line["baseline"] = figures(*b);
        line["ratio"] = ratios(m, *b);
        if (failed(*b)) status = 1;
      }
      if (!o.cdf_path.empty() && std::string(phase.name) == "latency" && rep == 1) {
        write_cdf(o.cdf_path, m, b ? &*b : nullptr);
      }
      emit(line);
      if (m.load.timed_out) return 1;
      if (curve) {
        auto curve_line = header(o, std::string("curve_") + phase.name, phase.window, o.workers, rep);
        const auto c = measure_ours(*curve->manager, *curve->clients, phase.jobs, phase.window, o.bytes,
                                    Features{}, deadline_for(o, phase.jobs), curve->helpers());
        curve_line.update(figures(c));
        curve_line["vs_plain"] = ratios(c, m);
        if (failed(c)) status = 1;
        emit(curve_line);
        if (c.load.timed_out) return 1;
      }
    }
  }
  curve.reset();
  if (o.journal) {
    ours.reset();  // one manager at a time: the journaled ones get the machine to themselves
    if (journal_runs(o, logs, phases, memory) != 0) status = 1;
  }
  return status;
}

int mode_scale(const Options& o) {
  LogDir logs(o.keep_logs);
  std::vector<double> cpu_per_job;
  int status = 0;
  for (std::size_t count : o.scale_workers) {
    System sys(o, logs, count, Features{}, true);
    std::vector<double> reps;
    for (unsigned rep = 1; rep <= o.repeat; ++rep) {
      auto line = header(o, "throughput", o.window, count, rep);
      const auto m = measure_ours(*sys.manager, *sys.clients, o.jobs, o.window, o.bytes, Features{},
                                  deadline_for(o, o.jobs), sys.helpers(), perf_file(o, "throughput", count, rep));
      line.update(figures(m));
      line["manager_rss_kb"] = rss_kib(sys.manager->pid());
      emit(line);
      if (failed(m)) status = 1;
      reps.push_back(m.cpu_per_100k(m.cpu.total_s));
    }
    std::sort(reps.begin(), reps.end());
    cpu_per_job.push_back(reps[reps.size() / 2]);
  }
  json summary = header(o, "summary", o.window, o.scale_workers.back(), o.repeat);
  summary["scale_workers"] = o.scale_workers;
  summary["median_cpu_s_per_100k"] = cpu_per_job;
  summary["cpu_per_job_ratio"] = cpu_per_job.front() > 0 ? cpu_per_job.back() / cpu_per_job.front() : 0.0;
  emit(summary);
  return status;
}

// Waits until `queued()` reports `n` (or the deadline); returns the seconds it took.
std::optional<double> wait_queued(const std::function<long long()>& queued, std::size_t n, Clock::time_point start,
                                  Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    if (queued() == static_cast<long long>(n)) return std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

json memory_figures(long before_kib, long after_kib, long peak_kib, std::size_t n, std::size_t bytes,
                    std::optional<double> seconds) {
  const double per_job = static_cast<double>(after_kib - before_kib) * 1024.0 / static_cast<double>(n);
  return {{"rss_before_kb", before_kib},
          {"rss_after_kb", after_kib},
          {"peak_rss_kb", peak_kib},
          {"bytes_per_job", std::round(per_job)},
          {"bytes_per_job_beyond_payload", std::round(per_job - static_cast<double>(bytes))},
          {"seconds_to_queue", seconds ? *seconds : -1.0}};
}

// The manager's memory for `n` jobs pushed in one request with `options` and no worker,
// once STATUS counts them all under `counted` ("queued", "delayed").
json push_and_weigh(const Options& o, System& sys, std::size_t n, const WorkOptions& options, const char* counted,
                    Clock::time_point deadline) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long before = rss_kib(sys.manager->pid());
  std::string payload(o.bytes, 'a');
  payload.front() = payload.back() = '"';
  std::vector<JobSpec> jobs;
  jobs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) jobs.emplace_back(Payload::json_text(payload));
  const auto start = Clock::now();
  sys.clients->first().work(std::move(jobs), options, [](std::vector<Result>) {});
  const auto seconds = wait_queued(
      [&] {
        auto f = sys.clients->first().status();
        if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return -1LL;
        return f.get().value(counted, -1LL);
      },
      n, start, deadline);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return memory_figures(before, rss_kib(sys.manager->pid()), peak_rss_kib(sys.manager->pid()), n, o.bytes, seconds);
}

int mode_queued(const Options& o) {
  LogDir logs(o.keep_logs);
  const auto deadline = deadline_for(o, o.queued);
  auto line = header(o, "queued", 0, 0, 1);
  line["queued"] = o.queued;
  int status = 0;
  {
    System sys(o, logs, 0, Features{}, false);
    const json figures = push_and_weigh(o, sys, o.queued, WorkOptions{}, "queued", deadline);
    line.update(figures);
    if (figures.value("seconds_to_queue", -1.0) < 0) status = 1;
  }
  if (o.baseline) {
    ForwarderProcess forwarder;
    RawPusher pusher(forwarder.endpoint());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const long before = rss_kib(forwarder.pid());
    const auto start = Clock::now();
    pusher.push(o.queued, o.bytes);
    auto seconds = wait_queued([&] { return pusher.queued(std::chrono::seconds(10)); }, o.queued, start, deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    line["baseline"] =
        memory_figures(before, rss_kib(forwarder.pid()), peak_rss_kib(forwarder.pid()), o.queued, o.bytes, seconds);
    const double ours = line.value("bytes_per_job", 0.0);
    const double theirs = line["baseline"].value("bytes_per_job", 0.0);
    line["ratio"] = {{"bytes_per_job", theirs > 0 ? ours / theirs : 0.0}};
    if (!seconds) status = 1;
  }
  emit(line);
  return status;
}

int mode_status(const Options& o) {
  LogDir logs(o.keep_logs);
  System sys(o, logs, o.workers, Features{}, true);
  std::vector<double> ms;
  std::size_t bytes = 0;
  std::size_t listed = 0;
  int status = 0;
  const auto cpu0 = process_cpu(sys.manager->pid());
  std::optional<Profiler> profiler;
  profiler.emplace(perf_file(o, "status", o.workers, 1), sys.manager->pid());
  for (unsigned i = 0; i < o.status_repeats; ++i) {
    const auto t0 = Clock::now();
    auto f = sys.clients->first().status();
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      status = 1;
      break;
    }
    const auto doc = f.get();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (i == 0) {
      bytes = doc.dump().size();
      listed = doc.contains("workers") ? doc["workers"].size() : 0;
    }
  }
  // The manager's share: the same round trip by a raw peer that does not parse the
  // reply (the C++ Client parses the whole document on its I/O thread).
  auto raw = raw_status_round_trips(sys.manager->endpoint(), o.status_repeats);
  const auto cpu1 = process_cpu(sys.manager->pid());
  profiler.reset();
  if (raw.size() < o.status_repeats) status = 1;
  std::sort(raw.begin(), raw.end());
  std::sort(ms.begin(), ms.end());
  auto line = header(o, "status", 0, o.workers, 1);
  line["status_repeats"] = ms.size();
  line["status_p50_ms"] = ms.empty() ? 0.0 : ms[ms.size() / 2];
  line["status_max_ms"] = ms.empty() ? 0.0 : ms.back();
  line["status_min_ms"] = ms.empty() ? 0.0 : ms.front();
  line["raw_status_p50_ms"] = raw.empty() ? 0.0 : raw[raw.size() / 2];
  line["raw_status_max_ms"] = raw.empty() ? 0.0 : raw.back();
  line["status_bytes"] = bytes;
  line["status_workers_listed"] = listed;
  const auto requests = ms.size() + raw.size();
  line["manager_cpu_ms_per_status"] =
      requests == 0 ? 0.0 : (cpu1.total_s - cpu0.total_s) * 1000.0 / static_cast<double>(requests);
  line["peak_rss_kb"] = peak_rss_kib(sys.manager->pid());
  emit(line);
  return status;
}

int mode_features(const Options& o) {
  LogDir logs(o.keep_logs);
  Features off;
  Features on;
  on.on = true;
  System plain(o, logs, o.workers, off, o.fake_workers);
  System featured(o, logs, o.workers, on, o.fake_workers, {"--hold-similar-work"});
  int status = 0;
  for (unsigned rep = 1; rep <= o.repeat; ++rep) {
    auto line = header(o, "throughput", o.window, o.workers, rep);
    const auto a = measure_ours(*plain.manager, *plain.clients, o.jobs, o.window, o.bytes, off, deadline_for(o, o.jobs),
                                plain.helpers());
    const auto b =
        measure_ours(*featured.manager, *featured.clients, o.jobs, o.window, o.bytes, on, deadline_for(o, o.jobs),
                     featured.helpers(), perf_file(o, "features-on", o.workers, rep));
    line["features_off"] = figures(a);
    line["features_on"] = figures(b);
    line["features_on_detail"] =
        "workers guarantee slots/4 to priority >= 1, jobs alternate priority 0 and 2, every job has a unique key "
        "(hold-similar-work on), a client timeout, an assign timeout and a run timeout of 120 s";
    line["ratio"] = {
        {"jobs_per_s", a.jobs_per_s() > 0 ? b.jobs_per_s() / a.jobs_per_s() : 0.0},
        {"cpu_per_job", a.cpu.total_s > 0 ? b.cpu.total_s / a.cpu.total_s : 0.0},
        {"p50_us", a.percentile_us(0.5) > 0 ? b.percentile_us(0.5) / a.percentile_us(0.5) : 0.0},
    };
    emit(line);
    if (failed(a) || failed(b)) status = 1;
  }
  return status;
}

// The same load against two managers, alternating per repetition: `plain` without the
// feature, `featured` with it; the ratios are featured / plain.
int compare(const Options& o, const std::string& phase, System& plain, const Features& off, System& featured,
            const Features& on, const std::string& detail) {
  int status = 0;
  for (unsigned rep = 1; rep <= o.repeat; ++rep) {
    auto line = header(o, phase, o.window, o.workers, rep);
    const auto a = measure_ours(*plain.manager, *plain.clients, o.jobs, o.window, o.bytes, off, deadline_for(o, o.jobs),
                                plain.helpers(), perf_file(o, phase + "-off", o.workers, rep));
    const auto b = measure_ours(*featured.manager, *featured.clients, o.jobs, o.window, o.bytes, on,
                                deadline_for(o, o.jobs), featured.helpers(), perf_file(o, phase + "-on", o.workers, rep));
    line["off"] = figures(a);
    line["on"] = figures(b);
    line["on_detail"] = detail;
    line["ratio"] = {
        {"jobs_per_s", a.jobs_per_s() > 0 ? b.jobs_per_s() / a.jobs_per_s() : 0.0},
        {"manager_cpu_per_job", a.cpu.total_s > 0 ? b.cpu.total_s / a.cpu.total_s : 0.0},
        {"p50_us", a.percentile_us(0.5) > 0 ? b.percentile_us(0.5) / a.percentile_us(0.5) : 0.0},
    };
    emit(line);
    if (failed(a) || failed(b)) status = 1;
  }
  return status;
}

// The manager's memory per delayed job (RSS, as --queued measures queued ones), then
// the scheduler alone, in this process: N delayed jobs of which 100,000 fall due at
// the same moment, and how long the dispatch() that releases them takes, into queues
// with no worker and onto workers with room for all.
int mode_delayed(const Options& o) {
  LogDir logs(o.keep_logs);
  const auto deadline = deadline_for(o, o.delayed);
  auto line = header(o, "delayed", 0, 0, 1);
  line["delayed"] = o.delayed;
  int status = 0;
  {
    System sys(o, logs, 0, Features{}, false);
    WorkOptions options;
    options.delay = std::chrono::hours(1);
    line["manager"] = push_and_weigh(o, sys, o.delayed, options, "delayed", deadline);
    if (line["manager"].value("seconds_to_queue", -1.0) < 0) status = 1;
  }
  line["scheduler"] = scheduler_release_figures(o.delayed, 100000);
  emit(line);
  return status;
}

int mode_lifecycle(const Options& o) {
  LogDir logs(o.keep_logs);
  Features off;
  Features on;
  on.lifecycle = true;
  System plain(o, logs, o.workers, off, o.fake_workers);
  System featured(o, logs, o.workers, on, o.fake_workers, {"--group-max-running=1000000", "--group-rate=1000000000"});
  return compare(o, "lifecycle", plain, off, featured, on,
                 "every job: a retry policy (max 3, every job succeeds), delay 0, and its client's group (one tenant "
                 "per client), the manager limits each group to 1,000,000 running and 1e9 starts a second (never "
                 "reached)");
}

int mode_groups(const Options& o) {
  LogDir logs(o.keep_logs);
  Features off;
  Features on;
  on.groups = o.groups;
  System plain(o, logs, o.workers, off, o.fake_workers);
  System featured(o, logs, o.workers, on, o.fake_workers, {"--group-max-running=1000000", "--group-rate=1000000000"});
  return compare(o, "groups", plain, off, featured, on,
                 "jobs round-robin over " + std::to_string(o.groups) +
                     " groups, each limited to 1,000,000 running and 1e9 starts a second (never reached)");
}

// --internal forwarder|fakes: the helper processes.
int internal(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string what = argv[2];
  std::map<std::string, std::string> kv;
  for (int i = 3; i + 1 < argc; i += 2) kv[argv[i]] = argv[i + 1];
  if (what == "forwarder") return run_forwarder(kv["--endpoint"]);
  if (what == "fakes") {
    FakeWorkerOptions f;
    f.endpoint = kv["--endpoint"];
    f.count = std::stoull(kv["--count"]);
    f.slots = static_cast<unsigned>(std::stoul(kv["--slots"]));
    f.priority_slots = static_cast<unsigned>(std::stoul(kv["--priority-slots"]));
    f.result_bytes = std::stoull(kv["--bytes"]);
    return run_fake_workers(f);
  }
  return 2;
}

}  // namespace
}  // namespace proletariat::bench

int main(int argc, char** argv) {
  using namespace proletariat::bench;
  if (argc >= 2 && std::string(argv[1]) == "--internal") return internal(argc, argv);
  int exit_code = 2;
  auto options = parse(argc, argv, exit_code);
  if (!options) return exit_code;

  // The peer libraries log through the logger named "proletariat" when one exists.
  auto logger = spdlog::stderr_color_mt("proletariat");
  logger->set_level(spdlog::level::from_str(options->log_level));
  raise_fd_limit();

  try {
    if (options->mode == "scale") return mode_scale(*options);
    if (options->mode == "queued") return mode_queued(*options);
    if (options->mode == "status") return mode_status(*options);
    if (options->mode == "features") return mode_features(*options);
    if (options->mode == "lifecycle") return mode_lifecycle(*options);
    if (options->mode == "groups") return mode_groups(*options);
    if (options->mode == "delayed") return mode_delayed(*options);
    return mode_run(*options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "proletariat-bench: %s\n", e.what());
    return 1;
  }
}
