#include "journal/segment_log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "journal/crc32c.hpp"
#include "log.hpp"

namespace proletariat::journal {
namespace {

constexpr char kMagic[8] = {'P', 'R', 'L', 'T', 'S', 'E', 'G', '1'};
constexpr std::size_t kSegmentHeaderBytes = 32;
constexpr std::uint32_t kSnapshotFlag = 1;
constexpr std::size_t kIdBytes = 16;

void put_u32(std::byte* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(std::byte* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string errno_text() { return std::strerror(errno); }

std::string hex(const std::byte* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned>(p[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

bool parse_segment_name(const std::string& name, std::uint64_t& number) {
  if (name.size() != 20 || name.substr(16) != ".seg") return false;
  number = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    const char c = name[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return false;
    number = number * 16 + static_cast<std::uint64_t>(digit);
  }
  return true;
}

std::vector<std::byte> read_file(int fd, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0) throw JournalError("journal: cannot stat " + path + ": " + errno_text());
  std::vector<std::byte> data(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw JournalError("journal: cannot read " + path + ": " + errno_text());
    done += static_cast<std::size_t>(n);
  }
  return data;
}

}  // namespace

bool parse_sync_options(const std::string& text, SyncOptions& out) {
  if (text == "always") {
    out.policy = SyncPolicy::always;
    return true;
  }
  if (text == "off") {
    out.policy = SyncPolicy::off;
    return true;
  }
  static const std::string kInterval = "interval=";
  if (text.rfind(kInterval, 0) != 0) return false;
  const std::string ms = text.substr(kInterval.size());
  if (ms.empty() || ms.size() > 9 || !std::all_of(ms.begin(), ms.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  out.policy = SyncPolicy::interval;
  out.interval = std::chrono::milliseconds(std::stoull(ms));
  return true;
}

std::string to_string(const SyncOptions& sync) {
  switch (sync.policy) {
    case SyncPolicy::always:
      return "always";
    case SyncPolicy::off:
      return "off";
    case SyncPolicy::interval:
      return "interval=" + std::to_string(sync.interval.count());
  }
  return "?";
}

ssize_t FileOps::write(int fd, const void* data, std::size_t size) { return ::write(fd, data, size); }
int FileOps::fdatasync(int fd) { return ::fdatasync(fd); }

namespace {
FileOps& system_ops() {
  static FileOps ops;
  return ops;
}
}  // namespace

SegmentLog::SegmentLog(LogOptions options, const Replay& replay)
    : options_(std::move(options)), ops_(options_.ops != nullptr ? options_.ops : &system_ops()) {
  if (options_.dir.empty()) throw JournalError("journal: no directory given");
  if (mkdir(options_.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw JournalError("journal: cannot create " + options_.dir + ": " + errno_text());
  }
  std::vector<std::uint64_t> numbers;
  DIR* dir = opendir(options_.dir.c_str());
  if (dir == nullptr) throw JournalError("journal: cannot open " + options_.dir + ": " + errno_text());
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    std::uint64_t number = 0;
    if (parse_segment_name(name, number)) {
      numbers.push_back(number);
    } else if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      // A snapshot that was never renamed into place: the segments before it stand.
      detail::log().warn("journal: removing {} (an unfinished snapshot)", name);
      ::unlink((options_.dir + "/" + name).c_str());
    }
  }
  closedir(dir);
  std::sort(numbers.begin(), numbers.end());
  // No destructor runs for a constructor that throws: the segments it opened are
  // closed here (an embedding program that retries would run out of descriptors;
  // found by fuzz/journal_records_fuzz).
  try {
    if (numbers.empty()) {
      std::byte raw[kIdBytes];
      std::random_device random;
      for (auto& b : raw) b = static_cast<std::byte>(random() & 0xFF);
      id_ = hex(raw, kIdBytes);
      create_segment(1, true, path_of(1));
      sync_dir();
      current_ = 1;
      detail::log().info("journal: created {} (id {})", options_.dir, id_);
      return;
    }
    open_existing(replay, numbers);
  } catch (...) {
    close_segments();
    throw;
  }
}

SegmentLog::~SegmentLog() { close_segments(); }

void SegmentLog::close_segments() noexcept {
  for (auto& [number, segment] : segments_) {
    if (segment.fd >= 0) ::close(segment.fd);
  }
  segments_.clear();
}

std::string SegmentLog::path_of(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.seg", static_cast<unsigned long long>(number));
  return options_.dir + "/" + name;
}

void SegmentLog::open_existing(const Replay& replay, std::vector<std::uint64_t>& numbers) {
  // A crash while a segment was being created leaves it without a whole header.
  while (!numbers.empty()) {
    const std::string path = path_of(numbers.back());
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && static_cast<std::size_t>(st.st_size) >= kSegmentHeaderBytes) break;
    detail::log().warn("journal: removing {}: created but never written (a crash while it was opened)", path);
    ::unlink(path.c_str());
    numbers.pop_back();
  }
  // Headers, newest first, down to the latest snapshot: older segments are garbage.
  std::size_t start = numbers.size();
  for (std::size_t i = numbers.size(); i-- > 0;) {
    const std::string path = path_of(numbers[i]);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw JournalError("journal: cannot open " + path + ": " + errno_text());
    std::byte header[kSegmentHeaderBytes];
    if (pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header) ||
        std::memcmp(header, kMagic, sizeof kMagic) != 0 ||
        crc32c({header, kSegmentHeaderBytes - 4}) != get_u32(header + kSegmentHeaderBytes - 4)) {
      ::close(fd);
      throw JournalError("journal: " + path + " has a damaged segment header: not a proletariat journal, or damaged");
    }
    const std::string id = hex(header + 8, kIdBytes);
    if (id_.empty()) id_ = id;
    if (id != id_) {
      ::close(fd);
      throw JournalError("journal: " + path + " belongs to journal " + id + ", the others to " + id_ +
                         ": two journals in one directory");
    }
    segments_[numbers[i]] = Segment{fd, 0};
    if ((get_u32(header + 8 + kIdBytes) & kSnapshotFlag) != 0) {
      start = i;
      break;
    }
  }
  if (start == numbers.size()) {
    throw JournalError("journal: no segment in " + options_.dir + " starts with a snapshot: the journal is incomplete");
  }
  for (std::size_t i = 0; i < start; ++i) {
    detail::log().info("journal: removing {} (before the latest snapshot)", path_of(numbers[i]));
    ::unlink(path_of(numbers[i]).c_str());
  }
  numbers.erase(numbers.begin(), numbers.begin() + static_cast<std::ptrdiff_t>(start));
  next_seq_ = 0;  // the first record of the snapshot sets it
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (segments_.count(numbers[i]) == 0) continue;  // dropped by a repair
    scan_segment(numbers[i], i + 1 == numbers.size() || segments_.rbegin()->first == numbers[i], replay);
  }
  if (next_seq_ == 0) next_seq_ = 1;
  current_ = segments_.rbegin()->first;
  for (const auto& [number, segment] : segments_) stats_.bytes_on_disk += segment.size;
}

std::uint32_t record_checksum(std::span<const std::byte> record) {
  const std::uint32_t crc = crc32c(record.first(4));
  return crc32c(record.subspan(8), crc);
}

RecordScan scan_records(std::span<const std::byte> data, std::size_t begin, std::uint64_t next_seq,
                        const RecordSink& on_record) {
  RecordScan scan;
  std::size_t pos = begin;
  while (pos < data.size()) {
    const std::size_t left = data.size() - pos;
    if (left < kRecordHeaderBytes) {
      scan.damage = "a record header cut short";
      scan.torn = true;
      break;
    }
    const std::uint32_t length = get_u32(data.data() + pos);
    if (length > left - kRecordHeaderBytes) {
      scan.damage = "a record cut short";
      scan.torn = true;
      break;
    }
    const std::size_t size = kRecordHeaderBytes + length;
    if (record_checksum(data.subspan(pos, size)) != get_u32(data.data() + pos + 4)) {
      scan.damage = "a record whose checksum does not match";
      const bool zeros = std::all_of(data.begin() + static_cast<std::ptrdiff_t>(pos), data.end(),
                                     [](std::byte b) { return b == std::byte{0}; });
      scan.torn = pos + size == data.size() || zeros;
      break;
    }
    const std::uint64_t seq = get_u64(data.data() + pos + 8);
    if (next_seq != 0 && seq != next_seq) {
      scan.damage = "sequence number " + std::to_string(seq) + " where " + std::to_string(next_seq) + " was due";
      break;
    }
    next_seq = seq + 1;
    const RecordView view{seq, static_cast<std::uint8_t>(data[pos + 16]),
                          data.subspan(pos + kRecordHeaderBytes, length)};
    on_record(view, pos, static_cast<std::uint32_t>(size));
    pos += size;
  }
  scan.end = pos;
  scan.next_seq = next_seq;
  return scan;
}

void SegmentLog::scan_segment(std::uint64_t number, bool last, const Replay& replay) {
  const std::string path = path_of(number);
  Segment& segment = segments_.at(number);
  const std::vector<std::byte> data = read_file(segment.fd, path);
  const RecordScan scan = scan_records(data, kSegmentHeaderBytes, next_seq_,
                                       [&](const RecordView& view, std::size_t offset, std::uint32_t size) {
                                         replay(view, RecordLocation{number, offset, size});
                                       });
  next_seq_ = scan.next_seq;
  const std::size_t pos = scan.end;
  segment.size = pos;
  if (pos == data.size()) return;
  const std::size_t cut = data.size() - pos;
  if (!(scan.torn && last)) {
    const std::string what = "journal: " + path + " is damaged at offset " + std::to_string(pos) + " (" +
                             scan.damage + "), before its end";
    if (!options_.repair) {
      throw JournalError(what + ": the manager does not start on a damaged journal; start it with --journal-repair "
                                "to cut the journal there (the records after that point are lost)");
    }
    detail::log().error("{}: repairing as asked: cutting {} bytes here and every later segment", what, cut);
    for (auto it = segments_.upper_bound(number); it != segments_.end();) {
      ::close(it->second.fd);
      ::unlink(path_of(it->first).c_str());
      it = segments_.erase(it);
    }
  } else {
    detail::log().warn("journal: {}: cutting a torn tail of {} bytes at offset {} ({}): a write the crash interrupted, "
                       "never acknowledged",
                       path, cut, pos, scan.damage);
  }
  stats_.torn_bytes_cut += cut;
  if (ftruncate(segment.fd, static_cast<off_t>(pos)) != 0) {
    throw JournalError("journal: cannot cut " + path + ": " + errno_text());
  }
  sync_fd(segment.fd, path);
}

void SegmentLog::create_segment(std::uint64_t number, bool snapshot, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw JournalError("journal: cannot create " + path + ": " + errno_text());
  std::byte header[kSegmentHeaderBytes] = {};
  std::memcpy(header, kMagic, sizeof kMagic);
  for (std::size_t i = 0; i < kIdBytes; ++i) {
    header[8 + i] = static_cast<std::byte>(std::stoul(id_.substr(2 * i, 2), nullptr, 16));
  }
  put_u32(header + 8 + kIdBytes, snapshot ? kSnapshotFlag : 0);
  put_u32(header + kSegmentHeaderBytes - 4, crc32c({header, kSegmentHeaderBytes - 4}));
  Segment& segment = segments_[number] = Segment{fd, 0};
  write_all(segment, header, sizeof header, path);
  segment.size = kSegmentHeaderBytes;
  sync_fd(fd, path);
  stats_.bytes_on_disk += kSegmentHeaderBytes;
}

RecordLocation SegmentLog::append(std::uint8_t type, std::initializer_list<std::span<const std::byte>> body_parts) {
  if (failed_) throw JournalError("journal: unusable after an I/O error");
  std::size_t length = 0;
  for (const auto& part : body_parts) length += part.size();
  if (length > 0xFFFFFFFFU - kRecordHeaderBytes) throw JournalError("journal: record too large");
  const std::size_t at = buffer_.size();
  buffer_.resize(at + kRecordHeaderBytes + length);
  std::byte* record = buffer_.data() + at;
  put_u32(record, static_cast<std::uint32_t>(length));
  put_u64(record + 8, next_seq_++);
  record[16] = static_cast<std::byte>(type);
  std::byte* body = record + kRecordHeaderBytes;
  for (const auto& part : body_parts) {
    if (!part.empty()) std::memcpy(body, part.data(), part.size());
    body += part.size();
  }
  put_u32(record + 4, record_checksum({record, kRecordHeaderBytes + length}));
  ++stats_.records_written;
  const Segment& segment = segments_.at(current_);
  return RecordLocation{current_, segment.size + at, static_cast<std::uint32_t>(kRecordHeaderBytes + length)};
}

void SegmentLog::write_all(const Segment& segment, const std::byte* data, std::size_t size, const std::string& what) {
  // At the segment's end as the log knows it: a write that failed halfway left bytes
  // past it, which the next write covers.
  if (lseek(segment.fd, static_cast<off_t>(segment.size), SEEK_SET) < 0) {
    fail("journal: cannot seek in " + what + ": " + errno_text());
  }
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ops_->write(segment.fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("journal: cannot write " + what + ": " + errno_text());
    done += static_cast<std::size_t>(n);
  }
}

void SegmentLog::sync_fd(int fd, const std::string& what) {
  ++stats_.syncs;
  if (ops_->fdatasync(fd) != 0) {
    fail("journal: fdatasync of " + what + " failed: " + errno_text() +
         "; the manager stops (data the kernel failed to write may be lost; retrying would not tell)");
  }
}

void SegmentLog::sync_dir() {
  const int fd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("journal: cannot open " + options_.dir + ": " + errno_text());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("journal: fsync of " + options_.dir + " failed: " + errno_text());
}

void SegmentLog::fail(const std::string& message) {
  failed_ = true;
  throw JournalError(message);
}

void SegmentLog::commit(std::chrono::steady_clock::time_point now, bool durable_now) {
  if (failed_) throw JournalError("journal: unusable after an I/O error");
  if (buffer_.empty()) {
    sync_if_due(now);
    return;
  }
  Segment& segment = segments_.at(current_);
  const std::string path = path_of(current_);
  write_all(segment, buffer_.data(), buffer_.size(), path);
  segment.size += buffer_.size();
  stats_.bytes_written += buffer_.size();
  stats_.bytes_on_disk += buffer_.size();
  ++stats_.commits;
  buffer_.clear();
  unsynced_ = true;
  if (options_.sync.policy == SyncPolicy::always && durable_now) {
    sync_fd(segment.fd, path);
    unsynced_ = false;
    last_sync_ = now;
  } else {
    sync_if_due(now);
  }
  if (segment.size >= options_.segment_bytes) {
    if (unsynced_ && options_.sync.policy != SyncPolicy::off) sync_fd(segment.fd, path);
    unsynced_ = false;
    const std::uint64_t next = current_ + 1;
    create_segment(next, false, path_of(next));
    sync_dir();
    current_ = next;
  }
}

void SegmentLog::sync_if_due(std::chrono::steady_clock::time_point now) {
  if (!unsynced_ || options_.sync.policy == SyncPolicy::off) return;
  const auto every = options_.sync.policy == SyncPolicy::interval ? options_.sync.interval
                                                                   : std::chrono::milliseconds(kLazySync);
  if (now - last_sync_ < every) return;
  sync_fd(segments_.at(current_).fd, path_of(current_));
  unsynced_ = false;
  last_sync_ = now;
}

std::vector<std::byte> SegmentLog::read_body(const RecordLocation& at) const {
  const auto it = segments_.find(at.segment);
  if (it == segments_.end() || at.size < kRecordHeaderBytes) throw JournalError("journal: record location unknown");
  std::vector<std::byte> body(at.size - kRecordHeaderBytes);
  std::size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = pread(it->second.fd, body.data() + done, body.size() - done,
                            static_cast<off_t>(at.offset + kRecordHeaderBytes + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw JournalError("journal: cannot read " + path_of(at.segment) + ": " + errno_text());
    done += static_cast<std::size_t>(n);
  }
  return body;
}

void SegmentLog::rewrite(const std::function<void()>& fill) {
  if (!buffer_.empty()) throw JournalError("journal: rewrite with records pending");
  const std::uint64_t number = current_ + 1;
  const std::string final_path = path_of(number);
  const std::string tmp_path = final_path + ".tmp";
  const std::uint64_t bytes_before = stats_.bytes_on_disk;
  const std::uint64_t previous = current_;
  create_segment(number, true, tmp_path);
  current_ = number;
  try {
    fill();
    Segment& snapshot = segments_.at(number);
    write_all(snapshot, buffer_.data(), buffer_.size(), tmp_path);
    snapshot.size += buffer_.size();
    stats_.bytes_written += buffer_.size();
    buffer_.clear();
    sync_fd(snapshot.fd, tmp_path);
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) fail("journal: cannot rename " + tmp_path + ": " + errno_text());
    sync_dir();
  } catch (...) {
    buffer_.clear();
    current_ = previous;
    throw;
  }
  // The snapshot is durable: every older segment is garbage.
  for (auto it = segments_.begin(); it != segments_.end();) {
    if (it->first >= number) break;
    ::close(it->second.fd);
    ::unlink(path_of(it->first).c_str());
    it = segments_.erase(it);
  }
  stats_.bytes_on_disk = segments_.at(number).size;
  ++stats_.compactions;
  unsynced_ = false;
  detail::log().info("journal: compacted {} bytes into a snapshot of {} bytes", bytes_before, stats_.bytes_on_disk);
}

}  // namespace proletariat::journal
