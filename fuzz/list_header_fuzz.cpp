// Fuzz target: the JSON header scanner (protocol/json_scan.hpp) and the list-header
// reader over it (protocol/list_header.hpp), which decode PUSH, RESULT and JOBS.
//
// Input: one option byte, then a header's text. Bit 0 picks the list ("jobs" or
// "results"); bits 1-3 make the sink refuse its n-th call (0: none). Checked, as
// tests/unit/json_scan_test.cpp does on generated input, against nlohmann::json:
//   - the cursor accepts exactly what nlohmann::json::accept accepts (but for text
//     with a NUL byte, which nlohmann reads as the end: the cursor must refuse it);
//   - ListHeaderReader gives the verdict of the nlohmann SAX reader it replaced
//     (tests/unit/reference_list_header.hpp): the same outcome, message and calls
//     (after bad JSON, the calls both made), for headers that open an object (the
//     reference hands a top-level array's scalars to the sink; ours calls nothing);
// then the text goes through the codec as the header of PUSH and RESULT from a peer
// and of JOBS and RESULT from the manager, with no payload frames.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/codec.hpp"
#include "protocol/json_scan.hpp"
#include "protocol/list_header.hpp"
#include "unit/reference_list_header.hpp"

namespace {

using namespace proletariat::protocol;
using namespace proletariat::protocol::wire;

// Writes each call down as one line; refuses the call numbered `refuse_at` (1-based).
class LoggingSink final : public ListHeaderSink {
 public:
  explicit LoggingSink(std::size_t refuse_at) : refuse_at_(refuse_at) {}
  std::vector<std::string> calls;

  std::string top(std::string_view key, const Scalar& v) override { return call('t', key, &v); }
  std::string begin_entry() override { return call('b', {}, nullptr); }
  std::string entry(std::string_view key, const Scalar& v) override { return call('e', key, &v); }
  std::string entry_error(std::string_view key, const Scalar& v) override { return call('x', key, &v); }
  std::string end_entry() override { return call('z', {}, nullptr); }

 private:
  std::string call(char what, std::string_view key, const Scalar* v) {
    std::string line(1, what);
    line.append(key);
    if (v != nullptr) {
      line += '|' + std::to_string(static_cast<int>(v->kind)) + '|';
      switch (v->kind) {
        case Scalar::Kind::boolean:
          line += v->boolean ? "1" : "0";
          break;
        case Scalar::Kind::number_unsigned:
          line += std::to_string(v->u);
          break;
        case Scalar::Kind::number_signed:
          line += std::to_string(v->i);
          break;
        case Scalar::Kind::number_float: {
          char buf[40];
          std::snprintf(buf, sizeof buf, "%a", v->d);  // exact
          line += buf;
          break;
        }
        case Scalar::Kind::string:
          line.append(v->s);
          break;
        case Scalar::Kind::compound:
          break;
      }
    }
    calls.push_back(std::move(line));
    return calls.size() == refuse_at_ ? "refused" : std::string();
  }
  std::size_t refuse_at_;
};

struct Verdict {
  ListHeaderOutcome outcome;
  std::string message;
  std::vector<std::string> calls;
};

template <typename Reader>
Verdict read_with(std::string_view text, std::string_view list, std::size_t refuse_at) {
  LoggingSink sink(refuse_at);
  Reader reader(list, sink);
  Verdict v;
  v.outcome = reader.read(text.data(), text.data() + text.size(), v.message);
  v.calls = std::move(sink.calls);
  return v;
}

[[noreturn]] void fail(const char* what, std::string_view text) {
  std::fprintf(stderr, "list_header_fuzz: %s on %zu bytes\n", what, text.size());
  std::abort();
}

void through_codec(std::string_view command, std::string_view text, bool from_peer) {
  Frames frames;
  frames.emplace_back();
  frames.emplace_back(kSignature.data(), kSignature.size());
  frames.emplace_back(command.data(), command.size());
  frames.emplace_back(text.data(), text.size());
  if (from_peer) {
    (void)decode_from_peer(frames, 0, Limits{});
  } else {
    (void)decode_from_manager(frames, 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string_view list = (options & 1) != 0 ? "results" : "jobs";
  const std::size_t refuse_at = (options >> 1) & 7;

  JsonCursor cursor(text.data(), text.data() + text.size());
  std::string scratch;
  const bool ours_accept = cursor.skip_value(scratch) && cursor.at_end();
  const auto ours = read_with<ListHeaderReader>(text, list, refuse_at);
  // nlohmann's lexer takes a NUL byte outside a string for the end of the input, and
  // accepts "1\0garbage" (RFC 8259 does not; neither does the cursor): text with a NUL
  // must be refused by ours, and is not compared.
  if (text.find('\0') != std::string_view::npos) {
    if (ours_accept) fail("the cursor accepts a NUL byte", text);
    if (ours.outcome == ListHeaderOutcome::ok) fail("the reader accepts a NUL byte", text);
    through_codec("PUSH", text, true);
    return 0;
  }
  if (ours_accept != nlohmann::json::accept(text)) fail("the cursor and nlohmann disagree on accept", text);

  // The reference reports the scalars of a top-level array to the sink as if they
  // were fields (a header that is not an object is bad JSON to both, unless the sink
  // refuses one of those first): only headers that open an object are compared.
  JsonCursor top(text.data(), text.data() + text.size());
  if (top.peek() != JsonCursor::Next::object) {
    if (!text.empty() && ours.outcome != ListHeaderOutcome::bad_json) {
      fail("a header that is not an object is not bad JSON", text);
    }
    through_codec("PUSH", text, true);
    return 0;
  }
  const auto reference = read_with<testing::ReferenceListHeaderReader>(text, list, refuse_at);
  if (ours.outcome != reference.outcome) fail("the readers' outcomes differ", text);
  if (ours.message != reference.message) fail("the readers' messages differ", text);
  if (ours.outcome == ListHeaderOutcome::bad_json) {
    const std::size_t n = std::min(ours.calls.size(), reference.calls.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (ours.calls[i] != reference.calls[i]) fail("the readers' calls differ before bad JSON", text);
    }
  } else if (ours.calls != reference.calls) {
    fail("the readers' calls differ", text);
  }

  through_codec("PUSH", text, true);
  through_codec("RESULT", text, true);
  through_codec("JOBS", text, false);
  through_codec("RESULT", text, false);
  return 0;
}
