// The offer rules (SPEC 3, PROTOCOL §4), shared by the manager, which refuses a bad
// OFFER with EBADOFFER, and the worker library, which refuses a bad configuration at
// start() before anything reaches the wire. The numbers come from the one protocol
// description (protocol/protocol.json), as they do for the Python and Node workers.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/spec.hpp"

namespace proletariat::protocol {

// Largest offer a worker may make; keeps counters far from overflow.
inline constexpr unsigned kMaxSlotsPerWorker = spec::kSlotsMax;
inline constexpr unsigned kDefaultSlots = spec::kSlotsDefault;

// Why an offer breaks the rules (a message for EBADOFFER), or nothing:
//  - slots in 1 .. kMaxSlotsPerWorker;
//  - every range start finite and >= 0; a guarantee for start 0 is ignored (range 0
//    always gets what the others leave, as in the original);
//  - the guarantees of the ranges above 0 sum to at most `slots`;
//  - service names non-empty.
[[nodiscard]] std::optional<std::string> validate_offer(unsigned slots,
                                                        const std::map<double, unsigned>& priority_slots,
                                                        const std::vector<std::string>& services = {});

}  // namespace proletariat::protocol
