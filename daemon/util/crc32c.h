/* crc32c.h - CRC-32C (Castagnoli), the checksum of the outbox's records and cursor. */
#ifndef KVS_CRC32C_H
#define KVS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of len bytes at buf, continuing from crc (0 to start): reflected
 * polynomial 0x82F63B78, as iSCSI and ext4 use, so crc32c(0, "123456789", 9)
 * is 0xE3069283.  On x86-64 with SSE4.2 it runs on the CPU's crc32
 * instruction, elsewhere on a table; both give the same value. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The same, always on the table: for tests that compare both ways. */
uint32_t crc32c_table(uint32_t crc, const void *buf, size_t len);

#endif
