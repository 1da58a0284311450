// CURVE keys (PROTOCOL §13): how peers and the manager authenticate each other.
//
// Keys are libzmq's CURVE keys in Z85 text (40 characters). A public key file holds
// the key on its first line that is not a `#` comment; a secret key file holds the
// lines `public = <z85>` and `secret = <z85>` (what `proletariat-ctl keygen` writes).
#pragma once

#include <string>

namespace proletariat {

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

// What a peer (Worker, Client) needs to connect to a manager that runs CURVE.
struct CurveOptions {
  std::string server_public_key;  // the manager's public key (Z85)
  CurveKeyPair keys;              // this peer's own key pair
};

// A fresh key pair (zmq_curve_keypair).
[[nodiscard]] CurveKeyPair generate_curve_key_pair();
// Throw proletariat::Error(EBADFIELD) naming the file and what is wrong with it.
[[nodiscard]] std::string read_public_key_file(const std::string& path);
[[nodiscard]] CurveKeyPair read_secret_key_file(const std::string& path);
// Writes NAME.pub and NAME.key (mode 0600); throws proletariat::Error on I/O errors
// or when either file exists already.
void write_key_files(const std::string& path_without_extension, const CurveKeyPair& keys);
// True for 40 characters of the Z85 alphabet that decode to 32 bytes.
[[nodiscard]] bool is_z85_key(const std::string& text);
// Throws proletariat::Error(EBADFIELD) unless all three keys are Z85 CURVE keys.
void check_curve_options(const CurveOptions& curve);
// The token an admin key presents to the manager's HTTP endpoint when CURVE is on
// (docs/OPERATIONS.md): 64 hex digits that the admin computes from its secret key and
// the manager's public key, and the manager from its secret key and the admin's
// public key (the same X25519 key agreement as CURVE's, hashed for this one use). No
// token is stored anywhere: removing the key from admins/ revokes it. Throws
// proletariat::Error(EBADFIELD) unless both keys are Z85 CURVE keys.
[[nodiscard]] std::string http_token(const std::string& own_secret_key, const std::string& other_public_key);
// The token of an HTTP token file (ManagerOptions::http_token_file): its first line,
// trailing blanks cut. Throws proletariat::Error(EBADFIELD) when the file cannot be
// read or the token is shorter than 16 characters.
[[nodiscard]] std::string read_http_token_file(const std::string& path);

}  // namespace proletariat
