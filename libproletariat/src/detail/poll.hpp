// Waiting on ZeroMQ sockets and plain file descriptors with fewer syscalls than
// zmq_poll.
//
// zmq_poll makes a first pass with a zero timeout before it sleeps, and asks every
// socket for ZMQ_EVENTS after each pass; with libzmq 4.3 each of those asks costs a
// poll(2) on the socket's signaling fd, and getpid(2) for fork detection. An I/O loop
// that wakes once per message batch paid about 16 syscalls per wake-up this way
// (issue 6). This wait asks ZMQ_EVENTS only of sockets that may hold events the fd
// would not announce (those used since their last wait), then makes one poll(2) over
// every fd, and asks again only of sockets whose fd fired.
//
// Why that is enough: a socket's ZMQ_FD becomes readable when a command reaches the
// socket's mailbox while the socket is not processing commands. Any call on the socket
// (send, recv, ZMQ_EVENTS) may process such a command and so consume the signal, with
// the message it announced still waiting: a socket used since its last ZMQ_EVENTS
// must be asked again before sleeping (`check_first`). A socket left alone since an
// ask that found nothing is quiet until its fd fires.
#pragma once

#include <chrono>
#include <span>

namespace proletariat::detail {

struct PollItem {
  void* socket = nullptr;   // a ZeroMQ socket (its handle), or null for `fd`
  int fd = -1;              // a plain file descriptor, when `socket` is null
  short events = 0;         // ZMQ_POLLIN | ZMQ_POLLOUT wanted
  short revents = 0;        // out: which of them are ready
  bool check_first = true;  // sockets: used since the last wait, so ask before sleeping
};

// Waits up to `timeout` (negative: forever) until an item is ready; fills `revents`.
// Returns how many items are ready. Interrupted by a signal: only what the asks before
// the wait found.
int poll(std::span<PollItem> items, std::chrono::milliseconds timeout);

}  // namespace proletariat::detail
