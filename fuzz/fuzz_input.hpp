// How the fuzz targets read their input: bytes, and frames in a length-prefixed
// layout that fuzz/make_corpus.py writes too (docs/FUZZING.md).
//
//   frame   = u16 little-endian length, then that many bytes (fewer if the input ends)
//   message = u8 frame count, then that many frames            (dispatcher_fuzz)
//   frames  = frames until the input ends                      (peer_decode_fuzz)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "protocol/codec.hpp"

namespace proletariat::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}

  [[nodiscard]] bool empty() const noexcept { return p_ == end_; }

  // The next byte; 0 once the input is used up.
  std::uint8_t byte() noexcept { return p_ == end_ ? 0 : *p_++; }

  std::uint16_t u16() noexcept {
    const std::uint16_t low = byte();
    return static_cast<std::uint16_t>(low | (byte() << 8));
  }

  // The next `n` bytes, or what is left.
  std::string_view bytes(std::size_t n) noexcept {
    n = std::min(n, static_cast<std::size_t>(end_ - p_));
    const std::string_view out(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return out;
  }

  std::string_view frame() noexcept { return bytes(u16()); }

  void append_frame(protocol::Frames& frames) {
    const auto f = frame();
    frames.emplace_back(f.data(), f.size());
  }

  // `count` frames (fewer if the input ends first).
  void append_frames(protocol::Frames& frames, std::size_t count) {
    for (std::size_t i = 0; i < count && !empty(); ++i) append_frame(frames);
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

// A directory of this process for the target's files (in /dev/shm when there is one:
// no disk I/O), removed when the fuzzer exits normally; a crash leaves it behind.
inline const std::string& scratch_dir(const char* name) {
  static std::string dir;
  if (dir.empty()) {
    const auto base = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                          : std::filesystem::temp_directory_path();
    std::string pattern = (base / (std::string(name) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    dir = pattern;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    });
  }
  return dir;
}

}  // namespace proletariat::fuzz
