// The baseline: a minimal raw ZeroMQ job forwarder and its peers, the floor that
// proletariat's figures are divided by (docs/BENCHMARKS.md).
//
//   client DEALER -> ROUTER forwarder -> worker DEALER
//
// No JSON, no ids of its own, no bookkeeping beyond one credit per free worker slot
// (the zguide's load-balancing broker): a worker announces its slots once, every
// result gives its slot back, jobs wait in one FIFO when no credit is left. Frames
// are moved, never copied. Messages (the first frame starts with a type byte):
//   client -> forwarder   ['J' + job id (8 bytes)] [payload]
//   forwarder -> worker   ['J' + job id] [client routing id] [payload]
//   worker -> forwarder   ['R' + slots (4 bytes)]                  once, at start
//                         ['D' + job id] [client routing id] [result]
//   forwarder -> client   ['D' + job id] [result]
//   client -> forwarder   ['S']   -> ['S' + jobs waiting (8 bytes)]  (memory mode)
//
// Threading: run_forwarder() owns its sockets on the calling thread (the bench runs
// it as a process of its own). RawWorker owns a thread; run_raw_client() runs on the
// caller's thread. Each peer has its own ZeroMQ context, as a peer process would.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

namespace proletariat::bench {

// Binds `endpoint`, prints "ENDPOINT <bound endpoint>" on stdout, forwards until its
// stdin reaches EOF. Returns the process exit status.
int run_forwarder(const std::string& endpoint);

// A worker that answers every job at once with `result_bytes` bytes.
class RawWorker {
 public:
  RawWorker(std::string endpoint, unsigned slots, std::size_t result_bytes);
  ~RawWorker();
  RawWorker(const RawWorker&) = delete;
  RawWorker& operator=(const RawWorker&) = delete;

 private:
  void run();
  std::string endpoint_;
  unsigned slots_;
  std::string result_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What one load generator measured: push-to-result latency of every job.
struct LoadResult {
  std::vector<std::uint64_t> latencies_ns;
  std::uint64_t errors = 0;
  bool timed_out = false;
};

// Keeps `window` jobs of `bytes` bytes outstanding until `jobs` have finished, or
// until `deadline`.
LoadResult run_raw_client(const std::string& endpoint, std::size_t jobs, std::size_t window, std::size_t bytes,
                          std::chrono::steady_clock::time_point deadline);

// Pushes jobs without waiting for results (memory mode), and asks how many wait.
class RawPusher {
 public:
  explicit RawPusher(const std::string& endpoint);
  void push(std::size_t jobs, std::size_t bytes);
  // Jobs waiting in the forwarder; -1 if it did not answer in time.
  long long queued(std::chrono::milliseconds timeout);

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::uint64_t next_id_ = 1;
};

}  // namespace proletariat::bench
