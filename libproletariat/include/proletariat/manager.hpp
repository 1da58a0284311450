// proletariat::Manager — the broker, embeddable in a C++ program.
//
// Threading: the manager's state belongs to one thread, the loop thread, started by
// start() (or the caller's thread in run()). Every event callback runs on that thread
// and must return quickly; none may call stop() and wait (use a flag). stop() may be
// called from any thread, including a signal-handling thread.
//
// The manager binds a ROUTER socket for commands and an XPUB socket for system
// messages; see docs/PROTOCOL.md. Options and events are fixed once started: the
// on_* setters and set_worker_selector() throw Error(ESTATE) after start() (until
// stop()). A Manager is movable (not while another thread uses it); a moved-from one
// throws Error(ESTATE) from every call but destruction and assignment.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <proletariat/curve.hpp>
#include <proletariat/job.hpp>

namespace proletariat {

// Every manager option of the SPEC (names of the original in capitals) and the
// limits of this implementation.
struct ManagerOptions {
  std::string endpoint = "tcp://*:1917";
  std::string pub_endpoint = "tcp://*:1918";

  // AVAIL_THRESHOLD: after the system was full, wait until this many slots are free
  // before distributing again (never more than the total capacity, so it can't stall).
  unsigned avail_threshold = 50;
  // CLEANUP_REQS / CLEANUP_CHECKINT: give memory back after this many finished jobs,
  // or after this long idle.
  unsigned cleanup_reqs = 1000;
  std::chrono::milliseconds cleanup_checkint{60000};
  // DISTRIB_RANDMAX: random delay before a distribution round. 0 (the default) serves
  // latency: the original's 100 ms cost ~50 ms per job.
  std::chrono::milliseconds distrib_randmax{0};
  // DEBUG: debug logging.
  bool debug = false;
  // SACRED_GUARANTEES (SPEC 3).
  bool sacred_guarantees = false;
  // HOLDSIMILARWORK (SPEC 2.2).
  bool hold_similar_work = false;

  // Heartbeats (PROTOCOL §7): sent after this long without other traffic ...
  std::chrono::milliseconds heartbeat_interval{1000};
  // ... and a peer silent for liveness × interval is dead.
  unsigned heartbeat_liveness = 5;
  // Poison jobs (SPEC 5, PROTOCOL §7): a job becomes suspect after its workers died
  // this many times while running it (heartbeat expiry only; a worker that says BYE
  // never counts), and from then on runs alone on a worker. Only a job whose worker
  // dies while running it alone fails, with EPOISON; innocent jobs that shared a
  // worker with it, or with an operator's kill -9, never fail for it. 0 counts as 1.
  unsigned suspect_after = 2;
  // Deprecated and ignored: the attempt count that failed jobs with EWORKERLOST
  // before suspect_after existed. A value other than 3 logs a warning at
  // construction; set suspect_after instead.
  unsigned max_attempts = 3;

  // Limits (PROTOCOL §10).
  std::size_t max_message_bytes = 64u << 20;
  std::size_t max_frames = 100004;
  std::size_t max_jobs_per_client = 1000000;
  // What one client's outstanding jobs may hold: their payload bytes plus 256 bytes a
  // job (the manager's own record, 218 bytes measured). The default keeps one client
  // under a third of a 1 GiB manager and still lets it queue 1,000,000 small jobs.
  std::size_t max_client_bytes = 320u << 20;
  // Jobs in the manager (queued, held, running) naming one service, all clients
  // together: a service nobody serves cannot grow without bound.
  std::size_t max_jobs_per_service = 2000000;
  // Registered peers (workers, clients and peers of neither role yet).
  std::size_t max_peers = 12000;

  // Seed of the dispatch randomness; 0 picks one from std::random_device.
  std::uint64_t seed = 0;

  // --- durability (SPEC 9, PROTOCOL §12) ---
  // A directory for the journal; empty: jobs live in memory only. With a journal,
  // every accepted job is on disk before ACCEPTED is sent, results are kept until
  // their client has them, and a restarted manager takes back what was live.
  std::string journal_dir;
  // "always" (fdatasync every commit), "interval=MS" (at most every MS: a power loss
  // may lose that window; a crash of the process loses nothing), "off" (no fdatasync).
  std::string journal_sync = "always";
  // Start on a damaged journal by cutting it at the damage (what follows is lost).
  bool journal_repair = false;
  // Results finished for clients that are away (or that have not said RECEIVED yet),
  // at most this many and this old; the oldest go first.
  std::size_t held_results_max = 100000;
  std::chrono::milliseconds held_results_max_age{std::chrono::hours(24)};
  // drain(): how long running jobs may take to finish before the manager stops.
  std::chrono::milliseconds drain_timeout{30000};

  // --- security (SPEC 10, PROTOCOL §13) ---
  // The manager's CURVE key pair; empty: no CURVE (every peer holds every role).
  CurveKeyPair curve_keys;
  // The allow-lists: a directory with workers/, clients/ and admins/ of public key
  // files. Required with curve_keys; read again on reload_keys() and when it changes.
  std::string curve_keys_dir;
  // Without CURVE, endpoints other than loopback are refused unless this is set.
  bool allow_insecure_remote = false;

  // --- operations (SPEC 11, docs/OPERATIONS.md) ---
  // "HOST:PORT" of the HTTP endpoint: /metrics (Prometheus), /status (JSON), the
  // dashboard at /. Empty (the default): none. Port 0 picks a free one (http_address()).
  std::string http;
  // A file whose first line is the token HTTP requests must present (Authorization:
  // Bearer TOKEN). With CURVE, the admin keys' tokens work too (http_token() in
  // curve.hpp) and a token is always needed. Without CURVE and without a token, only a
  // loopback HOST is allowed unless allow_insecure_remote.
  std::string http_token_file;

  // --- job lifecycle (SPEC 12, PROTOCOL §14) ---
  // The limits of every job group (a job's `group`) that has none of its own (those
  // are set at run time with GROUPLIMITS, proletariat-ctl groups set): at most this many
  // of a group's jobs run at once, and at most this many start a second. None: no limit.
  std::optional<std::uint64_t> group_max_running;
  std::optional<double> group_rate;
  // Dead letters (jobs that exhausted their retries, poison jobs): at most this many
  // are kept, none older than this; the oldest go first, each logged.
  std::size_t max_dead_letters = 10000;
  std::chrono::milliseconds dead_letter_max_age{std::chrono::hours(24 * 7)};
};

// A job as the manager's events see it.
struct JobInfo {
  std::uint64_t id = 0;
  std::string client;  // peer id
  double priority = 0;
  std::string key;
  std::string service;
  unsigned attempt = 0;  // current assignment attempt, 0 while never assigned
};

// A worker able to take a job, as a custom selection function sees it.
struct WorkerCandidate {
  std::string id;
  unsigned free_slots = 0;  // slots free for this job's priority range
  unsigned slots = 0;       // the worker's offer
};

// Returns the index of the chosen candidate in `candidates` (all of which can take
// the job), or std::nullopt to leave the job queued for now.
using WorkerSelector =
    std::function<std::optional<std::size_t>(const JobInfo& job, std::span<const WorkerCandidate> candidates)>;

class Manager {
 public:
  explicit Manager(ManagerOptions options = {});
  ~Manager();  // stop()
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;
  Manager(Manager&&) noexcept;
  Manager& operator=(Manager&&) noexcept;  // stops this manager first

  // Events (SPEC 7). Set before start() (throws Error ESTATE after); called on the
  // loop thread.
  void on_receive(std::function<void(const JobInfo&)> fn);
  void on_finish(std::function<void(const JobInfo&, const Result&)> fn);
  void on_giveup(std::function<void(const JobInfo&, const std::string& worker)> fn);
  void on_abort(std::function<void(const JobInfo&, const std::string& worker)> fn);
  void on_assigntimeout(std::function<void(const JobInfo&)> fn);
  void on_sysmsg(std::function<void(const nlohmann::json& msg, const std::string& from)> fn);
  void on_cleanup(std::function<void()> fn);
  // Replaces the weighted-random choice of worker. Set before start() (as the events).
  void set_worker_selector(WorkerSelector selector);

  // Binds both sockets and runs the loop on a new thread. Throws Error on bind failure.
  void start();
  // Binds and runs the loop on the calling thread until stop().
  void run();
  // Says BYE to every peer, closes the sockets, joins the loop thread. Idempotent.
  void stop();
  // Graceful stop (SIGTERM in proletariatd): pushes are refused with EDRAINING, no
  // new job is sent, running jobs get up to drain_timeout to finish, then the manager
  // stops by itself (running() turns false). stop() still stops at once.
  void drain();
  // Reads the CURVE allow-lists again (SIGHUP in proletariatd); peers whose key is no
  // longer listed are disconnected. Does nothing without CURVE.
  void reload_keys();
  // The loop is running (started and neither stopped, drained nor failed).
  [[nodiscard]] bool running() const;
  // Why the manager stopped by itself on an error (a journal write or fsync failed);
  // empty otherwise.
  [[nodiscard]] std::string failure() const;

  // The endpoints actually bound (with the real port when `*` or `:*` was asked).
  [[nodiscard]] std::string endpoint() const;
  [[nodiscard]] std::string pub_endpoint() const;
  // "HOST:PORT" of the HTTP endpoint as bound; empty without one.
  [[nodiscard]] std::string http_address() const;

 private:
  class Impl;
  Impl& impl() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proletariat
