// Reading the headers that list one entry per job (PUSH, JOBS, RESULT) without building
// a JSON DOM: the manager and the peers decode one of these per message on their hot
// paths, and a DOM costs several allocations per entry. Internal to the codec.
//
// Shape read: {"<scalar field>": value, ..., "<list>": [{"<scalar field>": value, ...,
// "err": {"code": "...", "message": "..."}}, ...]}. Fields of any other shape, and
// unknown fields, are skipped; null counts as absent (as in the DOM readers). The sink
// sees each scalar as it is parsed and may refuse it with a message (EBADFIELD).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/json_scan.hpp"

namespace proletariat::protocol::wire {

// What a header reader reports to. Each method returns an error message, or empty.
class ListHeaderSink {
 public:
  virtual ~ListHeaderSink() = default;
  virtual std::string top(std::string_view key, const Scalar& value) = 0;
  virtual std::string begin_entry() = 0;
  virtual std::string entry(std::string_view key, const Scalar& value) = 0;
  virtual std::string entry_error(std::string_view key, const Scalar& value) = 0;  // inside "err"
  virtual std::string end_entry() = 0;
  // Whether a compound value of this field (at the top, or in an entry) is delivered
  // with its JSON text (Scalar::s), after it was read; otherwise it is delivered
  // first, without text, and skipped.
  virtual bool wants_text(bool /*top*/, std::string_view /*key*/) { return false; }
};

enum class ListHeaderOutcome { ok, bad_json, bad_field };

// Streams `text` into `sink`. `list` names the one array field whose objects are
// entries. On bad_field, `message` says why. The first refusal by the sink ends the
// read, so a header with a bad field and later bad JSON is a bad_field.
class ListHeaderReader {
 public:
  ListHeaderReader(std::string_view list, ListHeaderSink& sink) : list_(list), sink_(sink) {}

  ListHeaderOutcome read(const char* begin, const char* end, std::string& message) {
    if (begin == end) {
      message = "missing field '" + std::string(list_) + "'";
      return ListHeaderOutcome::bad_field;
    }
    JsonCursor cursor(begin, end);
    const bool parsed = cursor.peek() == JsonCursor::Next::object && top_object(cursor) && cursor.at_end();
    if (!error_.empty()) {
      message = std::move(error_);
      return ListHeaderOutcome::bad_field;
    }
    if (!parsed) return ListHeaderOutcome::bad_json;
    if (!saw_list_) {
      message = "missing field '" + std::string(list_) + "'";
      return ListHeaderOutcome::bad_field;
    }
    return ListHeaderOutcome::ok;
  }

 private:
  // Where a value stands, for what may stand there.
  enum class Level { top, entry, err };

  // Calls `member(key)` for each member of the object at the cursor.
  template <typename Member>
  bool members(JsonCursor& cursor, Member&& member) {
    (void)cursor.consume('{');
    if (cursor.consume('}')) return true;
    do {
      std::string_view key;
      // An escaped key lives in key_scratch_; values use value_scratch_, so it stays
      // valid while the member's value is read.
      if (!cursor.member_key(key, key_scratch_)) return false;
      if (!member(key)) return false;
    } while (cursor.consume(','));
    return cursor.consume('}');
  }

  bool top_object(JsonCursor& cursor) {
    return members(cursor, [&](std::string_view key) {
      if (key != list_) return value(cursor, Level::top, key);
      const auto next = cursor.peek();
      if (next == JsonCursor::Next::array) return list(cursor);
      return null_or_refused(cursor, next, "field '" + std::string(list_) + "' must be an array");
    });
  }

  // A field that must hold one shape (the list's array, err's object) holds something
  // else: null counts as absent; the other container is refused at once, a scalar once
  // it is read (a broken one is bad JSON first), as nlohmann's SAX reader did.
  bool null_or_refused(JsonCursor& cursor, JsonCursor::Next next, std::string problem) {
    switch (next) {
      case JsonCursor::Next::literal: {
        Scalar s;
        bool null = false;
        if (!cursor.literal(s, null)) return false;
        return null || fail(std::move(problem));
      }
      case JsonCursor::Next::object:
      case JsonCursor::Next::array:
        return fail(std::move(problem));
      case JsonCursor::Next::string:
      case JsonCursor::Next::number:
        return cursor.skip_scalar(value_scratch_) && fail(std::move(problem));
      default:
        return false;
    }
  }

  bool list(JsonCursor& cursor) {
    saw_list_ = true;
    (void)cursor.consume('[');
    if (cursor.consume(']')) return true;
    do {
      const auto next = cursor.peek();
      if (next == JsonCursor::Next::object) {
        if (!entry(cursor)) return false;
        continue;
      }
      if (next == JsonCursor::Next::end || next == JsonCursor::Next::invalid) return false;
      if (next != JsonCursor::Next::array && !cursor.skip_scalar(value_scratch_)) return false;
      return fail("entries of '" + std::string(list_) + "' must be objects");
    } while (cursor.consume(','));
    return cursor.consume(']');
  }

  bool entry(JsonCursor& cursor) {
    if (!report(sink_.begin_entry())) return false;
    const bool ok = members(cursor, [&](std::string_view key) {
      if (key != "err") return value(cursor, Level::entry, key);
      const auto next = cursor.peek();
      if (next == JsonCursor::Next::object) {
        return members(cursor, [&](std::string_view err_key) { return value(cursor, Level::err, err_key); });
      }
      return null_or_refused(cursor, next, "field 'err' must be null or an object");
    });
    return ok && report(sink_.end_entry());
  }

  // One member's value: a scalar goes to the sink, null is as if absent, an object or
  // array is reported as a compound and skipped.
  bool value(JsonCursor& cursor, Level level, std::string_view key) {
    Scalar s;
    switch (cursor.peek()) {
      case JsonCursor::Next::object:
      case JsonCursor::Next::array: {
        s.kind = Scalar::Kind::compound;
        if (!sink_.wants_text(level == Level::top, key)) {
          if (!deliver(level, key, s)) return false;
          return cursor.skip_value(value_scratch_);
        }
        // Delivered once skipped, with its whole (valid) text.
        const char* start = cursor.position();
        if (!cursor.skip_value(value_scratch_)) return false;
        s.s = std::string_view(start, static_cast<std::size_t>(cursor.position() - start));
        return deliver(level, key, s);
      }
      case JsonCursor::Next::string:
        s.kind = Scalar::Kind::string;
        if (!cursor.string(s.s, value_scratch_)) return false;
        break;
      case JsonCursor::Next::number:
        if (!cursor.number(s)) return false;
        break;
      case JsonCursor::Next::literal: {
        bool null = false;
        if (!cursor.literal(s, null)) return false;
        if (null) return true;
        break;
      }
      default:
        return false;
    }
    return deliver(level, key, s);
  }

  bool deliver(Level level, std::string_view key, const Scalar& s) {
    switch (level) {
      case Level::top:
        return report(sink_.top(key, s));
      case Level::entry:
        return report(sink_.entry(key, s));
      case Level::err:
        return report(sink_.entry_error(key, s));
    }
    return false;
  }

  bool report(std::string problem) { return problem.empty() ? true : fail(std::move(problem)); }
  bool fail(std::string problem) {
    if (error_.empty()) error_ = std::move(problem);
    return false;
  }

  std::string_view list_;
  ListHeaderSink& sink_;
  std::string key_scratch_;
  std::string value_scratch_;
  std::string error_;
  bool saw_list_ = false;
};

}  // namespace proletariat::protocol::wire
