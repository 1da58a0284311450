#include "broker/key_directory.hpp"

#include <filesystem>

#include <proletariat/curve.hpp>
#include <proletariat/error.hpp>

#include "log.hpp"

namespace proletariat::broker {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRoleDirs[] = {"workers", "clients", "admins"};

std::int64_t mtime_of(const fs::path& path) {
  std::error_code ec;
  const auto t = fs::last_write_time(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(t.time_since_epoch().count());
}

}  // namespace

std::int64_t KeyDirectory::stamp() const {
  // A sum of times and a count: any added, removed or rewritten file moves it.
  std::int64_t stamp = mtime_of(dir_);
  for (const char* role : kRoleDirs) {
    const fs::path sub = fs::path(dir_) / role;
    stamp += mtime_of(sub);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(sub, ec)) stamp += mtime_of(entry.path()) + 1;
  }
  return stamp;
}

void KeyDirectory::load() {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    throw Error(std::string(errc::kBadField), "CURVE key directory " + dir_ + " is not a directory");
  }
  std::unordered_map<std::string, KeyRoles> keys;
  for (const char* role : kRoleDirs) {
    const fs::path sub = fs::path(dir_) / role;
    for (const auto& entry : fs::directory_iterator(sub, ec)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".pub") continue;
      try {
        auto& roles = keys[read_public_key_file(entry.path().string())];
        const std::string name = role;
        if (name == "workers") roles.worker = true;
        if (name == "clients") roles.client = true;
        if (name == "admins") roles.admin = true;
      } catch (const Error& e) {
        detail::log().error("{}: skipped", e.what());
      }
    }
  }
  keys_ = std::move(keys);
  stamp_ = stamp();
  detail::log().info("CURVE keys from {}: {} keys allowed", dir_, keys_.size());
}

bool KeyDirectory::changed() const { return stamp() != stamp_; }

const KeyRoles* KeyDirectory::find(const std::string& z85) const {
  const auto it = keys_.find(z85);
  return it == keys_.end() ? nullptr : &it->second;
}

}  // namespace proletariat::broker
