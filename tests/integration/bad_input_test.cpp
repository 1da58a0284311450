// Bad input never hurts the manager: a raw DEALER sends malformed multipart
// messages, invalid JSON, unknown commands, commands in the wrong state and oversized
// messages; each gets the right error code, and a normal client is served correctly
// before, between and after.
#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "protocol/codec.hpp"
#include "support/cluster.hpp"

namespace proletariat::testing {
namespace {

class RawPeer {
 public:
  explicit RawPeer(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 5000);
    socket_.connect(endpoint);
  }

  void send_parts(const std::vector<std::string>& parts) {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      zmq::message_t m(parts[i].data(), parts[i].size());
      (void)socket_.send(m, i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  void send(protocol::Frames frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      (void)socket_.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  // The next message other than a heartbeat, decoded; fails the test on timeout.
  protocol::ManagerMessage receive() {
    for (;;) {
      protocol::Frames frames;
      auto n = zmq::recv_multipart(socket_, std::back_inserter(frames));
      if (!n) {
        ADD_FAILURE() << "no reply from the manager within 5 s";
        return protocol::Heartbeat{};
      }
      auto decoded = protocol::decode_from_manager(frames, 0);
      if (auto* err = std::get_if<protocol::DecodeError>(&decoded)) {
        ADD_FAILURE() << "manager sent an undecodable message: " << err->message;
        return protocol::Heartbeat{};
      }
      auto msg = std::get<protocol::ManagerMessage>(std::move(decoded));
      if (!std::holds_alternative<protocol::Heartbeat>(msg)) return msg;
    }
  }

  std::string expect_error() {
    auto msg = receive();
    auto* err = std::get_if<protocol::ErrorReply>(&msg);
    if (err == nullptr) {
      ADD_FAILURE() << "expected ERROR, got message #" << msg.index();
      return {};
    }
    EXPECT_FALSE(err->message.empty());
    return err->code;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = loopback_options();
    options.max_message_bytes = 64 * 1024;
    options.max_frames = 64;
    manager_ = std::make_unique<Manager>(options);
    manager_->start();
    worker_ = echo_worker(manager_->endpoint(), 8);
    client_ = std::make_unique<Client>(client_options(manager_->endpoint()));
  }

  // The well-behaved client still gets correct results.
  void expect_normal_client_served(int round) {
    std::vector<JobSpec> jobs;
    for (int i = 0; i < 5; ++i) jobs.emplace_back(nlohmann::json{{"round", round}, {"i", i}});
    auto future = client_->work(std::move(jobs));
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready) << "round " << round;
    auto results = future.get();
    ASSERT_EQ(results.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].err->code;
      EXPECT_EQ(results[i].data.to_json()["echo"]["i"], i);
      EXPECT_EQ(results[i].data.to_json()["echo"]["round"], round);
    }
  }

  std::unique_ptr<Manager> manager_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Client> client_;
};

TEST_F(BadInputTest, EveryKindOfBadInputGetsItsErrorAndOthersAreServed) {
  RawPeer bad(manager_->endpoint());
  int round = 0;
  expect_normal_client_served(round++);

  // Before HELLO: anything is ENOHELLO.
  bad.send(protocol::encode(protocol::Heartbeat{}));
  EXPECT_EQ(bad.expect_error(), "ENOHELLO");

  // Malformed multipart messages.
  bad.send_parts({"just one frame"});
  EXPECT_EQ(bad.expect_error(), "EBADFRAME");
  bad.send_parts({"", "PRO1", "HELLO"});
  EXPECT_EQ(bad.expect_error(), "EBADFRAME");
  bad.send_parts({"", "XXXX", "HELLO", "{}"});
  EXPECT_EQ(bad.expect_error(), "EVERSION");
  expect_normal_client_served(round++);

  // Register, then invalid JSON, unknown commands, wrong types.
  bad.send(protocol::encode(protocol::Hello{"bad", "test"}));
  ASSERT_TRUE(std::holds_alternative<protocol::Welcome>(bad.receive()));
  bad.send_parts({"", "PRO1", "PUSH", "{not json"});
  EXPECT_EQ(bad.expect_error(), "EBADJSON");
  bad.send_parts({"", "PRO1", "PUSH", "\"a string\""});
  EXPECT_EQ(bad.expect_error(), "EBADJSON");
  bad.send_parts({"", "PRO1", "FROBNICATE", "{}"});
  EXPECT_EQ(bad.expect_error(), "EUNKNOWNCMD");
  bad.send_parts({"", "PRO1", "PUSH", "{\"req\":\"one\",\"jobs\":[]}"});
  EXPECT_EQ(bad.expect_error(), "EBADFIELD");
  bad.send_parts({"", "PRO1", "PUSH", "{\"req\":1,\"jobs\":[{},{}]}", "1"});
  EXPECT_EQ(bad.expect_error(), "EBADFRAME");
  expect_normal_client_served(round++);

  // Commands in the wrong state.
  bad.send(protocol::encode(protocol::Hello{}));
  EXPECT_EQ(bad.expect_error(), "ESTATE");
  bad.send_parts({"", "PRO1", "RESULT", "{\"results\":[{\"id\":1,\"attempt\":1}]}", "1"});
  EXPECT_EQ(bad.expect_error(), "ESTATE");
  bad.send_parts({"", "PRO1", "REJECT", "{\"jobs\":[{\"id\":1,\"attempt\":1}]}"});
  EXPECT_EQ(bad.expect_error(), "ESTATE");
  bad.send_parts({"", "PRO1", "OFFER", "{\"slots\":10,\"prioritySlots\":{\"1\":11}}"});
  EXPECT_EQ(bad.expect_error(), "EBADOFFER");
  expect_normal_client_served(round++);

  // Oversized: too many bytes, too many frames.
  bad.send_parts({"", "PRO1", "PUSH", "{\"req\":2,\"jobs\":[{}]}", std::string(100 * 1024, 'x')});
  EXPECT_EQ(bad.expect_error(), "ETOOBIG");
  std::vector<std::string> many = {"", "PRO1", "HEARTBEAT", ""};
  many.resize(200);
  bad.send_parts(many);
  EXPECT_EQ(bad.expect_error(), "ETOOBIG");
  expect_normal_client_served(round++);

  // After all that, the same bad peer can still do a valid push and get an answer.
  protocol::Push push;
  push.req = 9;
  push.jobs.resize(1);
  push.payloads.emplace_back(std::string_view("\"fine\""));
  bad.send(protocol::encode(std::move(push)));
  auto accepted = bad.receive();
  ASSERT_TRUE(std::holds_alternative<protocol::Accepted>(accepted));
  EXPECT_EQ(std::get<protocol::Accepted>(accepted).req, 9u);
  auto result = bad.receive();
  ASSERT_TRUE(std::holds_alternative<protocol::ClientResults>(result));
  auto& results = std::get<protocol::ClientResults>(result);
  ASSERT_EQ(results.payloads.size(), 1u);
  EXPECT_EQ(results.payloads[0].to_string(), "{\"echo\":\"fine\"}");
}

}  // namespace
}  // namespace proletariat::testing
