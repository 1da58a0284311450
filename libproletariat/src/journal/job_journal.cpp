#include "journal/job_journal.hpp"

#include <algorithm>
#include <cstring>

#include "log.hpp"

namespace proletariat::journal {
namespace {

enum RecordType : std::uint8_t { kAccepted = 1, kAssigned = 2, kFinished = 3, kGone = 4, kNextId = 5 };

enum AcceptedFlags : std::uint8_t { kRaw = 1, kHasDeadline = 2, kHasRunTimeout = 4 };
enum FinishedFlags : std::uint8_t { kResultRaw = 1, kHasError = 2 };

constexpr std::uint64_t kAssignedBytes = kRecordHeaderBytes + 12;

// Fixed-size fields and strings, little-endian, into a small buffer; the payload
// travels as its own body part so it is copied once, into the log's buffer.
class Writer {
 public:
  template <typename T>
  void put(T value) {
    const auto at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
  }
  void put_string(std::string_view text) {
    put(static_cast<std::uint32_t>(text.size()));
    const auto at = bytes_.size();
    bytes_.resize(at + text.size());
    if (!text.empty()) std::memcpy(bytes_.data() + at, text.data(), text.size());
  }
  [[nodiscard]] std::span<const std::byte> bytes() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> body) : body_(body) {}
  template <typename T>
  T get() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, body_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string get_string() {
    const auto size = get<std::uint32_t>();
    need(size);
    std::string text(reinterpret_cast<const char*>(body_.data() + pos_), size);
    pos_ += size;
    return text;
  }

 private:
  void need(std::size_t n) const {
    // The record's checksum matched, so a short body is a writer's bug, not damage.
    if (body_.size() - pos_ < n) throw JournalError("journal: a record body is shorter than its type needs");
  }
  std::span<const std::byte> body_;
  std::size_t pos_ = 0;
};


}  // namespace

JobJournal::JobJournal(JournalOptions options, Recovery& recovered) : options_(std::move(options)) {
  std::unordered_map<JobId, RecoveredJob> jobs;
  log_ = std::make_unique<SegmentLog>(options_.log, [&](const RecordView& record, const RecordLocation& at) {
    replay(record, at, jobs, recovered);
  });
  recovered.jobs.clear();
  recovered.jobs.reserve(jobs.size());
  for (auto& [id, job] : jobs) recovered.jobs.push_back(std::move(job));
  std::sort(recovered.jobs.begin(), recovered.jobs.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& job : recovered.jobs) next_id_ = std::max(next_id_, job.id + 1);
  recovered.next_id = next_id_;
}

JobJournal::~JobJournal() = default;

const std::string& JobJournal::id() const noexcept { return log_->id(); }

void JobJournal::replay(const RecordView& record, const RecordLocation& at,
                        std::unordered_map<JobId, RecoveredJob>& jobs, Recovery& recovered) {
  ++recovered.records;
  Reader in(record.body);
  switch (record.type) {
    case kAccepted: {
      RecoveredJob job;
      job.id = in.get<JobId>();
      const auto flags = in.get<std::uint8_t>();
      job.priority = in.get<double>();
      job.accepted_wall_ms = in.get<std::int64_t>();
      const auto deadline = in.get<std::int64_t>();
      const auto run_timeout = in.get<std::uint64_t>();
      if ((flags & kHasDeadline) != 0) job.assign_deadline_wall_ms = deadline;
      if ((flags & kHasRunTimeout) != 0) job.run_timeout_ms = run_timeout;
      job.raw = (flags & kRaw) != 0;
      job.identity = in.get_string();
      job.key = in.get_string();
      job.service = in.get_string();
      job.payload = in.get_string();
      next_id_ = std::max(next_id_, job.id + 1);
      // A second ACCEPTED for an id (never written by a manager: ids do not repeat)
      // replaces the job whole, in the index too, or a compaction would copy the old
      // one's attempt and result next to the new one (found by fuzz/journal_records_fuzz).
      auto& live = live_[job.id];
      live_bytes_ -= live.accepted.size + live.finished.size + (live.attempt > 0 ? kAssignedBytes : 0);
      live = Live{at, {}, 0};
      live_bytes_ += at.size;
      jobs[job.id] = std::move(job);
      break;
    }
    case kAssigned: {
      const auto id = in.get<JobId>();
      const auto attempt = in.get<std::uint32_t>();
      auto it = jobs.find(id);
      if (it == jobs.end()) break;
      if (live_[id].attempt == 0) live_bytes_ += kAssignedBytes;
      it->second.attempt = attempt;
      live_[id].attempt = attempt;
      break;
    }
    case kFinished: {
      const auto id = in.get<JobId>();
      auto it = jobs.find(id);
      if (it == jobs.end()) break;
      RecoveredJob::Result result;
      const auto flags = in.get<std::uint8_t>();
      result.finished_wall_ms = in.get<std::int64_t>();
      result.raw = (flags & kResultRaw) != 0;
      auto code = in.get_string();
      auto message = in.get_string();
      if ((flags & kHasError) != 0) result.err = JobError{std::move(code), std::move(message)};
      result.payload = in.get_string();
      it->second.result = std::move(result);
      auto& live = live_[id];
      live_bytes_ += at.size - live.finished.size;
      live.finished = at;
      break;
    }
    case kGone: {
      const auto id = in.get<JobId>();
      jobs.erase(id);
      if (auto it = live_.find(id); it != live_.end()) {
        live_bytes_ -= it->second.accepted.size + it->second.finished.size + (it->second.attempt > 0 ? kAssignedBytes : 0);
        live_.erase(it);
      }
      break;
    }
    case kNextId:
      next_id_ = std::max(next_id_, in.get<JobId>());
      break;
    default:
      // A type this version does not know: written by a newer manager. Refuse rather
      // than drop what it meant.
      throw JournalError("journal: record " + std::to_string(record.seq) + " has unknown type " +
                         std::to_string(record.type) + " (written by a newer proletariatd?)");
  }
}

void JobJournal::accepted(const AcceptedJob& job) {
  Writer w;
  w.put(job.id);
  std::uint8_t flags = 0;
  if (job.raw) flags |= kRaw;
  if (job.assign_deadline_wall_ms) flags |= kHasDeadline;
  if (job.run_timeout_ms) flags |= kHasRunTimeout;
  w.put(flags);
  w.put(job.priority);
  w.put(job.accepted_wall_ms);
  w.put(job.assign_deadline_wall_ms.value_or(0));
  w.put(job.run_timeout_ms.value_or(0));
  w.put_string(job.identity);
  w.put_string(job.key);
  w.put_string(job.service);
  w.put(static_cast<std::uint32_t>(job.payload.size()));
  const auto at = log_->append(kAccepted, {w.bytes(), job.payload});
  live_[job.id].accepted = at;
  live_bytes_ += at.size;
  next_id_ = std::max(next_id_, job.id + 1);
  barrier_ = true;
}

void JobJournal::assigned(JobId job, unsigned attempt) {
  auto it = live_.find(job);
  if (it == live_.end()) return;
  Writer w;
  w.put(job);
  w.put(static_cast<std::uint32_t>(attempt));
  log_->append(kAssigned, {w.bytes()});
  if (it->second.attempt == 0) live_bytes_ += kAssignedBytes;
  it->second.attempt = attempt;
}

void JobJournal::finished(const FinishedJob& job) {
  auto it = live_.find(job.id);
  if (it == live_.end()) return;
  Writer w;
  w.put(job.id);
  std::uint8_t flags = 0;
  if (job.raw) flags |= kResultRaw;
  if (job.err) flags |= kHasError;
  w.put(flags);
  w.put(job.finished_wall_ms);
  w.put_string(job.err ? std::string_view(job.err->code) : std::string_view());
  w.put_string(job.err ? std::string_view(job.err->message) : std::string_view());
  w.put(static_cast<std::uint32_t>(job.payload.size()));
  const auto at = log_->append(kFinished, {w.bytes(), job.payload});
  live_bytes_ += at.size - it->second.finished.size;
  it->second.finished = at;
}

void JobJournal::gone(JobId job) {
  auto it = live_.find(job);
  if (it == live_.end()) return;
  Writer w;
  w.put(job);
  log_->append(kGone, {w.bytes()});
  live_bytes_ -= it->second.accepted.size + it->second.finished.size + (it->second.attempt > 0 ? kAssignedBytes : 0);
  live_.erase(it);
}

bool JobJournal::pending() const noexcept { return log_->pending(); }

void JobJournal::commit(std::chrono::steady_clock::time_point now) {
  const bool durable_now = barrier_;
  barrier_ = false;
  log_->commit(now, durable_now);
  const auto on_disk = log_->stats().bytes_on_disk;
  const auto garbage = on_disk > live_bytes_ ? on_disk - live_bytes_ : 0;
  if (garbage > options_.compact_floor_bytes && garbage > live_bytes_) compact();
}

void JobJournal::sync_if_due(std::chrono::steady_clock::time_point now) { log_->sync_if_due(now); }

void JobJournal::compact() {
  std::vector<JobId> ids;
  ids.reserve(live_.size());
  for (const auto& [id, live] : live_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());  // replay order: queues keep their order
  std::uint64_t bytes = 0;
  log_->rewrite([&] {
    Writer next;
    next.put(next_id_);
    log_->append(kNextId, {next.bytes()});
    for (const JobId id : ids) {
      Live& live = live_.at(id);
      const auto accepted = log_->read_body(live.accepted);
      live.accepted = log_->append(kAccepted, {accepted});
      bytes += live.accepted.size;
      if (live.attempt > 0) {
        Writer w;
        w.put(id);
        w.put(static_cast<std::uint32_t>(live.attempt));
        log_->append(kAssigned, {w.bytes()});
        bytes += kAssignedBytes;
      }
      if (live.finished.size > 0) {
        const auto finished = log_->read_body(live.finished);
        live.finished = log_->append(kFinished, {finished});
        bytes += live.finished.size;
      }
    }
  });
  live_bytes_ = bytes;
}

JournalStats JobJournal::stats() const { return JournalStats{log_->stats(), live_.size(), live_bytes_}; }

}  // namespace proletariat::journal
