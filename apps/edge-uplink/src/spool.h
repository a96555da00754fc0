/* edge-uplink: the store-and-forward spool, a capped on-disk FIFO of lines.
 *
 * Files in the spool folder (created 0700, files 0600):
 *
 *   spool.dat     the queue. A 16-byte header: the magic "EUSPOOL1" and, as a little-endian
 *                 uint64, the logical offset of the first record in the file (its "base").
 *                 Then the records, appended in order, each:
 *                     uint32 LE  payload length (1..SPOOL_MAX_RECORD)
 *                     uint32 LE  CRC-32 (IEEE) of the payload
 *                     payload    the line, without its line ending
 *   spool.offset  the committed (acknowledged) logical offset, as decimal text and a newline;
 *                 replaced atomically (write spool.offset.tmp, fsync, rename, fsync folder).
 *   lock          held with flock() while a process uses the spool: one process per spool.
 *
 * Offsets are logical: they count record bytes since the spool was created and never go back,
 * so a record keeps its offset when a compaction rewrites spool.dat with a new base. The file
 * offset of logical offset L is 16 + (L - base). Because of that, a compaction never has to
 * rewrite spool.offset, and a crash between the two leaves a committed offset below the base,
 * which simply means "nothing of this file has been acknowledged".
 *
 * Crash safety: records are appended with pwrite() and made durable by spool_sync()
 * (fdatasync), which the program calls at least every second and before it exits; spool_sync
 * writes spool.offset only after the data, so the committed offset never points past durable
 * data. spool_open() checks every record's length and CRC and truncates a torn or damaged
 * tail (the records a crash interrupted), keeping all the records before it.
 *
 * The cap: spool.dat never grows past max_bytes. When an append would pass it, the
 * acknowledged prefix is compacted away first; if that is not enough, the oldest unsent
 * records are dropped (counted and reported to the caller) until the queue fills at most 7/8
 * of the cap, so that a full spool is rewritten at most once per max_bytes/8 of new input.
 * While a compaction runs, spool.dat.tmp briefly holds a copy of the unsent records. */
#ifndef EDGE_UPLINK_SPOOL_H
#define EDGE_UPLINK_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonline.h"

#define SPOOL_HEADER_SIZE 16u
#define SPOOL_RECORD_OVERHEAD 8u
#define SPOOL_MAX_RECORD JSONLINE_MAX

/* compaction policy of spool_maybe_compact(): the acknowledged prefix is rewritten away when
 * it is more than half the file and more than this many bytes */
#define SPOOL_COMPACT_MIN_BYTES (1024u * 1024u)

struct spool {
    char *dir;                /* the folder's path, for messages */
    int dirfd;                /* the spool folder */
    int fd;                   /* spool.dat */
    int lockfd;               /* lock */
    uint64_t base;            /* logical offset of the first record of spool.dat */
    uint64_t end;             /* logical offset after the last record */
    uint64_t committed;       /* acknowledged up to here (a record boundary) */
    uint64_t committed_saved; /* what spool.offset holds */
    uint64_t pending;         /* records in [committed, end) */
    uint64_t max_bytes;       /* the cap of spool.dat's size, 0 = none */
    uint64_t dropped_total;   /* records dropped by the cap since spool_open() */
    bool data_dirty;          /* appended since the last fdatasync */
    unsigned char *buf;       /* SPOOL_MAX_RECORD bytes of scratch space */
};

/* Open (creating it and the folder if needed) the spool in dir, lock it, check it and cut a
 * torn tail. max_bytes: the cap of spool.dat (0: no cap). 0, or -1 after logging why. */
int spool_open(struct spool *s, const char *dir, uint64_t max_bytes);

/* Release the lock and the files. Call spool_sync() first to keep what is in memory. */
void spool_close(struct spool *s);

/* Append one record (1..SPOOL_MAX_RECORD bytes). *dropped: how many of the oldest unsent
 * records the cap dropped to make room (the new record itself when it can never fit).
 * 0, or -1 after logging why (the spool is then as before the call). */
int spool_append(struct spool *s, const void *data, size_t len, uint64_t *dropped);

/* Read the record at logical offset off into buf (cap bytes): its length in *len and the
 * offset of the next record in *next. 0; 1 when off is the end (no record); -1 after
 * logging why (also when off is not a record's offset, or the record is damaged). */
int spool_read(struct spool *s, uint64_t off, void *buf, size_t cap, size_t *len,
               uint64_t *next);

/* Mark everything before logical offset off acknowledged (in memory; spool_sync() saves
 * it). off must be a record boundary in [committed, end]; below committed it is ignored.
 * 0, or -1 after logging why. */
int spool_commit(struct spool *s, uint64_t off);

/* Make appended records durable (fdatasync), then save the committed offset if it changed.
 * 0, or -1 after logging why. */
int spool_sync(struct spool *s);

/* Rewrite spool.dat without its acknowledged prefix, atomically. 0, or -1 after logging
 * why (the old file is then still in use). */
int spool_compact(struct spool *s);

/* spool_compact() when the acknowledged prefix is more than half of the file and more than
 * SPOOL_COMPACT_MIN_BYTES. 1 when it compacted, 0 when not needed, -1 on error. */
int spool_maybe_compact(struct spool *s);

/* The size spool.dat has. */
uint64_t spool_file_size(const struct spool *s);

/* The folder's file descriptor, for other small state files (input.pos). */
int spool_dirfd(const struct spool *s);

#endif
