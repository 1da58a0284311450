// CURVE and roles (SPEC 10, PROTOCOL §13) with a real in-process Manager: who may
// connect, what each role may do, revocation on reload, an unauthenticated SUB, and
// the loopback-only default without CURVE. Every refusal leaves the authorized client
// and worker served.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <zmq.hpp>

#include <proletariat/error.hpp>

#include "support/cluster.hpp"

namespace proletariat::testing {
namespace {

namespace fs = std::filesystem;

class Security : public ::testing::Test {
 protected:
  Security() {
    std::string pattern = (fs::temp_directory_path() / "prlt-keys-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    for (const char* role : {"workers", "clients", "admins"}) fs::create_directories(fs::path(dir_) / role);
    server_ = generate_curve_key_pair();
    worker_key_ = allow("workers", "worker");
    client_key_ = allow("clients", "client");
    // The client that checks status is also an admin.
    write_key(fs::path(dir_) / "admins" / "client.pub", client_key_.public_key);
    manager_ = std::make_unique<Manager>(manager_options());
    manager_->start();
  }
  ManagerOptions manager_options() const {
    auto options = loopback_options();
    options.curve_keys = server_;
    options.curve_keys_dir = dir_;
    return options;
  }
  ~Security() override {
    manager_.reset();
    fs::remove_all(dir_);
  }

  static void write_key(const fs::path& path, const std::string& key) { std::ofstream(path) << key << "\n"; }
  CurveKeyPair allow(const char* role, const std::string& name) {
    auto keys = generate_curve_key_pair();
    write_key(fs::path(dir_) / role / (name + ".pub"), keys.public_key);
    return keys;
  }
  CurveOptions curve(const CurveKeyPair& keys) const { return CurveOptions{server_.public_key, keys}; }

  std::unique_ptr<Worker> worker(const CurveKeyPair& keys, std::vector<std::string> services = {}) {
    auto options = worker_options(manager_->endpoint(), 2);
    options.curve = curve(keys);
    options.services = std::move(services);
    auto w = std::make_unique<Worker>(options);
    w->on_work([](const JobPtr& job) { job->reply(Payload::json({{"echo", job->args().to_json()}})); });
    w->start();
    return w;
  }
  std::unique_ptr<Client> client(const std::optional<CurveKeyPair>& keys) {
    auto options = client_options(manager_->endpoint());
    if (keys) options.curve = curve(*keys);
    return std::make_unique<Client>(options);
  }
  // The authorized pair still works: one job through.
  void served(Client& c) {
    auto result = c.work(nlohmann::json{{"n", 1}});
    ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
    const auto r = result.get();
    ASSERT_FALSE(r.err) << r.err->code << " " << r.err->message;
    EXPECT_EQ(r.data.to_json(), (nlohmann::json{{"echo", {{"n", 1}}}}));
  }
  nlohmann::json status(Client& admin) { return admin.status().get(); }

  std::string dir_;
  CurveKeyPair server_;
  CurveKeyPair worker_key_;
  CurveKeyPair client_key_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(Security, AuthorizedPeersWorkAndAreKnownByTheirKeys) {
  auto w = worker(worker_key_);
  auto c = client(client_key_);
  ASSERT_TRUE(c->wait_connected(5s));
  served(*c);
  const auto doc = status(*c);
  ASSERT_EQ(doc["workers"].size(), 1U);
  EXPECT_EQ(doc["workers"][0]["key"], worker_key_.public_key) << "a peer's public key is its identity in status";
}

TEST_F(Security, UnlistedAndPlainPeersNeverRegister) {
  auto w = worker(worker_key_);
  auto c = client(client_key_);
  ASSERT_TRUE(c->wait_connected(5s));
  auto stranger = client(generate_curve_key_pair());
  auto plain = client(std::nullopt);
  EXPECT_FALSE(stranger->wait_connected(1500ms)) << "a key in no list is refused at the handshake";
  EXPECT_FALSE(plain->wait_connected(500ms)) << "no CURVE, no connection";
  served(*c);
}

TEST_F(Security, AWorkerKeyCannotPushAndAClientKeyCannotOffer) {
  auto w = worker(worker_key_);
  auto c = client(client_key_);
  ASSERT_TRUE(c->wait_connected(5s));
  auto pushing_worker = client(worker_key_);
  ASSERT_TRUE(pushing_worker->wait_connected(5s)) << "a listed key may register";
  auto refused = pushing_worker->work(nlohmann::json{{"n", 2}});
  ASSERT_EQ(refused.wait_for(10s), std::future_status::ready);
  const auto r = refused.get();
  ASSERT_TRUE(r.err);
  EXPECT_EQ(r.err->code, "EDENIED");
  // The only worker for "only-here" has a client key: its OFFER is refused, so a job
  // for that service finds no worker and fails its assign timeout.
  auto offering_client = worker(client_key_, {"only-here"});
  JobSpec job(nlohmann::json{{"n", 3}});
  job.service = "only-here";
  WorkOptions within;
  within.assign_timeout = 1500ms;
  auto unassigned = c->work(std::move(job), within);
  ASSERT_EQ(unassigned.wait_for(10s), std::future_status::ready);
  const auto u = unassigned.get();
  ASSERT_TRUE(u.err);
  EXPECT_EQ(u.err->code, "EATO") << "a worker with a client key got the job";
  EXPECT_EQ(status(*c)["workers"].size(), 1U) << "the client key's OFFER was refused: it is no worker";
  served(*c);
}

TEST_F(Security, OnlyAdminKeysGetEverybodysStatusOrBroadcast) {
  auto w = worker(worker_key_);
  const auto plain_client = allow("clients", "not-admin");
  manager_->reload_keys();
  auto c = client(plain_client);
  ASSERT_TRUE(c->wait_connected(5s));
  try {
    (void)c->status().get();
    FAIL() << "a client key without the admin role got everybody's status";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "EDENIED");
  }
  EXPECT_NO_THROW((void)c->my_status().get()) << "its own status is anybody's";
  try {
    (void)c->system_message(nlohmann::json{{"hi", 1}}).get();
    FAIL() << "a broadcast from a non-admin key went out";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "EDENIED");
  }
  served(*c);
}

TEST_F(Security, ARevokedKeyIsDroppedAtReloadAndTheOthersStay) {
  auto w = worker(worker_key_);
  auto c = client(client_key_);
  ASSERT_TRUE(c->wait_connected(5s));
  const auto doomed_key = allow("workers", "doomed");
  manager_->reload_keys();
  auto doomed = worker(doomed_key);
  ASSERT_TRUE(wait_until([&] { return status(*c)["workers"].size() == 2; }, 5s));
  fs::remove(fs::path(dir_) / "workers" / "doomed.pub");
  manager_->reload_keys();
  ASSERT_TRUE(wait_until([&] { return status(*c)["workers"].size() == 1; }, 5s)) << "the revoked worker is gone";
  EXPECT_EQ(status(*c)["workers"][0]["key"], worker_key_.public_key);
  served(*c);
}

TEST_F(Security, AnUnauthenticatedSubReceivesNoSystemMessage) {
  auto c = client(client_key_);
  ASSERT_TRUE(c->wait_connected(5s));
  const auto pub = status(*c);  // the channel's port is in WELCOME; the manager knows its endpoint
  zmq::context_t context;
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(manager_->pub_endpoint());
  (void)pub;
  (void)c->system_message(nlohmann::json{{"secret", true}}).get();  // sent to everybody, and done
  zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(300)), 0) << "a plain SUB got a system message";
}

// An authenticated peer that subscribes to another peer's id, or to everything, reads
// nothing (PROTOCOL §8.1): its connection's key is not the key of the peer the topic
// names. The owner keeps its messages, also after the stranger's connection closes
// (the XPUB socket then ends the stranger's subscriptions, with no key on them).
TEST_F(Security, AnotherKeyCannotReadAPeersSystemMessages) {
  auto w = worker(worker_key_);
  std::atomic<int> worker_got{0};
  w->on_sysmsg([&](const nlohmann::json&, const std::string&) { ++worker_got; });
  auto admin = client(client_key_);
  ASSERT_TRUE(admin->wait_connected(5s));
  ASSERT_TRUE(wait_until([&] { return w->id().size() > 0 && status(*admin)["workers"].size() == 1; }, 5s));
  const std::string target = w->id();

  const auto stranger_key = allow("clients", "stranger");
  manager_->reload_keys();
  const auto refused_before = status(*admin)["subscriptionsRefused"].get<std::uint64_t>();
  {
    zmq::context_t context;
    zmq::socket_t snoop(context, zmq::socket_type::sub);
    snoop.set(zmq::sockopt::linger, 0);
    snoop.set(zmq::sockopt::curve_serverkey, server_.public_key);
    snoop.set(zmq::sockopt::curve_publickey, stranger_key.public_key);
    snoop.set(zmq::sockopt::curve_secretkey, stranger_key.secret_key);
    snoop.set(zmq::sockopt::subscribe, target);
    snoop.set(zmq::sockopt::subscribe, "");
    snoop.connect(manager_->pub_endpoint());
    ASSERT_TRUE(wait_until(
        [&] { return status(*admin)["subscriptionsRefused"].get<std::uint64_t>() >= refused_before + 2; }, 5s))
        << "the manager never saw the stranger's subscriptions: " << status(*admin)["subscriptionsRefused"];
    auto f = admin->system_message(nlohmann::json{{"secret", 1}}, target);
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get().received_by, 1u);
    zmq::pollitem_t item{snoop.handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(200)), 0) << "another key read the worker's message";
  }
  // The stranger's connection is gone; the worker still counts and receives.
  auto again = admin->system_message(nlohmann::json{{"secret", 2}}, target);
  ASSERT_EQ(again.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(again.get().received_by, 1u);
  EXPECT_EQ(worker_got.load(), 2);
  served(*admin);
}

// A client identity belongs to its key: another key naming it is another client.
TEST_F(Security, AnIdentityBelongsToTheKeyThatClaimedIt) {
  // Identities matter with a journal (a new session takes over its identity's slot).
  manager_.reset();
  auto journaled = manager_options();
  journaled.journal_dir = (fs::path(dir_) / "journal").string();
  manager_ = std::make_unique<Manager>(journaled);
  manager_->start();
  auto w = worker(worker_key_);
  auto options = client_options(manager_->endpoint());
  options.curve = curve(client_key_);
  options.identity = "billing";
  Client owner(options);
  served(owner);
  const auto other_key = allow("clients", "other");
  manager_->reload_keys();
  options.curve = curve(other_key);
  Client impostor(options);
  served(impostor);
  const auto doc = status(owner);
  ASSERT_EQ(doc["clients"].size(), 2U) << doc.dump();
  served(owner);  // the owner's session was not taken over
}

TEST(InsecureDefault, WithoutCurveOnlyLoopbackIsBound) {
  auto options = loopback_options("tcp://*:*");
  options.pub_endpoint = "tcp://*:*";
  Manager wildcard(options);
  wildcard.start();
  EXPECT_EQ(wildcard.endpoint().rfind("tcp://127.0.0.1:", 0), 0U) << wildcard.endpoint();
  wildcard.stop();
  auto remote = loopback_options("tcp://192.0.2.1:*");
  Manager refused(remote);
  try {
    refused.start();
    FAIL() << "bound a remote address without CURVE";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "EBADFIELD");
    EXPECT_NE(std::string(e.what()).find("--allow-insecure-remote"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace proletariat::testing
