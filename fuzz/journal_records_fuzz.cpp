// Fuzz target: the journal's record reader, journal::scan_records (the scan that
// SegmentLog runs over each segment at start), and JobJournal's replay of records.
//
// Input: one option byte, then a segment's records (the bytes after its header).
//   bit 0  write each record's checksum, and
//   bit 1  its sequence number (1, 2, ...), before reading: random bytes almost never
//          carry a valid CRC32C, so without these the fuzzer would test little more
//          than the checksum;
//   bit 2  also open a JobJournal on a directory holding these records as its one
//          (snapshot) segment, then forget its first live job, put the next one in a
//          retry's backoff, accept a new one (with a group and a retry policy: the
//          lifecycle's record), drop its first dead letter, add a new one (and drop it
//          too when that leaves none: letter ids must not repeat after a purge), commit
//          with a compaction floor of 0 (so the live records are rewritten), and open
//          it again: the second replay must give back the same jobs and letters, and
//          ids above theirs (and an open that fails must close what it opened);
//   bit 3  open with repair.
// scan_records is checked for what its callers rely on: records in order, back to
// back, inside the bytes, and damage exactly when it stopped early.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "journal/crc32c.hpp"
#include "journal/job_journal.hpp"
#include "journal/segment_log.hpp"
#include "log.hpp"

namespace {

using namespace proletariat::journal;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "journal_records_fuzz: %s\n", what);
  std::abort();
}

std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Makes the records valid where their lengths allow, as the options ask.
void fix_up(std::vector<std::byte>& bytes, bool checksums, bool sequence) {
  std::size_t pos = 0;
  std::uint64_t seq = 1;
  while (bytes.size() - pos >= kRecordHeaderBytes) {
    const std::uint32_t length = get_u32(bytes.data() + pos);
    if (length > bytes.size() - pos - kRecordHeaderBytes) break;
    const std::size_t size = kRecordHeaderBytes + length;
    if (sequence) std::memcpy(bytes.data() + pos + 8, &seq, 8);
    if (checksums) {
      const std::uint32_t crc = record_checksum(std::span<const std::byte>(bytes).subspan(pos, size));
      std::memcpy(bytes.data() + pos + 4, &crc, 4);
    }
    ++seq;
    pos += size;
  }
}

void check_scan(const std::vector<std::byte>& bytes) {
  std::size_t expected_offset = 0;
  std::uint64_t records = 0;
  const RecordScan scan =
      scan_records(bytes, 0, 0, [&](const RecordView& view, std::size_t offset, std::uint32_t size) {
        if (offset != expected_offset) fail("records are not back to back");
        if (size < kRecordHeaderBytes || offset + size > bytes.size()) fail("a record outside the bytes");
        if (view.body.size() != size - kRecordHeaderBytes) fail("a body of the wrong size");
        if (view.body.data() != bytes.data() + offset + kRecordHeaderBytes) fail("a body in the wrong place");
        expected_offset = offset + size;
        ++records;
      });
  if (scan.end != expected_offset) fail("the scan's end is not the end of its last record");
  if (scan.damage.empty() != (scan.end == bytes.size()))
    fail("damage reported without stopping early, or not reported");
  if (scan.torn && scan.damage.empty()) fail("torn without damage");
  (void)records;
}

constexpr std::uint64_t kMaxJobId = std::uint64_t{1} << 53;

// fdatasync costs time and proves nothing here.
struct NoSync final : FileOps {
  int fdatasync(int) override { return 0; }
};

void write_segment(const std::string& dir, const std::vector<std::byte>& records) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directory(dir);
  // The segment header (segment_log.cpp): magic, journal id, flags (1: snapshot), CRC32C.
  std::byte header[32] = {};
  std::memcpy(header, "PRLTSEG1", 8);
  for (int i = 0; i < 16; ++i) header[8 + i] = static_cast<std::byte>(0xA0 + i);
  const std::uint32_t snapshot = 1;
  std::memcpy(header + 24, &snapshot, 4);
  const std::uint32_t crc = crc32c({header, 28});
  std::memcpy(header + 28, &crc, 4);
  const std::string path = dir + "/0000000000000001.seg";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) fail("cannot create the segment");
  if (::write(fd, header, sizeof header) != static_cast<ssize_t>(sizeof header)) fail("write");
  if (!records.empty() && ::write(fd, records.data(), records.size()) != static_cast<ssize_t>(records.size())) {
    fail("write");
  }
  ::close(fd);
}

// Bit for bit: a NaN read back is the same NaN.
bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same_retry(const std::optional<proletariat::RetryPolicy>& a, const std::optional<proletariat::RetryPolicy>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->max == b->max && a->codes == b->codes && a->initial == b->initial && same_double(a->factor, b->factor) &&
         a->max_delay == b->max_delay && same_double(a->jitter, b->jitter);
}

bool same(const RecoveredJob& a, const RecoveredJob& b) {
  const auto same_result = [](const std::optional<RecoveredJob::Result>& x,
                              const std::optional<RecoveredJob::Result>& y) {
    if (x.has_value() != y.has_value()) return false;
    if (!x) return true;
    const bool same_err = x->err.has_value() == y->err.has_value() &&
                          (!x->err || (x->err->code == y->err->code && x->err->message == y->err->message));
    return same_err && x->raw == y->raw && x->finished_wall_ms == y->finished_wall_ms && x->payload == y->payload;
  };
  return a.id == b.id && a.identity == b.identity && same_double(a.priority, b.priority) && a.key == b.key &&
         a.service == b.service && a.accepted_wall_ms == b.accepted_wall_ms &&
         a.assign_deadline_wall_ms == b.assign_deadline_wall_ms && a.run_timeout_ms == b.run_timeout_ms &&
         a.raw == b.raw && a.group == b.group && a.not_before_wall_ms == b.not_before_wall_ms &&
         same_retry(a.retry, b.retry) && a.payload == b.payload && a.attempt == b.attempt && a.answered == b.answered &&
         a.retry_due_wall_ms == b.retry_due_wall_ms && same_result(a.result, b.result);
}

bool same(const RecoveredLetter& a, const RecoveredLetter& b) {
  return a.letter == b.letter && a.job == b.job && a.client == b.client && a.identity == b.identity &&
         same_double(a.priority, b.priority) && a.key == b.key && a.service == b.service && a.group == b.group &&
         a.run_timeout_ms == b.run_timeout_ms && same_retry(a.retry, b.retry) && a.err == b.err &&
         a.attempts == b.attempts && a.since_wall_ms == b.since_wall_ms && a.raw == b.raw && a.payload == b.payload;
}

// The lowest free descriptor: the same before and after an open that failed, or the
// open leaked what it had opened.
int lowest_free_fd() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open /dev/null");
  ::close(fd);
  return fd;
}

void replay_and_compact(const std::vector<std::byte>& records, bool repair) {
  static NoSync no_sync;
  const std::string dir = proletariat::fuzz::scratch_dir("prlt-journal-fuzz") + "/journal";
  write_segment(dir, records);
  const int free_fd = lowest_free_fd();
  JournalOptions options;
  options.log.dir = dir;
  options.log.sync.policy = SyncPolicy::off;
  options.log.repair = repair;
  options.log.ops = &no_sync;
  options.compact_floor_bytes = 0;
  Recovery first;
  std::vector<RecoveredJob> expected;
  std::vector<RecoveredLetter> expected_letters;
  std::uint64_t added_letter_id = 0;
  try {
    JobJournal journal(options, first);
    expected = first.jobs;
    expected_letters = first.dead_letters;
    // Ids at the top of the 64-bit range (no manager gives one: they stay below 2^53,
    // PROTOCOL §2) wrap the next id around to a live job's; not a state to check.
    // Letter ids likewise.
    if (first.next_id >= kMaxJobId || (!expected.empty() && expected.back().id >= kMaxJobId)) return;
    if (first.next_letter >= kMaxJobId || (!expected_letters.empty() && expected_letters.back().letter >= kMaxJobId)) {
      return;
    }
    if (!expected.empty()) {
      journal.gone(expected.front().id);
      expected.erase(expected.begin());
    }
    if (!expected.empty()) {
      auto& job = expected.front();
      job.answered += 1;
      job.retry_due_wall_ms = 1'700'000'009'000;
      journal.retrying(job.id, job.answered, *job.retry_due_wall_ms);
    }
    if (!expected_letters.empty()) {
      journal.dead_letter_gone(expected_letters.front().letter);
      expected_letters.erase(expected_letters.begin());
    }
    const std::string payload = "fuzz";
    proletariat::RetryPolicy retry;
    retry.max = 2;
    retry.codes = {"EBUSY"};
    AcceptedJob job;
    job.id = first.next_id;
    job.key = "k";
    job.group = "g";
    job.retry = retry;
    job.payload = std::as_bytes(std::span<const char>(payload));
    journal.accepted(job);
    DeadLetterRecord letter;
    letter.letter = first.next_letter;
    letter.job = job.id;
    letter.err = proletariat::JobError{"EPOISON", "fuzz"};
    letter.retry = retry;
    letter.payload = job.payload;
    journal.dead_letter(letter);
    // When it is the only one, it goes at once: a purge of every letter, after which
    // the snapshot alone keeps letter ids from repeating.
    const bool purged = expected_letters.empty();
    if (purged) journal.dead_letter_gone(letter.letter);
    added_letter_id = letter.letter;
    journal.commit(std::chrono::steady_clock::now());
    RecoveredJob added;
    added.id = job.id;
    added.key = job.key;
    added.group = job.group;
    added.retry = retry;
    added.payload = payload;
    expected.push_back(added);
    if (!purged) {
      RecoveredLetter added_letter;
      static_cast<DeadLetterFields&>(added_letter) = letter;
      added_letter.payload = payload;
      expected_letters.push_back(added_letter);
    }
  } catch (const JournalError&) {
    // Damage, an unknown record type, a short body: refused, as it should be.
    if (lowest_free_fd() != free_fd) fail("a journal that failed to open left descriptors open");
    return;
  }
  Recovery second;
  JobJournal again(options, second);
  if (second.jobs.size() != expected.size()) fail("a compacted journal gives back another number of jobs");
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (!same(second.jobs[i], expected[i])) fail("a compacted journal gives back another job");
  }
  if (second.next_id <= expected.back().id) fail("a compacted journal reuses a job id");
  if (second.dead_letters.size() != expected_letters.size()) {
    fail("a compacted journal gives back another number of letters");
  }
  for (std::size_t i = 0; i < expected_letters.size(); ++i) {
    if (!same(second.dead_letters[i], expected_letters[i])) fail("a compacted journal gives back another letter");
  }
  if (second.next_letter <= added_letter_id || second.next_letter < first.next_letter) {
    fail("a compacted journal reuses a letter id");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  proletariat::detail::log().set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options = data[0];
  const auto* begin = reinterpret_cast<const std::byte*>(data + 1);
  std::vector<std::byte> records(begin, begin + (size - 1));
  fix_up(records, (options & 1) != 0, (options & 2) != 0);
  check_scan(records);
  if ((options & 4) != 0) replay_and_compact(records, (options & 8) != 0);
  return 0;
}
