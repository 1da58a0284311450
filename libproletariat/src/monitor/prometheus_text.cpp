#include "monitor/prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <string_view>

#include <nlohmann/json.hpp>

namespace proletariat::monitor {
namespace {

using nlohmann::json;

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // One sample; `labels` is already rendered ("" or {a="b",...}).
  void sample(std::string_view name, const std::string& labels, double value) {
    out_ += name;
    out_ += labels;
    out_ += ' ';
    append_value(value);
    out_ += '\n';
  }
  void single(std::string_view name, std::string_view type, std::string_view help, double value) {
    family(name, type, help);
    sample(name, "", value);
  }
  void histogram(std::string_view name, std::string_view help, const Histogram& h) {
    family(name, "histogram", help);
    std::uint64_t cumulative = 0;
    const auto bounds = Histogram::bounds();
    const auto counts = h.counts();
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      cumulative += counts[i];
      char le[32];
      std::snprintf(le, sizeof le, "%g", bounds[i]);
      sample(bucket, "{le=\"" + std::string(le) + "\"}", static_cast<double>(cumulative));
    }
    sample(bucket, "{le=\"+Inf\"}", static_cast<double>(h.count()));
    sample(std::string(name) + "_sum", "", h.sum());
    sample(std::string(name) + "_count", "", static_cast<double>(h.count()));
  }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  void append_value(double value) {
    if (std::isnan(value)) {
      out_ += "NaN";
      return;
    }
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
      out_ += std::to_string(static_cast<long long>(value));
      return;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    out_ += text;
  }
  std::string out_;
};

// A label value as the text format wants it: backslash, quote and newline escaped.
std::string escaped(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string labels(std::initializer_list<std::pair<std::string_view, std::string>> pairs) {
  std::string out = "{";
  for (const auto& [name, value] : pairs) {
    if (out.size() > 1) out += ',';
    out += name;
    out += "=\"";
    out += escaped(value);
    out += '"';
  }
  out += '}';
  return out;
}

// A priority or range start as STATUS writes it ("0", "2.5").
std::string number_text(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

double number(const json& doc, const char* key) {
  const auto it = doc.find(key);
  return it != doc.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

std::string prometheus_text(const Snapshot& snapshot) {
  const json status = json::parse(snapshot.status);  // throws on a bad document: /metrics answers 500
  const Counters& c = snapshot.counters;
  Exposition e;

  e.single("proletariat_start_time_seconds", "gauge", "When the manager started, seconds since the Unix epoch.",
           number(status, "boot") / 1000.0);
  e.single("proletariat_jobs_received_total", "counter", "Jobs accepted from clients' pushes.",
           static_cast<double>(c.jobs_received));
  e.family("proletariat_jobs_finished_total", "counter",
           "Jobs ended, by outcome (ok: the handler's result; the others are failures).");
  std::uint64_t failed = 0;
  for (std::size_t i = 0; i < c.jobs_finished.size(); ++i) {
    const auto outcome = static_cast<Outcome>(i);
    if (outcome != Outcome::ok) failed += c.jobs_finished[i];
    e.sample("proletariat_jobs_finished_total", labels({{"outcome", std::string(outcome_name(outcome))}}),
             static_cast<double>(c.jobs_finished[i]));
  }
  e.single("proletariat_jobs_failed_total", "counter", "Jobs ended with an error (every outcome but ok).",
           static_cast<double>(failed));

  e.family("proletariat_queue_depth", "gauge", "Jobs queued, by priority and service (\"\": jobs naming none).");
  if (const auto it = status.find("queues"); it != status.end()) {
    for (const auto& q : *it) {
      e.sample("proletariat_queue_depth",
               labels({{"priority", number_text(q.at("priority"))}, {"service", q.value("service", "")}}),
               number(q, "queued"));
    }
  }
  e.single("proletariat_jobs_queued", "gauge", "Jobs queued, waiting for a slot.", number(status, "queued"));
  e.single("proletariat_jobs_held", "gauge", "Jobs held behind a job with the same key (HOLDSIMILARWORK).",
           number(status, "held"));
  e.single("proletariat_jobs_running", "gauge", "Jobs running on workers.", number(status, "running"));
  e.single("proletariat_jobs_suspect", "gauge", "Suspect jobs (their workers died running them) queued or running.",
           number(status, "suspects"));
  double oldest_age = 0;
  if (const auto it = status.find("oldestWaiting"); it != status.end() && it->is_number()) {
    oldest_age = std::max(0.0, (number(status, "now") - it->get<double>()) / 1000.0);
  }
  e.single("proletariat_oldest_waiting_seconds", "gauge",
           "Age of the oldest queued or held job (0 when none waits).", oldest_age);
  e.histogram("proletariat_job_wait_seconds", "From a job's acceptance to its sending to a worker.", c.wait_seconds);
  e.histogram("proletariat_job_run_seconds", "From a job's sending to a worker to its result.", c.run_seconds);

  e.single("proletariat_slots_total", "gauge", "Slots offered by the connected workers.",
           number(status, "totalSlots"));
  e.single("proletariat_slots_free", "gauge", "Slots free.", number(status, "freeSlots"));
  e.family("proletariat_range_slots", "gauge",
           "Slots a priority range may use, by the range's start (its guaranteed and shared slots).");
  const auto ranges = status.find("ranges");
  if (ranges != status.end()) {
    for (const auto& r : *ranges) {
      e.sample("proletariat_range_slots", labels({{"range", number_text(r.at("start"))}}), number(r, "limit"));
    }
  }
  e.family("proletariat_range_slots_used", "gauge", "Jobs of a priority range running, by the range's start.");
  if (ranges != status.end()) {
    for (const auto& r : *ranges) {
      e.sample("proletariat_range_slots_used", labels({{"range", number_text(r.at("start"))}}), number(r, "used"));
    }
  }
  const auto count_of = [&](const char* key) {
    const auto it = status.find(key);
    return it != status.end() && it->is_array() ? static_cast<double>(it->size()) : 0.0;
  };
  e.single("proletariat_workers", "gauge", "Workers connected.", count_of("workers"));
  e.single("proletariat_clients", "gauge", "Clients connected.", count_of("clients"));
  e.single("proletariat_throttled", "gauge", "1 while distribution waits for free slots (AVAIL_THRESHOLD).",
           status.value("throttled", false) ? 1 : 0);
  e.single("proletariat_draining", "gauge", "1 while the manager drains before stopping.",
           status.value("draining", false) ? 1 : 0);

  e.single("proletariat_stale_results_fenced_total", "counter",
           "Results and rejects of an attempt that was no longer the job's current one: dropped.",
           static_cast<double>(c.stale_results_fenced));
  e.family("proletariat_messages_rejected_total", "counter", "ERROR replies sent to peers, by code.");
  for (const auto& [code, n] : c.rejected_by_code) {
    e.sample("proletariat_messages_rejected_total", labels({{"code", code}}), static_cast<double>(n));
  }
  e.single("proletariat_subscriptions_refused_total", "counter",
           "System-message subscriptions not granted (another peer's id, a prefix, the empty topic).",
           number(status, "subscriptionsRefused"));
  e.single("proletariat_jobs_poisoned_total", "counter", "Jobs failed as poison (EPOISON).",
           number(status, "poisoned"));

  // Job lifecycle (PROTOCOL §14). Per-group figures stay in /status: group names are
  // the application's and unbounded, no label for them.
  e.single("proletariat_jobs_delayed", "gauge", "Jobs waiting for their delay or at time.", number(status, "delayed"));
  e.single("proletariat_jobs_retrying", "gauge", "Jobs waiting out a retry's backoff.", number(status, "retrying"));
  e.single("proletariat_jobs_group_limited", "gauge", "Jobs waiting for their group's limits (running or rate).",
           number(status, "groupLimited"));
  e.single("proletariat_retries_total", "counter", "Failed attempts retried (a push's retry policy).",
           static_cast<double>(c.retries));
  e.single("proletariat_dead_letters", "gauge", "Dead letters kept (exhausted retries, poison jobs).",
           number(status, "dead"));
  e.single("proletariat_dead_letters_total", "counter", "Jobs that became dead letters.",
           static_cast<double>(c.dead_letters));
  e.single("proletariat_progress_forwarded_total", "counter", "Progress reports forwarded to clients.",
           static_cast<double>(c.progress_forwarded));
  e.single("proletariat_progress_dropped_total", "counter",
           "Progress reports dropped: a stale attempt, or no client to hand them to.",
           static_cast<double>(c.progress_dropped));

  if (snapshot.journal) {
    const auto& j = status.at("journal");
    e.single("proletariat_held_results", "gauge", "Results kept until their clients acknowledge them.",
             number(status, "heldResults"));
    e.single("proletariat_journal_records_total", "counter", "Records written to the journal.",
             number(j, "records"));
    e.single("proletariat_journal_commits_total", "counter", "Group commits (writes) of the journal.",
             number(j, "commits"));
    e.single("proletariat_journal_syncs_total", "counter",
             "fdatasync calls of the journal (records per sync: rate of records / rate of syncs).", number(j, "syncs"));
    e.single("proletariat_journal_bytes_written_total", "counter", "Bytes written to the journal.",
             number(j, "bytesWritten"));
    e.single("proletariat_journal_bytes", "gauge", "Bytes of the journal on disk.", number(j, "bytesOnDisk"));
    e.single("proletariat_journal_compactions_total", "counter", "Compactions of the journal.",
             number(j, "compactions"));
    e.histogram("proletariat_journal_sync_seconds", "Duration of a journal commit that ran an fdatasync.",
                c.journal_sync_seconds);
  }
  return e.take();
}

}  // namespace proletariat::monitor
