// System messages end to end (issue 4): a broadcast to 50 peers while jobs flow,
// targeted, to the manager, nobody to send to, a recipient that dies mid-broadcast,
// a sender that leaves.
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "protocol/codec.hpp"
#include "support/cluster.hpp"

namespace proletariat::testing {
namespace {

class SysmsgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<Manager>(loopback_options());
    manager_->on_sysmsg([this](const nlohmann::json& msg, const std::string& from) {
      std::lock_guard lock(mutex_);
      manager_got_.push_back(msg.dump() + " from " + from);
    });
    manager_->start();
    endpoint_ = manager_->endpoint();
  }

  // The manager's thread writes the members below: stop it before they go.
  void TearDown() override { manager_->stop(); }

  std::unique_ptr<Client> connected_client() {
    auto c = std::make_unique<Client>(client_options(endpoint_));
    EXPECT_TRUE(c->wait_connected(5s));
    return c;
  }

  static SysmsgReceipt receipt(std::future<SysmsgReceipt>& f) {
    if (f.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "the system message was never acknowledged";
      return {};
    }
    return f.get();
  }

  std::unique_ptr<Manager> manager_;
  std::string endpoint_;
  std::mutex mutex_;
  std::vector<std::string> manager_got_;
};

// Issue 10, defect 8: a peer that says in HELLO it takes no system messages is not
// waited for; the others still get the broadcast.
TEST_F(SysmsgTest, PeerWithoutSystemMessagesIsNotWaitedFor) {
  auto listening = connected_client();
  std::atomic<int> got{0};
  listening->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++got; });
  ASSERT_TRUE(wait_until([&] { return listening->my_status().get().contains("id"); }));
  ClientOptions quiet_options = client_options(endpoint_);
  quiet_options.system_messages = false;
  Client quiet(quiet_options);
  ASSERT_TRUE(quiet.wait_connected(5s));
  auto sender = connected_client();
  auto f = sender->system_message({{"reload", true}});
  const auto r = receipt(f);
  EXPECT_EQ(r.sent_to, 1U) << "only the listening peer counts";
  EXPECT_EQ(r.received_by, 1U);
  EXPECT_EQ(got.load(), 1);
  auto refused = sender->system_message({{"x", 1}}, quiet.id());
  try {
    (void)refused.get();
    ADD_FAILURE() << "a message to a peer without system messages was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "ENOPEER");
  }
}

// A channel that is not TCP is announced whole in WELCOME (pub_endpoint).
TEST(SysmsgIpc, PeersFindAnIpcChannelFromWelcome) {
  const std::string base = "ipc:///tmp/proletariat-sysmsg-" + std::to_string(::getpid());
  ManagerOptions options = loopback_options(base + ".cmd");
  options.pub_endpoint = base + ".pub";
  Manager manager(options);
  manager.start();
  Client a(client_options(manager.endpoint()));
  Client b(client_options(manager.endpoint()));
  ASSERT_TRUE(a.wait_connected(5s));
  ASSERT_TRUE(b.wait_connected(5s));
  std::atomic<int> got{0};
  b.on_sysmsg([&](const nlohmann::json&, const std::string&) { ++got; });
  auto f = a.system_message({{"over", "ipc"}});
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  const auto r = f.get();
  EXPECT_EQ(r.sent_to, 1U);
  EXPECT_EQ(r.received_by, 1U);
  EXPECT_EQ(got.load(), 1);
  manager.stop();
}

TEST_F(SysmsgTest, BroadcastReachesFiftyPeersWhileJobsFlow) {
  auto worker = echo_worker(endpoint_, 8);
  auto jobs_client = connected_client();
  auto jobs = jobs_client->work(std::vector<JobSpec>(2000, JobSpec(nlohmann::json("x"))));

  constexpr int kPeers = 50;
  std::vector<std::unique_ptr<Client>> peers;
  std::atomic<int> received{0};
  std::mutex from_mutex;
  std::set<std::string> senders;
  for (int i = 0; i < kPeers; ++i) {
    peers.push_back(connected_client());
    peers.back()->on_sysmsg([&](const nlohmann::json& msg, const std::string& from) {
      if (msg == nlohmann::json{{"hello", "comrades"}}) ++received;
      std::lock_guard lock(from_mutex);
      senders.insert(from);
    });
  }
  auto sender = connected_client();
  auto f = sender->system_message({{"hello", "comrades"}});
  const auto r = receipt(f);
  // 50 peers, the worker and the jobs client; the sender itself is not a recipient.
  EXPECT_EQ(r.sent_to, static_cast<std::uint64_t>(kPeers + 2));
  EXPECT_EQ(r.received_by, r.sent_to);
  EXPECT_TRUE(wait_until([&] { return received.load() == kPeers; })) << received.load();
  {
    std::lock_guard lock(from_mutex);
    EXPECT_EQ(senders, (std::set<std::string>{sender->id()}));
  }
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(manager_got_.size(), 1u);
    EXPECT_EQ(manager_got_[0], "{\"hello\":\"comrades\"} from " + sender->id());
  }
  ASSERT_EQ(jobs.wait_for(20s), std::future_status::ready);
  for (const auto& result : jobs.get()) ASSERT_TRUE(result.ok());
}

TEST_F(SysmsgTest, TargetedMessageReachesOnlyThatPeer) {
  auto a = connected_client();
  auto b = connected_client();
  std::atomic<int> a_got{0}, b_got{0};
  a->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++a_got; });
  b->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++b_got; });
  auto sender = connected_client();
  auto f = sender->system_message({{"only", "b"}}, b->id());
  const auto r = receipt(f);
  EXPECT_EQ(r.sent_to, 1u);
  EXPECT_EQ(r.received_by, 1u);
  EXPECT_EQ(b_got.load(), 1);
  EXPECT_EQ(a_got.load(), 0);
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(manager_got_.empty());
}

TEST_F(SysmsgTest, MessageToTheManagerFiresItsEventOnly) {
  auto other = connected_client();
  std::atomic<int> other_got{0};
  other->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++other_got; });
  auto w = echo_worker(endpoint_);  // a worker sends too
  ASSERT_TRUE(w->wait_ready(5s));
  auto f = w->system_message({{"to", "manager"}}, std::string(kToManager));
  const auto r = receipt(f);
  EXPECT_EQ(r.sent_to, 1u);
  EXPECT_EQ(r.received_by, 1u);
  std::lock_guard lock(mutex_);
  ASSERT_EQ(manager_got_.size(), 1u);
  EXPECT_EQ(manager_got_[0], "{\"to\":\"manager\"} from " + w->id());
  EXPECT_EQ(other_got.load(), 0);
}

TEST_F(SysmsgTest, NobodyToSendToCompletesAtOnceWithZeroZero) {
  auto alone = connected_client();
  auto f = alone->system_message({{"anyone", "?"}});
  const auto r = receipt(f);
  EXPECT_EQ(r.sent_to, 0u);
  EXPECT_EQ(r.received_by, 0u);
}

TEST_F(SysmsgTest, UnknownPeerIsAnError) {
  auto c = connected_client();
  auto f = c->system_message({{"x", 1}}, std::string("nobody.42"));
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  try {
    f.get();
    FAIL() << "expected ENOPEER";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "ENOPEER");
  }
}

TEST_F(SysmsgTest, RecipientThatDiesMidBroadcastIsTakenOutOfTheCount) {
  auto a = connected_client();
  std::atomic<int> a_got{0};
  a->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++a_got; });

  // The mute peer: registers, subscribes, never acknowledges.
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 5000);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvtimeo, 5000);
  dealer.connect(endpoint_);
  ASSERT_TRUE(zmq::send_multipart(dealer, protocol::encode(protocol::Hello{"mute", "test"})));
  protocol::Frames reply;
  ASSERT_TRUE(zmq::recv_multipart(dealer, std::back_inserter(reply)));
  auto welcome = protocol::decode_from_manager(reply, 0);
  ASSERT_TRUE(std::holds_alternative<protocol::ManagerMessage>(welcome));
  const auto& w = std::get<protocol::Welcome>(std::get<protocol::ManagerMessage>(welcome));
  sub.set(zmq::sockopt::subscribe, w.id);
  sub.connect(manager_->pub_endpoint());

  auto sender = connected_client();
  auto f = sender->system_message({{"hello", 1}});
  protocol::Frames published;
  ASSERT_TRUE(zmq::recv_multipart(sub, std::back_inserter(published))) << "the mute peer never got the broadcast";
  // It dies without acknowledging: the manager notices by its silence.
  dealer.close();
  sub.close();
  const auto r = receipt(f);
  EXPECT_EQ(r.sent_to, 1u);  // only `a` still counts
  EXPECT_EQ(r.received_by, 1u);
  EXPECT_EQ(a_got.load(), 1);
}

TEST_F(SysmsgTest, SenderThatLeavesBeforeCompletionGetsAnError) {
  // A registered peer that never subscribes keeps the broadcast open for a liveness window.
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 5000);
  dealer.connect(endpoint_);
  ASSERT_TRUE(zmq::send_multipart(dealer, protocol::encode(protocol::Hello{"lazy", "test"})));
  protocol::Frames reply;
  ASSERT_TRUE(zmq::recv_multipart(dealer, std::back_inserter(reply)));

  auto sender = connected_client();
  std::promise<std::string> outcome;
  sender->system_message({{"x", 1}}, std::nullopt, [&](std::optional<JobError> err, SysmsgReceipt) {
    outcome.set_value(err ? err->code : std::string("completed"));
  });
  sender.reset();  // leaves before the lazy peer could be counted
  auto f = outcome.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready) << "the sender heard nothing";
  EXPECT_EQ(f.get(), "ECONNLOST");
}

// Issue 12: the channel grants a peer's own id only. A SUB socket that subscribes to
// everything, to a prefix of every id, to another peer's id... reads nothing: the
// subscriptions that are no registered id are refused (STATUS counts them), and ids
// are prefix-free, so the granted ones match one peer each.
TEST_F(SysmsgTest, OnlyTheAddressedPeerReadsItsMessages) {
  std::vector<std::unique_ptr<Client>> peers;
  for (int i = 0; i < 12; ++i) peers.push_back(connected_client());  // ids up to "12@…": "1@…" is no prefix
  for (const auto& a : peers) {
    for (const auto& b : peers) {
      if (a != b) {
        EXPECT_NE(b->id().rfind(a->id(), 0), 0U) << a->id() << " is a prefix of " << b->id();
      }
    }
  }
  std::atomic<int> first_got{0};
  peers[0]->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++first_got; });

  zmq::context_t context;
  zmq::socket_t snoop(context, zmq::socket_type::sub);
  snoop.set(zmq::sockopt::linger, 0);
  const std::vector<std::string> topics = {"", peers[0]->id().substr(0, 1), peers[0]->id().substr(0, 2), "nobody"};
  for (const auto& t : topics) snoop.set(zmq::sockopt::subscribe, t);
  auto observer = connected_client();
  const auto refused_before = observer->status().get()["subscriptionsRefused"].get<std::uint64_t>();
  snoop.connect(manager_->pub_endpoint());
  ASSERT_TRUE(wait_until(
      [&] { return observer->status().get()["subscriptionsRefused"].get<std::uint64_t>() >= refused_before + topics.size(); },
      5s))
      << "the manager never saw the snooping subscriptions: " << observer->status().get()["subscriptionsRefused"];

  auto targeted = observer->system_message({{"for", "the first"}}, peers[0]->id());
  EXPECT_EQ(receipt(targeted).received_by, 1u);
  auto broadcast = observer->system_message({{"for", "everybody"}});
  EXPECT_EQ(receipt(broadcast).received_by, peers.size());
  EXPECT_EQ(first_got.load(), 2);
  zmq::pollitem_t item{snoop.handle(), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(200)), 0) << "a SUB read messages addressed to others";
}

}  // namespace
}  // namespace proletariat::testing
