// The list-header reader the codec used before issue 6: nlohmann::json's SAX parser
// driving the same ListHeaderSink. Kept here only as the oracle for
// json_scan_test.cpp, which holds the hand-written reader to the same verdicts.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocol/list_header.hpp"

namespace proletariat::protocol::wire::testing {

// Streams `text` into `sink`. `list` names the one array field whose objects are
// entries. On bad_field, `message` says why.
class ReferenceListHeaderReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  ReferenceListHeaderReader(std::string_view list, ListHeaderSink& sink) : list_(list), sink_(sink) {}

  ListHeaderOutcome read(const char* begin, const char* end, std::string& message) {
    if (begin == end) {
      if (!saw_list_) message = "missing field '" + std::string(list_) + "'";
      return message.empty() ? ListHeaderOutcome::ok : ListHeaderOutcome::bad_field;
    }
    const bool parsed = nlohmann::json::sax_parse(begin, end, this);
    if (!error_.empty()) {
      message = std::move(error_);
      return ListHeaderOutcome::bad_field;
    }
    if (!parsed || !top_is_object_) return ListHeaderOutcome::bad_json;
    if (!saw_list_) {
      message = "missing field '" + std::string(list_) + "'";
      return ListHeaderOutcome::bad_field;
    }
    return ListHeaderOutcome::ok;
  }

  // --- nlohmann::json_sax ---
  bool null() override {
    if (skip_ == 0 && depth_ == 2 && in_list_) return fail("entries of '" + std::string(list_) + "' must be objects");
    return true;
  }
  bool boolean(bool val) override {
    Scalar s;
    s.kind = Scalar::Kind::boolean;
    s.boolean = val;
    return scalar(s);
  }
  bool number_integer(number_integer_t val) override {
    Scalar s;
    s.kind = Scalar::Kind::number_signed;
    s.i = val;
    return scalar(s);
  }
  bool number_unsigned(number_unsigned_t val) override {
    Scalar s;
    s.kind = Scalar::Kind::number_unsigned;
    s.u = val;
    return scalar(s);
  }
  bool number_float(number_float_t val, const string_t&) override {
    Scalar s;
    s.kind = Scalar::Kind::number_float;
    s.d = val;
    return scalar(s);
  }
  bool string(string_t& val) override {
    Scalar s;
    s.kind = Scalar::Kind::string;
    s.s = val;
    return scalar(s);
  }
  bool binary(binary_t&) override { return true; }

  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 1) {
      top_is_object_ = true;
      return true;
    }
    if (skip_ > 0) return true;
    if (depth_ == 3 && in_list_) {
      in_entry_ = true;
      return report(sink_.begin_entry());
    }
    if (depth_ == 4 && in_entry_ && key_ == "err") {
      in_err_ = true;
      return true;
    }
    if (depth_ == 2 && key_ == list_) return fail("field '" + std::string(list_) + "' must be an array");
    return compound();
  }
  bool end_object() override {
    if (skip_ == depth_) {
      skip_ = 0;
    } else if (skip_ == 0 && depth_ == 3 && in_entry_) {
      in_entry_ = false;
      if (!report(sink_.end_entry())) return false;
    } else if (skip_ == 0 && depth_ == 4 && in_err_) {
      in_err_ = false;
    }
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    if (depth_ == 1) return true;  // not an object: bad_json after the parse
    if (skip_ > 0) return true;
    if (depth_ == 2 && key_ == list_) {
      in_list_ = true;
      saw_list_ = true;
      return true;
    }
    if (depth_ == 3 && in_list_) return fail("entries of '" + std::string(list_) + "' must be objects");
    return compound();
  }
  bool end_array() override {
    if (skip_ == depth_) {
      skip_ = 0;
    } else if (skip_ == 0 && depth_ == 2 && in_list_) {
      in_list_ = false;
    }
    --depth_;
    return true;
  }
  bool key(string_t& val) override {
    if (skip_ == 0) key_ = val;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool scalar(const Scalar& value) {
    if (skip_ > 0) return true;
    switch (depth_) {
      case 1:
        if (key_ == list_) return fail("field '" + std::string(list_) + "' must be an array");
        return report(sink_.top(key_, value));
      case 2:
        if (in_list_) return fail("entries of '" + std::string(list_) + "' must be objects");
        return true;
      case 3:
        if (in_entry_) {
          if (key_ == "err") return fail("field 'err' must be null or an object");
          return report(sink_.entry(key_, value));
        }
        return true;
      case 4:
        if (in_err_) return report(sink_.entry_error(key_, value));
        return true;
      default:
        return true;
    }
  }
  // An object or array where a scalar may stand: tell the sink, then skip it whole.
  bool compound() {
    Scalar s;
    s.kind = Scalar::Kind::compound;
    --depth_;  // report at the depth of the field it is the value of
    const bool ok = scalar(s);
    ++depth_;
    skip_ = depth_;
    return ok;
  }
  bool report(std::string problem) { return problem.empty() ? true : fail(std::move(problem)); }
  bool fail(std::string problem) {
    if (error_.empty()) error_ = std::move(problem);
    return false;
  }

  std::string_view list_;
  ListHeaderSink& sink_;
  std::string key_;
  std::string error_;
  int depth_ = 0;
  int skip_ = 0;
  bool top_is_object_ = false;
  bool in_list_ = false;
  bool saw_list_ = false;
  bool in_entry_ = false;
  bool in_err_ = false;
};

}  // namespace proletariat::protocol::wire::testing
