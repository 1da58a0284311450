#include <proletariat/curve.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <sodium.h>
#include <zmq.h>

#include <proletariat/error.hpp>

namespace proletariat {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  throw Error(std::string(errc::kBadField), "key file " + path + ": " + what);
}

std::ifstream open_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) bad_file(path, "cannot be read");
  return in;
}

}  // namespace

bool is_z85_key(const std::string& text) {
  if (text.size() != 40) return false;
  unsigned char decoded[32];
  return zmq_z85_decode(decoded, text.c_str()) != nullptr;
}

void check_curve_options(const CurveOptions& curve) {
  const auto check = [](const std::string& key, const char* name) {
    if (!is_z85_key(key)) {
      throw Error(std::string(errc::kBadField), std::string("CurveOptions: ") + name + " is not a Z85 CURVE key (40 characters)");
    }
  };
  check(curve.server_public_key, "server_public_key");
  check(curve.keys.public_key, "keys.public_key");
  check(curve.keys.secret_key, "keys.secret_key");
}

CurveKeyPair generate_curve_key_pair() {
  char public_key[41];
  char secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw Error(std::string(errc::kInternal), "this libzmq has no CURVE support");
  }
  return {public_key, secret_key};
}

std::string read_public_key_file(const std::string& path) {
  auto in = open_key_file(path);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (!is_z85_key(line)) bad_file(path, "its first line is not a Z85 CURVE public key (40 characters)");
    return line;
  }
  bad_file(path, "holds no key");
}

CurveKeyPair read_secret_key_file(const std::string& path) {
  auto in = open_key_file(path);
  CurveKeyPair keys;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) bad_file(path, "expected 'public = <z85>' and 'secret = <z85>' lines");
    const std::string name = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (name == "public") keys.public_key = value;
    if (name == "secret") keys.secret_key = value;
  }
  if (!is_z85_key(keys.public_key) || !is_z85_key(keys.secret_key)) {
    bad_file(path, "needs a 'public = <z85>' and a 'secret = <z85>' line, each a 40-character Z85 key");
  }
  return keys;
}

void write_key_files(const std::string& path_without_extension, const CurveKeyPair& keys) {
  const std::string pub = path_without_extension + ".pub";
  const std::string key = path_without_extension + ".key";
  struct stat st {};
  if (stat(pub.c_str(), &st) == 0 || stat(key.c_str(), &st) == 0) {
    throw Error(std::string(errc::kState), pub + " or " + key + " exists already: not overwritten");
  }
  {
    const mode_t old = umask(077);
    std::ofstream out(key);
    umask(old);
    if (!out) throw Error(std::string(errc::kInternal), "cannot write " + key);
    out << "# proletariat CURVE secret key: keep it private\npublic = " << keys.public_key
        << "\nsecret = " << keys.secret_key << "\n";
  }
  std::ofstream out(pub);
  if (!out) throw Error(std::string(errc::kInternal), "cannot write " + pub);
  out << keys.public_key << "\n";
}

std::string http_token(const std::string& own_secret_key, const std::string& other_public_key) {
  std::uint8_t secret[32];
  std::uint8_t other[32];
  if (!is_z85_key(own_secret_key) || !is_z85_key(other_public_key) ||
      zmq_z85_decode(secret, own_secret_key.c_str()) == nullptr ||
      zmq_z85_decode(other, other_public_key.c_str()) == nullptr) {
    throw Error(std::string(errc::kBadField), "http_token: both keys must be Z85 CURVE keys");
  }
  std::uint8_t shared[crypto_box_BEFORENMBYTES];
  if (sodium_init() < 0 || crypto_box_beforenm(shared, other, secret) != 0) {
    sodium_memzero(secret, sizeof secret);
    throw Error(std::string(errc::kBadField), "http_token: no key agreement with that public key");
  }
  sodium_memzero(secret, sizeof secret);
  static constexpr char kContext[] = "proletariat http token v1";
  std::uint8_t token[32];
  crypto_generichash(token, sizeof token, reinterpret_cast<const std::uint8_t*>(kContext), sizeof kContext - 1, shared,
                     sizeof shared);
  sodium_memzero(shared, sizeof shared);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t byte : token) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

std::string read_http_token_file(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    throw Error(std::string(errc::kBadField), "http: cannot read a token from " + path);
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
  if (token.size() < 16) {
    throw Error(std::string(errc::kBadField), "http: the token in " + path + " is shorter than 16 characters");
  }
  return token;
}

}  // namespace proletariat
