// What the manager sends with a job besides its scheduling data: the payload frame,
// forwarded untouched, and the options that travel in JOBS. The scheduler stores it
// in its own job record and never reads it, so that each job costs one record in one
// table (issue 6: a second table in the dispatcher cost ~280 bytes per queued job).
#pragma once

#include <cstdint>

#include <zmq.hpp>

namespace proletariat::broker {

struct JobCargo {
  // mutable: zmq::message_t::copy() of a large payload bumps a reference count in the
  // source; the bytes themselves never change.
  mutable zmq::message_t payload;
  // Bit fields keep the cargo at 72 bytes; a runTimeout is below 2^53 (PROTOCOL §2).
  std::uint64_t run_timeout_ms : 62 = 0;
  std::uint64_t has_run_timeout : 1 = 0;
  std::uint64_t raw : 1 = 0;
};

}  // namespace proletariat::broker
