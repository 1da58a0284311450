// detail::poll: ZeroMQ sockets and plain fds in one wait, asking ZMQ_EVENTS only of
// sockets that need it (see detail/poll.hpp for why that loses no event).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>

#include <zmq.hpp>

#include "detail/poll.hpp"

namespace proletariat::detail {
namespace {

using namespace std::chrono_literals;

struct Pair {
  zmq::context_t context;
  zmq::socket_t a{context, zmq::socket_type::pair};
  zmq::socket_t b{context, zmq::socket_type::pair};
  Pair() {
    a.bind("inproc://poll-test");
    b.connect("inproc://poll-test");
  }
};

TEST(Poll, NothingReadyReturnsZeroAfterTheTimeout) {
  Pair pair;
  std::array<PollItem, 1> items{{{pair.b.handle(), -1, ZMQ_POLLIN, 0, true}}};
  EXPECT_EQ(poll(items, 5ms), 0);
  EXPECT_EQ(items[0].revents, 0);
}

TEST(Poll, SocketWithAMessageIsReadyWhetherAskedFirstOrWokenByItsFd) {
  for (const bool check_first : {true, false}) {
    Pair pair;
    std::array<PollItem, 1> items{{{pair.b.handle(), -1, ZMQ_POLLIN, 0, true}}};
    ASSERT_EQ(poll(items, 0ms), 0);  // leaves the socket quiet: its fd announces what comes
    items[0].check_first = check_first;
    pair.a.send(zmq::str_buffer("hello"), zmq::send_flags::none);
    EXPECT_EQ(poll(items, 5000ms), 1) << "check_first " << check_first;
    EXPECT_EQ(items[0].revents, ZMQ_POLLIN);
    zmq::message_t msg;
    ASSERT_TRUE(pair.b.recv(msg, zmq::recv_flags::dontwait));
    EXPECT_EQ(msg.to_string(), "hello");
  }
}

TEST(Poll, PlainFdAndSocketReportTheirOwnEvents) {
  Pair pair;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::array<PollItem, 2> items{{{pair.b.handle(), -1, ZMQ_POLLIN, 0, true}, {nullptr, fds[0], ZMQ_POLLIN, 0, false}}};
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  EXPECT_EQ(poll(items, 5000ms), 1);
  EXPECT_EQ(items[0].revents, 0);
  EXPECT_EQ(items[1].revents, ZMQ_POLLIN);
  // A busy socket does not hide a ready fd: both are reported in the same wait.
  pair.a.send(zmq::str_buffer("m"), zmq::send_flags::none);
  EXPECT_EQ(poll(items, 5000ms), 2);
  EXPECT_EQ(items[0].revents, ZMQ_POLLIN);
  EXPECT_EQ(items[1].revents, ZMQ_POLLIN);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Poll, WritableSocketReportsPollout) {
  Pair pair;
  std::array<PollItem, 1> items{{{pair.a.handle(), -1, ZMQ_POLLOUT, 0, true}}};
  EXPECT_EQ(poll(items, 5000ms), 1);
  EXPECT_EQ(items[0].revents, ZMQ_POLLOUT);
}

}  // namespace
}  // namespace proletariat::detail
