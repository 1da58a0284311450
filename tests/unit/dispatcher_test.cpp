// Dispatcher: raw frames and a fake clock in, outgoing messages out. No sockets.
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include <proletariat/error.hpp>

#include "broker/dispatcher.hpp"

namespace proletariat::broker {
namespace {

using namespace std::chrono_literals;
using protocol::Frames;

struct Sent {
  std::string to;
  std::string command;
  nlohmann::json header;
  std::vector<std::string> payloads;
};

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() { reset({}); }

  void reset(ManagerOptions options, ManagerEvents events = {}) {
    options.heartbeat_interval = 100ms;
    options.heartbeat_liveness = 3;
    options.avail_threshold = 0;
    options.seed = 7;
    options_ = options;
    dispatcher_ = std::make_unique<Dispatcher>(options_, std::move(events));
  }

  // Sends frames as `rid`'s DEALER would, runs the batch, returns what went out.
  std::vector<Sent> from(const std::string& rid, std::string_view command, const nlohmann::json& header,
                         std::vector<std::string> payloads = {}) {
    Frames frames;
    frames.emplace_back(rid.data(), rid.size());
    frames.emplace_back();
    frames.emplace_back(std::string_view("PRO1"));
    frames.emplace_back(command.data(), command.size());
    const auto h = header.is_null() ? std::string("{}") : header.dump();
    frames.emplace_back(h.data(), h.size());
    for (const auto& p : payloads) frames.emplace_back(p.data(), p.size());
    return raw(frames);
  }

  std::vector<Sent> raw(Frames& frames) {
    dispatcher_->on_message(frames, now_);
    dispatcher_->after_batch(now_);
    return take();
  }

  std::vector<Sent> tick(std::chrono::milliseconds advance) {
    now_ += advance;
    dispatcher_->on_tick(now_);
    return take();
  }

  std::vector<Sent> take() {
    std::vector<Sent> out;
    for (auto& m : dispatcher_->outbox().take()) {
      Sent s;
      s.to = m.routing_id;
      s.command = m.frames[2].to_string();
      s.header = m.frames[3].size() ? nlohmann::json::parse(m.frames[3].to_string()) : nlohmann::json::object();
      for (std::size_t i = 4; i < m.frames.size(); ++i) s.payloads.push_back(m.frames[i].to_string());
      out.push_back(std::move(s));
    }
    return out;
  }

  static const Sent& only(const std::vector<Sent>& sent, std::string_view command) {
    static const Sent none{};
    const Sent* found = nullptr;
    for (const auto& s : sent) {
      if (s.command == command) {
        EXPECT_EQ(found, nullptr) << "more than one " << command;
        found = &s;
      }
    }
    EXPECT_NE(found, nullptr) << "no " << command << " was sent";
    return found ? *found : none;
  }

  static bool has(const std::vector<Sent>& sent, std::string_view command) {
    return std::any_of(sent.begin(), sent.end(), [&](const Sent& s) { return s.command == command; });
  }

  void hello(const std::string& rid) { ASSERT_EQ(only(from(rid, "HELLO", {}), "WELCOME").to, rid); }

  std::vector<Sent> worker(const std::string& rid, unsigned slots) {
    hello(rid);
    return from(rid, "OFFER", {{"slots", slots}});
  }

  ManagerOptions options_;
  std::unique_ptr<Dispatcher> dispatcher_;
  TimePoint now_{std::chrono::steady_clock::time_point{} + 1h};
};

TEST_F(DispatcherTest, HelloIsWelcomedWithHeartbeatSettings) {
  auto sent = from("p1", "HELLO", {{"name", "w"}});
  const auto& w = only(sent, "WELCOME");
  EXPECT_EQ(w.header["heartbeat_ms"], 100);
  EXPECT_EQ(w.header["liveness"], 3);
  EXPECT_EQ(w.header["protocol"], 1);
  EXPECT_EQ(w.header["entry_options"], true);
  EXPECT_FALSE(w.header["id"].get<std::string>().empty());
}

TEST_F(DispatcherTest, CommandBeforeHelloGetsNoHello) {
  auto sent = from("p1", "PUSH", {{"req", 1}, {"jobs", nlohmann::json::array()}});
  EXPECT_EQ(only(sent, "ERROR").header["code"], "ENOHELLO");
}

TEST_F(DispatcherTest, JobFlowsToWorkerAndResultBackToClient) {
  worker("w", 2);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 5}, {"jobs", {{{"key", "k"}}}}}, {"{\"n\":1}"});
  const auto& accepted = only(sent, "ACCEPTED");
  EXPECT_EQ(accepted.to, "c");
  EXPECT_EQ(accepted.header["req"], 5);
  const auto id = accepted.header["ids"][0].get<std::uint64_t>();
  const auto& jobs = only(sent, "JOBS");
  EXPECT_EQ(jobs.to, "w");
  EXPECT_EQ(jobs.header["jobs"][0]["id"], id);
  EXPECT_EQ(jobs.header["jobs"][0]["attempt"], 1);
  EXPECT_EQ(jobs.header["jobs"][0]["key"], "k");
  EXPECT_EQ(jobs.payloads, std::vector<std::string>{"{\"n\":1}"});  // untouched

  sent = from("w", "RESULT", {{"results", {{{"id", id}, {"attempt", 1}}}}}, {"\"done\""});
  const auto& result = only(sent, "RESULT");
  EXPECT_EQ(result.to, "c");
  EXPECT_EQ(result.header["results"][0]["id"], id);
  EXPECT_EQ(result.payloads, std::vector<std::string>{"\"done\""});
}

// Entry options (PROTOCOL §4) override the header's priority and timeouts per job.
TEST_F(DispatcherTest, PushEntryOptionsOverrideTheHeaderPerJob) {
  hello("c");
  auto sent = from("c", "PUSH",
                   {{"req", 1},
                    {"priority", 1},
                    {"runTimeout", 100},
                    {"jobs", {nlohmann::json::object(), {{"priority", 4.5}, {"runTimeout", 9}}, {{"assigntimeout", 50}}}}},
                   {"1", "2", "3"});
  const auto ids = only(sent, "ACCEPTED").header["ids"];
  ASSERT_EQ(ids.size(), 3u);
  // The third job alone has an assign deadline: 50 ms later it fails with EATO.
  sent = tick(60ms);
  const auto& failed = only(sent, "RESULT");
  ASSERT_EQ(failed.header["results"].size(), 1u);
  EXPECT_EQ(failed.header["results"][0]["id"], ids[2]);
  EXPECT_EQ(failed.header["results"][0]["err"]["code"], "EATO");
  // A worker with one slot gets the entry's higher priority first, with its own runTimeout.
  sent = worker("w", 1);
  const auto& first = only(sent, "JOBS");
  EXPECT_EQ(first.header["jobs"][0]["id"], ids[1]);
  EXPECT_EQ(first.header["jobs"][0]["priority"], 4.5);
  EXPECT_EQ(first.header["jobs"][0]["runTimeout"], 9);
  sent = from("w", "RESULT", {{"results", {{{"id", ids[1]}, {"attempt", 1}}}}}, {"0"});
  const auto& second = only(sent, "JOBS");
  EXPECT_EQ(second.header["jobs"][0]["id"], ids[0]);
  EXPECT_EQ(second.header["jobs"][0]["priority"], 1);
  EXPECT_EQ(second.header["jobs"][0]["runTimeout"], 100);
}

TEST_F(DispatcherTest, CommandsOutOfRoleGetState) {
  worker("w", 1);
  hello("c");
  from("c", "PUSH", {{"req", 1}, {"jobs", nlohmann::json::array()}});
  EXPECT_EQ(only(from("w", "PUSH", {{"req", 1}, {"jobs", nlohmann::json::array()}}), "ERROR").header["code"],
            "ESTATE");
  EXPECT_EQ(only(from("c", "OFFER", {{"slots", 1}}), "ERROR").header["code"], "ESTATE");
  EXPECT_EQ(only(from("c", "RESULT", {{"results", nlohmann::json::array()}}), "ERROR").header["code"], "ESTATE");
  EXPECT_EQ(only(from("w", "OFFER", {{"slots", 1}}), "ERROR").header["code"], "ESTATE");
  EXPECT_EQ(only(from("w", "HELLO", {}), "ERROR").header["code"], "ESTATE");
}

TEST_F(DispatcherTest, BadOfferIsRefusedAndPeerMayOfferAgain) {
  hello("w");
  auto sent = from("w", "OFFER", {{"slots", 10}, {"prioritySlots", {{"1", 8}, {"2", 5}}}});
  EXPECT_EQ(only(sent, "ERROR").header["code"], "EBADOFFER");
  sent = from("w", "OFFER", {{"slots", 10}, {"prioritySlots", {{"1", 3}}}});
  const auto& offered = only(sent, "OFFERED");
  EXPECT_EQ(offered.header["slots"], 10);
  EXPECT_EQ(offered.header["ranges"].size(), 2u);
}

TEST_F(DispatcherTest, StaleResultIsDroppedNotDelivered) {
  worker("w", 1);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  const auto id = only(sent, "ACCEPTED").header["ids"][0].get<std::uint64_t>();
  sent = from("w", "RESULT", {{"results", {{{"id", id}, {"attempt", 9}}}}}, {"2"});
  EXPECT_FALSE(has(sent, "RESULT"));
  sent = from("w", "RESULT", {{"results", {{{"id", id}, {"attempt", 1}}}}}, {"3"});
  EXPECT_EQ(only(sent, "RESULT").payloads[0], "3");
  sent = from("w", "RESULT", {{"results", {{{"id", id}, {"attempt", 1}}}}}, {"4"});
  EXPECT_FALSE(has(sent, "RESULT"));  // exactly one result per job
}

TEST_F(DispatcherTest, DeadWorkersJobsGoToAnotherWorkerWithGiveup) {
  std::vector<std::string> giveups;
  ManagerEvents events;
  events.giveup = [&](const JobInfo& job, const std::string& worker) {
    giveups.push_back(std::to_string(job.id) + "@" + worker);
  };
  reset({}, std::move(events));
  worker("w1", 1);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  ASSERT_EQ(only(sent, "JOBS").to, "w1");
  // w1 goes silent; c and a new worker w2 keep talking.
  for (int i = 0; i < 5; ++i) {
    tick(80ms);
    from("c", "HEARTBEAT", {});
  }
  EXPECT_EQ(giveups.size(), 1u);
  // The job went back to the front of its queue and reaches the next worker.
  sent = worker("w2", 1);
  const auto& jobs = only(sent, "JOBS");
  EXPECT_EQ(jobs.to, "w2");
  EXPECT_EQ(jobs.header["jobs"][0]["attempt"], 2);
}

// Issue 10, defect 5b: a job that shared dying workers fails no more; only a job whose
// worker dies while running it alone does, with EPOISON. STATUS shows it all.
TEST_F(DispatcherTest, OnlyAJobWhoseWorkerDiesWhileRunningItAloneFailsWithPoison) {
  ManagerOptions o;
  o.suspect_after = 1;
  reset(o);
  hello("c");
  worker("w0", 2);
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object(), nlohmann::json::object()}}},
                   {"1", "2"});
  ASSERT_EQ(only(sent, "JOBS").header["jobs"].size(), 2u);
  // Ticks past the liveness window while `alive` keep talking; returns all that went out.
  const auto silence = [&](std::vector<std::string> alive) {
    std::vector<Sent> out;
    for (int i = 0; i < 5; ++i) {
      auto t = tick(80ms);
      out.insert(out.end(), t.begin(), t.end());
      for (const auto& rid : alive) {
        auto h = from(rid, "HEARTBEAT", {});
        out.insert(out.end(), h.begin(), h.end());
      }
    }
    return out;
  };
  EXPECT_FALSE(has(silence({"c"}), "RESULT")) << "w0 died with both jobs: suspects, not failures";

  // Each suspect runs alone: one per new worker, though each has 4 slots.
  sent = worker("w1", 4);
  const auto first = only(sent, "JOBS").header["jobs"];
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["attempt"], 2);
  sent = worker("w2", 4);
  const auto second = only(sent, "JOBS").header["jobs"];
  ASSERT_EQ(second.size(), 1u);
  sent = from("c", "PUSH", {{"req", 2}, {"jobs", {nlohmann::json::object()}}}, {"3"});
  EXPECT_FALSE(has(sent, "JOBS")) << "workers running suspects take nothing else";
  sent = from("c", "STATUS", {});
  {
    const auto& doc = only(sent, "STATUS").header;
    SCOPED_TRACE(doc.dump());
    EXPECT_EQ(doc["suspects"], 2);
    EXPECT_EQ(doc["poisoned"], 0);
    ASSERT_EQ(doc["workers"].size(), 2u);
    EXPECT_EQ(doc["workers"][0]["state"], "reserved");
    EXPECT_EQ(doc["workers"][1]["state"], "reserved");
    ASSERT_EQ(doc["waiting"].size(), 1u);
    EXPECT_EQ(doc["waiting"][0]["reason"], "no_free_slot");
  }

  // w1's suspect succeeds: its client gets the result, and w1 takes job 3.
  sent = from("w1", "RESULT", {{"results", {{{"id", first[0]["id"]}, {"attempt", 2}}}}}, {"\"ok\""});
  EXPECT_EQ(only(sent, "RESULT").to, "c");
  EXPECT_FALSE(only(sent, "RESULT").header["results"][0].contains("err"));
  EXPECT_EQ(only(sent, "JOBS").to, "w1");

  // w2 dies running its suspect alone: that job is poison.
  bool failed = false;
  for (const auto& s : silence({"c", "w1"})) {
    if (s.command == "RESULT" && s.to == "c") {
      EXPECT_EQ(s.header["results"][0]["id"], second[0]["id"]);
      EXPECT_EQ(s.header["results"][0]["err"]["code"], "EPOISON");
      EXPECT_NE(s.header["results"][0]["err"]["message"].get<std::string>().find("alone"), std::string::npos);
      failed = true;
    }
  }
  EXPECT_TRUE(failed);
  sent = from("c", "STATUS", {});
  const auto& doc = only(sent, "STATUS").header;
  EXPECT_EQ(doc["suspects"], 0);
  EXPECT_EQ(doc["poisoned"], 1);
}

TEST_F(DispatcherTest, SuspectWaitingForAnIdleWorkerIsExplainedInStatus) {
  ManagerOptions o;
  o.suspect_after = 1;
  reset(o);
  hello("c");
  worker("w0", 1);
  from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  worker("w1", 2);
  auto sent = from("c", "PUSH", {{"req", 2}, {"jobs", {nlohmann::json::object()}}}, {"2"});
  EXPECT_EQ(only(sent, "JOBS").to, "w1");
  for (int i = 0; i < 5; ++i) {  // w0 dies
    tick(80ms);
    from("c", "HEARTBEAT", {});
    from("w1", "HEARTBEAT", {});
  }
  sent = from("c", "STATUS", {});
  const auto& doc = only(sent, "STATUS").header;
  SCOPED_TRACE(doc.dump());
  EXPECT_EQ(doc["suspects"], 1);
  ASSERT_EQ(doc["waiting"].size(), 1u);
  EXPECT_EQ(doc["waiting"][0]["reason"], "needs_idle_worker");
  ASSERT_EQ(doc["workers"].size(), 1u);
  EXPECT_EQ(doc["workers"][0]["state"], "reserved") << "w1 empties for the suspect";
}

TEST_F(DispatcherTest, ClientThatLeavesHasRunningJobsAbortedOnWorker) {
  worker("w", 1);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object(), nlohmann::json::object()}}},
                   {"1", "2"});
  const auto running = only(sent, "JOBS").header["jobs"][0]["id"];
  sent = from("c", "BYE", {});
  const auto& abort = only(sent, "ABORT");
  EXPECT_EQ(abort.to, "w");
  EXPECT_EQ(abort.header["jobs"][0]["id"], running);
  EXPECT_FALSE(has(sent, "JOBS"));  // the queued second job was dropped, not started
}

TEST_F(DispatcherTest, ClientAbortReachesTheWorker) {
  worker("w", 1);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  const auto id = only(sent, "ACCEPTED").header["ids"][0];
  sent = from("c", "ABORT", {{"ids", {id}}});
  EXPECT_EQ(only(sent, "ABORT").header["jobs"][0]["id"], id);
  sent = from("w", "RESULT", {{"results", {{{"id", id}, {"attempt", 1}}}}}, {"late"});
  EXPECT_FALSE(has(sent, "RESULT"));
}

TEST_F(DispatcherTest, RejectedJobGoesBackAndIsOfferedAgain) {
  worker("w", 1);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  const auto id = only(sent, "ACCEPTED").header["ids"][0];
  sent = from("w", "REJECT", {{"jobs", {{{"id", id}, {"attempt", 1}}}}});
  const auto& again = only(sent, "JOBS");
  EXPECT_EQ(again.header["jobs"][0]["id"], id);
  EXPECT_EQ(again.header["jobs"][0]["attempt"], 2);
}

TEST_F(DispatcherTest, PushOverClientLimitIsRefusedWhole) {
  ManagerOptions o;
  o.max_jobs_per_client = 2;
  reset(o);
  hello("c");
  auto sent = from("c", "PUSH", {{"req", 3}, {"jobs", {nlohmann::json::object(), nlohmann::json::object(),
                                                       nlohmann::json::object()}}},
                   {"1", "2", "3"});
  const auto& err = only(sent, "ERROR");
  EXPECT_EQ(err.header["code"], "ELIMIT");
  EXPECT_EQ(err.header["req"], 3);
  EXPECT_FALSE(has(sent, "ACCEPTED"));
  sent = from("c", "PUSH", {{"req", 4}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  EXPECT_TRUE(has(sent, "ACCEPTED"));
}

// max_client_bytes counts payloads plus 256 bytes a job, and frees them as results go
// back, as jobs are aborted, and as jobs fail.
TEST_F(DispatcherTest, PushOverClientBytesIsRefusedWholeAndResultsFreeTheBudget) {
  ManagerOptions o;
  o.max_client_bytes = 2 * (256 + 100);
  reset(o);
  worker("w", 1);
  hello("c");
  const std::string hundred(100, 'x');
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object(), nlohmann::json::object()}}},
                   {hundred, hundred});
  const auto first = only(sent, "ACCEPTED").header["ids"][0];
  const auto second = only(sent, "ACCEPTED").header["ids"][1];
  sent = from("c", "PUSH", {{"req", 2}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  const auto& err = only(sent, "ERROR");
  EXPECT_EQ(err.header["code"], "ELIMIT");
  EXPECT_EQ(err.header["req"], 2);
  EXPECT_NE(err.header["message"].get<std::string>().find("max_client_bytes"), std::string::npos);
  EXPECT_FALSE(has(sent, "ACCEPTED"));

  sent = from("w", "RESULT", {{"results", {{{"id", first}, {"attempt", 1}}}}}, {"1"});
  EXPECT_TRUE(has(sent, "RESULT"));
  sent = from("c", "PUSH", {{"req", 3}, {"jobs", {nlohmann::json::object()}}}, {hundred});
  EXPECT_TRUE(has(sent, "ACCEPTED")) << "a result gave its bytes back";
  sent = from("c", "ABORT", {{"ids", {second}}});
  sent = from("c", "PUSH", {{"req", 4}, {"jobs", {nlohmann::json::object()}}}, {hundred});
  EXPECT_TRUE(has(sent, "ACCEPTED")) << "an abort gave its bytes back";
}

TEST_F(DispatcherTest, PushOverServiceLimitIsRefusedWholeForEveryClient) {
  ManagerOptions o;
  o.max_jobs_per_service = 2;
  reset(o);
  hello("a");
  hello("b");
  const nlohmann::json ocr = {{"service", "ocr"}};
  auto sent = from("a", "PUSH", {{"req", 1}, {"jobs", {ocr, ocr}}}, {"1", "2"});
  EXPECT_TRUE(has(sent, "ACCEPTED"));
  sent = from("b", "PUSH", {{"req", 1}, {"jobs", {ocr}}}, {"3"});
  const auto& err = only(sent, "ERROR");
  EXPECT_EQ(err.header["code"], "ELIMIT");
  EXPECT_NE(err.header["message"].get<std::string>().find("'ocr'"), std::string::npos);
  sent = from("b", "PUSH", {{"req", 2}, {"jobs", {nlohmann::json::object()}}}, {"4"});
  EXPECT_TRUE(has(sent, "ACCEPTED")) << "another service is not held back";
}

TEST_F(DispatcherTest, HelloBeyondMaxPeersIsRefusedAndThePeersStay) {
  ManagerOptions o;
  o.max_peers = 2;
  reset(o);
  hello("a");
  worker("w", 1);
  auto sent = from("c", "HELLO", {});
  EXPECT_EQ(only(sent, "ERROR").header["code"], "ELIMIT");
  EXPECT_FALSE(has(sent, "WELCOME"));
  EXPECT_EQ(only(from("c", "HEARTBEAT", {}), "ERROR").header["code"], "ENOHELLO");
  sent = from("a", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  EXPECT_TRUE(has(sent, "ACCEPTED"));
  EXPECT_TRUE(has(sent, "JOBS"));
  from("a", "BYE", {});
  EXPECT_TRUE(has(from("c", "HELLO", {}), "WELCOME")) << "a place freed is taken";
}

TEST_F(DispatcherTest, SilentPeerIsHeartbeatedThenDropped) {
  hello("c");
  auto sent = tick(100ms);
  EXPECT_EQ(only(sent, "HEARTBEAT").to, "c");
  tick(150ms);
  tick(100ms);
  sent = from("c", "HEARTBEAT", {});
  EXPECT_EQ(only(sent, "ERROR").header["code"], "ENOHELLO");  // it was dropped
}

TEST_F(DispatcherTest, MalformedInputIsAnsweredAndPeerKeepsWorking) {
  hello("c");
  Frames frames;
  frames.emplace_back(std::string_view("c"));
  frames.emplace_back(std::string_view("junk"));
  EXPECT_EQ(only(raw(frames), "ERROR").header["code"], "EBADFRAME");
  EXPECT_EQ(only(from("c", "PUSH", nlohmann::json::array()), "ERROR").header["code"], "EBADJSON");
  EXPECT_EQ(only(from("c", "NOPE", {}), "ERROR").header["code"], "EUNKNOWNCMD");
  worker("w", 1);
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  EXPECT_TRUE(has(sent, "ACCEPTED"));
  EXPECT_TRUE(has(sent, "JOBS"));
}

TEST_F(DispatcherTest, EventsFireForReceiveFinishAndAssignTimeout) {
  std::vector<std::string> log;
  ManagerEvents events;
  events.receive = [&](const JobInfo& j) { log.push_back("receive " + j.key); };
  events.finish = [&](const JobInfo& j, const Result& r) {
    log.push_back("finish " + j.key + " " + (r.err ? r.err->code : r.data.str()));
  };
  events.assigntimeout = [&](const JobInfo& j) { log.push_back("assigntimeout " + j.key); };
  reset({}, std::move(events));
  hello("c");
  from("c", "PUSH", {{"req", 1}, {"assigntimeout", 50}, {"jobs", {{{"key", "a"}}}}}, {"1"});
  auto sent = tick(60ms);
  EXPECT_EQ(only(sent, "RESULT").header["results"][0]["err"]["code"], "EATO");
  worker("w", 1);
  sent = from("c", "PUSH", {{"req", 2}, {"jobs", {{{"key", "b"}}}}}, {"1"});
  const auto id = only(sent, "ACCEPTED").header["ids"][0];
  from("w", "RESULT", {{"results", {{{"id", id}, {"attempt", 1}}}}}, {"\"ok\""});
  EXPECT_EQ(log, (std::vector<std::string>{"receive a", "assigntimeout a", "finish a EATO", "receive b",
                                           "finish b \"ok\""}));
}

}  // namespace
}  // namespace proletariat::broker

namespace proletariat::broker {
namespace {

// System messages and status (PROTOCOL §8), with subscriptions fed by hand.
// Issue 10, defect 6: when an abort frees a slot that a queued job takes in the same
// round, the worker got JOBS [third] before ABORT [first], held slots + 1 jobs for a
// moment and had to reject one. ABORT now leaves first.
TEST_F(DispatcherTest, AbortLeavesBeforeTheJobThatTakesItsSlot) {
  hello("a");
  from("a", "OFFER", {{"slots", 2}, {"services", {"ocr"}}});
  worker("b", 100);
  hello("c");
  const nlohmann::json entry = {{"service", "ocr"}};
  auto sent = from("c", "PUSH", {{"req", 1}, {"jobs", {entry, entry, entry}}}, {"1", "2", "3"});
  const auto ids = only(sent, "ACCEPTED").header["ids"];
  ASSERT_EQ(only(sent, "JOBS").header["jobs"].size(), 2U);
  EXPECT_EQ(only(sent, "JOBS").to, "a");

  sent = from("c", "ABORT", {{"ids", {ids[0]}}});
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[0].to, "a");
  EXPECT_EQ(sent[0].command, "ABORT");
  EXPECT_EQ(sent[0].header["jobs"][0]["id"], ids[0]);
  EXPECT_EQ(sent[1].to, "a");
  EXPECT_EQ(sent[1].command, "JOBS");
  EXPECT_EQ(sent[1].header["jobs"][0]["id"], ids[2]);
}

// The same when a client leaves and another client's queued job takes the slot.
TEST_F(DispatcherTest, DepartingClientsAbortsLeaveBeforeTheJobsThatTakeTheirSlots) {
  worker("w", 1);
  hello("c1");
  hello("c2");
  auto sent = from("c1", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"1"});
  const auto first = only(sent, "ACCEPTED").header["ids"][0];
  sent = from("c2", "PUSH", {{"req", 1}, {"jobs", {nlohmann::json::object()}}}, {"2"});
  const auto second = only(sent, "ACCEPTED").header["ids"][0];
  EXPECT_FALSE(has(sent, "JOBS"));

  sent = from("c1", "BYE", {});
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[0].command, "ABORT");
  EXPECT_EQ(sent[0].header["jobs"][0]["id"], first);
  EXPECT_EQ(sent[1].command, "JOBS");
  EXPECT_EQ(sent[1].header["jobs"][0]["id"], second);
}

// A job assigned and aborted in the same round never reaches the worker: neither its
// JOBS entry nor an ABORT for it is sent.
TEST_F(DispatcherTest, JobAssignedAndAbortedInOneRoundIsNeverSent) {
  worker("w", 4);
  hello("c");
  Frames push;
  const auto add = [&push](std::string_view text) { push.emplace_back(text.data(), text.size()); };
  add("c");
  add("");
  add("PRO1");
  add("PUSH");
  add(R"({"req":1,"jobs":[{},{}]})");
  add("1");
  add("2");
  dispatcher_->on_message(push, now_);
  dispatcher_->after_batch(now_);  // both assigned; the outbox is not taken yet
  const auto sent = from("c", "ABORT", {{"ids", {1}}});  // job ids are given from 1
  EXPECT_FALSE(has(sent, "ABORT"));
  const auto& jobs = only(sent, "JOBS");
  ASSERT_EQ(jobs.header["jobs"].size(), 1U);
  EXPECT_EQ(jobs.header["jobs"][0]["id"], 2);
  EXPECT_EQ(jobs.payloads, std::vector<std::string>{"2"});
}

class DispatcherSysmsgTest : public DispatcherTest {
 protected:
  std::string id_of(const std::string& rid) {
    auto sent = from(rid, "HELLO", {});
    return only(sent, "WELCOME").header["id"].get<std::string>();
  }
  void subscribe(const std::string& id) {
    std::string frame = "\x01" + id;
    dispatcher_->on_subscription(zmq::message_t(frame.data(), frame.size()), now_);
  }
  std::vector<Publication> published() { return dispatcher_->outbox().take_publications(); }
  std::vector<Sent> sysmsg(const std::string& rid, nlohmann::json to, std::uint64_t req = 1) {
    return from(rid, "SYSMSG", {{"req", req}, {"to", std::move(to)}}, {"{\"do\":\"it\"}"});
  }
};

TEST_F(DispatcherSysmsgTest, BroadcastReachesEverySubscribedPeerButTheSenderAndCompletesOnAcks) {
  std::vector<std::string> manager_got;
  ManagerEvents events;
  events.sysmsg = [&](const nlohmann::json& msg, const std::string& from) { manager_got.push_back(msg.dump() + from); };
  reset({}, std::move(events));
  const auto a = id_of("a");
  const auto b = id_of("b");
  const auto c = id_of("c");
  subscribe(a);
  subscribe(b);
  subscribe(c);
  auto sent = sysmsg("a", nullptr);
  EXPECT_FALSE(has(sent, "SYSDONE"));
  auto pubs = published();
  ASSERT_EQ(pubs.size(), 2u);
  std::set<std::string> topics{pubs[0].topic, pubs[1].topic};
  EXPECT_EQ(topics, (std::set<std::string>{b, c}));
  EXPECT_EQ(pubs[0].from, a);
  EXPECT_EQ(manager_got, (std::vector<std::string>{"{\"do\":\"it\"}" + a}));
  from("b", "SYSACK", {{"msg", pubs[0].msg}});
  sent = from("c", "SYSACK", {{"msg", pubs[0].msg}});
  const auto& done = only(sent, "SYSDONE");
  EXPECT_EQ(done.to, "a");
  EXPECT_EQ(done.header["sentTo"], 2);  // b and c: a broadcast counts peers
  EXPECT_EQ(done.header["receivedBy"], 2);
}

// Issue 10, defect 8: a peer that never subscribes delayed every broadcast by a whole
// liveness window. A peer that says so in HELLO is never a recipient.
TEST_F(DispatcherSysmsgTest, PeerThatTakesNoSystemMessagesIsNeverWaitedFor) {
  const auto a = id_of("a");
  subscribe(a);
  const auto quiet = only(from("q", "HELLO", {{"sysmsg", false}}), "WELCOME").header["id"].get<std::string>();
  auto done = only(sysmsg("a", nullptr, 3), "SYSDONE");
  EXPECT_EQ(done.header["sentTo"], 0) << "completes at once: the quiet peer is not counted";
  EXPECT_EQ(done.header["receivedBy"], 0);
  EXPECT_TRUE(published().empty());
  const auto refused = only(sysmsg("a", quiet, 4), "ERROR");
  EXPECT_EQ(refused.header["code"], "ENOPEER");
  EXPECT_EQ(refused.header["req"], 4);
  // It may still send: the manager and the subscribed peer get its broadcast.
  auto sent = sysmsg("q", nullptr, 5);
  EXPECT_FALSE(has(sent, "SYSDONE"));
  ASSERT_EQ(published().size(), 1U);
}

TEST_F(DispatcherSysmsgTest, WelcomeNamesANonTcpChannelByItsEndpoint) {
  dispatcher_->set_pub_endpoint("ipc:///tmp/proletariat-test.pub");
  const auto welcome = only(from("p", "HELLO", {}), "WELCOME");
  EXPECT_EQ(welcome.header["pub_endpoint"], "ipc:///tmp/proletariat-test.pub");
  EXPECT_FALSE(welcome.header.contains("pub_port"));
}

TEST_F(DispatcherSysmsgTest, NobodyToSendToCompletesAtOnceWithZeroZero) {
  const auto a = id_of("a");
  subscribe(a);
  auto alone = only(sysmsg("a", nullptr, 7), "SYSDONE");
  EXPECT_EQ(alone.header["req"], 7);
  EXPECT_EQ(alone.header["sentTo"], 0);
  EXPECT_EQ(alone.header["receivedBy"], 0);
  auto sent = sysmsg("a", a + "-nobody");
  EXPECT_EQ(only(sent, "ERROR").header["code"], "ENOPEER");
  sent = sysmsg("a", "MANAGER", 2);
  const auto& done = only(sent, "SYSDONE");
  EXPECT_EQ(done.header["req"], 2);
  EXPECT_EQ(done.header["sentTo"], 1);
  EXPECT_EQ(done.header["receivedBy"], 1);
}

TEST_F(DispatcherSysmsgTest, PeerNotYetSubscribedGetsItOnSubscribingOrIsDroppedAfterLiveness) {
  const auto a = id_of("a");
  const auto b = id_of("b");
  const auto c = id_of("c");
  subscribe(a);
  sysmsg("a", nullptr);
  EXPECT_TRUE(published().empty());  // b and c have not subscribed yet
  subscribe(b);
  auto pubs = published();
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].topic, b);
  from("b", "SYSACK", {{"msg", pubs[0].msg}});
  // c keeps its session alive but never subscribes: after the liveness window it is
  // taken out of the count and the sender hears back.
  std::vector<Sent> sent;
  for (int i = 0; i < 5 && !has(sent, "SYSDONE"); ++i) {
    from("a", "HEARTBEAT", {});
    from("b", "HEARTBEAT", {});
    from("c", "HEARTBEAT", {});
    sent = tick(80ms);
  }
  const auto& done = only(sent, "SYSDONE");
  EXPECT_EQ(done.header["sentTo"], 1);  // b; c never subscribed
  EXPECT_EQ(done.header["receivedBy"], 1);
}

TEST_F(DispatcherSysmsgTest, RecipientThatLeavesIsTakenOutOfTheCount) {
  const auto a = id_of("a");
  const auto b = id_of("b");
  subscribe(a);
  subscribe(b);
  sysmsg("a", b);
  ASSERT_EQ(published().size(), 1u);
  auto sent = from("b", "BYE", {});
  const auto& done = only(sent, "SYSDONE");
  EXPECT_EQ(done.header["sentTo"], 0);
  EXPECT_EQ(done.header["receivedBy"], 0);
}

TEST_F(DispatcherSysmsgTest, SenderThatLeavesHasItsMessagesDropped) {
  const auto a = id_of("a");
  const auto b = id_of("b");
  subscribe(a);
  subscribe(b);
  sysmsg("a", b);
  auto pubs = published();
  ASSERT_EQ(pubs.size(), 1u);
  from("a", "BYE", {});
  auto sent = from("b", "SYSACK", {{"msg", pubs[0].msg}});
  EXPECT_TRUE(sent.empty());
}

TEST_F(DispatcherSysmsgTest, StatusDescribesWorkersClientsQueuesAndWhyJobsWait) {
  worker("w", 2);
  hello("c");
  from("c", "PUSH", {{"req", 1}, {"priority", 2}, {"jobs", {nlohmann::json::object(), nlohmann::json::object(),
                                                            {{"service", "ocr"}}}}},
       {"1", "2", "3"});
  auto sent = from("c", "STATUS", {{"req", 5}});
  const auto& status = only(sent, "STATUS");
  const auto& doc = status.header;
  SCOPED_TRACE(doc.dump());
  ASSERT_TRUE(doc.contains("waiting") && doc.contains("queuedByPriority") && doc.contains("clients"));
  EXPECT_EQ(doc["req"], 5);
  EXPECT_EQ(doc["running"], 2);
  EXPECT_EQ(doc["queued"], 1);
  EXPECT_EQ(doc["totalSlots"], 2);
  EXPECT_EQ(doc["freeSlots"], 0);
  EXPECT_EQ(doc["sacred"], false);
  ASSERT_EQ(doc["workers"].size(), 1u);
  EXPECT_EQ(doc["workers"][0]["running"], 2);
  EXPECT_EQ(doc["workers"][0]["state"], "full");
  ASSERT_EQ(doc["clients"].size(), 1u);
  EXPECT_EQ(doc["clients"][0]["outstanding"], 3);
  ASSERT_EQ(doc["waiting"].size(), 1u);
  EXPECT_EQ(doc["waiting"][0]["service"], "ocr");
  EXPECT_EQ(doc["waiting"][0]["reason"], "no_worker_for_service");
  EXPECT_EQ(doc["queuedByPriority"]["2"], 1);

  sent = from("w", "MYSTATUS", {});
  const auto& mine = only(sent, "MYSTATUS").header;
  EXPECT_EQ(mine["role"], "worker");
  EXPECT_EQ(mine["slots"], 2);
  EXPECT_EQ(mine["running"], 2);
}

// --- with a journal (SPEC 9, PROTOCOL §12) ---

class JournalDispatcherTest : public DispatcherTest {
 protected:
  JournalDispatcherTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "prlt-dj-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
  }
  ~JournalDispatcherTest() override {
    dispatcher_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A manager on the journal; the one before it ends as a crash would end it, after
  // the commit its loop made at the end of the last pass.
  void start(std::size_t held_max = 100) {
    if (dispatcher_) dispatcher_->commit_journal(now_);
    ManagerOptions o;
    o.journal_dir = dir_;
    o.held_results_max = held_max;
    reset(o);
  }
  // A client with an identity pushes one job; returns its id.
  std::uint64_t push(const std::string& rid, const std::string& identity, bool say_hello = true) {
    if (say_hello) {
      EXPECT_TRUE(has(from(rid, "HELLO", {{"identity", identity}}), "WELCOME"));
    }
    const auto sent = from(rid, "PUSH", {{"req", 1}, {"jobs", {{{"service", ""}}}}}, {"null"});
    const auto& accepted = only(sent, "ACCEPTED");
    return accepted.header["ids"][0].get<std::uint64_t>();
  }
  std::string dir_;
};

TEST_F(JournalDispatcherTest, WelcomeNamesTheJournalAndItStaysTheSameAcrossRestarts) {
  start();
  const auto id = only(from("p", "HELLO", {}), "WELCOME").header["journal"];
  ASSERT_TRUE(id.is_string());
  start();
  EXPECT_EQ(only(from("p", "HELLO", {}), "WELCOME").header["journal"], id);
}

TEST_F(JournalDispatcherTest, AClientThatIsAwayGetsItsResultWhenItComesBackThenReceivedForgetsIt) {
  start();
  worker("w", 1);
  const auto job = push("c1", "client-x");
  // The client goes silent past its liveness (300 ms): it is away, its job goes on.
  for (int i = 0; i < 2; ++i) {
    tick(200ms);
    from("w", "HEARTBEAT", {});
  }
  const auto sent = from("w", "RESULT", {{"results", {{{"id", job}, {"attempt", 1}}}}}, {"42"});
  EXPECT_FALSE(has(sent, "RESULT")) << "nobody to send it to: held";
  // It comes back in a new session, with the same identity.
  const auto back = from("c2", "HELLO", {{"identity", "client-x"}});
  const auto& result = only(back, "RESULT");
  EXPECT_EQ(result.to, "c2");
  EXPECT_EQ(result.header["results"][0]["id"], job);
  EXPECT_EQ(result.payloads, (std::vector<std::string>{"42"}));
  from("c2", "RECEIVED", {{"ids", {job}}});
  const auto status = only(from("c2", "STATUS", {{"req", 9}}), "STATUS");
  EXPECT_EQ(status.header["heldResults"], 0);
}

TEST_F(JournalDispatcherTest, ARestartedManagerGivesBackQueuedJobsAndHeldResults) {
  start();
  const auto queued = push("c1", "client-y");
  worker("w", 1);
  const auto running = push("c1", "client-y", false);  // the worker takes the first; this one waits
  (void)running;
  start();  // a new manager on the same journal: the old one's state is gone from memory
  const auto back = from("c2", "HELLO", {{"identity", "client-y"}});
  EXPECT_FALSE(has(back, "RESULT")) << "nothing finished yet";
  const auto status = only(from("c2", "STATUS", {{"req", 9}}), "STATUS");
  EXPECT_EQ(status.header["queued"], 2) << "both jobs back in the queue";
  const auto assigned = worker("w2", 2);
  std::set<std::uint64_t> ids;
  unsigned first_attempt = 0;
  for (const auto& s : assigned) {
    if (s.command != "JOBS") continue;
    for (const auto& j : s.header["jobs"]) {
      ids.insert(j["id"].get<std::uint64_t>());
      if (j["id"] == queued) first_attempt = j["attempt"].get<unsigned>();
    }
  }
  EXPECT_EQ(ids.size(), 2U);
  EXPECT_EQ(first_attempt, 2U) << "it was running before the restart: a new, higher attempt";
}

TEST_F(JournalDispatcherTest, HeldResultsBeyondTheBoundAreGivenUpOldestFirst) {
  start(1);
  worker("w", 2);
  const auto a = push("c1", "client-z");
  const auto b = push("c1", "client-z", false);
  tick(1ms);
  from("w", "RESULT", {{"results", {{{"id", a}, {"attempt", 1}}}}}, {"1"});
  from("w", "RESULT", {{"results", {{{"id", b}, {"attempt", 1}}}}}, {"2"});
  tick(1ms);
  const auto status = only(from("c1", "STATUS", {{"req", 9}}), "STATUS");
  EXPECT_EQ(status.header["heldResults"], 1) << "the older one was given up";
}

TEST_F(JournalDispatcherTest, ADrainingManagerRefusesPushesWithEdraining) {
  start();
  hello("c");
  dispatcher_->begin_drain(now_);
  const auto sent = from("c", "PUSH", {{"req", 3}, {"jobs", {{{"service", ""}}}}}, {"null"});
  const auto& refused = only(sent, "ERROR");
  EXPECT_EQ(refused.header["code"], "EDRAINING");
  EXPECT_EQ(refused.header["class"], "retry");
  EXPECT_EQ(refused.header["req"], 3);
}

TEST(OutboxWorkerBatches, JobsOfWorkersWithoutAnotherMessageLeaveFirstTheRestKeepsItsOrder) {
  Outbox outbox;
  outbox.jobs_for("quiet").jobs.push_back(protocol::JobAssignment{});
  outbox.jobs_for("quiet").payloads.emplace_back();
  outbox.send("new", protocol::encode(protocol::Offered{}));
  outbox.jobs_for("new").jobs.push_back(protocol::JobAssignment{});
  outbox.jobs_for("new").payloads.emplace_back();
  outbox.send("client", protocol::encode(protocol::Accepted{}));
  const auto early = outbox.take_worker_batches();
  ASSERT_EQ(early.size(), 1U);
  EXPECT_EQ(early[0].routing_id, "quiet");
  EXPECT_EQ(early[0].frames[2].to_string(), "JOBS");
  const auto rest = outbox.take();
  ASSERT_EQ(rest.size(), 3U);
  EXPECT_EQ(rest[0].routing_id, "new");
  EXPECT_EQ(rest[0].frames[2].to_string(), "OFFERED") << "a worker that offered this round gets OFFERED before JOBS";
  EXPECT_EQ(rest[1].routing_id, "client");
  EXPECT_EQ(rest[2].routing_id, "new");
  EXPECT_EQ(rest[2].frames[2].to_string(), "JOBS");
  EXPECT_TRUE(outbox.take().empty());
}

// PROTOCOL §8.1: only a registered peer's own id is granted; a stranger that asked for
// an id before it existed, and then closes its connection (the XPUB socket makes up an
// unsubscription with no metadata), does not take the owner's subscription away.
TEST_F(DispatcherSysmsgTest, OnlyPeerIdsAreGrantedAndAStrangerLeavingKeepsTheOwnerSubscribed) {
  const auto a = id_of("a");
  const std::string next = "2" + a.substr(a.find('@'));  // the id the next peer gets
  const auto sub = [](const std::string& topic) { return "\x01" + topic; };
  const auto unsub = [](const std::string& topic) { return std::string(1, '\0') + topic; };
  EXPECT_FALSE(dispatcher_->on_subscription(sub(""), std::string(), now_)) << "everything";
  EXPECT_FALSE(dispatcher_->on_subscription(sub(a.substr(0, 1)), std::string(), now_)) << "a prefix";
  EXPECT_FALSE(dispatcher_->on_subscription(sub(next), std::string(), now_)) << "an id nobody has yet";
  const auto b = id_of("b");
  ASSERT_EQ(b, next);
  EXPECT_TRUE(dispatcher_->on_subscription(sub(b), std::string(), now_));
  // The stranger's connection closes: its three refused topics end, keyless.
  for (const auto& topic : {std::string(), a.substr(0, 1), next}) {
    EXPECT_FALSE(dispatcher_->on_subscription(unsub(topic), std::nullopt, now_));
  }
  auto sent = sysmsg("a", b);
  ASSERT_EQ(published().size(), 1U) << "b still counts as subscribed";
  EXPECT_EQ(from("a", "STATUS", {{"req", 9}})[0].header["subscriptionsRefused"], 3);
}

}  // namespace
}  // namespace proletariat::broker
