// A set of lightweight workers that speak the proletariat protocol (PRO1) directly,
// all multiplexed on one thread: what lets the bench connect 10,000 workers to one
// manager, where 10,000 proletariat::Worker objects (two threads and a ZeroMQ
// context each) would not fit on the machine.
//
// Each fake worker is one DEALER socket: HELLO, WELCOME, OFFER (slots, optional
// priority guarantees), OFFERED; then every JOBS message is answered at once by one
// RESULT message carrying a fixed result per job; HEARTBEAT is sent when the
// worker has sent nothing for the manager's heartbeat interval. They open no
// system-message SUB socket (PROTOCOL §8.1 lets a peer go without; the manager then
// counts it as not subscribed). Messages are built and read with the library's own
// codec (src/protocol/codec.hpp).
//
// The sockets are watched with epoll on their ZMQ_FD, so one wake-up costs work
// only for the sockets that have something to read.
//
// Threading: run_fake_workers() runs on the calling thread, in a process of its own
// started by the bench (`proletariat-bench --internal fakes ...`), so its file
// descriptors (two per socket) do not count against the bench's limit.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace proletariat::bench {

struct FakeWorkerOptions {
  std::string endpoint;
  std::size_t count = 1;
  unsigned slots = 16;
  unsigned priority_slots = 0;  // slots guaranteed to the range starting at 1
  std::size_t result_bytes = 20;
  std::size_t max_connecting = 500;  // sockets in HELLO..OFFERED at once (listen backlog)
};

// Prints "READY <count>" once every worker's offer was accepted, then serves until
// stdin reaches EOF, then prints "DONE <jobs answered> <errors>". Returns the exit
// status.
int run_fake_workers(const FakeWorkerOptions& options);

// Registers one raw peer (HELLO only) and times `count` STATUS round trips, from
// sending the request to receiving the whole reply, without parsing it: the
// manager's share of a status request. Milliseconds, in order; fewer entries when a
// reply does not come within `timeout_ms`.
std::vector<double> raw_status_round_trips(const std::string& endpoint, std::size_t count, long timeout_ms = 10000);

}  // namespace proletariat::bench
