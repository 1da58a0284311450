#include "detail/poll.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include <zmq.h>

#include <proletariat/error.hpp>

namespace proletariat::detail {
namespace {

short ready_events(void* socket, short wanted) {
  std::uint32_t events = 0;
  std::size_t size = sizeof events;
  if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) != 0) return 0;
  return static_cast<short>(events & static_cast<std::uint32_t>(wanted));
}

int socket_fd(void* socket) {
  int fd = -1;
  std::size_t size = sizeof fd;
  if (zmq_getsockopt(socket, ZMQ_FD, &fd, &size) != 0) return -1;
  return fd;
}

}  // namespace

int poll(std::span<PollItem> items, std::chrono::milliseconds timeout) {
  bool ready = false;
  for (auto& item : items) {
    item.revents = 0;
    if (item.socket != nullptr && item.check_first) {
      item.revents = ready_events(item.socket, item.events);
      ready = ready || item.revents != 0;
    }
  }

  thread_local std::vector<pollfd> fds;
  fds.clear();
  for (const auto& item : items) {
    if (item.socket != nullptr) {
      fds.push_back(pollfd{socket_fd(item.socket), POLLIN, 0});
    } else {
      short events = 0;
      if ((item.events & ZMQ_POLLIN) != 0) events |= POLLIN;
      if ((item.events & ZMQ_POLLOUT) != 0) events |= POLLOUT;
      fds.push_back(pollfd{item.fd, events, 0});
    }
  }
  // Even with a socket ready, look at the others once (timeout 0): a busy socket must
  // not starve a quiet one.
  const int wait_ms = ready ? 0 : static_cast<int>(timeout.count() < 0 ? -1 : timeout.count());
  if (::poll(fds.data(), fds.size(), wait_ms) < 0) {
    if (errno != EINTR) throw Error(std::string(errc::kInternal), "poll failed");
    // Interrupted: report what the first asks found (their signals are consumed, so
    // dropping them would leave those messages unannounced); nothing else.
    return static_cast<int>(std::count_if(items.begin(), items.end(), [](const PollItem& i) { return i.revents != 0; }));
  }

  int count = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    if (item.socket != nullptr) {
      // The fd only says that commands wait; ZMQ_EVENTS processes them and tells.
      if ((fds[i].revents & POLLIN) != 0) item.revents |= ready_events(item.socket, item.events);
    } else {
      if ((fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0 && (item.events & ZMQ_POLLIN) != 0) {
        item.revents |= ZMQ_POLLIN;
      }
      if ((fds[i].revents & (POLLOUT | POLLERR)) != 0 && (item.events & ZMQ_POLLOUT) != 0) {
        item.revents |= ZMQ_POLLOUT;
      }
    }
    if (item.revents != 0) ++count;
  }
  return count;
}

}  // namespace proletariat::detail
