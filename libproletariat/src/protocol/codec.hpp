// The codec: ZeroMQ frames in, typed messages or an error code out, and back.
//
// This is the one decode boundary of the system (docs/PROTOCOL.md): every message
// from any peer passes through decode_from_peer() in the manager, or through
// decode_from_manager() in the client and worker libraries. It never throws on bad
// input, never touches a socket, and never looks inside payload frames (they are
// moved through untouched).
//
// Changing the wire format: docs/PROTOCOL.md first, then this codec, the wire vectors
// (tests/vectors/), then every binding (bindings/python, bindings/node, bindings/c).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <proletariat/job.hpp>

#include "protocol/payload_frames.hpp"
#include "protocol/spec.hpp"

namespace proletariat::protocol {

// The constants of the one protocol description (protocol/protocol.json).
inline constexpr std::string_view kSignature = spec::kSignature;
inline constexpr int kProtocolVersion = spec::kVersion;
// Longest client identity a HELLO may carry (PROTOCOL §4).
inline constexpr std::size_t kMaxIdentityBytes = 128;
// Frames before the payloads on a DEALER: delimiter, signature, command, header.
inline constexpr std::size_t kFixedFrames = spec::kFixedFrames;
// Timeouts (ms) longer than this (about 35 years) are applied as this, so that clock
// arithmetic cannot overflow; the wire allows up to 2^53.
inline constexpr std::uint64_t kLongestTimeoutMs = spec::kLongestTimeoutMs;

using Frames = std::vector<zmq::message_t>;

struct Limits {
  std::size_t max_message_bytes = spec::kMaxMessageBytes;  // all frames together
  std::size_t max_frames = spec::kMaxFrames;               // 100,000 payloads + the fixed frames
};

// --- peer -> manager ---
struct Hello {
  std::string name;
  std::string lang;
  // False: the peer never subscribes to the system-message channel, so nobody waits
  // for it (PROTOCOL §4 HELLO). Absent on the wire means true.
  bool sysmsg = true;
  // A client's stable identity (PROTOCOL §12); empty: anonymous.
  std::string identity;
};
struct Offer {
  unsigned slots = spec::kSlotsDefault;
  std::map<double, unsigned> priority_slots;
  std::vector<std::string> services;
};
// When a job queues (PROTOCOL §14.3): `delay` ms after receipt, or `at` (ms since the
// Unix epoch); at most one of the two is set.
struct Due {
  std::optional<std::uint64_t> delay_ms;
  std::optional<std::uint64_t> at_ms;
  [[nodiscard]] bool set() const noexcept { return delay_ms || at_ms; }
};

// The lifecycle options a PUSH header or entry may carry (PROTOCOL §14).
struct Lifecycle {
  Due due;
  std::optional<std::string> group;
  std::shared_ptr<const RetryPolicy> retry;  // shared by the jobs of a push
};

struct PushJob {
  std::string key;
  std::string service;
  bool raw = false;
  // Per-job options over the header's, when the manager announced entry_options.
  std::optional<double> priority;
  std::optional<std::uint64_t> assign_timeout_ms;
  std::optional<std::uint64_t> run_timeout_ms;
  Lifecycle lifecycle;  // over the header's, field by field (due as one field)
};
struct Push {
  std::uint64_t req = 0;
  double priority = 0;
  std::optional<std::uint64_t> assign_timeout_ms;
  std::optional<std::uint64_t> run_timeout_ms;
  Lifecycle lifecycle;
  std::vector<PushJob> jobs;
  Frames payloads;  // one per job
};

// The retry object of PROTOCOL §14.1 from its JSON text; a problem's text otherwise.
[[nodiscard]] std::variant<RetryPolicy, std::string> parse_retry(std::string_view text);
[[nodiscard]] nlohmann::json retry_json(const RetryPolicy& retry);

// PROGRESS in both directions (PROTOCOL §14.4): a worker's entries carry the attempt.
struct ProgressEntry {
  std::uint64_t id = 0;
  unsigned attempt = 0;
  bool raw = false;
};
struct WorkerProgress {
  std::vector<ProgressEntry> entries;
  Frames payloads;  // one per entry
};
struct ClientProgress {
  std::vector<ProgressEntry> entries;  // attempt unused
  Frames payloads;
};

// DEAD (PROTOCOL §14.2).
enum class DeadOp { list, show, requeue, purge };
struct DeadRequest {
  std::uint64_t req = 0;
  DeadOp op = DeadOp::list;
  std::vector<std::uint64_t> ids;
  bool all = false;
  std::size_t limit = spec::kDeadListDefaultLimit;
};
// GROUPLIMITS from a peer (PROTOCOL §14.5). For a limit: nullopt leaves it as it is,
// a present nullopt inside means "no limit".
enum class GroupLimitsOp { list, set, clear };
struct GroupLimitsRequest {
  std::uint64_t req = 0;
  GroupLimitsOp op = GroupLimitsOp::list;
  std::string group;
  std::optional<std::optional<std::uint64_t>> max_running;
  std::optional<std::optional<double>> rate;
};
struct ClientAbort {
  std::vector<std::uint64_t> ids;
};
// The client has the results of these jobs (PROTOCOL §4, §12).
struct Received {
  std::vector<std::uint64_t> ids;
};
// The worker stops gracefully: no new jobs (PROTOCOL §4).
struct Drain {};
struct JobAttempt {
  std::uint64_t id = 0;
  unsigned attempt = 0;
};
struct WorkerResult {
  std::uint64_t id = 0;
  unsigned attempt = 0;
  std::optional<JobError> err;
  bool raw = false;
};
struct WorkerResults {
  std::vector<WorkerResult> results;
  Frames payloads;  // one per result
};
struct Reject {
  std::vector<JobAttempt> jobs;
};
struct Heartbeat {};
struct Bye {
  std::string reason;
};
// The `to` of a system message naming the manager alone.
inline constexpr std::string_view kToManager = spec::kToManager;
struct SysMsg {
  std::uint64_t req = 0;
  std::optional<std::string> to;  // nullopt: everybody but the sender
  zmq::message_t content;         // JSON text, forwarded untouched
};
struct SysAck {
  std::uint64_t msg = 0;
};
struct StatusRequest {
  std::optional<std::uint64_t> req;
  bool mine = false;  // MYSTATUS
};

using PeerMessage =
    std::variant<Hello, Offer, Push, ClientAbort, WorkerResults, Reject, Heartbeat, Bye, SysMsg, SysAck, StatusRequest,
                 Received, Drain, WorkerProgress, DeadRequest, GroupLimitsRequest>;

// --- manager -> peer ---
struct Welcome {
  std::string id;
  int protocol = kProtocolVersion;
  std::uint64_t heartbeat_ms = 1000;
  unsigned liveness = 5;
  std::uint64_t max_message_bytes = 0;
  std::uint64_t max_frames = 0;
  std::optional<std::uint64_t> pub_port;
  bool entry_options = false;  // PUSH entries may carry priority and timeouts
  std::string pub_endpoint;    // the channel's endpoint when it is not TCP (ipc://, inproc://)
  std::string journal;         // the manager's journal id; empty: no journal (PROTOCOL §12)
  bool lifecycle = false;      // takes delay, at, group, retry; sends PROGRESS (PROTOCOL §14)
};
struct OfferedRange {
  double start = 0;
  unsigned slots = 0;
};
struct Offered {
  unsigned slots = 0;
  std::vector<OfferedRange> ranges;
};
struct Accepted {
  std::uint64_t req = 0;
  std::vector<std::uint64_t> ids;
};
struct JobAssignment {
  std::uint64_t id = 0;
  unsigned attempt = 0;
  double priority = 0;
  std::optional<std::uint64_t> run_timeout_ms;
  std::string key;
  std::string service;
  bool raw = false;
  std::string client;
};
struct Jobs {
  std::vector<JobAssignment> jobs;
  Frames payloads;  // one per job
};
struct WorkerAbort {
  std::vector<JobAttempt> jobs;
};
struct ClientResult {
  std::uint64_t id = 0;
  std::optional<JobError> err;
  bool raw = false;
  unsigned attempts = 0;  // 0: not sent (the push asked for no retries)
};
struct ClientResults {
  std::vector<ClientResult> results;
  Frames payloads;  // one per result
};
struct ErrorReply {
  std::string code;
  std::string message;
  std::string command;  // empty if unknown
  std::optional<std::uint64_t> req;
};

struct SysDone {
  std::uint64_t req = 0;
  std::uint64_t sent_to = 0;
  std::uint64_t received_by = 0;
};
// STATUS or MYSTATUS reply: the header is the status document (PROTOCOL §8.2).
struct StatusReply {
  nlohmann::json status;
  bool mine = false;
};
// DEADLETTERS and GROUPLIMITS replies (PROTOCOL §14): rare, so a JSON document each.
struct DeadLettersReply {
  nlohmann::json header;
  Frames payloads;  // one per entry of header["letters"]
};
struct GroupLimitsReply {
  nlohmann::json header;
};
// A system message as it arrives on the SUB socket (PROTOCOL §8.1).
struct Published {
  std::string topic;
  std::uint64_t msg = 0;
  std::string from;
  zmq::message_t content;
};

using ManagerMessage = std::variant<Welcome, Offered, Accepted, Jobs, WorkerAbort, ClientResults, Heartbeat,
                                    ErrorReply, Bye, SysDone, StatusReply, ClientProgress, DeadLettersReply,
                                    GroupLimitsReply>;

// Why a message could not be decoded. `command` and `req` are filled when they could
// be read, so the error reply can name them.
struct DecodeError {
  std::string_view code;  // one of proletariat::errc
  std::string message;
  std::string command;
  std::optional<std::uint64_t> req;
};

// `frames` as received by the decoding side, starting at `first` (1 on the manager's
// ROUTER, after the routing id; 0 on a DEALER). Payload frames are moved out of it.
[[nodiscard]] std::variant<PeerMessage, DecodeError> decode_from_peer(Frames& frames, std::size_t first,
                                                                      const Limits& limits);
[[nodiscard]] std::variant<ManagerMessage, DecodeError> decode_from_manager(Frames& frames, std::size_t first);

// Encoders produce the frames as a DEALER sends or receives them (delimiter first);
// the manager prepends the routing id.
[[nodiscard]] Frames encode(const Hello& msg);
[[nodiscard]] Frames encode(const Offer& msg);
[[nodiscard]] Frames encode(Push&& msg);
[[nodiscard]] Frames encode(const ClientAbort& msg);
[[nodiscard]] Frames encode(const Received& msg);
[[nodiscard]] Frames encode(const Drain& msg);
[[nodiscard]] Frames encode(WorkerResults&& msg);
[[nodiscard]] Frames encode(const Reject& msg);
[[nodiscard]] Frames encode(const Heartbeat& msg);
[[nodiscard]] Frames encode(const Bye& msg);
[[nodiscard]] Frames encode(const Welcome& msg);
[[nodiscard]] Frames encode(const Offered& msg);
[[nodiscard]] Frames encode(const Accepted& msg);
[[nodiscard]] Frames encode(Jobs&& msg);
[[nodiscard]] Frames encode(const WorkerAbort& msg);
[[nodiscard]] Frames encode(ClientResults&& msg);
[[nodiscard]] Frames encode(const ErrorReply& msg);
[[nodiscard]] Frames encode(SysMsg&& msg);
[[nodiscard]] Frames encode(const SysAck& msg);
[[nodiscard]] Frames encode(const StatusRequest& msg);
[[nodiscard]] Frames encode(const SysDone& msg);
[[nodiscard]] Frames encode(WorkerProgress&& msg);
[[nodiscard]] Frames encode(ClientProgress&& msg);
[[nodiscard]] Frames encode(const DeadRequest& msg);
[[nodiscard]] Frames encode(DeadLettersReply&& msg);
[[nodiscard]] Frames encode(const GroupLimitsRequest& msg);
[[nodiscard]] Frames encode(const GroupLimitsReply& msg);
[[nodiscard]] Frames encode(const StatusReply& msg);
// A STATUS / MYSTATUS reply whose header is already JSON text (the manager writes its
// status documents directly: with thousands of workers a DOM is the main cost).
[[nodiscard]] Frames encode_status(bool mine, const std::string& header);
// The system-message channel: what the manager publishes, what a SUB socket gets.
[[nodiscard]] Frames encode(Published&& msg);
[[nodiscard]] std::variant<Published, DecodeError> decode_published(Frames& frames);

// Payload <-> frame, for the client and worker libraries, without copying the bytes
// (see protocol/payload_frames.hpp).
[[nodiscard]] zmq::message_t to_frame(const Payload& payload);
[[nodiscard]] Payload from_frame(zmq::message_t&& frame, bool raw);

// A priority as text for JSON object keys (prioritySlots, queuedByPriority): "2" for
// whole numbers, the shortest round-trip form otherwise ("2.5").
[[nodiscard]] std::string priority_text(double priority);

// A printable, bounded excerpt of a frame for logs (NATS's protoSnippet).
[[nodiscard]] std::string snippet(const zmq::message_t& frame, std::size_t max_bytes = 64);
// The longest prefix of valid UTF-8 `text` of at most `max_bytes` that does not cut a
// character (a name cut inside one would make the STATUS document invalid JSON).
[[nodiscard]] std::string utf8_prefix(const std::string& text, std::size_t max_bytes);

}  // namespace proletariat::protocol
