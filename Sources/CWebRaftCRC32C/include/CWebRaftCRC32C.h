// CRC-32C with the CPU's own instruction, for WebRaftFileStorage's record checksums.
#ifndef CWEBRAFT_CRC32C_H
#define CWEBRAFT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction this library uses (x86-64 with SSE 4.2), else 0.
int webraft_crc32c_hardware_available(void);

/// Feeds `length` bytes into a CRC-32C register `state` (the running, inverted value: start from
/// 0xFFFFFFFF and invert at the end) and returns the new register. Call only when
/// `webraft_crc32c_hardware_available()` returned 1.
uint32_t webraft_crc32c_hardware_extend(uint32_t state, const void *bytes, size_t length);

#endif
