// journal::SegmentLog — the storage of the manager's journal: an append-only log of
// checksummed records in numbered segment files, written with group commit.
//
// Why hand-written (docs/architecture.md has the measurements): the journal's only
// write pattern is "append what one loop pass produced, then one fdatasync", and its
// only read is one sequential scan at start. A log does that with one write(2) and
// one fdatasync(2) per pass; the engines measured add their own log plus an index we
// never read.
//
// Layout of DIR:
//   <16 hex digits>.seg   segments, numbered upward; each starts with a 32-byte header
//                         (magic, journal id, flags, CRC32C). A segment whose header says
//                         `snapshot` holds the whole live state at its start; every older
//                         segment is garbage once it is durable (and deleted then).
//   *.tmp                 a snapshot being written (deleted at start: never renamed).
// A record: u32 body length | u32 CRC32C (over the length and all that follows it) |
// u64 sequence number | u8 type | body. Sequence numbers grow by one across segments.
//
// Damage on open: a torn tail (the last records of the last segment cut short or
// unwritten, as a crash mid-write leaves them) is cut off and logged. Any other bad
// record, a gap in the sequence, or a bad segment header stops the open with
// JournalError naming the file and offset, unless `repair`: then the log is cut at
// the first damage (what follows is lost, and logged).
//
// Failure: a failed write or fdatasync throws JournalError and leaves the log
// unusable: after a failed fsync the kernel may have dropped the dirty pages while
// reporting the next fsync as a success, so retrying could claim durability for lost
// data (the "fsyncgate" of PostgreSQL, 2018). The manager stops.
//
// Not thread-safe: the manager's loop thread owns it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace proletariat::journal {

class JournalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class SyncPolicy {
  always,    // fdatasync at every commit: nothing acknowledged is lost, even on power loss
  interval,  // fdatasync at most every `interval`: a power loss may lose that window
  off,       // never fdatasync: survives a crash of the process, not of the machine
};

struct SyncOptions {
  SyncPolicy policy = SyncPolicy::always;
  std::chrono::milliseconds interval{100};
};

// "always", "off" or "interval=MS"; false if the text is none of them.
bool parse_sync_options(const std::string& text, SyncOptions& out);
std::string to_string(const SyncOptions& sync);

// The system calls that make data durable, replaceable so that tests can make them fail.
struct FileOps {
  virtual ~FileOps() = default;
  virtual ssize_t write(int fd, const void* data, std::size_t size);
  virtual int fdatasync(int fd);
};

struct LogOptions {
  std::string dir;
  SyncOptions sync;
  bool repair = false;
  std::size_t segment_bytes = std::size_t{64} << 20;  // a segment is closed past this size
  FileOps* ops = nullptr;                              // null: the real system calls
};

// Where a record is, so that compaction can copy it from its old segment.
struct RecordLocation {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;  // of the record's first byte
  std::uint32_t size = 0;    // header and body; 0: no record
};

struct RecordView {
  std::uint64_t seq;
  std::uint8_t type;
  std::span<const std::byte> body;
};

struct LogStats {
  std::uint64_t records_written = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t commits = 0;  // write() calls that carried records
  std::uint64_t syncs = 0;    // fdatasync() calls
  std::uint64_t bytes_on_disk = 0;
  std::uint64_t compactions = 0;
  std::uint64_t torn_bytes_cut = 0;  // at open
};

inline constexpr std::size_t kRecordHeaderBytes = 17;

// What scan_records() found in a segment's bytes.
struct RecordScan {
  std::size_t end = 0;         // the offset after the last whole, valid record
  std::uint64_t next_seq = 0;  // the sequence number due after them
  std::string damage;          // why the scan stopped before the end of the bytes; empty: it did not
  bool torn = false;           // the damage is what an interrupted write leaves (a cut or zeroed tail)
};

// The record scan of one segment, apart from any file (SegmentLog reads a segment and
// hands its bytes here; fuzz/journal_records_fuzz.cpp calls it directly). Reads the
// records of `data` from `begin` (after the segment header, at most data.size()) to
// the end or the first damage: a cut, a bad checksum, or a sequence number other than
// `next_seq` (0: any, as for the first record of a snapshot). Each good record goes to
// `on_record` with its offset and size (header and body), in order; what it throws
// passes through.
using RecordSink = std::function<void(const RecordView&, std::size_t offset, std::uint32_t size)>;
RecordScan scan_records(std::span<const std::byte> data, std::size_t begin, std::uint64_t next_seq,
                        const RecordSink& on_record);
// A record's checksum, over the length and all that follows the checksum field.
[[nodiscard]] std::uint32_t record_checksum(std::span<const std::byte> record);
// The longest that written records wait for an fdatasync under `always` when none of
// them had to be durable before the manager answered.
inline constexpr std::chrono::milliseconds kLazySync{100};

class SegmentLog {
 public:
  using Replay = std::function<void(const RecordView&, const RecordLocation&)>;

  // Opens DIR (creating it and a first segment if empty) and hands every record, in
  // order, to `replay`. Throws JournalError on damage (see above) or I/O errors.
  SegmentLog(LogOptions options, const Replay& replay);
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // The journal's identity: random at creation, kept by every segment.
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

  // Queues a record (in memory until commit()). The body is the parts concatenated.
  RecordLocation append(std::uint8_t type, std::initializer_list<std::span<const std::byte>> body_parts);
  // Records queued since the last commit.
  [[nodiscard]] bool pending() const noexcept { return !buffer_.empty(); }
  // One write() of every queued record and, as the sync policy says, one fdatasync().
  // With `always`, `durable_now` false writes without syncing: the records are synced
  // with the next durable commit or by sync_if_due() within kLazySync (records that
  // only save work after a power loss: a result, an attempt, a forgotten job).
  void commit(std::chrono::steady_clock::time_point now, bool durable_now = true);
  // For `interval`: the sync that is due, if written data waits for one.
  void sync_if_due(std::chrono::steady_clock::time_point now);
  [[nodiscard]] bool awaiting_sync() const noexcept { return unsynced_; }

  // The body of a record written earlier (still in a live segment).
  [[nodiscard]] std::vector<std::byte> read_body(const RecordLocation& at) const;

  // Replaces every segment by one snapshot segment holding what `fill` appends (the
  // live state), written and synced before the old segments are deleted. Nothing may
  // be pending. Locations returned by append() inside `fill` point into the snapshot.
  void rewrite(const std::function<void()>& fill);

  [[nodiscard]] const LogStats& stats() const noexcept { return stats_; }
  [[nodiscard]] const SyncOptions& sync() const noexcept { return options_.sync; }

 private:
  struct Segment {
    int fd = -1;
    std::uint64_t size = 0;
  };
  void open_existing(const Replay& replay, std::vector<std::uint64_t>& numbers);
  void close_segments() noexcept;
  void scan_segment(std::uint64_t number, bool last, const Replay& replay);
  void create_segment(std::uint64_t number, bool snapshot, const std::string& path);
  void write_all(const Segment& segment, const std::byte* data, std::size_t size, const std::string& what);
  void sync_fd(int fd, const std::string& what);
  void sync_dir();
  [[nodiscard]] std::string path_of(std::uint64_t number) const;
  void fail(const std::string& message);

  LogOptions options_;
  FileOps* ops_;
  std::string id_;
  std::map<std::uint64_t, Segment> segments_;  // by number; the last is appended to
  std::uint64_t current_ = 0;
  std::uint64_t next_seq_ = 1;
  std::vector<std::byte> buffer_;
  bool unsynced_ = false;
  bool failed_ = false;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  LogStats stats_;
};

}  // namespace proletariat::journal
