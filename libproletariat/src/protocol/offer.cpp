#include "protocol/offer.hpp"

#include <cmath>
#include <cstdint>

#include "protocol/codec.hpp"

namespace proletariat::protocol {

std::optional<std::string> validate_offer(unsigned slots, const std::map<double, unsigned>& priority_slots,
                                          const std::vector<std::string>& services) {
  if (slots < spec::kSlotsMin || slots > kMaxSlotsPerWorker) {
    return "slots must be between " + std::to_string(spec::kSlotsMin) + " and " + std::to_string(kMaxSlotsPerWorker) +
           ", got " + std::to_string(slots);
  }
  std::uint64_t guaranteed = 0;
  for (const auto& [start, count] : priority_slots) {
    if (!std::isfinite(start)) return std::string{"priority range start must be a finite number"};
    if (start < 0) return "priority range start must be >= 0, got " + priority_text(start);
    static_assert(spec::kZeroStartGuaranteeIgnored, "SlotPools gives range 0 what the other ranges leave");
    if (start == 0) continue;
    guaranteed += count;
  }
  if (guaranteed > slots) {
    return "priority slot guarantees above range 0 sum to " + std::to_string(guaranteed) + ", more than the " +
           std::to_string(slots) + " slots offered";
  }
  for (const auto& service : services) {
    if (service.empty()) return std::string{"service names must not be empty"};
  }
  return std::nullopt;
}

}  // namespace proletariat::protocol
