// journal::JobJournal — what the manager records about jobs, on a SegmentLog: the
// record types, the index of live records that compaction copies, and the replay
// that gives a starting manager its jobs and dead letters back.
//
// Records (type number, then body: little-endian, strings as u32 length + bytes, f64
// an IEEE double; "lifecycle" below is PROTOCOL §14):
//   1 ACCEPTED  a job the manager accepted: everything needed to run it again and to
//             answer its client. Written before ACCEPTED is sent.
//             u64 id | u8 flags (1 raw, 2 deadline, 4 run timeout) | f64 priority |
//             i64 accepted_wall_ms | i64 assign deadline (wall ms; 0 if none) |
//             u64 run_timeout_ms (0 if none) | identity | key | service | payload
//   6 ACCEPTED_LIFECYCLE  the same for a job with a group, a due time or a retry
//             policy: ACCEPTED's body, then u8 flags (1 not_before, 2 retry) |
//             i64 not_before_wall_ms (0 if none) | group | retry policy (if flag 2).
//             A new type rather than a longer ACCEPTED: the version before ignores
//             bytes after the payload and would run such a job without its delay or
//             retries; a type it does not know makes it refuse the journal instead. A
//             job without them is still written as ACCEPTED, so a journal of a manager
//             whose clients never used the lifecycle stays readable by that version.
//   2 ASSIGNED  the attempt number of its latest assignment: a job that was running
//             when the manager died runs again with a higher attempt (fencing). It also
//             ends a retry's backoff (clears RETRYING's due time, keeps `answered`).
//             u64 id | u32 attempt
//   7 RETRYING  its attempt failed with an error that is retried: how many attempts a
//             worker answered with such an error, and when the backoff ends, so that a
//             restarted manager neither retries at once nor gives a job more attempts
//             than its policy allows. u64 id | u32 answered | u8 flags (1 due time) |
//             i64 due_wall_ms. The manager always writes a due time; a snapshot copies
//             the job's state, whose due time a later ASSIGNED cleared.
//   3 FINISHED  its result (or error), kept until the client has it. u64 id | u8 flags
//             (1 raw, 2 error) | i64 finished_wall_ms | error code | error message | payload
//   4 GONE      it needs nothing more: its result was received, or it was aborted. u64 id
//   8 DEAD_LETTER  a job that exhausted its retries or was poison (PROTOCOL §14.2),
//             kept for an operator: written before the job's result goes out, so made
//             durable as ACCEPTED is. u64 letter | u64 job | u8 flags (1 raw, 2 run
//             timeout, 4 retry) | f64 priority | u64 run_timeout_ms (0 if none) |
//             u32 attempts | i64 since_wall_ms | client | identity | key | service |
//             group | error code | error message | retry policy (if flag 4) | payload
//   9 LETTER_GONE  the letter was requeued, purged, or dropped by age or count. u64 letter
//   5 NEXT_ID   the next job id, first in every snapshot, so ids never repeat. u64
//  10 NEXT_LETTER  the next letter id, in a snapshot after NEXT_ID when any letter was
//             ever written: letter ids never repeat either, also after every letter
//             was purged and compaction dropped their records. u64
// A retry policy: u32 max | i64 initial ms | f64 factor | i64 max_delay ms |
// f64 jitter | u32 code count | codes.
// A record of any other type was written by a newer manager: the open fails
// (JournalError) rather than drop what it meant.
//
// A live job is one ACCEPTED (or ACCEPTED_LIFECYCLE) without GONE; its ASSIGNED,
// RETRYING and FINISHED are live with it (a GONE for a job makes its letter no less
// live: a letter is a copy). A live letter is a DEAD_LETTER without LETTER_GONE. The
// log holds history until compaction: when the garbage (bytes of records no longer
// live) outgrows both the live bytes and a floor, the live records are copied into a
// snapshot segment and the old segments deleted, so size and start time follow the
// live jobs and letters, not the jobs ever run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <proletariat/job.hpp>

#include "journal/segment_log.hpp"

namespace proletariat::journal {

using JobId = std::uint64_t;

// Job errors are the library's own (a code and a message), recorded as they are.
using proletariat::JobError;

// What an ACCEPTED record holds besides the payload.
struct JobFields {
  JobId id = 0;
  std::string identity;  // the client's stable identity; empty: anonymous
  double priority = 0;
  std::string key;
  std::string service;
  std::int64_t accepted_wall_ms = 0;
  std::optional<std::int64_t> assign_deadline_wall_ms;
  std::optional<std::uint64_t> run_timeout_ms;
  bool raw = false;
  // Lifecycle (PROTOCOL §14); a job with any of them is written as ACCEPTED_LIFECYCLE.
  std::string group;                               // empty: none
  std::optional<std::int64_t> not_before_wall_ms;  // a delayed job: when it queues (ms since epoch)
  std::optional<proletariat::RetryPolicy> retry;   // the push's retry policy
};

struct AcceptedJob : JobFields {
  std::span<const std::byte> payload;  // borrowed for the call
};

struct FinishedJob {
  JobId id = 0;
  std::optional<JobError> err;
  bool raw = false;
  std::int64_t finished_wall_ms = 0;
  std::span<const std::byte> payload;
};

// A live job as the journal had it, for the manager to take back.
struct RecoveredJob : JobFields {
  std::string payload;
  unsigned attempt = 0;   // latest assignment; 0: never assigned
  unsigned answered = 0;  // attempts a worker answered with an error that was retried
  // Waiting out a retry's backoff until then (cleared by a later ASSIGNED).
  std::optional<std::int64_t> retry_due_wall_ms;
  struct Result {
    std::optional<JobError> err;
    bool raw = false;
    std::int64_t finished_wall_ms = 0;
    std::string payload;
  };
  std::optional<Result> result;  // finished, not yet received by its client
};

// A dead letter (PROTOCOL §14.2): the job as it was pushed, and how it died.
struct DeadLetterFields {
  std::uint64_t letter = 0;  // the letter's id
  JobId job = 0;             // the id the job had
  std::string client;        // the client's peer id when it died (for display)
  std::string identity;      // the client's identity, empty if anonymous
  double priority = 0;
  std::string key, service, group;
  std::optional<std::uint64_t> run_timeout_ms;
  std::optional<proletariat::RetryPolicy> retry;
  proletariat::JobError err;
  unsigned attempts = 0;
  std::int64_t since_wall_ms = 0;  // when it died
  bool raw = false;
};

struct DeadLetterRecord : DeadLetterFields {
  std::span<const std::byte> payload;  // borrowed for the call
};

struct RecoveredLetter : DeadLetterFields {
  std::string payload;
};

struct Recovery {
  std::vector<RecoveredJob> jobs;  // by id
  JobId next_id = 1;
  std::vector<RecoveredLetter> dead_letters;  // by letter id, ascending
  // Above every letter id ever written to this journal (also after all were purged).
  std::uint64_t next_letter = 1;
  std::uint64_t records = 0;
};

struct JournalStats {
  LogStats log;
  std::uint64_t live_jobs = 0;
  std::uint64_t live_bytes = 0;  // of the live records: jobs' and letters'
  std::uint64_t live_letters = 0;
};

struct JournalOptions {
  LogOptions log;
  // Compaction starts when garbage exceeds both the live bytes and this floor.
  std::uint64_t compact_floor_bytes = std::uint64_t{64} << 20;
};

class JobJournal {
 public:
  // Opens (or creates) the journal and fills `recovered` with its live jobs.
  JobJournal(JournalOptions options, Recovery& recovered);
  ~JobJournal();

  [[nodiscard]] const std::string& id() const noexcept;

  void accepted(const AcceptedJob& job);
  void assigned(JobId job, unsigned attempt);
  void finished(const FinishedJob& job);
  void gone(JobId job);
  // The job's attempt failed and is retried at due_wall_ms; `answered` counts the
  // failed attempts so far. Live until the job is GONE; a later assigned() keeps
  // `answered` but clears the due time. Ignored for a job that is not live.
  void retrying(JobId job, unsigned answered, std::int64_t due_wall_ms);

  // Dead letters (PROTOCOL §14.2). A new letter, live until dead_letter_gone(); like
  // accepted(), it must be durable before the manager sends what follows it (the
  // job's final RESULT), so it sets the commit barrier.
  void dead_letter(const DeadLetterRecord& letter);
  // Requeued, purged, or dropped by age or count. Ignored for a letter not live.
  void dead_letter_gone(std::uint64_t letter);

  // An ACCEPTED or DEAD_LETTER record is queued: it must be durable before the
  // manager answers (ACCEPTED) or sends the job's result (a dead letter).
  [[nodiscard]] bool needs_commit_before_send() const noexcept { return barrier_; }
  [[nodiscard]] bool pending() const noexcept;
  // Group commit (one write, one fdatasync as the policy says: with `always`, at once
  // when an ACCEPTED or DEAD_LETTER is among the records, otherwise within
  // kLazySync), then compaction when due.
  void commit(std::chrono::steady_clock::time_point now);
  void sync_if_due(std::chrono::steady_clock::time_point now);

  [[nodiscard]] JournalStats stats() const;

 private:
  // A live job's records. Its ASSIGNED and RETRYING are not kept: compaction writes
  // them anew from `attempt`, `answered` and `retry_due_wall_ms`.
  struct Live {
    RecordLocation accepted;
    std::uint8_t accepted_type = 0;  // ACCEPTED or ACCEPTED_LIFECYCLE: copied as it was
    RecordLocation finished;         // size 0: none
    unsigned attempt = 0;            // 0: no ASSIGNED live
    bool retrying = false;           // a RETRYING is live
    unsigned answered = 0;
    std::optional<std::int64_t> retry_due_wall_ms;
  };
  // What the replay builds besides the index, for the Recovery.
  struct Replayed {
    std::unordered_map<JobId, RecoveredJob> jobs;
    std::map<std::uint64_t, RecoveredLetter> letters;
  };
  // The bytes a live job's records take (what compaction copies for it).
  [[nodiscard]] static std::uint64_t live_size(const Live& live) noexcept;
  void replay(const RecordView& record, const RecordLocation& at, Replayed& replayed, Recovery& recovered);
  void compact();

  JournalOptions options_;
  std::unique_ptr<SegmentLog> log_;
  std::unordered_map<JobId, Live> live_;
  std::map<std::uint64_t, RecordLocation> letters_;  // live letters, by id (compaction's order)
  std::uint64_t live_bytes_ = 0;                     // of live_ and letters_
  JobId next_id_ = 1;
  std::uint64_t next_letter_ = 1;
  bool barrier_ = false;
};

}  // namespace proletariat::journal
