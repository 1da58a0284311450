// A multi-producer queue that an I/O thread can poll next to its ZeroMQ sockets.
//
// ZeroMQ sockets are not thread-safe, so every object (Manager, Worker, Client) keeps
// its sockets on one thread and other threads post commands here. Posting never
// blocks on I/O: it appends under a mutex and, only when the queue was empty, writes
// one byte to a pipe whose read end the owner polls (zmq::poll accepts plain fds).
// The owner's loop: poll(fd(), ready() ? no wait : its deadline); clear_signal() if
// fd() was readable; drain().
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
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

  // Called by the owning thread when it starts. Its own posts (say, a client callback
  // that submits more work) then skip the pipe: the owner asks ready() right before
  // it sleeps (after anything that runs callbacks), so the syscalls would only cost
  // it a wake-up it does not need.
  void bind_owner() { owner_.store(std::this_thread::get_id()); }

  void post(T item) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = items_.empty();
      items_.push_back(std::move(item));
    }
    if (was_empty && std::this_thread::get_id() != owner_.load()) {
      const char byte = 1;
      // A full pipe already wakes the reader; nothing is lost if this write fails.
      [[maybe_unused]] auto n = ::write(fds_[1], &byte, 1);
    }
  }

  // Owner: true when something waits, so the next poll must not block.
  [[nodiscard]] bool ready() {
    std::lock_guard lock(mutex_);
    return !items_.empty();
  }

  // Owner: empties the pipe after a poll found fd() readable. Reading only then keeps
  // an idle-looking drain free of syscalls; a byte that arrives after the items it
  // announced were drained costs one spurious, harmless wake-up.
  void clear_signal() {
    char buf[64];
    while (::read(fds_[0], buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
    }
  }

  // Everything posted so far, in order. Called by the owning thread only.
  std::vector<T> drain() {
    std::vector<T> out;
    std::lock_guard lock(mutex_);
    out.swap(items_);
    return out;
  }

  // The fd to poll for ZMQ_POLLIN.
  [[nodiscard]] int fd() const noexcept { return fds_[0]; }

 private:
  int fds_[2]{-1, -1};
  std::atomic<std::thread::id> owner_{};
  std::mutex mutex_;
  std::vector<T> items_;
};

}  // namespace proletariat::detail
