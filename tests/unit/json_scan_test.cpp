// The hand-written header reader (protocol/json_scan.hpp, protocol/list_header.hpp)
// against nlohmann::json, which the codec used before: on every input, valid or
// broken, both must give the same verdict (ok, bad JSON, or the same bad-field
// message) and report the same fields, in the same order, with the same values.
//
// Inputs are seeded random headers in the shapes of PUSH, JOBS and RESULT, with
// escapes, non-ASCII text, numbers at the edges of their types, nested values and
// random whitespace, then mutated byte by byte. A failure prints the seed and input.
//   PROLETARIAT_PROPERTY_SEED=<seed> unit_tests --gtest_filter='JsonScan.*'
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/json_scan.hpp"
#include "protocol/list_header.hpp"
#include "unit/reference_list_header.hpp"

namespace proletariat::protocol::wire {
namespace {

std::string describe(const Scalar& v) {
  std::ostringstream out;
  switch (v.kind) {
    case Scalar::Kind::boolean:
      out << "bool:" << v.boolean;
      break;
    case Scalar::Kind::number_unsigned:
      out << "u:" << v.u;
      break;
    case Scalar::Kind::number_signed:
      out << "i:" << v.i;
      break;
    case Scalar::Kind::number_float:
      out.precision(17);
      out << "f:" << v.d;
      break;
    case Scalar::Kind::string:
      out << "s:" << nlohmann::json(std::string(v.s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    case Scalar::Kind::compound:
      out << "compound";
      break;
  }
  return out.str();
}

// Writes down every call; refuses the call numbered `refuse_at` (1-based), if any.
class RecordingSink final : public ListHeaderSink {
 public:
  explicit RecordingSink(std::size_t refuse_at) : refuse_at_(refuse_at) {}
  std::vector<std::string> log;

  std::string top(std::string_view key, const Scalar& v) override { return note("top " + esc(key) + " " + describe(v)); }
  std::string begin_entry() override { return note("begin"); }
  std::string entry(std::string_view key, const Scalar& v) override {
    return note("entry " + esc(key) + " " + describe(v));
  }
  std::string entry_error(std::string_view key, const Scalar& v) override {
    return note("err " + esc(key) + " " + describe(v));
  }
  std::string end_entry() override { return note("end"); }

 private:
  static std::string esc(std::string_view s) {
    return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string note(std::string line) {
    log.push_back(std::move(line));
    return log.size() == refuse_at_ ? "refused at " + std::to_string(refuse_at_) : std::string();
  }
  std::size_t refuse_at_;
};

struct Verdict {
  ListHeaderOutcome outcome;
  std::string message;
  std::vector<std::string> log;
};

template <typename Reader>
Verdict run(const std::string& text, std::string_view list, std::size_t refuse_at) {
  RecordingSink sink(refuse_at);
  Reader reader(list, sink);
  Verdict v;
  v.outcome = reader.read(text.data(), text.data() + text.size(), v.message);
  v.log = std::move(sink.log);
  return v;
}

// Whether the cursor alone accepts `text` as one JSON value.
bool scan_accepts(const std::string& text) {
  JsonCursor cursor(text.data(), text.data() + text.size());
  std::string scratch;
  return cursor.skip_value(scratch) && cursor.at_end();
}

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::string header(std::string_view list) {
    std::string out = "{";
    const int fields = pick(0, 4);
    bool first = true;
    for (int f = 0; f < fields; ++f) member(out, first, pick_key(), [&] { value(out, 2); });
    if (pick(0, 9) > 0) {
      member(out, first, std::string(list), [&] {
        if (pick(0, 12) == 0) return value(out, 1);  // the list of the wrong shape
        out += '[';
        const int entries = pick(0, 4);
        for (int e = 0; e < entries; ++e) {
          if (e > 0) out += ',';
          ws(out);
          if (pick(0, 15) == 0) {
            value(out, 1);  // an entry that is not an object
          } else {
            entry(out);
          }
          ws(out);
        }
        out += ']';
      });
    }
    ws(out);
    out += '}';
    return out;
  }

  // Damages `text` a little: a byte removed, inserted, replaced or a cut.
  std::string mutate(std::string text) {
    static const std::string kInteresting = "{}[],:\"\\0123456789-+.eEtfnu \t\n\x01\x7f";
    const int edits = pick(1, 3);
    for (int k = 0; k < edits; ++k) {
      const std::size_t at = text.empty() ? 0 : static_cast<std::size_t>(pick(0, static_cast<int>(text.size()) - 1));
      const char byte = pick(0, 3) == 0 ? static_cast<char>(pick(0, 255))
                                        : kInteresting[static_cast<std::size_t>(pick(0, static_cast<int>(kInteresting.size()) - 1))];
      switch (pick(0, 3)) {
        case 0:
          if (!text.empty()) text.erase(at, 1);
          break;
        case 1:
          text.insert(at, 1, byte);
          break;
        case 2:
          if (!text.empty()) text[at] = byte;
          break;
        default:
          text.resize(at);
          break;
      }
    }
    return text;
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

 private:
  template <typename Value>
  void member(std::string& out, bool& first, const std::string& key, Value&& write_value) {
    if (!first) out += ',';
    first = false;
    ws(out);
    out += quoted(key);
    ws(out);
    out += ':';
    ws(out);
    write_value();
    ws(out);
  }

  void entry(std::string& out) {
    out += '{';
    bool first = true;
    const int fields = pick(0, 5);
    for (int f = 0; f < fields; ++f) {
      const std::string key = pick(0, 3) == 0 ? "err" : pick_key();
      member(out, first, key, [&] {
        if (key == "err" && pick(0, 3) > 0) {
          out += '{';
          bool inner_first = true;
          const int inner = pick(0, 3);
          for (int i = 0; i < inner; ++i) member(out, inner_first, pick_key(), [&] { value(out, 1); });
          out += '}';
        } else {
          value(out, 2);
        }
      });
    }
    out += '}';
  }

  void value(std::string& out, int depth) {
    switch (pick(0, depth > 0 ? 9 : 7)) {
      case 0:
        out += "null";
        break;
      case 1:
        out += pick(0, 1) ? "true" : "false";
        break;
      case 2:
      case 3:
        out += number();
        break;
      case 4:
      case 5:
      case 6:
        out += quoted(text());
        break;
      case 7:
        out += quoted(escaped_text(), false);
        break;
      case 8: {
        out += '[';
        const int n = pick(0, 3);
        for (int i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          ws(out);
          value(out, depth - 1);
        }
        out += ']';
        break;
      }
      default: {
        out += '{';
        bool first = true;
        const int n = pick(0, 3);
        for (int i = 0; i < n; ++i) member(out, first, pick_key(), [&] { value(out, depth - 1); });
        out += '}';
        break;
      }
    }
  }

  std::string number() {
    static const std::vector<std::string> kEdges = {
        "0", "-0", "1", "-1", "9007199254740991", "9007199254740993", "18446744073709551615",
        "18446744073709551616", "-9223372036854775808", "-9223372036854775809", "99999999999999999999999",
        "1.5", "-2.25", "0.1", "1e3", "1E-3", "2.5e+10", "1e400", "-1e400", "1e-400", "123456789012345678901234567890.5"};
    if (pick(0, 2) == 0) return kEdges[static_cast<std::size_t>(pick(0, static_cast<int>(kEdges.size()) - 1))];
    return std::to_string(pick(0, 100000));
  }

  std::string pick_key() {
    static const std::vector<std::string> kKeys = {"req", "priority", "id", "attempt", "key", "service", "raw",
                                                   "code", "message", "x", "jobs", "results", "runTimeout", ""};
    return kKeys[static_cast<std::size_t>(pick(0, static_cast<int>(kKeys.size()) - 1))];
  }

  std::string text() {
    static const std::vector<std::string> kTexts = {"", "a", "img-42", "resize", "ETO", "caf\xC3\xA9",
                                                    "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "tab\there"};
    return kTexts[static_cast<std::size_t>(pick(0, static_cast<int>(kTexts.size()) - 1))];
  }

  // JSON string contents with escapes, written as they stand.
  std::string escaped_text() {
    static const std::vector<std::string> kEscaped = {
        "\\\"q\\\"", "back\\\\slash", "\\/", "\\b\\f\\n\\r\\t", "\\u0041", "\\u00e9", "\\u20AC",
        "\\ud83d\\ude00", "\\ud83d", "\\ude00", "\\u00", "\\x", "\\uD800\\u0041"};
    return kEscaped[static_cast<std::size_t>(pick(0, static_cast<int>(kEscaped.size()) - 1))];
  }

  // `raw`: contents to wrap as they are; otherwise escaped by nlohmann's writer.
  static std::string quoted(const std::string& s, bool escape = true) {
    if (!escape) return "\"" + s + "\"";
    return nlohmann::json(s).dump();
  }

  void ws(std::string& out) {
    static const char* kSpace[] = {"", "", "", " ", "\n", "\t ", "\r\n"};
    out += kSpace[pick(0, 6)];
  }

  std::mt19937_64 rng_;
};

std::uint64_t base_seed() {
  if (const char* s = std::getenv("PROLETARIAT_PROPERTY_SEED")) return std::strtoull(s, nullptr, 10);
  return 20261128;
}

const char* outcome_name(ListHeaderOutcome o) {
  switch (o) {
    case ListHeaderOutcome::ok:
      return "ok";
    case ListHeaderOutcome::bad_json:
      return "bad_json";
    case ListHeaderOutcome::bad_field:
      return "bad_field";
  }
  return "?";
}

void expect_same(const std::string& text, std::string_view list, std::size_t refuse_at, std::uint64_t seed) {
  const auto ours = run<ListHeaderReader>(text, list, refuse_at);
  const auto reference = run<testing::ReferenceListHeaderReader>(text, list, refuse_at);
  const auto context = [&] {
    return "seed " + std::to_string(seed) + ", list '" + std::string(list) + "', refuse at " +
           std::to_string(refuse_at) + ", input " +
           nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  };
  ASSERT_EQ(outcome_name(ours.outcome), std::string(outcome_name(reference.outcome))) << context();
  ASSERT_EQ(ours.message, reference.message) << context();
  // After bad JSON the reference may have reported fields before it hit the error;
  // what was reported up to there must agree.
  if (ours.outcome == ListHeaderOutcome::bad_json) {
    const std::size_t n = std::min(ours.log.size(), reference.log.size());
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(ours.log[i], reference.log[i]) << context();
  } else {
    ASSERT_EQ(ours.log, reference.log) << context();
  }
}

TEST(JsonScan, ListHeadersReadLikeNlohmannOnRandomAndDamagedInput) {
  const std::uint64_t seed = base_seed();
  Generator gen(seed);
  std::size_t valid = 0;
  std::size_t damaged_valid = 0;
  for (int i = 0; i < 6000; ++i) {
    const std::string_view list = gen.pick(0, 1) ? "jobs" : "results";
    const std::string text = gen.header(list);
    if (nlohmann::json::accept(text)) ++valid;
    expect_same(text, list, 0, seed);
    expect_same(text, list, static_cast<std::size_t>(gen.pick(1, 6)), seed);
    const std::string damaged = gen.mutate(text);
    if (nlohmann::json::accept(damaged)) ++damaged_valid;
    expect_same(damaged, list, 0, seed);
    if (HasFatalFailure()) return;
  }
  // The generator must exercise both sides of every verdict.
  EXPECT_GT(valid, 3000u);
  EXPECT_GT(damaged_valid, 300u);
  EXPECT_LT(damaged_valid, 5000u);
}

TEST(JsonScan, CursorAcceptsExactlyWhatNlohmannAccepts) {
  const std::uint64_t seed = base_seed() + 1;
  Generator gen(seed);
  for (int i = 0; i < 6000; ++i) {
    std::string text = gen.header(gen.pick(0, 1) ? "jobs" : "results");
    if (gen.pick(0, 1)) text = gen.mutate(text);
    ASSERT_EQ(scan_accepts(text), nlohmann::json::accept(text))
        << "seed " << seed << ", input " << nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
}

TEST(JsonScan, EdgeCasesOfTheGrammar) {
  const std::vector<std::string> cases = {
      "", " ", "{}", "[]", "\xEF\xBB\xBF{}", "\xEF\xBB{}", "{} {}", "{,}", "{\"a\":1,}", "[1,]", "[01]", "[-]",
      "[1.]", "[.5]", "[1e]", "[1e+]", "[-0.0e-0]", "[\"\\u0000\"]", "[\"\x01\"]", "[\"\xC0\x80\"]",
      "[\"\xED\xA0\x80\"]", "[\"\xF4\x90\x80\x80\"]", "[\"\xF0\x9F\x98\x80\"]", "[\"\\ud800\"]", "[\"\\udc00\"]",
      "[\"\\ud800\\udc00\"]", "[tru]", "[nul]", "[true false]", "{\"a\" 1}", "{1:2}", "[[[[[[[[[[]]]]]]]]]]",
      std::string(100000, '[') + std::string(100000, ']'), std::string(100000, '[')};
  for (const auto& text : cases) {
    EXPECT_EQ(scan_accepts(text), nlohmann::json::accept(text)) << text.substr(0, 40);
    for (const std::string_view list : {"jobs", "results"}) {
      expect_same(text, list, 0, 0);
      expect_same("{\"" + std::string(list) + "\":[{\"x\":" + text + "}]}", list, 0, 0);
    }
  }
}

}  // namespace
}  // namespace proletariat::protocol::wire
