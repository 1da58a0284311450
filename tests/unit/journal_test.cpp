// The journal's storage on a real directory: torn tails cut at every byte offset,
// damage refused (or cut with repair), a failing fdatasync, compaction, and the job
// records' replay, with the lifecycle's records (issue 14: retries, dead letters,
// delayed jobs, groups) and journals written before them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "journal/crc32c.hpp"
#include "journal/job_journal.hpp"
#include "journal/segment_log.hpp"

namespace proletariat::journal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "prlt-journal-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

std::span<const std::byte> bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::vector<std::string> replay_all(const std::string& dir, bool repair = false) {
  std::vector<std::string> bodies;
  LogOptions options;
  options.dir = dir;
  options.repair = repair;
  SegmentLog log(options, [&](const RecordView& r, const RecordLocation&) {
    bodies.emplace_back(reinterpret_cast<const char*>(r.body.data()), r.body.size());
  });
  return bodies;
}

fs::path only_segment(const std::string& dir) {
  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") segments.push_back(e.path());
  }
  EXPECT_EQ(segments.size(), 1U);
  return segments.empty() ? fs::path() : segments[0];
}

void write_records(const std::string& dir, const std::vector<std::string>& bodies) {
  LogOptions options;
  options.dir = dir;
  SegmentLog log(options, [](const RecordView&, const RecordLocation&) {});
  for (const auto& body : bodies) log.append(1, {bytes(body)});
  log.commit(Clock::now());
}

TEST(Crc32c, MatchesTheKnownCheckValue) {
  const std::string text = "123456789";
  EXPECT_EQ(crc32c(bytes(text)), 0xE3069283U);  // the CRC-32C check value (RFC 3720)
  EXPECT_EQ(crc32c(bytes(text.substr(4)), crc32c(bytes(text.substr(0, 4)))), 0xE3069283U);
}

TEST(SegmentLog, RecordsComeBackInOrderAfterReopen) {
  TempDir dir;
  write_records(dir.path, {"one", "two", "three"});
  EXPECT_EQ(replay_all(dir.path), (std::vector<std::string>{"one", "two", "three"}));
}

// Job payloads are in the journal: only the manager's user may read it (docs/SECURITY.md).
TEST(SegmentLog, ANewJournalIsTheManagersUsersOnly) {
  TempDir parent;
  const std::string dir = parent.path + "/journal";
  write_records(dir, {"secret"});
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
  const auto segment = fs::status(only_segment(dir)).permissions() & fs::perms::all;
  EXPECT_EQ(segment & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST(SegmentLog, TornLastRecordIsCutAtEveryByteOffset) {
  TempDir source;
  write_records(source.path, {"first record", "second record", "the last record, torn"});
  const auto segment = only_segment(source.path);
  const auto full = fs::file_size(segment);
  const std::size_t last_size = kRecordHeaderBytes + std::string("the last record, torn").size();
  for (std::size_t cut = 1; cut <= last_size; ++cut) {
    TempDir dir;
    fs::copy_file(segment, fs::path(dir.path) / segment.filename());
    fs::resize_file(fs::path(dir.path) / segment.filename(), full - cut);
    const auto bodies = replay_all(dir.path);
    ASSERT_EQ(bodies, (std::vector<std::string>{"first record", "second record"})) << "cut " << cut << " bytes";
    // The cut is for good: the torn bytes are gone and new records follow the others.
    write_records(dir.path, {"after"});
    EXPECT_EQ(replay_all(dir.path), (std::vector<std::string>{"first record", "second record", "after"}))
        << "cut " << cut << " bytes";
  }
}

TEST(SegmentLog, DamageBeforeTheEndStopsTheStartUnlessRepairIsAsked) {
  TempDir dir;
  write_records(dir.path, {"first record", "second record", "third record"});
  const auto segment = only_segment(dir.path);
  {
    // Flip one byte of the second record's body.
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(32 + kRecordHeaderBytes + 12 + kRecordHeaderBytes + 3);
    f.put('X');
  }
  try {
    (void)replay_all(dir.path);
    FAIL() << "a damaged journal was opened";
  } catch (const JournalError& e) {
    EXPECT_NE(std::string(e.what()).find("damaged at offset"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--journal-repair"), std::string::npos) << e.what();
  }
  EXPECT_EQ(replay_all(dir.path, true), (std::vector<std::string>{"first record"}));
  EXPECT_EQ(replay_all(dir.path), (std::vector<std::string>{"first record"})) << "the repair is durable";
}

TEST(SegmentLog, ADamagedSegmentHeaderStopsTheStart) {
  TempDir dir;
  write_records(dir.path, {"a"});
  {
    std::fstream f(only_segment(dir.path), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('Z');
  }
  EXPECT_THROW((void)replay_all(dir.path), JournalError);
}

struct FailingSync : FileOps {
  int fdatasync(int) override {
    errno = EIO;
    return -1;
  }
};

TEST(SegmentLog, AFailedFdatasyncThrowsAndTheLogStaysUnusable) {
  TempDir dir;
  write_records(dir.path, {"durable"});
  FailingSync failing;
  LogOptions options;
  options.dir = dir.path;
  options.ops = &failing;
  SegmentLog log(options, [](const RecordView&, const RecordLocation&) {});
  log.append(1, {bytes(std::string("lost"))});
  try {
    log.commit(Clock::now());
    FAIL() << "commit claimed durability after fdatasync failed";
  } catch (const JournalError& e) {
    EXPECT_NE(std::string(e.what()).find("fdatasync"), std::string::npos) << e.what();
  }
  EXPECT_THROW(log.append(1, {bytes(std::string("more"))}), JournalError) << "no retry after a failed fsync";
}

TEST(SegmentLog, SyncPolicies) {
  SyncOptions sync;
  EXPECT_TRUE(parse_sync_options("interval=25", sync));
  EXPECT_EQ(sync.policy, SyncPolicy::interval);
  EXPECT_EQ(sync.interval.count(), 25);
  EXPECT_TRUE(parse_sync_options("off", sync));
  EXPECT_EQ(sync.policy, SyncPolicy::off);
  EXPECT_FALSE(parse_sync_options("sometimes", sync));
  EXPECT_FALSE(parse_sync_options("interval=", sync));
}

TEST(SegmentLog, OneCommitIsOneWriteAndOneSync) {
  TempDir dir;
  LogOptions options;
  options.dir = dir.path;
  SegmentLog log(options, [](const RecordView&, const RecordLocation&) {});
  const auto before = log.stats();
  for (int i = 0; i < 100; ++i) log.append(1, {bytes(std::to_string(i))});
  log.commit(Clock::now());
  EXPECT_EQ(log.stats().commits - before.commits, 1U);
  EXPECT_EQ(log.stats().syncs - before.syncs, 1U);
  EXPECT_EQ(log.stats().records_written - before.records_written, 100U);
}

TEST(SegmentLog, RecordsThatNeedNotBeDurableAtOnceAreSyncedLazily) {
  TempDir dir;
  LogOptions options;
  options.dir = dir.path;
  SegmentLog log(options, [](const RecordView&, const RecordLocation&) {});
  const auto t0 = Clock::now();
  log.commit(t0);  // nothing queued: nothing to do
  const auto syncs = log.stats().syncs;
  log.append(1, {bytes(std::string("a result"))});
  log.commit(t0, false);
  EXPECT_EQ(log.stats().syncs, syncs) << "written, not synced";
  EXPECT_TRUE(log.awaiting_sync());
  log.sync_if_due(t0 + kLazySync / 2);
  EXPECT_EQ(log.stats().syncs, syncs) << "not due yet";
  log.sync_if_due(t0 + kLazySync);
  EXPECT_EQ(log.stats().syncs, syncs + 1);
  EXPECT_FALSE(log.awaiting_sync());
  log.append(1, {bytes(std::string("an accepted job"))});
  log.commit(t0 + kLazySync, true);
  EXPECT_EQ(log.stats().syncs, syncs + 2) << "a durable commit syncs at once";
}

AcceptedJob job(JobId id, const std::string& payload, const std::string& identity = "client-a") {
  AcceptedJob j;
  j.id = id;
  j.identity = identity;
  j.priority = 1.5;
  j.key = "k" + std::to_string(id);
  j.service = "svc";
  j.accepted_wall_ms = 1000;
  j.assign_deadline_wall_ms = 5000;
  j.run_timeout_ms = 700;
  j.payload = bytes(payload);
  return j;
}

TEST(JobJournal, ReplayGivesBackLiveJobsWithAttemptsAndResults) {
  TempDir dir;
  const std::string p1 = "payload-1", p2 = "payload-2", p3 = "payload-3", r2 = "result-2";
  {
    Recovery none;
    JobJournal journal(JournalOptions{LogOptions{dir.path}}, none);
    journal.accepted(job(1, p1));
    journal.accepted(job(2, p2));
    journal.accepted(job(3, p3));
    EXPECT_TRUE(journal.needs_commit_before_send());
    journal.assigned(1, 1);
    journal.assigned(1, 2);
    journal.assigned(2, 1);
    journal.finished(FinishedJob{2, JobError{"ETO", "too slow"}, false, 2000, bytes(r2)});
    journal.gone(3);
    journal.commit(Clock::now());
    EXPECT_FALSE(journal.needs_commit_before_send());
  }
  Recovery back;
  JobJournal journal(JournalOptions{LogOptions{dir.path}}, back);
  ASSERT_EQ(back.jobs.size(), 2U);
  EXPECT_EQ(back.next_id, 4U);
  const auto& one = back.jobs[0];
  EXPECT_EQ(one.id, 1U);
  EXPECT_EQ(one.attempt, 2U);
  EXPECT_EQ(one.payload, p1);
  EXPECT_EQ(one.identity, "client-a");
  EXPECT_EQ(one.key, "k1");
  EXPECT_EQ(one.service, "svc");
  EXPECT_EQ(one.priority, 1.5);
  EXPECT_EQ(one.assign_deadline_wall_ms, std::optional<std::int64_t>(5000));
  EXPECT_EQ(one.run_timeout_ms, std::optional<std::uint64_t>(700));
  EXPECT_FALSE(one.result);
  const auto& two = back.jobs[1];
  ASSERT_TRUE(two.result);
  ASSERT_TRUE(two.result->err);
  EXPECT_EQ(two.result->err->code, "ETO");
  EXPECT_EQ(two.result->payload, r2);
}

TEST(JobJournal, CompactionKeepsTheLiveJobsAndBoundsTheSize) {
  TempDir dir;
  const std::string payload(200, 'p');
  {
    Recovery none;
    JournalOptions options{LogOptions{dir.path}};
    options.compact_floor_bytes = 64 << 10;
    JobJournal journal(options, none);
    journal.accepted(job(1, "the one that stays"));
    journal.commit(Clock::now());
    for (JobId id = 2; id < 20000; ++id) {
      journal.accepted(job(id, payload));
      journal.finished(FinishedJob{id, std::nullopt, false, 0, bytes(payload)});
      journal.gone(id);
      if (id % 64 == 0) journal.commit(Clock::now());
    }
    journal.commit(Clock::now());
    EXPECT_GT(journal.stats().log.compactions, 0U);
    EXPECT_LT(journal.stats().log.bytes_on_disk, 3U * (64U << 10)) << "bounded by the floor, not by history";
  }
  Recovery back;
  JobJournal journal(JournalOptions{LogOptions{dir.path}}, back);
  ASSERT_EQ(back.jobs.size(), 1U);
  EXPECT_EQ(back.jobs[0].id, 1U);
  EXPECT_EQ(back.jobs[0].payload, "the one that stays");
  EXPECT_EQ(back.next_id, 20000U) << "ids never repeat after compaction";
}

// --- the lifecycle (issue 14, PROTOCOL §14) -------------------------------------------

RetryPolicy retry_policy() {
  RetryPolicy r;
  r.max = 4;
  r.codes = {"EBUSY", "EHANDLER", ""};
  r.initial = std::chrono::milliseconds(250);
  r.factor = 1.75;
  r.max_delay = std::chrono::milliseconds(60000);
  r.jitter = 0.125;
  return r;
}

// Every field set, none of them a default, so a field read from the wrong place shows.
DeadLetterRecord letter(std::uint64_t id, JobId job_id, const std::string& payload) {
  DeadLetterRecord l;
  l.letter = id;
  l.job = job_id;
  l.client = "7@3f9a0c";
  l.identity = "client-a";
  l.priority = 2.25;
  l.key = "img-42";
  l.service = "resize";
  l.group = "tenant-7";
  l.run_timeout_ms = 1500;
  l.retry = retry_policy();
  l.err = JobError{"EBUSY", "try later"};
  l.attempts = 5;
  l.since_wall_ms = 1764300005000;
  l.raw = true;
  l.payload = bytes(payload);
  return l;
}

JournalOptions options_for(const std::string& dir, std::uint64_t floor = std::uint64_t{64} << 20) {
  JournalOptions options;
  options.log.dir = dir;
  options.compact_floor_bytes = floor;
  return options;
}

// The record types in the journal, in order.
std::vector<int> record_types(const std::string& dir) {
  std::vector<int> types;
  LogOptions options;
  options.dir = dir;
  SegmentLog log(options, [&](const RecordView& r, const RecordLocation&) { types.push_back(r.type); });
  return types;
}

// A job that comes and goes with a large payload: its records are garbage at once,
// more than the live records, so the next commit compacts (with a floor of 0).
void churn(JobJournal& journal, JobId id) {
  const std::string big(20000, 'g');
  journal.accepted(job(id, big));
  journal.gone(id);
}

TEST(JobJournal, LifecycleFieldsOfAcceptedJobsComeBack) {
  TempDir dir;
  const std::string p1 = "delayed", p2 = "grouped", p3 = "plain";
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);
    auto one = job(1, p1);
    one.group = "tenant-7";
    one.not_before_wall_ms = 1764300009000;
    one.retry = retry_policy();
    one.raw = true;
    journal.accepted(one);
    auto two = job(2, p2);
    two.group = "tenant-8";  // a group alone is enough for the lifecycle's record
    journal.accepted(two);
    journal.accepted(job(3, p3));
    journal.commit(Clock::now());
  }
  // Only the jobs that use the lifecycle have the new type: the version before still
  // opens a journal whose clients never used it.
  EXPECT_EQ(record_types(dir.path), (std::vector<int>{6, 6, 1}));
  Recovery back;
  JobJournal journal(options_for(dir.path), back);
  ASSERT_EQ(back.jobs.size(), 3U);
  const auto& one = back.jobs[0];
  EXPECT_EQ(one.group, "tenant-7");
  EXPECT_EQ(one.not_before_wall_ms, std::optional<std::int64_t>(1764300009000));
  ASSERT_TRUE(one.retry);
  EXPECT_EQ(*one.retry, retry_policy());
  // The fields before the lifecycle's section are read as from ACCEPTED.
  EXPECT_EQ(one.payload, p1);
  EXPECT_TRUE(one.raw);
  EXPECT_EQ(one.key, "k1");
  EXPECT_EQ(one.run_timeout_ms, std::optional<std::uint64_t>(700));
  const auto& two = back.jobs[1];
  EXPECT_EQ(two.group, "tenant-8");
  EXPECT_FALSE(two.not_before_wall_ms);
  EXPECT_FALSE(two.retry);
  EXPECT_EQ(two.payload, p2);
  const auto& three = back.jobs[2];
  EXPECT_EQ(three.group, "");
  EXPECT_FALSE(three.not_before_wall_ms);
  EXPECT_FALSE(three.retry);
  EXPECT_EQ(three.answered, 0U);
  EXPECT_FALSE(three.retry_due_wall_ms);
  EXPECT_EQ(three.payload, p3);
}

TEST(JobJournal, RetryingThenAssignedKeepsTheCountAndEndsTheBackoff) {
  TempDir dir;
  const auto reopen = [&] {
    Recovery back;
    JobJournal journal(options_for(dir.path), back);
    EXPECT_EQ(back.jobs.size(), 1U);
    return back.jobs.empty() ? RecoveredJob{} : back.jobs[0];
  };
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);
    auto j = job(1, "p");
    j.retry = retry_policy();
    journal.accepted(j);
    journal.assigned(1, 1);
    journal.retrying(1, 1, 9000);
    journal.retrying(77, 1, 9000);  // not a live job: nothing to record
    journal.commit(Clock::now());
  }
  auto back = reopen();
  EXPECT_EQ(back.attempt, 1U);
  EXPECT_EQ(back.answered, 1U);
  EXPECT_EQ(back.retry_due_wall_ms, std::optional<std::int64_t>(9000));
  EXPECT_EQ(record_types(dir.path), (std::vector<int>{6, 2, 7})) << "no record for the job that is not live";
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);
    journal.assigned(1, 2);  // the backoff is over
    journal.commit(Clock::now());
  }
  back = reopen();
  EXPECT_EQ(back.attempt, 2U);
  EXPECT_EQ(back.answered, 1U) << "ASSIGNED keeps the count";
  EXPECT_FALSE(back.retry_due_wall_ms) << "ASSIGNED clears the due time";
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);
    journal.retrying(1, 2, 12000);
    journal.commit(Clock::now());
  }
  back = reopen();
  EXPECT_EQ(back.attempt, 2U);
  EXPECT_EQ(back.answered, 2U);
  EXPECT_EQ(back.retry_due_wall_ms, std::optional<std::int64_t>(12000));
}

TEST(JobJournal, DeadLettersComeBackWithEveryField) {
  TempDir dir;
  const std::string payload("a\0binary\xff payload", 18);
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);
    journal.dead_letter(letter(4, 101, payload));
    auto bare = letter(9, 102, "");
    bare.client.clear();
    bare.identity.clear();
    bare.key.clear();
    bare.service.clear();
    bare.group.clear();
    bare.run_timeout_ms.reset();
    bare.retry.reset();
    bare.raw = false;
    bare.err = JobError{"EPOISON", ""};
    journal.dead_letter(bare);
    journal.commit(Clock::now());
  }
  Recovery back;
  JobJournal journal(options_for(dir.path), back);
  EXPECT_TRUE(back.jobs.empty());
  ASSERT_EQ(back.dead_letters.size(), 2U);
  EXPECT_EQ(back.next_letter, 10U);
  const auto& full = back.dead_letters[0];
  EXPECT_EQ(full.letter, 4U);
  EXPECT_EQ(full.job, 101U);
  EXPECT_EQ(full.client, "7@3f9a0c");
  EXPECT_EQ(full.identity, "client-a");
  EXPECT_EQ(full.priority, 2.25);
  EXPECT_EQ(full.key, "img-42");
  EXPECT_EQ(full.service, "resize");
  EXPECT_EQ(full.group, "tenant-7");
  EXPECT_EQ(full.run_timeout_ms, std::optional<std::uint64_t>(1500));
  ASSERT_TRUE(full.retry);
  EXPECT_EQ(*full.retry, retry_policy());
  EXPECT_EQ(full.err, (JobError{"EBUSY", "try later"}));
  EXPECT_EQ(full.attempts, 5U);
  EXPECT_EQ(full.since_wall_ms, 1764300005000);
  EXPECT_TRUE(full.raw);
  EXPECT_EQ(full.payload, payload);
  const auto& bare = back.dead_letters[1];
  EXPECT_EQ(bare.letter, 9U);
  EXPECT_EQ(bare.job, 102U);
  EXPECT_EQ(bare.client, "");
  EXPECT_EQ(bare.group, "");
  EXPECT_FALSE(bare.run_timeout_ms);
  EXPECT_FALSE(bare.retry);
  EXPECT_FALSE(bare.raw);
  EXPECT_EQ(bare.err, (JobError{"EPOISON", ""}));
  EXPECT_EQ(bare.payload, "");
  EXPECT_EQ(journal.stats().live_letters, 2U);
}

// A letter goes out with the job's final RESULT: it is made durable at once, as an
// ACCEPTED is; the records that only save work after a power loss are synced lazily.
TEST(JobJournal, ADeadLetterIsDurableBeforeTheResultGoesOut) {
  TempDir dir;
  Recovery none;
  JobJournal journal(options_for(dir.path), none);
  journal.accepted(job(1, "p"));
  journal.assigned(1, 1);
  const auto t0 = Clock::now();
  journal.commit(t0);
  journal.sync_if_due(t0 + kLazySync);
  auto syncs = journal.stats().log.syncs;

  journal.retrying(1, 1, 5000);
  EXPECT_FALSE(journal.needs_commit_before_send()) << "RETRYING is an ordinary record";
  journal.commit(t0);
  EXPECT_EQ(journal.stats().log.syncs, syncs) << "written, synced lazily";
  journal.sync_if_due(t0 + kLazySync);
  syncs = journal.stats().log.syncs;

  journal.dead_letter(letter(1, 1, "p"));
  EXPECT_TRUE(journal.needs_commit_before_send()) << "a letter is a barrier";
  journal.commit(t0);
  EXPECT_FALSE(journal.needs_commit_before_send());
  EXPECT_EQ(journal.stats().log.syncs, syncs + 1) << "synced at once under `always`";

  journal.dead_letter_gone(1);
  EXPECT_FALSE(journal.needs_commit_before_send()) << "LETTER_GONE is an ordinary record";
  journal.commit(t0);
  EXPECT_EQ(journal.stats().log.syncs, syncs + 1);
}

TEST(JobJournal, ALetterOutlivesItsJobAndGoesOnlyWhenItIsGone) {
  TempDir dir;
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);
    auto j = job(5, "p5");
    j.retry = retry_policy();
    journal.accepted(j);
    journal.accepted(job(6, "p6"));
    journal.assigned(5, 1);
    journal.retrying(5, 1, 3000);
    journal.assigned(5, 2);
    // Its last attempt failed: a letter, its result, the client has it.
    journal.dead_letter(letter(1, 5, "p5"));
    journal.finished(FinishedJob{5, JobError{"EBUSY", "again"}, false, 4000, bytes(std::string("r"))});
    journal.gone(5);
    journal.dead_letter(letter(2, 6, "p6"));
    journal.dead_letter(letter(3, 6, "p6"));
    journal.dead_letter_gone(2);
    journal.dead_letter_gone(42);  // not live: nothing to record
    journal.commit(Clock::now());
    EXPECT_EQ(journal.stats().live_jobs, 1U);
    EXPECT_EQ(journal.stats().live_letters, 2U);
  }
  Recovery back;
  JobJournal journal(options_for(dir.path), back);
  ASSERT_EQ(back.jobs.size(), 1U);
  EXPECT_EQ(back.jobs[0].id, 6U);
  ASSERT_EQ(back.dead_letters.size(), 2U);
  EXPECT_EQ(back.dead_letters[0].letter, 1U);
  EXPECT_EQ(back.dead_letters[0].job, 5U) << "the letter keeps the job's id after the job is gone";
  EXPECT_EQ(back.dead_letters[0].payload, "p5");
  EXPECT_EQ(back.dead_letters[1].letter, 3U);
  EXPECT_EQ(back.next_letter, 4U);
  EXPECT_EQ(back.next_id, 7U);
  const auto types = record_types(dir.path);
  EXPECT_EQ(std::count(types.begin(), types.end(), 9), 1) << "one LETTER_GONE: none for the letter not live";
}

TEST(JobJournal, LettersAndRetryStateSurviveCompaction) {
  TempDir dir;
  std::uint64_t live_bytes = 0;
  const auto check = [](const Recovery& back) {
    ASSERT_EQ(back.jobs.size(), 3U);
    const auto& backing_off = back.jobs[0];  // RETRYING after ASSIGNED: waiting
    EXPECT_EQ(backing_off.id, 1U);
    EXPECT_EQ(backing_off.attempt, 1U);
    EXPECT_EQ(backing_off.answered, 1U);
    EXPECT_EQ(backing_off.retry_due_wall_ms, std::optional<std::int64_t>(7000));
    ASSERT_TRUE(backing_off.retry);
    EXPECT_EQ(*backing_off.retry, retry_policy());
    const auto& running = back.jobs[1];  // ASSIGNED after RETRYING: running again
    EXPECT_EQ(running.id, 2U);
    EXPECT_EQ(running.attempt, 3U);
    EXPECT_EQ(running.answered, 2U);
    EXPECT_FALSE(running.retry_due_wall_ms);
    ASSERT_TRUE(running.result);
    EXPECT_EQ(running.result->payload, "r2");
    const auto& delayed = back.jobs[2];
    EXPECT_EQ(delayed.id, 3U);
    EXPECT_EQ(delayed.not_before_wall_ms, std::optional<std::int64_t>(99000));
    EXPECT_EQ(delayed.group, "g");
    EXPECT_EQ(delayed.attempt, 0U);
    EXPECT_EQ(delayed.answered, 0U);
    ASSERT_EQ(back.dead_letters.size(), 2U);
    EXPECT_EQ(back.dead_letters[0].letter, 1U);
    EXPECT_EQ(back.dead_letters[0].payload, "l1");
    EXPECT_EQ(back.dead_letters[1].letter, 3U);
    EXPECT_EQ(back.dead_letters[1].payload, "l3");
    ASSERT_TRUE(back.dead_letters[1].retry);
    EXPECT_EQ(*back.dead_letters[1].retry, retry_policy());
    EXPECT_EQ(back.next_letter, 4U);
  };
  {
    Recovery none;
    JobJournal journal(options_for(dir.path, 0), none);
    auto one = job(1, "p1");
    one.retry = retry_policy();
    journal.accepted(one);
    journal.assigned(1, 1);
    journal.retrying(1, 1, 7000);
    auto two = job(2, "p2");
    two.retry = retry_policy();
    journal.accepted(two);
    journal.assigned(2, 1);
    journal.retrying(2, 1, 5000);
    journal.assigned(2, 2);
    journal.retrying(2, 2, 6000);
    journal.assigned(2, 3);
    journal.finished(FinishedJob{2, std::nullopt, false, 8000, bytes(std::string("r2"))});
    auto three = job(3, "p3");
    three.not_before_wall_ms = 99000;
    three.group = "g";
    journal.accepted(three);
    journal.dead_letter(letter(1, 10, "l1"));
    journal.dead_letter(letter(2, 11, "l2"));
    journal.dead_letter(letter(3, 12, "l3"));
    journal.dead_letter_gone(2);
    churn(journal, 4);
    journal.commit(Clock::now());
    ASSERT_EQ(journal.stats().log.compactions, 1U);
    // The snapshot holds NEXT_ID and NEXT_LETTER (17 + 8 bytes each) besides the live
    // records, after the 32-byte segment header: the live bytes count exactly those.
    EXPECT_EQ(journal.stats().log.bytes_on_disk, 32U + 2U * 25U + journal.stats().live_bytes);
    live_bytes = journal.stats().live_bytes;
  }
  {
    Recovery back;
    JobJournal journal(options_for(dir.path, 0), back);
    check(back);
    EXPECT_EQ(journal.stats().live_bytes, live_bytes) << "replay counts the live bytes as the writer did";
    EXPECT_EQ(journal.stats().live_letters, 2U);
    // Compact the snapshot again: a RETRYING whose due time was cleared is copied as it is.
    churn(journal, 5);
    journal.commit(Clock::now());
    ASSERT_EQ(journal.stats().log.compactions, 1U);
    EXPECT_EQ(journal.stats().live_bytes, live_bytes);
  }
  Recovery back;
  JobJournal journal(options_for(dir.path), back);
  check(back);
  EXPECT_EQ(back.next_id, 6U);
  const auto types = record_types(dir.path);
  EXPECT_EQ(types, (std::vector<int>{5, 10, 8, 8, 6, 2, 7, 6, 2, 7, 3, 6}))
      << "NEXT_ID, NEXT_LETTER, the letters, then each job: ACCEPTED, ASSIGNED, RETRYING, FINISHED";
}

TEST(JobJournal, PurgingEveryLetterKeepsLetterIdsFromRepeating) {
  TempDir dir;
  {
    Recovery none;
    JobJournal journal(options_for(dir.path), none);  // no compaction here
    EXPECT_EQ(none.next_letter, 1U) << "a new journal";
    for (std::uint64_t id = 1; id <= 3; ++id) journal.dead_letter(letter(id, 100 + id, "l"));
    journal.commit(Clock::now());
    for (std::uint64_t id = 1; id <= 3; ++id) journal.dead_letter_gone(id);
    journal.commit(Clock::now());
  }
  {
    // Without a compaction the letters' records are still there.
    Recovery back;
    JobJournal journal(options_for(dir.path, 0), back);
    EXPECT_TRUE(back.dead_letters.empty());
    EXPECT_EQ(back.next_letter, 4U);
    EXPECT_EQ(journal.stats().live_letters, 0U);
    // With one, they are gone: NEXT_LETTER keeps the count.
    churn(journal, 1);
    journal.commit(Clock::now());
    ASSERT_EQ(journal.stats().log.compactions, 1U);
    const auto types = record_types(dir.path);
    EXPECT_EQ(std::count(types.begin(), types.end(), 8), 0) << "no letter's record is left";
  }
  {
    Recovery back;
    JobJournal journal(options_for(dir.path, 0), back);
    EXPECT_TRUE(back.dead_letters.empty());
    EXPECT_EQ(back.next_letter, 4U) << "above every letter id ever written";
    // And through a second compaction, which has only the NEXT_LETTER to go by.
    churn(journal, 2);
    journal.commit(Clock::now());
    ASSERT_EQ(journal.stats().log.compactions, 1U);
  }
  Recovery back;
  JobJournal journal(options_for(dir.path), back);
  EXPECT_EQ(back.next_letter, 4U);
  EXPECT_EQ(back.next_id, 3U);
}

// A manager whose clients never use the lifecycle writes only the types the version
// before knows, also in its snapshots: that version still opens its journal.
TEST(JobJournal, WithoutTheLifecycleOnlyTheOldTypesAreWritten) {
  TempDir dir;
  Recovery none;
  JobJournal journal(options_for(dir.path, 0), none);
  journal.accepted(job(1, "p1"));
  journal.assigned(1, 1);
  journal.finished(FinishedJob{1, std::nullopt, false, 0, bytes(std::string("r"))});
  churn(journal, 2);
  journal.commit(Clock::now());
  ASSERT_EQ(journal.stats().log.compactions, 1U);
  EXPECT_EQ(record_types(dir.path), (std::vector<int>{5, 1, 2, 3}));
}

// The layout of ACCEPTED, ASSIGNED, FINISHED, GONE and NEXT_ID as the journal wrote
// them before issue 14, written here by hand so that a change of the writer cannot
// change what this test reads.
class OldBody {
 public:
  template <typename T>
  OldBody& put(T value) {
    const auto at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
    return *this;
  }
  OldBody& put_string(const std::string& text) {
    put(static_cast<std::uint32_t>(text.size()));
    bytes_ += text;
    return *this;
  }
  [[nodiscard]] std::span<const std::byte> span() const { return bytes(bytes_); }

 private:
  std::string bytes_;
};

OldBody old_accepted(JobId id, std::uint8_t flags, const std::string& identity, const std::string& payload) {
  OldBody b;
  b.put(id).put(flags).put(0.5).put(std::int64_t{1000}).put(std::int64_t{5000}).put(std::uint64_t{700});
  b.put_string(identity).put_string("key").put_string("svc").put_string(payload);
  return b;
}

TEST(JobJournal, AJournalWrittenBeforeTheLifecycleOpensAsBefore) {
  TempDir dir;
  {
    LogOptions options;
    options.dir = dir.path;
    SegmentLog log(options, [](const RecordView&, const RecordLocation&) {});
    log.append(5, {OldBody().put(JobId{3}).span()});                                // NEXT_ID
    log.append(1, {old_accepted(3, 1 | 2 | 4, "client-a", "old payload").span()});  // raw, deadline, run timeout
    log.append(1, {old_accepted(4, 0, "", "p4").span()});
    log.append(1, {old_accepted(5, 0, "client-b", "p5").span()});
    log.append(2, {OldBody().put(JobId{3}).put(std::uint32_t{2}).span()});  // ASSIGNED
    log.append(3, {OldBody()
                       .put(JobId{4})
                       .put(std::uint8_t{2})
                       .put(std::int64_t{2000})
                       .put_string("EBOOM")
                       .put_string("no")
                       .put_string("r4")
                       .span()});                     // FINISHED, an error
    log.append(4, {OldBody().put(JobId{5}).span()});  // GONE
    log.commit(Clock::now());
  }
  Recovery back;
  JobJournal journal(options_for(dir.path, 0), back);
  ASSERT_EQ(back.jobs.size(), 2U);
  EXPECT_EQ(back.next_id, 6U);
  const auto& three = back.jobs[0];
  EXPECT_EQ(three.id, 3U);
  EXPECT_EQ(three.identity, "client-a");
  EXPECT_EQ(three.priority, 0.5);
  EXPECT_EQ(three.accepted_wall_ms, 1000);
  EXPECT_EQ(three.assign_deadline_wall_ms, std::optional<std::int64_t>(5000));
  EXPECT_EQ(three.run_timeout_ms, std::optional<std::uint64_t>(700));
  EXPECT_TRUE(three.raw);
  EXPECT_EQ(three.key, "key");
  EXPECT_EQ(three.service, "svc");
  EXPECT_EQ(three.payload, "old payload");
  EXPECT_EQ(three.attempt, 2U);
  // What the old layout has no place for reads as the defaults.
  EXPECT_EQ(three.group, "");
  EXPECT_FALSE(three.not_before_wall_ms);
  EXPECT_FALSE(three.retry);
  EXPECT_EQ(three.answered, 0U);
  EXPECT_FALSE(three.retry_due_wall_ms);
  const auto& four = back.jobs[1];
  EXPECT_EQ(four.id, 4U);
  EXPECT_FALSE(four.assign_deadline_wall_ms);
  EXPECT_FALSE(four.run_timeout_ms);
  ASSERT_TRUE(four.result);
  EXPECT_EQ(four.result->err, (JobError{"EBOOM", "no"}));
  EXPECT_EQ(four.result->payload, "r4");
  EXPECT_TRUE(back.dead_letters.empty());
  EXPECT_EQ(back.next_letter, 1U);

  // It goes on from there: new records, a compaction of old and new, a restart.
  auto six = job(6, "p6");
  six.retry = retry_policy();
  journal.accepted(six);
  journal.retrying(3, 1, 9000);
  churn(journal, 7);
  journal.commit(Clock::now());
  ASSERT_EQ(journal.stats().log.compactions, 1U);
  Recovery again;
  JobJournal reopened(options_for(dir.path), again);
  ASSERT_EQ(again.jobs.size(), 3U);
  EXPECT_EQ(again.jobs[0].payload, "old payload");
  EXPECT_TRUE(again.jobs[0].raw);
  EXPECT_EQ(again.jobs[0].attempt, 2U);
  EXPECT_EQ(again.jobs[0].answered, 1U);
  EXPECT_EQ(again.jobs[1].result->payload, "r4");
  EXPECT_EQ(again.jobs[2].retry, std::optional<RetryPolicy>(retry_policy()));
  EXPECT_EQ(again.next_id, 8U);
}

// A type this version does not know is refused, as before issue 14; so is a new
// type's record too short for its layout.
TEST(JobJournal, AnUnknownTypeOrAShortBodyStopsTheOpen) {
  for (const auto& [type, body] : std::vector<std::pair<std::uint8_t, std::string>>{
           {11, ""}, {200, "whatever"}, {7, std::string(12, '\0')}, {8, std::string(30, '\0')}, {9, "1234"}}) {
    TempDir dir;
    {
      LogOptions options;
      options.dir = dir.path;
      SegmentLog log(options, [](const RecordView&, const RecordLocation&) {});
      log.append(type, {bytes(body)});
      log.commit(Clock::now());
    }
    Recovery back;
    try {
      JobJournal journal(options_for(dir.path), back);
      ADD_FAILURE() << "type " << int(type) << " was read";
    } catch (const JournalError& e) {
      const std::string why = type > 10 ? "unknown type" : "shorter than its type needs";
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace proletariat::journal
