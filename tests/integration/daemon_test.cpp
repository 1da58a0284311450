// The daemon as a program: port 0 with the bound ports announced, and --parent-watch
// (issue 10, defect 9: a daemon a program starts must end with it).
#include <gtest/gtest.h>

#include "support/cluster.hpp"
#include "support/daemon.hpp"

namespace proletariat::testing {
namespace {

TEST(Daemon, PortZeroBindsFreePortsAndAnnouncesThem) {
  Daemon daemon(PROLETARIAT_DAEMON, {"--log-level", "warn"});
  EXPECT_GT(daemon.port(), 0U);
  EXPECT_GT(daemon.pub_port(), 0U);
  EXPECT_NE(daemon.port(), daemon.pub_port());
  Client client(client_options(daemon.endpoint()));
  ASSERT_TRUE(client.wait_connected(5s)) << daemon.endpoint();
  const auto status = client.my_status().get();
  EXPECT_EQ(status["id"], client.id());
}

TEST(Daemon, ParentWatchStopsGracefullyWhenStdinCloses) {
  Daemon daemon(PROLETARIAT_DAEMON, {"--parent-watch", "--log-level", "warn"});
  Client client(client_options(daemon.endpoint()));
  ASSERT_TRUE(client.wait_connected(5s));
  daemon.close_stdin();
  EXPECT_EQ(daemon.wait_exit(10s), std::optional<int>(0)) << "a graceful stop exits 0";
}

TEST(Daemon, WithoutParentWatchAClosedStdinChangesNothing) {
  Daemon daemon(PROLETARIAT_DAEMON, {"--log-level", "warn"});
  daemon.close_stdin();
  Client client(client_options(daemon.endpoint()));
  EXPECT_TRUE(client.wait_connected(5s)) << "still serving";
}

}  // namespace
}  // namespace proletariat::testing
