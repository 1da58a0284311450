#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace proletariat::bench {

void Measurement::finish() {
  std::sort(load.latencies_ns.begin(), load.latencies_ns.end());
}

double Measurement::percentile_us(double q) const {
  const auto& v = load.latencies_ns;
  if (v.empty()) return 0;
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return static_cast<double>(v[rank - 1]) / 1000.0;
}

namespace {

double round_to(double value, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

double ratio(double a, double b) {
  return b > 0 ? round_to(a / b, 3) : 0.0;
}

// Threads that ran at all during the run; threads that ended before the run (and so
// were not seen at its end) drop out.
nlohmann::ordered_json by_thread(const Measurement& m) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [name, seconds] : m.peers_cpu_by_thread_s) {
    if (seconds > 0.0005) out[name] = round_to(m.cpu_per_100k(seconds), 4);
  }
  return out;
}

}  // namespace

nlohmann::ordered_json figures(const Measurement& m) {
  return {
      {"jobs", m.jobs},
      {"seconds", round_to(m.seconds, 3)},
      {"jobs_per_s", std::round(m.jobs_per_s())},
      {"p50_us", round_to(m.percentile_us(0.50), 1)},
      {"p99_us", round_to(m.percentile_us(0.99), 1)},
      {"p999_us", round_to(m.percentile_us(0.999), 1)},
      {"max_us", round_to(m.percentile_us(1.0), 1)},
      {"cpu_s_per_100k", round_to(m.cpu_per_100k(m.cpu.total_s), 4)},
      {"loop_cpu_s_per_100k", round_to(m.cpu_per_100k(m.cpu.own_s()), 4)},
      {"zmq_io_cpu_s_per_100k", round_to(m.cpu_per_100k(m.cpu.zmq_io_s), 4)},
      {"peak_rss_kb", m.peak_rss_kib},
      {"peers_cpu_s_per_100k", round_to(m.cpu_per_100k(m.peers_cpu_s), 4)},
      {"peers_cpu_by_thread_s_per_100k", by_thread(m)},
      {"errors", m.load.errors + (m.load.timed_out ? 1 : 0)},
      {"timed_out", m.load.timed_out},
  };
}

nlohmann::ordered_json ratios(const Measurement& ours, const Measurement& baseline) {
  return {
      {"jobs_per_s", ratio(ours.jobs_per_s(), baseline.jobs_per_s())},
      {"p50_us", ratio(ours.percentile_us(0.5), baseline.percentile_us(0.5))},
      {"p99_us", ratio(ours.percentile_us(0.99), baseline.percentile_us(0.99))},
      {"p999_us", ratio(ours.percentile_us(0.999), baseline.percentile_us(0.999))},
      {"cpu_per_job", ratio(ours.cpu_per_100k(ours.cpu.total_s), baseline.cpu_per_100k(baseline.cpu.total_s))},
      {"loop_cpu_per_job", ratio(ours.cpu_per_100k(ours.cpu.own_s()), baseline.cpu_per_100k(baseline.cpu.own_s()))},
      {"peers_cpu_per_job", ratio(ours.peers_cpu_s, baseline.peers_cpu_s)},
      {"peak_rss", ratio(static_cast<double>(ours.peak_rss_kib), static_cast<double>(baseline.peak_rss_kib))},
  };
}

void write_cdf(const std::string& path, const Measurement& ours, const Measurement* baseline) {
  std::ofstream out(path);
  out << "# quantile proletariat_us" << (baseline != nullptr ? " baseline_us" : "") << "\n";
  std::vector<double> qs;
  for (int i = 1; i <= 999; ++i) qs.push_back(i / 1000.0);
  for (double q : {0.9995, 0.9999, 1.0}) qs.push_back(q);
  for (double q : qs) {
    out << q << ' ' << ours.percentile_us(q);
    if (baseline != nullptr) out << ' ' << baseline->percentile_us(q);
    out << '\n';
  }
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

}  // namespace proletariat::bench
