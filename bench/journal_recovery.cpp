#include "journal_recovery.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>
#include <filesystem>
#include <future>
#include <stdexcept>

#include <proletariat/client.hpp>

#include "journal/job_journal.hpp"
#include "systems.hpp"

namespace proletariat::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Commits per batch as a busy manager would; sync off: the files are what matter
// here, not how long this process waited for the disk.
constexpr std::size_t kBatch = 4096;

journal::JournalOptions options_for(const std::string& dir) {
  journal::JournalOptions options;
  options.log.dir = dir;
  options.log.sync.policy = journal::SyncPolicy::off;
  return options;
}

journal::AcceptedJob job(std::uint64_t id, const std::string& payload) {
  journal::AcceptedJob j;
  j.id = id;
  j.identity = "bench-recovery";  // a client that would come back for them
  j.accepted_wall_ms = 1;
  j.payload = {reinterpret_cast<const std::byte*>(payload.data()), payload.size()};
  return j;
}

// Starts the daemon on the journal and asks it, as a client, what it holds.
nlohmann::ordered_json start_daemon(const RecoveryRun& run) {
  const auto t0 = Clock::now();
  ManagerProcess manager(run.daemon, {"--journal=" + run.dir, "--log-level=info"}, run.log_path);
  const double start_s = seconds_since(t0);
  ClientOptions options;
  options.endpoint = manager.endpoint();
  options.system_messages = false;
  Client client(options);
  if (!client.wait_connected(std::chrono::seconds(30))) throw std::runtime_error("no client connection");
  auto status = client.status();
  if (status.wait_for(std::chrono::seconds(30)) != std::future_status::ready) throw std::runtime_error("no status");
  const auto doc = status.get();
  return {{"start_s", start_s},
          {"queued_after_start", doc.value("queued", -1LL)},
          {"journal_bytes_on_disk", doc.contains("journal") ? doc["journal"].value("bytesOnDisk", 0ULL) : 0ULL}};
}

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) total += entry.file_size();
  return total;
}

}  // namespace

nlohmann::ordered_json measure_fdatasync_floor(const std::string& dir, std::size_t count) {
  const std::string path = dir + "/fdatasync-floor";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  const std::vector<char> block(4096, 'x');
  std::vector<double> us;
  us.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto t0 = Clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0) {
      ::close(fd);
      throw std::runtime_error("write or fdatasync failed in " + dir);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  std::sort(us.begin(), us.end());
  return {{"fdatasyncs", count}, {"fdatasync_p50_us", us[us.size() / 2]}, {"fdatasync_p99_us", us[us.size() * 99 / 100]}};
}

nlohmann::ordered_json measure_recovery_of_queued(const RecoveryRun& run) {
  const std::string payload(run.bytes, 'q');
  const auto t0 = Clock::now();
  {
    journal::Recovery none;
    journal::JobJournal journal(options_for(run.dir), none);
    for (std::size_t i = 1; i <= run.jobs; ++i) {
      journal.accepted(job(i, payload));
      if (i % kBatch == 0) journal.commit(Clock::now());
    }
    journal.commit(Clock::now());
  }
  nlohmann::ordered_json out = {{"queued_jobs", run.jobs}, {"write_s", seconds_since(t0)},
                                {"journal_bytes", directory_bytes(run.dir)}};
  out.update(start_daemon(run));
  return out;
}

nlohmann::ordered_json measure_start_after_finished(const RecoveryRun& run) {
  const std::string payload(run.bytes, 'f');
  const std::span<const std::byte> result{reinterpret_cast<const std::byte*>(payload.data()), payload.size()};
  const auto t0 = Clock::now();
  std::uint64_t compactions = 0;
  {
    journal::Recovery none;
    journal::JobJournal journal(options_for(run.dir), none);
    for (std::size_t i = 1; i <= run.jobs; ++i) {
      journal.accepted(job(i, payload));
      journal.assigned(i, 1);
      journal.finished(journal::FinishedJob{i, std::nullopt, false, 2, result});
      journal.gone(i);
      if (i % kBatch == 0) journal.commit(Clock::now());
    }
    journal.commit(Clock::now());
    compactions = journal.stats().log.compactions;
  }
  nlohmann::ordered_json out = {{"finished_jobs", run.jobs}, {"write_s", seconds_since(t0)},
                                {"compactions", compactions}, {"journal_bytes", directory_bytes(run.dir)}};
  out.update(start_daemon(run));
  return out;
}

}  // namespace proletariat::bench
