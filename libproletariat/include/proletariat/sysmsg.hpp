// System messages (PROTOCOL §8): values shared by Client and Worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace proletariat {

// Where to send a system message: the manager alone, one peer by id, or (the default)
// everybody but the sender.
inline constexpr const char* kToManager = "MANAGER";

// How a system message went: to how many recipients it was sent (the manager counts
// as one when it is a recipient) and how many acknowledged it. 0/0 when there was
// nobody to send to.
struct SysmsgReceipt {
  std::uint64_t sent_to = 0;
  std::uint64_t received_by = 0;
};

// Called for each system message this peer receives, with the sender's peer id (or
// "MANAGER"). Runs on the peer's I/O thread; keep it short.
using SysmsgHandler = std::function<void(const nlohmann::json& msg, const std::string& from)>;

}  // namespace proletariat
