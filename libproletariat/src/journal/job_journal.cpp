#include "journal/job_journal.hpp"

#include <algorithm>
#include <cstring>

#include "log.hpp"

namespace proletariat::journal {
namespace {

// The numbers are on disk: never reuse or renumber one (the header comment has the layouts).
enum RecordType : std::uint8_t {
  kAccepted = 1,
  kAssigned = 2,
  kFinished = 3,
  kGone = 4,
  kNextId = 5,
  kAcceptedLifecycle = 6,
  kRetrying = 7,
  kDeadLetter = 8,
  kLetterGone = 9,
  kNextLetter = 10,
};

enum AcceptedFlags : std::uint8_t { kRaw = 1, kHasDeadline = 2, kHasRunTimeout = 4 };
enum LifecycleFlags : std::uint8_t { kHasNotBefore = 1, kHasRetry = 2 };
enum FinishedFlags : std::uint8_t { kResultRaw = 1, kHasError = 2 };
enum RetryingFlags : std::uint8_t { kHasDue = 1 };
enum LetterFlags : std::uint8_t { kLetterRaw = 1, kLetterHasRunTimeout = 2, kLetterHasRetry = 4 };

// Fixed-size records: their bytes are counted from the state, not from a location.
constexpr std::uint64_t kAssignedBytes = kRecordHeaderBytes + 12;
constexpr std::uint64_t kRetryingBytes = kRecordHeaderBytes + 21;

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

void put_retry(Writer& w, const RetryPolicy& retry) {
  w.put(static_cast<std::uint32_t>(retry.max));
  w.put(static_cast<std::int64_t>(retry.initial.count()));
  w.put(retry.factor);
  w.put(static_cast<std::int64_t>(retry.max_delay.count()));
  w.put(retry.jitter);
  w.put(static_cast<std::uint32_t>(retry.codes.size()));
  for (const auto& code : retry.codes) w.put_string(code);
}

RetryPolicy get_retry(Reader& in) {
  RetryPolicy retry;
  retry.max = in.get<std::uint32_t>();
  retry.initial = std::chrono::milliseconds(in.get<std::int64_t>());
  retry.factor = in.get<double>();
  retry.max_delay = std::chrono::milliseconds(in.get<std::int64_t>());
  retry.jitter = in.get<double>();
  // No reserve(): the count is not checked yet, each code is (a short body throws).
  const auto codes = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < codes; ++i) retry.codes.push_back(in.get_string());
  return retry;
}

void put_retrying(Writer& w, JobId job, unsigned answered, std::optional<std::int64_t> due_wall_ms) {
  w.put(job);
  w.put(static_cast<std::uint32_t>(answered));
  w.put(static_cast<std::uint8_t>(due_wall_ms ? kHasDue : 0));
  w.put(due_wall_ms.value_or(0));
}

}  // namespace

JobJournal::JobJournal(JournalOptions options, Recovery& recovered) : options_(std::move(options)) {
  Replayed replayed;
  log_ = std::make_unique<SegmentLog>(options_.log, [&](const RecordView& record, const RecordLocation& at) {
    replay(record, at, replayed, recovered);
  });
  recovered.jobs.clear();
  recovered.jobs.reserve(replayed.jobs.size());
  for (auto& [id, job] : replayed.jobs) recovered.jobs.push_back(std::move(job));
  std::sort(recovered.jobs.begin(), recovered.jobs.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& job : recovered.jobs) next_id_ = std::max(next_id_, job.id + 1);
  recovered.next_id = next_id_;
  recovered.dead_letters.clear();
  recovered.dead_letters.reserve(replayed.letters.size());
  for (auto& [id, letter] : replayed.letters) recovered.dead_letters.push_back(std::move(letter));
  recovered.next_letter = next_letter_;
}

JobJournal::~JobJournal() = default;

const std::string& JobJournal::id() const noexcept { return log_->id(); }

std::uint64_t JobJournal::live_size(const Live& live) noexcept {
  return std::uint64_t{live.accepted.size} + live.finished.size + (live.attempt > 0 ? kAssignedBytes : 0) +
         (live.retrying ? kRetryingBytes : 0);
}

void JobJournal::replay(const RecordView& record, const RecordLocation& at, Replayed& replayed, Recovery& recovered) {
  ++recovered.records;
  Reader in(record.body);
  auto& jobs = replayed.jobs;
  switch (record.type) {
    case kAccepted:
    case kAcceptedLifecycle: {
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
      if (record.type == kAcceptedLifecycle) {
        const auto lifecycle = in.get<std::uint8_t>();
        const auto not_before = in.get<std::int64_t>();
        if ((lifecycle & kHasNotBefore) != 0) job.not_before_wall_ms = not_before;
        job.group = in.get_string();
        if ((lifecycle & kHasRetry) != 0) job.retry = get_retry(in);
      }
      next_id_ = std::max(next_id_, job.id + 1);
      // A second ACCEPTED for an id (never written by a manager: ids do not repeat)
      // replaces the job whole, in the index too, or a compaction would copy the old
      // one's attempt, retry state and result next to the new one (found by
      // fuzz/journal_records_fuzz).
      auto& live = live_[job.id];
      live_bytes_ -= live_size(live);
      live = Live{};
      live.accepted = at;
      live.accepted_type = record.type;
      live_bytes_ += live_size(live);
      jobs[job.id] = std::move(job);
      break;
    }
    case kAssigned: {
      const auto id = in.get<JobId>();
      const auto attempt = in.get<std::uint32_t>();
      auto it = jobs.find(id);
      if (it == jobs.end()) break;
      auto& live = live_[id];
      live_bytes_ -= live_size(live);
      live.attempt = attempt;
      live.retry_due_wall_ms.reset();  // the backoff is over: the job runs again
      live_bytes_ += live_size(live);
      it->second.attempt = attempt;
      it->second.retry_due_wall_ms.reset();
      break;
    }
    case kRetrying: {
      const auto id = in.get<JobId>();
      const auto answered = in.get<std::uint32_t>();
      const auto flags = in.get<std::uint8_t>();
      const auto due = in.get<std::int64_t>();
      auto it = jobs.find(id);
      if (it == jobs.end()) break;
      std::optional<std::int64_t> due_wall_ms;
      if ((flags & kHasDue) != 0) due_wall_ms = due;
      auto& live = live_[id];
      live_bytes_ -= live_size(live);
      live.retrying = true;
      live.answered = answered;
      live.retry_due_wall_ms = due_wall_ms;
      live_bytes_ += live_size(live);
      it->second.answered = answered;
      it->second.retry_due_wall_ms = due_wall_ms;
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
      live_bytes_ -= live.finished.size;  // a second FINISHED (never written) replaces the first
      live_bytes_ += at.size;
      live.finished = at;
      break;
    }
    case kGone: {
      const auto id = in.get<JobId>();
      jobs.erase(id);
      if (auto it = live_.find(id); it != live_.end()) {
        live_bytes_ -= live_size(it->second);
        live_.erase(it);
      }
      break;
    }
    case kNextId:
      next_id_ = std::max(next_id_, in.get<JobId>());
      break;
    case kDeadLetter: {
      RecoveredLetter letter;
      letter.letter = in.get<std::uint64_t>();
      letter.job = in.get<JobId>();
      const auto flags = in.get<std::uint8_t>();
      letter.priority = in.get<double>();
      const auto run_timeout = in.get<std::uint64_t>();
      if ((flags & kLetterHasRunTimeout) != 0) letter.run_timeout_ms = run_timeout;
      letter.raw = (flags & kLetterRaw) != 0;
      letter.attempts = in.get<std::uint32_t>();
      letter.since_wall_ms = in.get<std::int64_t>();
      letter.client = in.get_string();
      letter.identity = in.get_string();
      letter.key = in.get_string();
      letter.service = in.get_string();
      letter.group = in.get_string();
      letter.err.code = in.get_string();
      letter.err.message = in.get_string();
      if ((flags & kLetterHasRetry) != 0) letter.retry = get_retry(in);
      letter.payload = in.get_string();
      next_letter_ = std::max(next_letter_, letter.letter + 1);
      // A second letter with an id (never written: ids do not repeat) replaces the first.
      auto& live = letters_[letter.letter];
      live_bytes_ -= live.size;
      live_bytes_ += at.size;
      live = at;
      replayed.letters[letter.letter] = std::move(letter);
      break;
    }
    case kLetterGone: {
      const auto id = in.get<std::uint64_t>();
      replayed.letters.erase(id);
      if (auto it = letters_.find(id); it != letters_.end()) {
        live_bytes_ -= it->second.size;
        letters_.erase(it);
      }
      break;
    }
    case kNextLetter:
      next_letter_ = std::max(next_letter_, in.get<std::uint64_t>());
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
  // Only a job that uses the lifecycle gets the new type (see the header comment).
  const bool lifecycle = !job.group.empty() || job.not_before_wall_ms || job.retry;
  Writer tail;
  if (lifecycle) {
    std::uint8_t lifecycle_flags = 0;
    if (job.not_before_wall_ms) lifecycle_flags |= kHasNotBefore;
    if (job.retry) lifecycle_flags |= kHasRetry;
    tail.put(lifecycle_flags);
    tail.put(job.not_before_wall_ms.value_or(0));
    tail.put_string(job.group);
    if (job.retry) put_retry(tail, *job.retry);
  }
  const std::uint8_t type = lifecycle ? kAcceptedLifecycle : kAccepted;
  const auto at = log_->append(type, {w.bytes(), job.payload, tail.bytes()});
  auto& live = live_[job.id];
  live_bytes_ -= live_size(live);  // an id accepted twice (never done) replaces the job whole, as in replay
  live = Live{};
  live.accepted = at;
  live.accepted_type = type;
  live_bytes_ += live_size(live);
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
  live_bytes_ -= live_size(it->second);
  it->second.attempt = attempt;
  it->second.retry_due_wall_ms.reset();
  live_bytes_ += live_size(it->second);
}

void JobJournal::retrying(JobId job, unsigned answered, std::int64_t due_wall_ms) {
  auto it = live_.find(job);
  if (it == live_.end()) return;
  Writer w;
  put_retrying(w, job, answered, due_wall_ms);
  log_->append(kRetrying, {w.bytes()});
  live_bytes_ -= live_size(it->second);
  it->second.retrying = true;
  it->second.answered = answered;
  it->second.retry_due_wall_ms = due_wall_ms;
  live_bytes_ += live_size(it->second);
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
  live_bytes_ -= it->second.finished.size;
  live_bytes_ += at.size;
  it->second.finished = at;
}

void JobJournal::gone(JobId job) {
  auto it = live_.find(job);
  if (it == live_.end()) return;
  Writer w;
  w.put(job);
  log_->append(kGone, {w.bytes()});
  live_bytes_ -= live_size(it->second);
  live_.erase(it);
}

void JobJournal::dead_letter(const DeadLetterRecord& letter) {
  Writer w;
  w.put(letter.letter);
  w.put(letter.job);
  std::uint8_t flags = 0;
  if (letter.raw) flags |= kLetterRaw;
  if (letter.run_timeout_ms) flags |= kLetterHasRunTimeout;
  if (letter.retry) flags |= kLetterHasRetry;
  w.put(flags);
  w.put(letter.priority);
  w.put(letter.run_timeout_ms.value_or(0));
  w.put(static_cast<std::uint32_t>(letter.attempts));
  w.put(letter.since_wall_ms);
  w.put_string(letter.client);
  w.put_string(letter.identity);
  w.put_string(letter.key);
  w.put_string(letter.service);
  w.put_string(letter.group);
  w.put_string(letter.err.code);
  w.put_string(letter.err.message);
  if (letter.retry) put_retry(w, *letter.retry);
  w.put(static_cast<std::uint32_t>(letter.payload.size()));
  const auto at = log_->append(kDeadLetter, {w.bytes(), letter.payload});
  auto& live = letters_[letter.letter];
  live_bytes_ -= live.size;  // an id written twice (never done) replaces the letter, as in replay
  live_bytes_ += at.size;
  live = at;
  next_letter_ = std::max(next_letter_, letter.letter + 1);
  // The job's final RESULT follows: the letter must not be lost once a client has it.
  barrier_ = true;
}

void JobJournal::dead_letter_gone(std::uint64_t letter) {
  auto it = letters_.find(letter);
  if (it == letters_.end()) return;
  Writer w;
  w.put(letter);
  log_->append(kLetterGone, {w.bytes()});
  live_bytes_ -= it->second.size;
  letters_.erase(it);
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
    // Only once a letter was written: a journal without them keeps the old types only.
    if (next_letter_ > 1) {
      Writer letter;
      letter.put(next_letter_);
      log_->append(kNextLetter, {letter.bytes()});
    }
    for (auto& [letter, at] : letters_) {
      const auto body = log_->read_body(at);
      at = log_->append(kDeadLetter, {body});
      bytes += at.size;
    }
    for (const JobId id : ids) {
      Live& live = live_.at(id);
      const auto accepted = log_->read_body(live.accepted);
      live.accepted = log_->append(live.accepted_type, {accepted});
      if (live.attempt > 0) {
        Writer w;
        w.put(id);
        w.put(static_cast<std::uint32_t>(live.attempt));
        log_->append(kAssigned, {w.bytes()});
      }
      // After ASSIGNED, which would clear its due time.
      if (live.retrying) {
        Writer w;
        put_retrying(w, id, live.answered, live.retry_due_wall_ms);
        log_->append(kRetrying, {w.bytes()});
      }
      if (live.finished.size > 0) {
        const auto finished = log_->read_body(live.finished);
        live.finished = log_->append(kFinished, {finished});
      }
      bytes += live_size(live);
    }
  });
  live_bytes_ = bytes;
}

JournalStats JobJournal::stats() const {
  return JournalStats{log_->stats(), live_.size(), live_bytes_, letters_.size()};
}

}  // namespace proletariat::journal
