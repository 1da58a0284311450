// CRC32C (Castagnoli), the checksum of every journal record: the polynomial the
// storage world settled on (iSCSI, ext4, RocksDB, LevelDB), with a hardware
// instruction on x86-64 (SSE4.2) and ARMv8, used when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace proletariat::journal {

// The CRC32C of `bytes`, continuing from `crc` (0 to start).
[[nodiscard]] std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace proletariat::journal
