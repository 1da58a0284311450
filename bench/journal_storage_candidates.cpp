// journal_storage_candidates.cpp: measures the storage candidates for the job manager's
// opt-in durable journal under group commit. One self-contained file: no project code,
// not part of the CMake build. Each engine is compiled in only when its header exists.
//
// Candidates
//   log      hand-written append-only segmented log: one write() + fdatasync() per batch,
//            record = [u32 length][u32 crc32c][u64 seq][body], 16 MiB segments; a delete is
//            a tombstone record (bit 31 of length set, body = the deleted seq); a segment is
//            unlinked once it and every older segment hold no live record.
//   logz     the same log, but segments are pre-zeroed (written + fdatasync'd) by a
//            background thread, and commits pwrite() over the zeros, so fdatasync() has no
//            file size or extent change to journal. End of log = zero length or bad crc.
//   sqlite   SQLite, journal_mode=WAL, synchronous=FULL, one BEGIN..COMMIT per batch,
//            table j(seq INTEGER PRIMARY KEY, body BLOB).
//   lmdb     LMDB, default sync (no MDB_NOSYNC / MDB_NOMETASYNC), one write txn per batch,
//            8-byte big-endian keys put with MDB_APPEND.
//   rocksdb  RocksDB, default Options, WriteOptions.sync = true, one WriteBatch per batch.
//
// Build by hand (Debian 12: apt-get install libsqlite3-dev liblmdb-dev librocksdb-dev):
//   g++ -std=c++20 -O2 -Wall -Wextra -o /tmp/journal_storage_candidates bench/journal_storage_candidates.cpp -lsqlite3 -llmdb -lrocksdb -lpthread
// An engine whose package is absent compiles out by itself (__has_include); one whose
// header is present but whose library you do not want to link is dropped with
// -DJB_NO_SQLITE / -DJB_NO_LMDB / -DJB_NO_ROCKSDB (then leave out its -l flag).
//
// Run (about 4 minutes on a 2-core VM with the defaults):
//   /tmp/journal_storage_candidates [--seconds=1.5] [--scan=1000000] [--live=10000]
//       [--bodies=100,1024] [--batches=1,16,256] [--engines=log,logz,sqlite,lmdb,rocksdb]
//       [--dir=/tmp] [--no-scan]
// Data goes to a fresh mkdtemp() directory under --dir (default /tmp), removed at the end.
//
// What is measured
//   floor     write() of 4 KiB + fdatasync(): appended to a growing file, and over a
//             pre-zeroed file (what logz does).
//   insert    batches of N new records; µs per commit = the engine's whole commit call
//             (encode + write + sync), p50 and p99 over all commits of the run.
//   pairs     a live set of --live records is put first; then each batch inserts N new
//             records and deletes the N oldest (the "job delivered" record), so the live
//             set stays constant. After the run: close, evict the files from the page
//             cache, reopen and scan the live set ("recovery after churn").
//   recovery  --scan live records loaded in batches of 1024; close; bytes on disk per
//             record (allocated blocks, du-style, all files of the engine); evict the page
//             cache for those files (fsync + posix_fadvise DONTNEED: guest cache only, the
//             hypervisor may still cache); then time open + a full scan that hands every
//             live record's (seq, body) to the caller, then a second, warm scan.
//   dev w/c, fl/c  write and flush requests the block device completed per commit (from
//             /sys/dev/block/M:m/stat, whole device). On a VM whose disk is rate-limited the
//             cost of a commit follows fl/c, not the engine's CPU work; the floor is printed
//             at the start and at the end so a change of regime mid-run shows.
//   Each engine does its own integrity work on read: the log checks every crc32c, RocksDB
//   its block checksums; SQLite and LMDB have none.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#if __has_include(<sqlite3.h>) && !defined(JB_NO_SQLITE)
#include <sqlite3.h>
#define JB_HAVE_SQLITE 1
#endif
#if __has_include(<lmdb.h>) && !defined(JB_NO_LMDB)
#include <lmdb.h>
#define JB_HAVE_LMDB 1
#endif
#if __has_include(<rocksdb/db.h>) && !defined(JB_NO_ROCKSDB)
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#define JB_HAVE_ROCKSDB 1
#endif

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fatal: %s\n", what.c_str());
  std::exit(2);
}
[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------- crc32c (Castagnoli)
uint32_t g_crc_table[256];
bool g_crc_hw = false;

void crc_init() {
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    g_crc_table[i] = c;
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  g_crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
  auto p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (g_crc_hw) return crc32c_hw(crc, p, n);
#endif
  uint32_t c = ~crc;
  while (n--) c = g_crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

// ---------------------------------------------------------------- small helpers
void be64(uint64_t v, unsigned char out[8]) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(v & 0xFF);
    v >>= 8;
  }
}
uint64_t from_be64(const void* p) {
  auto b = static_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

void write_all(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die_errno("write");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}
void pwrite_all(int fd, const char* p, size_t n, off_t off) {
  while (n) {
    ssize_t w = ::pwrite(fd, p, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      die_errno("pwrite");
    }
    p += w;
    off += w;
    n -= static_cast<size_t>(w);
  }
}
void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die_errno("open dir " + dir.string());
  if (::fsync(fd) != 0) die_errno("fsync dir");
  ::close(fd);
}

// Allocated bytes (st_blocks * 512) of every regular file under dir, like du.
uint64_t disk_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    struct stat st{};
    if (::stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512u;
  }
  return total;
}

// Make the engine's files cold in the guest page cache: write back, then drop.
void evict_cache(const fs::path& dir) {
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

struct Pct {
  double p50 = 0, p99 = 0, max = 0;
};
Pct percentiles(std::vector<double> v) {
  Pct r;
  if (v.empty()) return r;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
    return v[std::min(i, v.size() - 1)];
  };
  r.p50 = at(0.50);
  r.p99 = at(0.99);
  r.max = v.back();
  return r;
}

// Requests the block device under the data dir completed (/sys/dev/block/M:m/stat):
// write requests, flush requests, 512-byte sectors written. Whole-device counters, so
// anything else writing to the same disk meanwhile is counted too.
struct DevStat {
  uint64_t writes = 0, flushes = 0, sectors = 0;
  bool ok = false;
};
std::string g_dev_stat_path;
DevStat dev_stat() {
  DevStat d;
  if (g_dev_stat_path.empty()) return d;
  std::ifstream in(g_dev_stat_path);
  std::vector<uint64_t> f;
  for (uint64_t x; in >> x;) f.push_back(x);
  if (f.size() < 7) return d;
  d.writes = f[4];
  d.sectors = f[6];
  d.flushes = f.size() >= 17 ? f[15] : 0;
  d.ok = true;
  return d;
}
DevStat operator-(const DevStat& a, const DevStat& b) {
  return {a.writes - b.writes, a.flushes - b.flushes, a.sectors - b.sectors, a.ok && b.ok};
}

// ---------------------------------------------------------------- record bodies
// "Small JSON payload + metadata", padded with random base64 to exactly `size` bytes.
// A pool of 1024 distinct bodies per size: far enough apart that block compression
// (RocksDB's default Snappy) cannot exploit repeats.
std::vector<std::string> make_body_pool(size_t size, uint32_t seed) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 rng(seed);
  std::vector<std::string> pool;
  pool.reserve(1024);
  const char* kinds[] = {"render", "transcode", "index", "thumb"};
  for (int i = 0; i < 1024; ++i) {
    char head[160];
    int n = std::snprintf(head, sizeof head,
                          "{\"job\":%u,\"kind\":\"%s\",\"peer\":\"w-%02u\",\"try\":%u,\"ts\":%u,\"p\":\"",
                          static_cast<unsigned>(rng() % 10000000), kinds[rng() % 4],
                          static_cast<unsigned>(rng() % 64), static_cast<unsigned>(rng() % 3 + 1),
                          static_cast<unsigned>(rng()));
    std::string s(head, static_cast<size_t>(n));
    if (s.size() + 2 > size) s.resize(size - 2);
    while (s.size() + 2 < size) s.push_back(b64[rng() % 64]);
    s += "\"}";
    pool.push_back(std::move(s));
  }
  return pool;
}

struct Rec {
  uint64_t seq;
  std::string_view body;
};
using ScanFn = std::function<void(uint64_t, std::string_view)>;

// ---------------------------------------------------------------- engine interface
struct Engine {
  virtual ~Engine() = default;
  // create=true: new store for writing; create=false: reopen an existing one for scan().
  virtual void open(bool create) = 0;
  virtual void close() = 0;
  // One durable batch: all puts and deletes, synced before returning.
  virtual void commit(std::span<const Rec> puts, std::span<const uint64_t> dels) = 0;
  virtual void scan(const ScanFn& f) = 0;
};

// ---------------------------------------------------------------- hand-written log
class LogEngine final : public Engine {
 public:
  LogEngine(fs::path dir, bool prezero) : dir_(std::move(dir)), prezero_(prezero) {}
  ~LogEngine() override { close(); }

  static constexpr uint64_t kSegBytes = 16ull << 20;
  static constexpr uint32_t kTomb = 0x80000000u;
  static constexpr size_t kHdr = 16;

  void open(bool create) override {
    fs::create_directories(dir_);
    if (!create) return;  // scan() reads whatever segments exist
    next_no_ = 0;
    if (prezero_) {
      spare_ = std::async(std::launch::deferred, [this, no = next_no_] { return prepare(no); });
      ++next_no_;
    }
    roll();
  }

  void close() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (spare_.valid()) {
      int fd = spare_.get();  // leave the spare segment on disk, as a live journal would
      if (fd >= 0) ::close(fd);
    }
    segs_.clear();
    where_.clear();
  }

  void commit(std::span<const Rec> puts, std::span<const uint64_t> dels) override {
    buf_.clear();
    for (auto& r : puts) append(r.seq, r.body.data(), r.body.size(), false);
    for (auto s : dels) {
      uint64_t target = s;
      append(++tomb_seq_, &target, 8, true);
    }
    if (seg_off_ + buf_.size() > kSegBytes && seg_off_ > 0) roll();
    if (prezero_)
      pwrite_all(fd_, buf_.data(), buf_.size(), static_cast<off_t>(seg_off_));
    else
      write_all(fd_, buf_.data(), buf_.size());
    if (::fdatasync(fd_) != 0) die_errno("fdatasync");
    seg_off_ += buf_.size();
    // Bookkeeping for reclaiming dead segments (in memory only).
    for (auto& r : puts) {
      where_[r.seq] = segs_.back().no;
      ++segs_.back().live;
    }
    for (auto s : dels) {
      auto it = where_.find(s);
      if (it == where_.end()) continue;
      for (auto& g : segs_)
        if (g.no == it->second) {
          --g.live;
          break;
        }
      where_.erase(it);
    }
    while (segs_.size() > 1 && segs_.front().live == 0) {
      ::unlink(seg_path(segs_.front().no).c_str());
      segs_.pop_front();
    }
  }

  void scan(const ScanFn& f) override {
    std::vector<std::pair<uint32_t, fs::path>> files;
    for (auto& e : fs::directory_iterator(dir_)) {
      auto name = e.path().filename().string();
      if (name.rfind("seg-", 0) == 0) files.emplace_back(std::stoul(name.substr(4)), e.path());
    }
    std::sort(files.begin(), files.end());
    struct Map {
      const char* p;
      size_t len;
      size_t valid;
    };
    std::vector<Map> maps;
    std::unordered_set<uint64_t> dead;
    // Pass 1: map, verify every record's crc, find the end of the log, collect tombstones.
    for (auto& [no, path] : files) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) die_errno("open segment");
      struct stat st{};
      ::fstat(fd, &st);
      size_t len = static_cast<size_t>(st.st_size);
      if (len == 0) {
        ::close(fd);
        continue;
      }
      void* m = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      if (m == MAP_FAILED) die_errno("mmap");
      ::madvise(m, len, MADV_SEQUENTIAL);
      auto p = static_cast<const char*>(m);
      size_t off = 0;
      while (off + kHdr <= len) {
        uint32_t lf, crc;
        std::memcpy(&lf, p + off, 4);
        std::memcpy(&crc, p + off + 4, 4);
        if (lf == 0) break;  // pre-zeroed tail
        size_t blen = lf & ~kTomb;
        if (off + kHdr + blen > len) break;  // torn tail
        if (crc32c(crc32c(0, &lf, 4), p + off + 8, 8 + blen) != crc) break;
        if (lf & kTomb) {
          uint64_t target;
          std::memcpy(&target, p + off + kHdr, 8);
          dead.insert(target);
        }
        off += kHdr + blen;
      }
      maps.push_back({p, len, off});
    }
    // Pass 2: hand over the live data records.
    for (auto& m : maps) {
      size_t off = 0;
      while (off < m.valid) {
        uint32_t lf;
        uint64_t seq;
        std::memcpy(&lf, m.p + off, 4);
        std::memcpy(&seq, m.p + off + 8, 8);
        size_t blen = lf & ~kTomb;
        if (!(lf & kTomb) && (dead.empty() || !dead.count(seq)))
          f(seq, std::string_view(m.p + off + kHdr, blen));
        off += kHdr + blen;
      }
    }
    for (auto& m : maps) ::munmap(const_cast<char*>(m.p), m.len);
  }

 private:
  struct Seg {
    uint32_t no;
    uint64_t live;
  };

  fs::path seg_path(uint32_t no) const {
    char name[32];
    std::snprintf(name, sizeof name, "seg-%08u.log", no);
    return dir_ / name;
  }

  void append(uint64_t seq, const void* body, size_t n, bool tomb) {
    uint32_t lf = static_cast<uint32_t>(n) | (tomb ? kTomb : 0);
    size_t at = buf_.size();
    buf_.resize(at + kHdr + n);
    char* p = buf_.data() + at;
    std::memcpy(p, &lf, 4);
    std::memcpy(p + 8, &seq, 8);
    std::memcpy(p + kHdr, body, n);
    uint32_t crc = crc32c(crc32c(0, &lf, 4), p + 8, 8 + n);
    std::memcpy(p + 4, &crc, 4);
  }

  // logz: create a segment full of real zeros (not fallocate's unwritten extents, whose
  // conversion on first write would be metadata again), make it durable, fsync the dir.
  int prepare(uint32_t no) {
    auto path = seg_path(no);
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die_errno("open segment");
    std::vector<char> zeros(1 << 20, 0);
    for (uint64_t off = 0; off < kSegBytes; off += zeros.size())
      pwrite_all(fd, zeros.data(), zeros.size(), static_cast<off_t>(off));
    if (::fdatasync(fd) != 0) die_errno("fdatasync");
    fsync_dir(dir_);
    return fd;
  }

  void roll() {
    if (fd_ >= 0) ::close(fd_);
    uint32_t no;
    if (prezero_) {
      fd_ = spare_.get();  // waits if the background thread is behind: that wait is timed
      no = next_no_ - 1;
      spare_ = std::async(std::launch::async, [this, n = next_no_] { return prepare(n); });
      ++next_no_;
    } else {
      no = next_no_++;
      fd_ = ::open(seg_path(no).c_str(), O_CREAT | O_WRONLY | O_APPEND | O_TRUNC | O_CLOEXEC, 0644);
      if (fd_ < 0) die_errno("open segment");
      fsync_dir(dir_);
    }
    seg_off_ = 0;
    segs_.push_back({no, 0});
  }

  fs::path dir_;
  bool prezero_;
  int fd_ = -1;
  uint32_t next_no_ = 0;
  uint64_t seg_off_ = 0;
  uint64_t tomb_seq_ = 1ull << 62;  // tombstones take their own seq range
  std::vector<char> buf_;
  std::deque<Seg> segs_;
  std::unordered_map<uint64_t, uint32_t> where_;
  std::future<int> spare_;
};

// ---------------------------------------------------------------- SQLite
#ifdef JB_HAVE_SQLITE
class SqliteEngine final : public Engine {
 public:
  explicit SqliteEngine(fs::path dir) : dir_(std::move(dir)) {}
  ~SqliteEngine() override { close(); }

  void open(bool) override {
    fs::create_directories(dir_);
    auto path = (dir_ / "journal.db").string();
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      die("sqlite open");
    sqlite3_stmt* s = nullptr;
    prep("PRAGMA journal_mode=WAL", &s);
    if (sqlite3_step(s) != SQLITE_ROW ||
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))) != "wal")
      die("sqlite: WAL mode refused");
    sqlite3_finalize(s);
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE IF NOT EXISTS j(seq INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    prep("BEGIN", &begin_);
    prep("COMMIT", &commit_);
    prep("INSERT INTO j(seq, body) VALUES(?1, ?2)", &ins_);
    prep("DELETE FROM j WHERE seq = ?1", &del_);
  }

  void close() override {
    for (auto* s : {begin_, commit_, ins_, del_})
      if (s) sqlite3_finalize(s);
    begin_ = commit_ = ins_ = del_ = nullptr;
    if (db_) sqlite3_close(db_);  // checkpoints and removes the WAL
    db_ = nullptr;
  }

  void commit(std::span<const Rec> puts, std::span<const uint64_t> dels) override {
    run(begin_);
    for (auto& r : puts) {
      sqlite3_bind_int64(ins_, 1, static_cast<sqlite3_int64>(r.seq));
      sqlite3_bind_blob(ins_, 2, r.body.data(), static_cast<int>(r.body.size()), SQLITE_STATIC);
      run(ins_);
    }
    for (auto s : dels) {
      sqlite3_bind_int64(del_, 1, static_cast<sqlite3_int64>(s));
      run(del_);
    }
    run(commit_);
  }

  void scan(const ScanFn& f) override {
    sqlite3_stmt* s = nullptr;
    prep("SELECT seq, body FROM j", &s);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      auto p = static_cast<const char*>(sqlite3_column_blob(s, 1));
      int n = sqlite3_column_bytes(s, 1);
      f(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), std::string_view(p, static_cast<size_t>(n)));
    }
    if (rc != SQLITE_DONE) die(std::string("sqlite scan: ") + sqlite3_errmsg(db_));
    sqlite3_finalize(s);
  }

 private:
  void prep(const char* sql, sqlite3_stmt** s) {
    if (sqlite3_prepare_v2(db_, sql, -1, s, nullptr) != SQLITE_OK)
      die(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) die(std::string("sqlite: ") + err);
  }
  void run(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) die(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s);
  }

  fs::path dir_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt *begin_ = nullptr, *commit_ = nullptr, *ins_ = nullptr, *del_ = nullptr;
};
#endif

// ---------------------------------------------------------------- LMDB
#ifdef JB_HAVE_LMDB
class LmdbEngine final : public Engine {
 public:
  explicit LmdbEngine(fs::path dir) : dir_(std::move(dir)) {}
  ~LmdbEngine() override { close(); }

  void open(bool) override {
    fs::create_directories(dir_);
    check(mdb_env_create(&env_), "env_create");
    check(mdb_env_set_mapsize(env_, 32ull << 30), "set_mapsize");
    check(mdb_env_open(env_, dir_.c_str(), 0, 0644), "env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "dbi_open");
    check(mdb_txn_commit(txn), "txn_commit");
  }

  void close() override {
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
  }

  void commit(std::span<const Rec> puts, std::span<const uint64_t> dels) override {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    unsigned char k[8];
    for (auto& r : puts) {
      be64(r.seq, k);
      MDB_val key{8, k}, val{r.body.size(), const_cast<char*>(r.body.data())};
      check(mdb_put(txn, dbi_, &key, &val, MDB_APPEND), "put");
    }
    for (auto s : dels) {
      be64(s, k);
      MDB_val key{8, k};
      check(mdb_del(txn, dbi_, &key, nullptr), "del");
    }
    check(mdb_txn_commit(txn), "txn_commit");
  }

  void scan(const ScanFn& f) override {
    MDB_txn* txn = nullptr;
    MDB_cursor* c = nullptr;
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "txn_begin ro");
    check(mdb_cursor_open(txn, dbi_, &c), "cursor_open");
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0) {
      f(from_be64(k.mv_data), std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) check(rc, "cursor_get");
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
  }

 private:
  static void check(int rc, const char* what) {
    if (rc != 0) die(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
  }
  fs::path dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};
#endif

// ---------------------------------------------------------------- RocksDB
#ifdef JB_HAVE_ROCKSDB
class RocksEngine final : public Engine {
 public:
  explicit RocksEngine(fs::path dir) : dir_(std::move(dir)) {}
  ~RocksEngine() override { close(); }

  void open(bool) override {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    auto st = rocksdb::DB::Open(o, dir_.string(), &db);
    if (!st.ok()) die("rocksdb open: " + st.ToString());
    db_.reset(db);
    wo_.sync = true;
  }

  void close() override {
    if (db_) {
      auto st = db_->Close();
      if (!st.ok()) die("rocksdb close: " + st.ToString());
      db_.reset();
    }
  }

  void commit(std::span<const Rec> puts, std::span<const uint64_t> dels) override {
    rocksdb::WriteBatch b;
    unsigned char k[8];
    for (auto& r : puts) {
      be64(r.seq, k);
      b.Put(rocksdb::Slice(reinterpret_cast<char*>(k), 8), rocksdb::Slice(r.body.data(), r.body.size()));
    }
    for (auto s : dels) {
      be64(s, k);
      b.Delete(rocksdb::Slice(reinterpret_cast<char*>(k), 8));
    }
    auto st = db_->Write(wo_, &b);
    if (!st.ok()) die("rocksdb write: " + st.ToString());
  }

  void scan(const ScanFn& f) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto v = it->value();
      f(from_be64(it->key().data()), std::string_view(v.data(), v.size()));
    }
    if (!it->status().ok()) die("rocksdb scan: " + it->status().ToString());
  }

 private:
  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions wo_;
};
#endif

// ---------------------------------------------------------------- registry
struct EngineDef {
  std::string name;
  std::function<std::unique_ptr<Engine>(const fs::path&)> make;
  bool scan_test;  // logz shares log's format and read path: its 1M scan would repeat log's
};

std::vector<EngineDef> all_engines() {
  std::vector<EngineDef> v;
  v.push_back({"log", [](const fs::path& d) { return std::make_unique<LogEngine>(d, false); }, true});
  v.push_back({"logz", [](const fs::path& d) { return std::make_unique<LogEngine>(d, true); }, false});
#ifdef JB_HAVE_SQLITE
  v.push_back({"sqlite", [](const fs::path& d) { return std::make_unique<SqliteEngine>(d); }, true});
#endif
#ifdef JB_HAVE_LMDB
  v.push_back({"lmdb", [](const fs::path& d) { return std::make_unique<LmdbEngine>(d); }, true});
#endif
#ifdef JB_HAVE_ROCKSDB
  v.push_back({"rocksdb", [](const fs::path& d) { return std::make_unique<RocksEngine>(d); }, true});
#endif
  return v;
}

// ---------------------------------------------------------------- settings
struct Settings {
  double seconds = 1.5;     // per (engine, workload, body, batch) run
  size_t min_commits = 100;  // ... unless fewer commits than this: then run longer,
  double max_seconds = 8.0;  // ... but never longer than this
  size_t scan_records = 1000000;
  size_t live = 10000;
  bool scan = true;
  std::vector<size_t> bodies{100, 1024};
  std::vector<size_t> batches{1, 16, 256};
  std::vector<std::string> engines;
  fs::path base = "/tmp";
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// ---------------------------------------------------------------- floor
struct FloorResult {
  std::string what;
  size_t ops;
  double secs;
  Pct lat;
  DevStat dev;
};

FloorResult floor_run(const fs::path& dir, bool prezeroed, double seconds) {
  fs::create_directories(dir);
  auto path = dir / (prezeroed ? "floor-overwrite" : "floor-append");
  const size_t span = 64u << 20;
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC | (prezeroed ? 0 : O_APPEND), 0644);
  if (fd < 0) die_errno("open floor");
  if (prezeroed) {
    std::vector<char> z(1 << 20, 0);
    for (size_t off = 0; off < span; off += z.size()) pwrite_all(fd, z.data(), z.size(), static_cast<off_t>(off));
    if (::fdatasync(fd) != 0) die_errno("fdatasync");
    fsync_dir(dir);
  }
  std::vector<char> page(4096, 'x');
  std::vector<double> lat;
  size_t ops = 0;
  auto d0 = dev_stat();
  auto t0 = Clock::now();
  while ((secs_since(t0) < seconds || ops < 200) && ops * 4096 < span) {
    auto a = Clock::now();
    if (prezeroed)
      pwrite_all(fd, page.data(), page.size(), static_cast<off_t>(ops * 4096));
    else
      write_all(fd, page.data(), page.size());
    if (::fdatasync(fd) != 0) die_errno("fdatasync");
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    ++ops;
  }
  double secs = secs_since(t0);
  auto dev = dev_stat() - d0;
  ::close(fd);
  fs::remove(path);
  return {prezeroed ? "4 KiB pwrite over pre-zeroed file + fdatasync" : "4 KiB append (file grows) + fdatasync",
          ops, secs, percentiles(std::move(lat)), dev};
}

// ---------------------------------------------------------------- group commit runs
struct CommitResult {
  size_t commits = 0, records = 0;
  double secs = 0;
  Pct lat;
  uint64_t disk = 0;
  size_t live_end = 0;
  double recover_ms = 0;  // pairs only: open + scan of the live set after the churn
  size_t recovered = 0;
  DevStat dev;  // device requests during the timed commits
};

CommitResult commit_run(const EngineDef& def, const fs::path& dir, const std::vector<std::string>& pool,
                        size_t batch, bool pairs, const Settings& S) {
  CommitResult r;
  auto e = def.make(dir);
  e->open(true);
  uint64_t next = 1;
  std::deque<uint64_t> live;
  std::vector<Rec> puts;
  std::vector<uint64_t> dels;
  auto body = [&](uint64_t seq) { return std::string_view(pool[seq & 1023]); };
  if (pairs) {  // the jobs in flight when the measured churn starts
    for (size_t done = 0; done < S.live;) {
      puts.clear();
      for (size_t i = 0; i < 1000 && done < S.live; ++i, ++done) {
        puts.push_back({next, body(next)});
        live.push_back(next++);
      }
      e->commit(puts, {});
    }
  }
  std::vector<double> lat;
  auto d0 = dev_stat();
  auto t0 = Clock::now();
  for (;;) {
    double el = secs_since(t0);
    if ((el >= S.seconds && r.commits >= S.min_commits) || el >= S.max_seconds) break;
    puts.clear();
    dels.clear();
    for (size_t i = 0; i < batch; ++i) {
      puts.push_back({next, body(next)});
      live.push_back(next++);
    }
    if (pairs)
      for (size_t i = 0; i < batch; ++i) {
        dels.push_back(live.front());
        live.pop_front();
      }
    auto a = Clock::now();
    e->commit(puts, dels);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    ++r.commits;
    r.records += batch;
  }
  r.secs = secs_since(t0);
  r.dev = dev_stat() - d0;
  r.lat = percentiles(std::move(lat));
  e->close();
  r.disk = disk_bytes(dir);
  r.live_end = live.size();
  if (pairs) {
    evict_cache(dir);
    auto a = Clock::now();
    auto e2 = def.make(dir);
    e2->open(false);
    size_t n = 0;
    uint64_t sum = 0;
    e2->scan([&](uint64_t seq, std::string_view b) {
      ++n;
      sum += seq + static_cast<unsigned char>(b.front());
    });
    r.recover_ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
    e2->close();
    r.recovered = n;
    if (n != live.size()) die(def.name + ": recovered " + std::to_string(n) + " live records, expected " +
                              std::to_string(live.size()));
  }
  fs::remove_all(dir);
  return r;
}

// ---------------------------------------------------------------- recovery scan
struct ScanResult {
  double load_secs = 0;
  uint64_t disk = 0;
  double open_ms = 0, cold_scan_ms = 0, warm_scan_ms = 0;
};

ScanResult scan_run(const EngineDef& def, const fs::path& dir, const std::vector<std::string>& pool,
                    const Settings& S) {
  ScanResult r;
  const size_t N = S.scan_records;
  {
    auto e = def.make(dir);
    e->open(true);
    std::vector<Rec> puts;
    auto t0 = Clock::now();
    for (uint64_t seq = 1; seq <= N;) {
      puts.clear();
      for (size_t i = 0; i < 1024 && seq <= N; ++i, ++seq) puts.push_back({seq, pool[seq & 1023]});
      e->commit(puts, {});
    }
    e->close();  // RocksDB flushes its memtable, SQLite checkpoints its WAL: included
    r.load_secs = secs_since(t0);
  }
  r.disk = disk_bytes(dir);
  evict_cache(dir);
  auto e = def.make(dir);
  auto t0 = Clock::now();
  e->open(false);
  r.open_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  uint64_t expect_sum = static_cast<uint64_t>(N) * (N + 1) / 2;
  for (int pass = 0; pass < 2; ++pass) {
    size_t n = 0;
    uint64_t sum = 0, touch = 0;
    auto a = Clock::now();
    e->scan([&](uint64_t seq, std::string_view b) {
      ++n;
      sum += seq;
      touch += b.size() + static_cast<unsigned char>(b.front()) + static_cast<unsigned char>(b.back());
    });
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
    if (n != N || sum != expect_sum)
      die(def.name + ": scan saw " + std::to_string(n) + " records (seq sum mismatch?)");
    if (touch == 0) die("unreachable");
    (pass == 0 ? r.cold_scan_ms : r.warm_scan_ms) = ms;
  }
  e->close();
  fs::remove_all(dir);
  return r;
}

// ---------------------------------------------------------------- environment
void print_environment(const fs::path& root) {
  struct utsname u{};
  ::uname(&u);
  struct statfs sf{};
  ::statfs(root.c_str(), &sf);
  std::string best_mnt, best_line;
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    char dev[512], mnt[512], type[64], opts[1024];
    if (std::sscanf(line.c_str(), "%511s %511s %63s %1023s", dev, mnt, type, opts) != 4) continue;
    std::string m = mnt;
    std::string r = fs::weakly_canonical(root).string();
    if (r.rfind(m, 0) == 0 && (m == "/" || r.size() == m.size() || r[m.size()] == '/') && m.size() >= best_mnt.size()) {
      best_mnt = m;
      best_line = std::string(dev) + " on " + mnt + " type " + type + " (" + opts + ")";
    }
  }
  struct stat st{};
  ::stat(root.c_str(), &st);
  char sp[96];
  std::snprintf(sp, sizeof sp, "/sys/dev/block/%u:%u/stat", major(st.st_dev), minor(st.st_dev));
  if (fs::exists(sp)) g_dev_stat_path = sp;
  std::printf("data dir   %s\n", root.c_str());
  std::printf("filesystem %s, statfs f_type 0x%lx%s\n", best_line.c_str(), static_cast<unsigned long>(sf.f_type),
              sf.f_type == 0xEF53 ? " (ext2/3/4)" : "");
  std::printf("device     %s\n", g_dev_stat_path.empty() ? "(no /sys/dev/block stat: device columns are 0)"
                                                          : g_dev_stat_path.c_str());
  std::printf("kernel     %s %s, %ld cpus, crc32c %s\n", u.sysname, u.release, ::sysconf(_SC_NPROCESSORS_ONLN),
              g_crc_hw ? "SSE4.2" : "software");
  std::printf("engines    log, logz");
#ifdef JB_HAVE_SQLITE
  std::printf(", sqlite %s", sqlite3_libversion());
#endif
#ifdef JB_HAVE_LMDB
  std::printf(", lmdb %d.%d.%d", MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH);
#endif
#ifdef JB_HAVE_ROCKSDB
  std::printf(", rocksdb %d.%d.%d", ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH);
#endif
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  crc_init();
  Settings S;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* key) -> const char* {
      size_t n = std::strlen(key);
      return a.compare(0, n, key) == 0 ? a.c_str() + n : nullptr;
    };
    if (auto v = val("--seconds=")) S.seconds = std::atof(v);
    else if (auto v2 = val("--scan=")) S.scan_records = std::strtoull(v2, nullptr, 10);
    else if (auto v3 = val("--live=")) S.live = std::strtoull(v3, nullptr, 10);
    else if (auto v4 = val("--bodies=")) {
      S.bodies.clear();
      for (auto& s : split(v4)) S.bodies.push_back(std::stoul(s));
    } else if (auto v5 = val("--batches=")) {
      S.batches.clear();
      for (auto& s : split(v5)) S.batches.push_back(std::stoul(s));
    } else if (auto v6 = val("--engines=")) S.engines = split(v6);
    else if (auto v7 = val("--dir=")) S.base = v7;
    else if (a == "--no-scan") S.scan = false;
    else {
      std::fprintf(stderr, "unknown argument %s (see the comment at the top of the source)\n", a.c_str());
      return 2;
    }
  }
  for (auto b : S.bodies)
    if (b < 16) die("--bodies: each size must be at least 16 bytes");

  std::vector<EngineDef> engines;
  for (auto& d : all_engines())
    if (S.engines.empty() || std::find(S.engines.begin(), S.engines.end(), d.name) != S.engines.end())
      engines.push_back(d);
  for (auto& want : S.engines)
    if (std::none_of(engines.begin(), engines.end(), [&](auto& d) { return d.name == want; }))
      std::printf("note: engine %s not compiled in (header absent or -DJB_NO_*), skipped\n", want.c_str());

  std::string tmpl = (S.base / "journal_bench.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) die_errno("mkdtemp " + tmpl);
  fs::path root = tmpl;
  auto t_start = Clock::now();
  print_environment(root);
  std::printf("settings   %.2fs per run (>= %zu commits, <= %.0fs), live set %zu, scan %zu records\n\n", S.seconds,
              S.min_commits, S.max_seconds, S.live, S.scan_records);

  // Run first and again last: a virtual disk's rate limit can change the regime mid-run.
  auto print_floor = [&](const char* when) {
    std::printf("== floor (%s): one 4 KiB write + fdatasync() per op, nothing else ==\n", when);
    std::printf("%-48s %8s %9s %9s %9s %8s %8s\n", "what", "ops", "ops/s", "p50 µs", "p99 µs", "dev w/op",
                "fl/op");
    for (bool z : {false, true}) {
      auto f = floor_run(root / "floor", z, S.seconds);
      double n = static_cast<double>(f.ops);
      std::printf("%-48s %8zu %9.0f %9.0f %9.0f %8.2f %8.2f\n", f.what.c_str(), f.ops, n / f.secs, f.lat.p50,
                  f.lat.p99, static_cast<double>(f.dev.writes) / n, static_cast<double>(f.dev.flushes) / n);
    }
    std::fflush(stdout);
  };
  print_floor("start");

  std::vector<std::vector<std::string>> pools;
  for (auto b : S.bodies) pools.push_back(make_body_pool(b, static_cast<uint32_t>(b)));

  for (bool pairs : {false, true}) {
    if (!pairs)
      std::printf("\n== group commit, insert only: each commit = N new records ==\n"
                  "%-8s %5s %5s %7s %10s %11s %9s %9s %9s %7s %6s %11s\n",
                  "engine", "body", "N", "commits", "batches/s", "records/s", "p50 µs", "p99 µs", "max µs",
                  "dev w/c", "fl/c", "disk B/rec");
    else
      std::printf("\n== group commit, insert+delete pairs: each commit = N new + N deletes of the oldest, live set %zu ==\n"
                  "%-8s %5s %5s %7s %10s %11s %9s %9s %9s %7s %6s %12s %11s\n",
                  S.live, "engine", "body", "N", "commits", "batches/s", "pairs/s", "p50 µs", "p99 µs", "max µs",
                  "dev w/c", "fl/c", "disk MiB end", "recover ms");
    for (auto& def : engines)
      for (size_t bi = 0; bi < S.bodies.size(); ++bi)
        for (auto batch : S.batches) {
          auto dir = root / (def.name + (pairs ? "-pairs-" : "-ins-") + std::to_string(S.bodies[bi]) + "-" +
                             std::to_string(batch));
          auto r = commit_run(def, dir, pools[bi], batch, pairs, S);
          double bps = static_cast<double>(r.commits) / r.secs;
          double nc = static_cast<double>(r.commits);
          double wc = static_cast<double>(r.dev.writes) / nc, fc = static_cast<double>(r.dev.flushes) / nc;
          if (!pairs)
            std::printf("%-8s %5zu %5zu %7zu %10.0f %11.0f %9.0f %9.0f %9.0f %7.2f %6.2f %11.0f\n", def.name.c_str(),
                        S.bodies[bi], batch, r.commits, bps, bps * static_cast<double>(batch), r.lat.p50, r.lat.p99,
                        r.lat.max, wc, fc, static_cast<double>(r.disk) / static_cast<double>(r.records));
          else
            std::printf("%-8s %5zu %5zu %7zu %10.0f %11.0f %9.0f %9.0f %9.0f %7.2f %6.2f %12.1f %11.1f\n",
                        def.name.c_str(), S.bodies[bi], batch, r.commits, bps, bps * static_cast<double>(batch),
                        r.lat.p50, r.lat.p99, r.lat.max, wc, fc, static_cast<double>(r.disk) / 1048576.0,
                        r.recover_ms);
          std::fflush(stdout);
        }
  }

  if (S.scan && S.scan_records > 0) {
    std::printf("\n== recovery: %zu live records, loaded in commits of 1024, then closed, page cache evicted ==\n"
                "%-8s %5s %10s %11s %11s %9s %11s %11s %11s\n",
                S.scan_records, "engine", "body", "load s", "load rec/s", "disk B/rec", "open ms", "cold scan ms",
                "cold total", "warm scan ms");
    for (auto& def : engines) {
      if (!def.scan_test) continue;
      for (size_t bi = 0; bi < S.bodies.size(); ++bi) {
        auto dir = root / (def.name + "-scan-" + std::to_string(S.bodies[bi]));
        auto r = scan_run(def, dir, pools[bi], S);
        std::printf("%-8s %5zu %10.1f %11.0f %11.0f %9.1f %11.0f %11.0f %11.0f\n", def.name.c_str(), S.bodies[bi],
                    r.load_secs, static_cast<double>(S.scan_records) / r.load_secs,
                    static_cast<double>(r.disk) / static_cast<double>(S.scan_records), r.open_ms, r.cold_scan_ms,
                    r.open_ms + r.cold_scan_ms, r.warm_scan_ms);
        std::fflush(stdout);
      }
    }
  }

  std::printf("\n");
  print_floor("end");
  fs::remove_all(root);
  std::printf("\ntotal wall time %.0f s\n", secs_since(t_start));
  return 0;
}
