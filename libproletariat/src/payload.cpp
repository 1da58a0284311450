#include <proletariat/error.hpp>
#include <proletariat/job.hpp>

namespace proletariat {

nlohmann::json Payload::to_json() const {
  if (raw_) {
    return nlohmann::json::binary(std::vector<std::uint8_t>(bytes_.begin(), bytes_.end()));
  }
  if (bytes_.empty()) return nullptr;
  auto value = nlohmann::json::parse(bytes_.begin(), bytes_.end(), nullptr, false);
  if (value.is_discarded()) throw Error(std::string(errc::kBadJson), "payload is not valid JSON");
  return value;
}

}  // namespace proletariat
