/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every saba on-disk record.
 *
 * Castagnoli's polynomial (0x1EDC6F41, reflected 0x82F63B78) as in iSCSI, ext4
 * metadata and Prometheus' WAL. Uses the SSE4.2 crc32 instruction when the CPU
 * has it, a table otherwise; both give identical results.
 */
#ifndef SABA_BASE_CRC32C_H
#define SABA_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(0, p, n) for a fresh one. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
