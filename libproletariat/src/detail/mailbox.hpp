// A multi-producer queue that an I/O thread can poll next to its ZeroMQ sockets.
//
// ZeroMQ sockets are not thread-safe, so every object (Manager, Worker, Client) keeps
// its sockets on one thread and other threads post commands here. Posting never
// blocks on I/O: it appends under a mutex and, only when the queue was empty, writes
// one byte to a pipe whose read end the owner polls (zmq::poll accepts plain fds).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <mutex>
#include <stdexcept>
#include <vector>

namespace proletariat::detail {

template <typename T>
class Mailbox {
 public:
  Mailbox() {
    if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("mailbox: pipe2 failed");
  }
  ~Mailbox() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  void post(T item) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = items_.empty();
      items_.push_back(std::move(item));
    }
    if (was_empty) {
      const char byte = 1;
      // A full pipe already wakes the reader; nothing is lost if this write fails.
      [[maybe_unused]] auto n = ::write(fds_[1], &byte, 1);
    }
  }

  // Everything posted so far, in order. Called by the owning thread only.
  std::vector<T> drain() {
    char buf[64];
    while (::read(fds_[0], buf, sizeof buf) > 0) {
    }
    std::vector<T> out;
    std::lock_guard lock(mutex_);
    out.swap(items_);
    return out;
  }

  // The fd to poll for ZMQ_POLLIN.
  [[nodiscard]] int fd() const noexcept { return fds_[0]; }

 private:
  int fds_[2]{-1, -1};
  std::mutex mutex_;
  std::vector<T> items_;
};

}  // namespace proletariat::detail
