// Figures of one measured run and their JSON form (one line per run on stdout).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "forwarder.hpp"
#include "proc.hpp"

namespace proletariat::bench {

struct Measurement {
  std::size_t jobs = 0;
  double seconds = 0;
  CpuTimes cpu;            // the manager's (or forwarder's) process over the run
  long peak_rss_kib = 0;   // its VmHWM at the end of the run
  double peers_cpu_s = 0;  // the load generators: this process and fake-worker helpers
  std::map<std::string, double> peers_cpu_by_thread_s;  // this process only, by thread name
  LoadResult load;         // latencies are sorted by finish()
  void finish();           // sorts the latencies
  [[nodiscard]] double percentile_us(double q) const;
  [[nodiscard]] double jobs_per_s() const { return seconds > 0 ? static_cast<double>(jobs) / seconds : 0; }
  // CPU seconds per 100,000 jobs.
  [[nodiscard]] double cpu_per_100k(double cpu_s) const {
    return jobs > 0 ? cpu_s * 100000.0 / static_cast<double>(jobs) : 0;
  }
};

// {"jobs_per_s", "p50_us", "p99_us", "p999_us", "cpu_s_per_100k", ...}
[[nodiscard]] nlohmann::ordered_json figures(const Measurement& m);
// ours / baseline for every figure where a ratio means something.
[[nodiscard]] nlohmann::ordered_json ratios(const Measurement& ours, const Measurement& baseline);
// Quantile table for a latency CDF plot: "quantile ours_us [baseline_us]" per line.
void write_cdf(const std::string& path, const Measurement& ours, const Measurement* baseline);

// 1-minute load average, to show how busy the machine was.
[[nodiscard]] double load_average();

}  // namespace proletariat::bench
