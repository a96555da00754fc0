/* edge-uplink: small helpers shared by the library and the program (logging, clocks, I/O
 * that retries short reads/writes and EINTR, atomic small-file writes, CRC-32). */
#ifndef EDGE_UPLINK_UTIL_H
#define EDGE_UPLINK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define EU_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define EU_PRINTF(fmt, args)
#endif

/* One line on stderr, prefixed "edge-uplink: ". The format must not end with a newline. */
void eu_log(const char *fmt, ...) EU_PRINTF(1, 2);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t eu_now_ms(void);

/* write()/pwrite() all of buf, retrying on EINTR and short writes: 0, or -1 with errno. */
int eu_write_all(int fd, const void *buf, size_t len);
int eu_pwrite_all(int fd, const void *buf, size_t len, off_t offset);

/* pread() up to len bytes, retrying on EINTR and short reads: the count read (less than len
 * only at end of file), or -1 with errno. */
ssize_t eu_pread_all(int fd, void *buf, size_t len, off_t offset);

/* Replace dirfd/name with data, atomically and durably: write name.tmp, fsync it, rename it
 * over name, fsync the folder. 0, or -1 with errno (name is then unchanged). */
int eu_write_file_atomic(int dirfd, const char *name, const void *data, size_t len);

/* Read a small file dirfd/name into buf (NUL-terminated, at most cap-1 bytes): 0, 1 when the
 * file does not exist, -1 with errno (EFBIG when it does not fit). */
int eu_read_small_file(int dirfd, const char *name, char *buf, size_t cap);

/* Create path and its missing parents; the ones created get mode. 0, or -1 with errno. */
int eu_mkdir_p(const char *path, mode_t mode);

/* CRC-32 (IEEE 802.3, the one of zlib and PNG) of data. */
uint32_t eu_crc32(const void *data, size_t len);

/* Little-endian fixed-width integers in byte buffers. */
void eu_put_le32(unsigned char *p, uint32_t v);
void eu_put_le64(unsigned char *p, uint64_t v);
uint32_t eu_get_le32(const unsigned char *p);
uint64_t eu_get_le64(const unsigned char *p);

#endif
