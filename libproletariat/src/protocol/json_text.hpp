// Writing JSON text directly, for the messages whose size grows with the number of
// jobs or peers (per-job headers, STATUS): a JSON DOM would cost allocations per entry.
// Strings are escaped as JSON requires; numbers are written in their shortest form.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace proletariat::protocol::json_text {

inline void append_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

// Writes [a,b,...]: `write(item)` appends each item.
template <typename Range, typename Write>
void append_list(std::string& out, const Range& items, Write&& write) {
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    write(item);
  }
  out += ']';
}

// The bytes append_string writes for `text`, quotes included.
inline std::size_t string_size(std::string_view text) noexcept {
  std::size_t n = 2;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    n += (c == '"' || c == '\\') ? 2 : (u < 0x20 ? 6 : 1);
  }
  return n;
}

inline void append_uint(std::string& out, std::uint64_t value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

inline void append_number(std::string& out, double value) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round trip
  out.append(buf, end);
}

inline void append_field(std::string& out, std::string_view name) {
  out += ',';
  append_string(out, name);
  out += ':';
}

}  // namespace proletariat::protocol::json_text
