// Codec: round trips, the shared wire vectors, limits. No sockets.
#include <fstream>

#include <gtest/gtest.h>

#include <proletariat/error.hpp>

#include "protocol/codec.hpp"

namespace proletariat::protocol {
namespace {

Frames frames_of(std::initializer_list<std::string_view> parts) {
  Frames f;
  for (auto p : parts) f.emplace_back(p.data(), p.size());
  return f;
}

std::string text(const zmq::message_t& m) { return std::string(m.data<char>(), m.size()); }

// Re-decodes what an encoder produced, as the other side would.
PeerMessage round_trip_peer(Frames frames) {
  auto decoded = decode_from_peer(frames, 0, Limits{});
  if (auto* err = std::get_if<DecodeError>(&decoded)) {
    ADD_FAILURE() << "decode failed: " << err->code << " " << err->message;
    return Heartbeat{};
  }
  return std::get<PeerMessage>(std::move(decoded));
}

ManagerMessage round_trip_manager(Frames frames) {
  auto decoded = decode_from_manager(frames, 0);
  if (auto* err = std::get_if<DecodeError>(&decoded)) {
    ADD_FAILURE() << "decode failed: " << err->code << " " << err->message;
    return Heartbeat{};
  }
  return std::get<ManagerMessage>(std::move(decoded));
}

TEST(Codec, PushRoundTripKeepsFieldsAndPayloadsUntouched) {
  Push push;
  push.req = 42;
  push.priority = 1.5;
  push.assign_timeout_ms = 200;
  push.run_timeout_ms = 50;
  push.jobs = {{"k1", "resize", false, {}, {}, {}}, {"", "", true, 3.25, 900, 0}};
  push.payloads.emplace_back(std::string_view("{\"a\":1}"));
  push.payloads.emplace_back(std::string_view("\x00\x01\xff", 3));
  auto frames = encode(std::move(push));
  ASSERT_EQ(frames.size(), kFixedFrames + 2);
  EXPECT_EQ(text(frames[1]), "PRO1");
  EXPECT_EQ(text(frames[2]), "PUSH");

  auto msg = round_trip_peer(std::move(frames));
  auto* got = std::get_if<Push>(&msg);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->req, 42u);
  EXPECT_DOUBLE_EQ(got->priority, 1.5);
  EXPECT_EQ(got->assign_timeout_ms, 200u);
  EXPECT_EQ(got->run_timeout_ms, 50u);
  ASSERT_EQ(got->jobs.size(), 2u);
  EXPECT_EQ(got->jobs[0].key, "k1");
  EXPECT_EQ(got->jobs[0].service, "resize");
  EXPECT_FALSE(got->jobs[0].priority || got->jobs[0].assign_timeout_ms || got->jobs[0].run_timeout_ms);
  EXPECT_TRUE(got->jobs[1].raw);
  // Entry options (PROTOCOL §4): present only where set, zero included.
  EXPECT_EQ(got->jobs[1].priority, 3.25);
  EXPECT_EQ(got->jobs[1].assign_timeout_ms, 900u);
  EXPECT_EQ(got->jobs[1].run_timeout_ms, 0u);
  EXPECT_EQ(text(got->payloads[0]), "{\"a\":1}");
  EXPECT_EQ(text(got->payloads[1]), std::string("\x00\x01\xff", 3));
}

TEST(Codec, OfferRoundTripKeepsFractionalRangeStarts) {
  Offer offer;
  offer.slots = 10;
  offer.priority_slots = {{0.5, 2}, {3, 4}};
  offer.services = {"a", "b"};
  auto msg = round_trip_peer(encode(offer));
  auto* got = std::get_if<Offer>(&msg);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->slots, 10u);
  EXPECT_EQ(got->priority_slots, offer.priority_slots);
  EXPECT_EQ(got->services, offer.services);
}

TEST(Codec, WorkerResultsRoundTripWithError) {
  WorkerResults r;
  r.results = {{7, 2, JobError{"EBOOM", "it broke"}, false}, {8, 1, std::nullopt, true}};
  r.payloads.emplace_back();
  r.payloads.emplace_back(std::string_view("raw"));
  auto msg = round_trip_peer(encode(std::move(r)));
  auto* got = std::get_if<WorkerResults>(&msg);
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->results.size(), 2u);
  EXPECT_EQ(got->results[0].id, 7u);
  EXPECT_EQ(got->results[0].attempt, 2u);
  ASSERT_TRUE(got->results[0].err);
  EXPECT_EQ(got->results[0].err->code, "EBOOM");
  EXPECT_EQ(got->results[0].err->message, "it broke");
  EXPECT_FALSE(got->results[1].err);
  EXPECT_TRUE(got->results[1].raw);
  EXPECT_EQ(text(got->payloads[1]), "raw");
}

TEST(Codec, ManagerMessagesRoundTrip) {
  Jobs jobs;
  jobs.jobs = {{5, 3, 2.5, 100, "key", "svc", false, "abc.1"}};
  jobs.payloads.emplace_back(std::string_view("[1,2]"));
  auto msg = round_trip_manager(encode(std::move(jobs)));
  auto* got = std::get_if<Jobs>(&msg);
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->jobs.size(), 1u);
  EXPECT_EQ(got->jobs[0].id, 5u);
  EXPECT_EQ(got->jobs[0].attempt, 3u);
  EXPECT_DOUBLE_EQ(got->jobs[0].priority, 2.5);
  EXPECT_EQ(got->jobs[0].run_timeout_ms, 100u);
  EXPECT_EQ(got->jobs[0].client, "abc.1");
  EXPECT_EQ(text(got->payloads[0]), "[1,2]");

  auto err = round_trip_manager(encode(ErrorReply{"EBADJSON", "bad", "PUSH", 9}));
  auto* e = std::get_if<ErrorReply>(&err);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, "EBADJSON");
  EXPECT_EQ(e->command, "PUSH");
  EXPECT_EQ(e->req, 9u);

  auto acc = round_trip_manager(encode(Accepted{3, {10, 11}}));
  ASSERT_TRUE(std::holds_alternative<Accepted>(acc));
  EXPECT_EQ(std::get<Accepted>(acc).ids, (std::vector<std::uint64_t>{10, 11}));

  auto welcome = round_trip_manager(encode(Welcome{"ab.1", 1, 50, 3, 1000, 10, 1918, false, ""}));
  ASSERT_TRUE(std::holds_alternative<Welcome>(welcome));
  EXPECT_EQ(std::get<Welcome>(welcome).heartbeat_ms, 50u);
  EXPECT_EQ(std::get<Welcome>(welcome).liveness, 3u);
  EXPECT_EQ(std::get<Welcome>(welcome).pub_port, 1918u);
  EXPECT_FALSE(std::get<Welcome>(welcome).entry_options);
  auto ipc = round_trip_manager(encode(Welcome{"ab.3", 1, 50, 3, 1000, 10, std::nullopt, false, "ipc:///run/p.pub"}));
  ASSERT_TRUE(std::holds_alternative<Welcome>(ipc));
  EXPECT_EQ(std::get<Welcome>(ipc).pub_endpoint, "ipc:///run/p.pub");
  EXPECT_FALSE(std::get<Welcome>(ipc).pub_port.has_value());
  Welcome with_entry_options{"ab.2", 1, 50, 3, 1000, 10, std::nullopt, true, ""};
  auto announced = round_trip_manager(encode(with_entry_options));
  ASSERT_TRUE(std::holds_alternative<Welcome>(announced));
  EXPECT_TRUE(std::get<Welcome>(announced).entry_options);
}

TEST(Codec, ErrorReplyCarriesItsClass) {
  auto frames = encode(ErrorReply{"ELIMIT", "too many", "PUSH", {}});
  auto header = nlohmann::json::parse(text(frames[3]));
  EXPECT_EQ(header["class"], "retry");
  auto frames2 = encode(ErrorReply{"EBADJSON", "bad", "", {}});
  EXPECT_EQ(nlohmann::json::parse(text(frames2[3]))["class"], "request");
}

TEST(Codec, MessageAboveByteLimitIsTooBig) {
  auto frames = frames_of({"", "PRO1", "PUSH", "{\"req\":1,\"jobs\":[{}]}"});
  frames.emplace_back(std::string(2000, 'x').data(), 2000);
  auto decoded = decode_from_peer(frames, 0, Limits{1000, 100});
  ASSERT_TRUE(std::holds_alternative<DecodeError>(decoded));
  EXPECT_EQ(std::get<DecodeError>(decoded).code, errc::kTooBig);
  // The command is named, so a client can tell its refused PUSH from other messages.
  EXPECT_EQ(std::get<DecodeError>(decoded).command, "PUSH");
}

TEST(Codec, MessageAboveFrameLimitIsTooBig) {
  auto frames = frames_of({"", "PRO1", "HEARTBEAT", ""});
  for (int i = 0; i < 10; ++i) frames.emplace_back();
  auto decoded = decode_from_peer(frames, 0, Limits{1 << 20, 8});
  ASSERT_TRUE(std::holds_alternative<DecodeError>(decoded));
  EXPECT_EQ(std::get<DecodeError>(decoded).code, errc::kTooBig);
  EXPECT_EQ(std::get<DecodeError>(decoded).command, "HEARTBEAT");
}

TEST(Codec, PushErrorNamesItsRequest) {
  auto frames = frames_of({"", "PRO1", "PUSH", "{\"req\":77,\"jobs\":[{},{}]}", "1"});
  auto decoded = decode_from_peer(frames, 0, Limits{});
  ASSERT_TRUE(std::holds_alternative<DecodeError>(decoded));
  EXPECT_EQ(std::get<DecodeError>(decoded).req, 77u);
  EXPECT_EQ(std::get<DecodeError>(decoded).command, "PUSH");
}

TEST(Codec, DecodeStartsAfterTheRoutingId) {
  auto frames = frames_of({"routing-id", "", "PRO1", "HEARTBEAT", ""});
  auto decoded = decode_from_peer(frames, 1, Limits{});
  ASSERT_TRUE(std::holds_alternative<PeerMessage>(decoded));
  EXPECT_TRUE(std::holds_alternative<Heartbeat>(std::get<PeerMessage>(decoded)));
}

TEST(Codec, SnippetEscapesBinaryAndBoundsLength) {
  zmq::message_t m(std::string_view("ab\x01\xff" "cdefgh"));
  EXPECT_EQ(snippet(m, 6), "ab\\x01\\xffcd...");
}

std::string_view peer_command_name(const PeerMessage& m) {
  static constexpr std::string_view kNames[] = {"HELLO", "OFFER", "PUSH", "ABORT", "RESULT", "REJECT",
                                                "HEARTBEAT", "BYE", "SYSMSG", "SYSACK", "STATUS", "RECEIVED", "DRAIN",
                                                "PROGRESS", "DEAD", "GROUPLIMITS"};
  static_assert(std::size(kNames) == std::variant_size_v<PeerMessage>, "a name per PeerMessage alternative");
  return kNames[m.index()];
}

Frames frames_from_json(const nlohmann::json& list) {
  Frames frames;
  for (const auto& f : list) {
    if (f.is_string()) {
      const auto s = f.get<std::string>();
      frames.emplace_back(s.data(), s.size());
    } else {
      const auto hex = f.at("hex").get<std::string>();
      std::string bytes;
      for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      }
      frames.emplace_back(bytes.data(), bytes.size());
    }
  }
  return frames;
}

TEST(CodecVectors, EveryPeerVectorDecodesAsExpected) {
  std::ifstream in(PROLETARIAT_VECTORS_DIR "/peer_to_manager.json");
  ASSERT_TRUE(in) << "cannot open the wire vectors";
  auto doc = nlohmann::json::parse(in);
  ASSERT_GT(doc["cases"].size(), 20u);
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto frames = frames_from_json(c["frames"]);
    auto decoded = decode_from_peer(frames, 0, Limits{});
    if (c["expect"].contains("error")) {
      ASSERT_TRUE(std::holds_alternative<DecodeError>(decoded));
      EXPECT_EQ(std::get<DecodeError>(decoded).code, c["expect"]["error"].get<std::string>());
    } else {
      ASSERT_TRUE(std::holds_alternative<PeerMessage>(decoded))
          << std::get<DecodeError>(decoded).code << ": " << std::get<DecodeError>(decoded).message;
      EXPECT_EQ(peer_command_name(std::get<PeerMessage>(decoded)), c["expect"]["command"].get<std::string>());
    }
  }
}

// The manager->peer direction (issue 10): what every binding's decoder must accept
// or drop. Fields named by a vector are checked on the decoded header as JSON.
TEST(CodecVectors, EveryManagerVectorDecodesAsExpected) {
  std::ifstream in(PROLETARIAT_VECTORS_DIR "/manager_to_peer.json");
  ASSERT_TRUE(in) << "cannot open the wire vectors";
  auto doc = nlohmann::json::parse(in);
  ASSERT_GT(doc["cases"].size(), 20u);
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto frames = frames_from_json(c["frames"]);
    const auto header = frames.size() > 3 ? nlohmann::json::parse(frames[3].to_string(), nullptr, false) : nlohmann::json();
    auto decoded = decode_from_manager(frames, 0);
    if (c["expect"].contains("malformed")) {
      EXPECT_TRUE(std::holds_alternative<DecodeError>(decoded)) << "accepted a malformed message";
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<ManagerMessage>(decoded))
        << std::get<DecodeError>(decoded).code << ": " << std::get<DecodeError>(decoded).message;
    EXPECT_EQ(frames[2].to_string(), c["expect"]["command"].get<std::string>());
    const nlohmann::json fields = c["expect"].contains("fields") ? c["expect"]["fields"] : nlohmann::json::object();
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      EXPECT_EQ(header.value(it.key(), nlohmann::json()), it.value()) << it.key();
    }
    if (const auto* w = std::get_if<Welcome>(&std::get<ManagerMessage>(decoded))) {
      EXPECT_EQ(w->id, header["id"].get<std::string>());
      EXPECT_EQ(w->pub_endpoint, header.value("pub_endpoint", std::string()));
      EXPECT_EQ(w->journal, header.value("journal", std::string()));
    }
  }
}

}  // namespace
}  // namespace proletariat::protocol

namespace proletariat::protocol {
namespace {

TEST(Codec, PublishedSystemMessageRoundTrip) {
  auto frames = encode(Published{"ab.3", 17, "ab.1", zmq::message_t(std::string_view("{\"x\":1}"))});
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[0].to_string(), "ab.3");  // the topic is the recipient's id
  auto decoded = decode_published(frames);
  ASSERT_TRUE(std::holds_alternative<Published>(decoded));
  auto& p = std::get<Published>(decoded);
  EXPECT_EQ(p.msg, 17u);
  EXPECT_EQ(p.from, "ab.1");
  EXPECT_EQ(p.content.to_string(), "{\"x\":1}");
}

TEST(Codec, SysMsgToEverybodyEncodesNullTo) {
  auto msg = round_trip_peer(encode(SysMsg{4, std::nullopt, zmq::message_t(std::string_view("1"))}));
  auto* got = std::get_if<SysMsg>(&msg);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->req, 4u);
  EXPECT_FALSE(got->to);
  auto done = round_trip_manager(encode(SysDone{4, 3, 2}));
  ASSERT_TRUE(std::holds_alternative<SysDone>(done));
  EXPECT_EQ(std::get<SysDone>(done).sent_to, 3u);
  EXPECT_EQ(std::get<SysDone>(done).received_by, 2u);
}

TEST(Codec, HandWrittenHeadersEscapeStringsAndKeepNumbers) {
  const std::string nasty = "q\"uote\\back\nline\x01ctl \xc3\xa9";
  Jobs jobs;
  jobs.jobs = {{(std::uint64_t{1} << 53) - 1, 7, 0.1, 5, nasty, "svc\t", true, "c.1"}};
  jobs.payloads.emplace_back();
  auto msg = round_trip_manager(encode(std::move(jobs)));
  auto* got = std::get_if<Jobs>(&msg);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->jobs[0].id, (std::uint64_t{1} << 53) - 1);
  EXPECT_DOUBLE_EQ(got->jobs[0].priority, 0.1);
  EXPECT_EQ(got->jobs[0].key, nasty);
  EXPECT_EQ(got->jobs[0].service, "svc\t");
  EXPECT_TRUE(got->jobs[0].raw);

  ClientResults results;
  results.results = {{3, JobError{"E\"X", "m\nn"}, false}};
  results.payloads.emplace_back();
  auto r = round_trip_manager(encode(std::move(results)));
  auto* res = std::get_if<ClientResults>(&r);
  ASSERT_NE(res, nullptr);
  EXPECT_EQ(res->results[0].err->code, "E\"X");
  EXPECT_EQ(res->results[0].err->message, "m\nn");

  Push push;
  push.req = 1;
  push.priority = 1e-3;
  push.jobs = {{nasty, "", false, {}, {}, {}}};
  push.payloads.emplace_back();
  auto p = round_trip_peer(encode(std::move(push)));
  ASSERT_TRUE(std::holds_alternative<Push>(p));
  EXPECT_EQ(std::get<Push>(p).jobs[0].key, nasty);
  EXPECT_DOUBLE_EQ(std::get<Push>(p).priority, 1e-3);
}

TEST(Codec, StreamedHeadersKeepWhatTheDomReaderKept) {
  auto frames = frames_of({"", "PRO1", "RESULT",
                           "{\"results\":[{\"id\":4,\"attempt\":2,\"err\":{\"message\":\"no code\"},\"x\":[1]},"
                           "{\"id\":5,\"attempt\":1,\"err\":null,\"raw\":true}]}",
                           "", "r"});
  auto decoded = decode_from_peer(frames, 0, Limits{});
  ASSERT_TRUE(std::holds_alternative<PeerMessage>(decoded)) << std::get<DecodeError>(decoded).message;
  auto& results = std::get<WorkerResults>(std::get<PeerMessage>(decoded));
  ASSERT_EQ(results.results.size(), 2u);
  ASSERT_TRUE(results.results[0].err);
  EXPECT_EQ(results.results[0].err->code, "EHANDLER");  // an error without a code
  EXPECT_EQ(results.results[0].err->message, "no code");
  EXPECT_FALSE(results.results[1].err);
  EXPECT_TRUE(results.results[1].raw);

  auto bad = frames_of({"", "PRO1", "PUSH", "{\"req\":9,\"jobs\":[{\"raw\":\"yes\"}]}", "1"});
  auto err = decode_from_peer(bad, 0, Limits{});
  ASSERT_TRUE(std::holds_alternative<DecodeError>(err));
  EXPECT_EQ(std::get<DecodeError>(err).code, errc::kBadField);
  EXPECT_EQ(std::get<DecodeError>(err).req, 9u);  // named, so the client can fail that push
}

TEST(Codec, PriorityTextIsShortest) {
  EXPECT_EQ(priority_text(2), "2");
  EXPECT_EQ(priority_text(2.5), "2.5");
  EXPECT_EQ(priority_text(0), "0");
}

}  // namespace
}  // namespace proletariat::protocol

namespace proletariat::protocol {
namespace {

// Issue 10: payloads travel from the socket to the handler and back without copies.
TEST(PayloadFrames, AReceivedFrameIsThePayloadItself) {
  const std::string text(4096, 'a');
  zmq::message_t frame(text.data(), text.size());
  const void* received_at = frame.data();
  const Payload payload = from_frame(std::move(frame), false);
  EXPECT_EQ(static_cast<const void*>(payload.bytes().data()), received_at) << "viewed in place, not copied";
  EXPECT_EQ(payload.bytes(), text);
  const Payload copy = payload;  // shares the bytes
  EXPECT_EQ(copy.bytes().data(), payload.bytes().data());
}

TEST(PayloadFrames, LargePayloadsAreLentToTheFrameAndKeptAliveByIt) {
  std::string big(64 * 1024, 'x');
  zmq::message_t frame;
  const char* at = nullptr;
  {
    const Payload payload = Payload::raw(std::move(big));
    at = payload.bytes().data();
    frame = to_frame(payload);
  }  // the payload is gone; the frame still holds a reference to its bytes
  EXPECT_EQ(frame.data<char>(), at) << "lent, not copied";
  EXPECT_EQ(frame.size(), 64u * 1024);
  EXPECT_EQ(frame.data<char>()[100], 'x');
}

TEST(PayloadFrames, SmallPayloadsAreCopiedIntoTheFrame) {
  const Payload payload = Payload::json(nlohmann::json{{"n", 1}});
  const zmq::message_t frame = to_frame(payload);
  EXPECT_EQ(frame.to_string(), "{\"n\":1}");
  EXPECT_NE(frame.data<char>(), payload.bytes().data());
}

}  // namespace
}  // namespace proletariat::protocol
