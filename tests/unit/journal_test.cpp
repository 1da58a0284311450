// The journal's storage on a real directory: torn tails cut at every byte offset,
// damage refused (or cut with repair), a failing fdatasync, compaction, and the job
// records' replay.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
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

}  // namespace
}  // namespace proletariat::journal
