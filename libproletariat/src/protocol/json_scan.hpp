// A validating JSON tokenizer over one buffer, for the codec's hot headers.
//
// nlohmann::json's SAX parser was a tenth of the peers' CPU per job (issue 6): its
// lexer copies every token, byte by byte, into a std::string before converting it.
// This scanner reads in place: a string without escapes is a view into the frame,
// an integer is accumulated as it is read. It accepts exactly RFC 8259 JSON, with the
// same checks as nlohmann's lexer (UTF-8 well-formedness, escapes, surrogate pairs,
// control characters, a leading UTF-8 BOM skipped), so that switching readers changes
// no verdict; tests/unit/json_scan_test.cpp holds it to that against nlohmann.
// Internal to the codec.
#pragma once

#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include <locale.h>

namespace proletariat::protocol::wire {

struct Scalar {
  // compound: an object or array where a scalar may stand (reported so that a known
  // field of the wrong shape is refused; its contents are skipped). `s` then holds the
  // compound's JSON text, validated, for the fields that are objects (a push's retry).
  enum class Kind { boolean, number_unsigned, number_signed, number_float, string, compound };
  Kind kind = Kind::boolean;
  bool boolean = false;
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double d = 0;
  std::string_view s;

  [[nodiscard]] bool is_unsigned() const noexcept {
    return kind == Kind::number_unsigned || (kind == Kind::number_signed && i >= 0);
  }
  [[nodiscard]] std::uint64_t as_unsigned() const noexcept {
    return kind == Kind::number_unsigned ? u : static_cast<std::uint64_t>(i);
  }
  [[nodiscard]] bool is_number() const noexcept {
    return kind == Kind::number_unsigned || kind == Kind::number_signed || kind == Kind::number_float;
  }
  [[nodiscard]] double as_double() const noexcept {
    switch (kind) {
      case Kind::number_unsigned:
        return static_cast<double>(u);
      case Kind::number_signed:
        return static_cast<double>(i);
      default:
        return d;
    }
  }
};

// The end of the well-formed UTF-8 sequence of 2-4 bytes that starts at `p` (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or null if there is none.
inline const char* utf8_sequence_end(const char* p, const char* end) noexcept {
  const auto lead = static_cast<unsigned char>(*p);
  int more = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    more = 1;
  } else if (lead == 0xE0) {
    more = 2;
    low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    more = 2;
  } else if (lead == 0xED) {
    more = 2;
    high = 0x9F;
  } else if (lead == 0xF0) {
    more = 3;
    low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    more = 3;
  } else if (lead == 0xF4) {
    more = 3;
    high = 0x8F;
  } else {
    return nullptr;
  }
  ++p;
  for (int k = 0; k < more; ++k, ++p) {
    if (p == end) return nullptr;
    const auto c = static_cast<unsigned char>(*p);
    if (c < low || c > high) return nullptr;
    low = 0x80;  // only the first continuation byte has a narrower range
    high = 0xBF;
  }
  return p;
}

// Whether `text` is well-formed UTF-8 (what a JSON string's raw bytes must be).
inline bool is_valid_utf8(std::string_view text) noexcept {
  const char* p = text.data();
  const char* end = p + text.size();
  while (p != end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
    } else if ((p = utf8_sequence_end(p, end)) == nullptr) {
      return false;
    }
  }
  return true;
}

class JsonCursor {
 public:
  // What starts the next value.
  enum class Next { object, array, string, number, literal, end, invalid };

  // Where the next unread byte is (after skip_value: just past the value skipped).
  [[nodiscard]] const char* position() const noexcept { return p_; }

  JsonCursor(const char* begin, const char* end) : p_(begin), end_(end) {
    // nlohmann skips a UTF-8 byte order mark at the very start.
    if (end_ - p_ >= 3 && static_cast<unsigned char>(p_[0]) == 0xEF && static_cast<unsigned char>(p_[1]) == 0xBB &&
        static_cast<unsigned char>(p_[2]) == 0xBF) {
      p_ += 3;
    }
  }

  // Skips whitespace; what comes next.
  Next peek() {
    skip_ws();
    if (p_ == end_) return Next::end;
    switch (*p_) {
      case '{':
        return Next::object;
      case '[':
        return Next::array;
      case '"':
        return Next::string;
      case 't':
      case 'f':
      case 'n':
        return Next::literal;
      default:
        return (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) ? Next::number : Next::invalid;
    }
  }

  // Skips whitespace; consumes `c` if it is next.
  bool consume(char c) {
    skip_ws();
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  // A string at the cursor (after peek() said so). The view points into the buffer,
  // or into `scratch` when the string had escapes.
  bool string(std::string_view& out, std::string& scratch) {
    ++p_;  // the opening quote
    const char* start = p_;
    // Fast path: printable ASCII without escapes.
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c == '\\' || c < 0x20 || c >= 0x80) break;
      ++p_;
    }
    scratch.assign(start, static_cast<std::size_t>(p_ - start));
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        out = scratch;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped
      if (c == '\\') {
        if (!escape(scratch)) return false;
        continue;
      }
      if (c < 0x80) {
        scratch.push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      const char* seq = p_;
      p_ = utf8_sequence_end(p_, end_);
      if (p_ == nullptr) return false;
      scratch.append(seq, static_cast<std::size_t>(p_ - seq));
    }
    return false;  // unterminated
  }

  // A number at the cursor, classified as nlohmann does: unsigned when it has no sign,
  // fraction or exponent and fits 64 bits; signed when negative and fits; else float.
  bool number(Scalar& out) {
    const char* start = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_) return false;
    bool integral = true;
    bool overflow = false;
    std::uint64_t magnitude = 0;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
        const auto digit = static_cast<std::uint64_t>(*p_ - '0');
        if (magnitude > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) overflow = true;
        magnitude = magnitude * 10 + digit;
        ++p_;
      }
    } else {
      return false;
    }
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (!digits()) return false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
    }
    if (integral && !overflow) {
      if (!negative) {
        out.kind = Scalar::Kind::number_unsigned;
        out.u = magnitude;
        return true;
      }
      constexpr auto kMinMagnitude = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
      if (magnitude <= kMinMagnitude) {
        out.kind = Scalar::Kind::number_signed;
        out.i = magnitude == kMinMagnitude ? std::numeric_limits<std::int64_t>::min()
                                           : -static_cast<std::int64_t>(magnitude);
        return true;
      }
    }
    out.kind = Scalar::Kind::number_float;
    out.d = to_double(start, p_);
    return std::isfinite(out.d);  // nlohmann refuses 1e400 ("number overflow")
  }

  // true, false or null at the cursor. A null is reported as `null = true`.
  bool literal(Scalar& out, bool& null) {
    null = false;
    if (take("true")) {
      out.kind = Scalar::Kind::boolean;
      out.boolean = true;
      return true;
    }
    if (take("false")) {
      out.kind = Scalar::Kind::boolean;
      out.boolean = false;
      return true;
    }
    if (take("null")) {
      null = true;
      return true;
    }
    return false;
  }

  // Validates and skips one whole value of any kind, without recursion: nesting is
  // bounded only by the frame's size.
  bool skip_value(std::string& scratch) {
    std::string open;  // the brackets still open
    for (;;) {
      // A value is due here.
      switch (peek()) {
        case Next::object:
          ++p_;
          if (consume('}')) break;
          if (!member_key(scratch)) return false;
          open.push_back('}');
          continue;
        case Next::array:
          ++p_;
          if (consume(']')) break;
          open.push_back(']');
          continue;
        default:
          if (!skip_scalar(scratch)) return false;
          break;
      }
      // A value ended: close what ends here, then find the next value.
      for (;;) {
        if (open.empty()) return true;
        if (consume(',')) {
          if (open.back() == '}' && !member_key(scratch)) return false;
          break;
        }
        if (!consume(open.back())) return false;
        open.pop_back();
      }
    }
  }

  // Validates and skips a string, number or literal at the cursor.
  bool skip_scalar(std::string& scratch) {
    Scalar ignored;
    bool null = false;
    std::string_view text;
    switch (peek()) {
      case Next::string:
        return string(text, scratch);
      case Next::number:
        return number(ignored);
      case Next::literal:
        return literal(ignored, null);
      default:
        return false;
    }
  }

  // Reads `"key" :` inside an object.
  bool member_key(std::string_view& key, std::string& scratch) {
    if (peek() != Next::string || !string(key, scratch)) return false;
    return consume(':');
  }

  // Whitespace, then the end of the buffer.
  bool at_end() { return peek() == Next::end; }

 private:
  bool member_key(std::string& scratch) {
    std::string_view ignored;
    return member_key(ignored, scratch);
  }

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool take(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool digits() {
    const char* start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ != start;
  }

  // strtod in the "C" locale: a global locale with ',' as its decimal point must not
  // change what a header means.
  static double to_double(const char* begin, const char* end) {
    static const locale_t c_locale = ::newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
    char buf[64];
    const auto n = static_cast<std::size_t>(end - begin);
    if (n < sizeof buf) {
      std::memcpy(buf, begin, n);
      buf[n] = '\0';
      return ::strtod_l(buf, nullptr, c_locale);
    }
    const std::string copy(begin, end);
    return ::strtod_l(copy.c_str(), nullptr, c_locale);
  }

  bool hex4(std::uint32_t& out) {
    if (end_ - p_ < 4) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = *p_++;
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  bool escape(std::string& out) {
    ++p_;  // the backslash
    if (p_ == end_) return false;
    const char c = *p_++;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out.push_back(c);
        return true;
      case 'b':
        out.push_back('\b');
        return true;
      case 'f':
        out.push_back('\f');
        return true;
      case 'n':
        out.push_back('\n');
        return true;
      case 'r':
        out.push_back('\r');
        return true;
      case 't':
        out.push_back('\t');
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    std::uint32_t code = 0;
    if (!hex4(code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return false;  // a low surrogate alone
    if (code >= 0xD800 && code <= 0xDBFF) {
      std::uint32_t low = 0;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace proletariat::protocol::wire
