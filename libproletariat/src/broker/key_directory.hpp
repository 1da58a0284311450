// The CURVE allow-lists (PROTOCOL §13): DIR/workers, DIR/clients and DIR/admins hold
// public key files; a key's roles are the subdirectories that list it.
//
// Read whole on load() (a few files); changed() compares the modification times of
// the directories and files, so the event loop can notice an edit without inotify.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace proletariat::broker {

struct KeyRoles {
  bool worker = false;
  bool client = false;
  bool admin = false;
};

class KeyDirectory {
 public:
  explicit KeyDirectory(std::string dir) : dir_(std::move(dir)) {}
  // Reads every list. Throws proletariat::Error when the directory cannot be read;
  // a key file that is not a key is skipped with an error log (the others stand).
  void load();
  // Something in the directory changed since load().
  [[nodiscard]] bool changed() const;
  // The roles of a Z85 public key; nullptr: not listed.
  [[nodiscard]] const KeyRoles* find(const std::string& z85) const;
  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
  // The public keys listed in admins/.
  [[nodiscard]] std::vector<std::string> admins() const {
    std::vector<std::string> out;
    for (const auto& [key, roles] : keys_) {
      if (roles.admin) out.push_back(key);
    }
    return out;
  }
  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

 private:
  [[nodiscard]] std::int64_t stamp() const;
  std::string dir_;
  std::unordered_map<std::string, KeyRoles> keys_;
  std::int64_t stamp_ = 0;
};

}  // namespace proletariat::broker
