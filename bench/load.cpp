#include "load.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace proletariat::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One client's window. The callbacks run on that client's I/O thread; the main
// thread only starts it and, once `finished` is set, reads the results.
class Driver {
 public:
  Driver(Client& client, std::size_t jobs, std::size_t window, const std::string& payload, const Features& features,
         std::size_t key_base)
      : client_(client),
        jobs_(jobs),
        window_(window),
        payload_(Payload::json_text(payload)),
        features_(features),
        key_base_(key_base) {
    result_.latencies_ns.reserve(jobs);
    for (std::size_t g = 0; g < features.groups; ++g) groups_.push_back("group-" + std::to_string(g));
    tenant_ = "tenant-" + std::to_string(key_base);
  }

  void start() {
    const std::size_t initial = std::min(window_, jobs_);
    for (std::size_t i = 0; i < initial; ++i) issue();
    if (jobs_ == 0) finish();
  }

  bool wait(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, deadline, [this] { return finished_; });
  }

  // Valid once wait() returned true.
  LoadResult& result() { return result_; }

 private:
  void issue() {
    const std::size_t n = issued_.fetch_add(1);
    if (n >= jobs_) return;
    JobSpec spec(payload_);
    WorkOptions options;
    if (features_.on) {
      spec.key = std::to_string(key_base_ + n);
      spec.key.insert(spec.key.begin(), 'k');
      options.priority = (n % 2 == 0) ? 0 : Features::kHighPriority;
      options.timeout = Features::kTimeout;
      options.run_timeout = Features::kTimeout;
      options.assign_timeout = Features::kTimeout;
    }
    if (features_.lifecycle) {
      options.retry = RetryPolicy{};
      options.retry->max = 3;
      options.delay = std::chrono::milliseconds(0);
    }
    if (features_.lifecycle) {
      // One tenant per client (key_base_ tells the clients apart), as a service pushing
      // for its users would: the group travels once per push.
      options.group = tenant_;
    } else if (!groups_.empty()) {
      options.group = groups_[(key_base_ + n) % groups_.size()];
    }
    const auto t0 = Clock::now();
    client_.work(std::move(spec), options, [this, t0](Result r) {
      const auto latency = Clock::now() - t0;
      result_.latencies_ns.push_back(
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
      if (!r.ok()) ++result_.errors;
      if (++done_ == jobs_) {
        finish();
      } else {
        issue();
      }
    });
  }

  void finish() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    cv_.notify_all();
  }

  Client& client_;
  const std::size_t jobs_;
  const std::size_t window_;
  const Payload payload_;
  const Features features_;
  const std::size_t key_base_;
  std::vector<std::string> groups_;
  std::string tenant_;
  std::atomic<std::size_t> issued_{0};
  std::size_t done_ = 0;  // I/O thread only
  LoadResult result_;     // I/O thread until finished_
  std::mutex mutex_;
  std::condition_variable cv_;
  bool finished_ = false;
};

// A JSON string of exactly `bytes` bytes (quotes included; at least 2).
std::string json_payload(std::size_t bytes) {
  std::string text(bytes >= 2 ? bytes : 2, 'a');
  text.front() = '"';
  text.back() = '"';
  return text;
}

}  // namespace

LibraryWorkers::LibraryWorkers(const std::string& endpoint, std::size_t count, unsigned slots, unsigned handler_threads,
                               std::size_t result_bytes, const Features& features,
                               const std::optional<CurveOptions>& curve) {
  const auto result = Payload::json_text(json_payload(result_bytes));
  for (std::size_t i = 0; i < count; ++i) {
    WorkerOptions options;
    options.endpoint = endpoint;
    options.slots = slots;
    options.handler_threads = handler_threads;
    options.name = "bench-" + std::to_string(i);
    options.curve = curve;
    if (features.on && slots >= 4) options.priority_slots[1.0] = slots / 4;
    auto worker = std::make_unique<Worker>(options);
    worker->on_work([result](const JobPtr& job) { job->reply(result); });
    worker->start();
    workers_.push_back(std::move(worker));
  }
}

LibraryWorkers::~LibraryWorkers() {
  for (auto& w : workers_) w->stop();
}

bool LibraryWorkers::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (auto& w : workers_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!w->wait_ready(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

LibraryClients::LibraryClients(const std::string& endpoint, std::size_t count,
                               const std::optional<CurveOptions>& curve) {
  for (std::size_t i = 0; i < count; ++i) {
    ClientOptions options;
    options.endpoint = endpoint;
    options.name = "bench-client-" + std::to_string(i);
    options.curve = curve;
    clients_.push_back(std::make_unique<Client>(options));
  }
}

LibraryClients::~LibraryClients() = default;

bool LibraryClients::wait_connected(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (auto& c : clients_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!c->wait_connected(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

LoadResult LibraryClients::run(std::size_t jobs, std::size_t window, std::size_t bytes, const Features& features,
                               Clock::time_point deadline) {
  const std::string payload = json_payload(bytes);
  std::vector<std::unique_ptr<Driver>> drivers;
  const std::size_t per = jobs / clients_.size();
  std::size_t extra = jobs % clients_.size();
  std::size_t key_base = 0;
  for (auto& c : clients_) {
    const std::size_t share = per + (extra > 0 ? 1 : 0);
    if (extra > 0) --extra;
    drivers.push_back(std::make_unique<Driver>(*c, share, window, payload, features, key_base));
    key_base += share;
  }
  for (auto& d : drivers) d->start();
  LoadResult out;
  out.latencies_ns.reserve(jobs);
  for (auto& d : drivers) {
    if (!d->wait(deadline)) {
      // The drivers are still referenced by callbacks: leave them alive (leaked) so a
      // late callback touches valid memory; the bench exits after a timeout anyway.
      out.timed_out = true;
      for (auto& rest : drivers) (void)rest.release();
      return out;
    }
    auto& r = d->result();
    out.latencies_ns.insert(out.latencies_ns.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    out.errors += r.errors;
  }
  return out;
}

}  // namespace proletariat::bench
