// journal::JobJournal — what the manager records about jobs, on a SegmentLog: the
// record types, the index of live records that compaction copies, and the replay
// that gives a starting manager its jobs back.
//
// Records (bodies little-endian, strings as u32 length + bytes):
//   ACCEPTED  a job the manager accepted: everything needed to run it again and to
//             answer its client (identity, priority, key, service, timeouts as wall-
//             clock times, payload). Written before ACCEPTED is sent.
//   ASSIGNED  the attempt number of its latest assignment: a job that was running
//             when the manager died runs again with a higher attempt (fencing).
//   FINISHED  its result (or error), kept until the client has it.
//   GONE      it needs nothing more: its result was received, or it was aborted.
//   NEXT_ID   the next job id, first in every snapshot, so ids never repeat.
// A live job is one ACCEPTED without GONE. The log holds history until compaction:
// when the garbage (bytes of records no longer live) outgrows both the live bytes and
// a floor, the live records are copied into a snapshot segment and the old segments
// deleted, so size and start time follow the live jobs, not the jobs ever run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
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
  unsigned attempt = 0;  // latest assignment; 0: never assigned
  struct Result {
    std::optional<JobError> err;
    bool raw = false;
    std::int64_t finished_wall_ms = 0;
    std::string payload;
  };
  std::optional<Result> result;  // finished, not yet received by its client
};

struct Recovery {
  std::vector<RecoveredJob> jobs;  // by id
  JobId next_id = 1;
  std::uint64_t records = 0;
};

struct JournalStats {
  LogStats log;
  std::uint64_t live_jobs = 0;
  std::uint64_t live_bytes = 0;
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

  // An ACCEPTED record is queued: it must be durable before the manager answers.
  [[nodiscard]] bool needs_commit_before_send() const noexcept { return barrier_; }
  [[nodiscard]] bool pending() const noexcept;
  // Group commit (one write, one fdatasync as the policy says: with `always`, at once
  // when an ACCEPTED is among the records, otherwise within kLazySync), then
  // compaction when due.
  void commit(std::chrono::steady_clock::time_point now);
  void sync_if_due(std::chrono::steady_clock::time_point now);

  [[nodiscard]] JournalStats stats() const;

 private:
  struct Live {
    RecordLocation accepted;
    RecordLocation finished;  // size 0: none
    unsigned attempt = 0;
  };
  void replay(const RecordView& record, const RecordLocation& at, std::unordered_map<JobId, RecoveredJob>& jobs,
              Recovery& recovered);
  void compact();

  JournalOptions options_;
  std::unique_ptr<SegmentLog> log_;
  std::unordered_map<JobId, Live> live_;
  std::uint64_t live_bytes_ = 0;
  JobId next_id_ = 1;
  bool barrier_ = false;
};

}  // namespace proletariat::journal
