#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock() */

#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define DATA_NAME "spool.dat"
#define DATA_TMP_NAME "spool.dat.tmp"
#define OFFSET_NAME "spool.offset"

static const unsigned char magic[8] = {'E', 'U', 'S', 'P', 'O', 'O', 'L', '1'};

/* the position in spool.dat of a logical offset (>= base) */
static off_t file_pos(const struct spool *s, uint64_t logical)
{
    return (off_t)(SPOOL_HEADER_SIZE + (logical - s->base));
}

uint64_t spool_file_size(const struct spool *s)
{
    return SPOOL_HEADER_SIZE + (s->end - s->base);
}

int spool_dirfd(const struct spool *s)
{
    return s->dirfd;
}

static void make_header(unsigned char hdr[SPOOL_HEADER_SIZE], uint64_t base)
{
    memcpy(hdr, magic, sizeof magic);
    eu_put_le64(hdr + 8, base);
}

/* Read the header of the record at file position pos of fd (file size size).
 * 0; 1 when the file ends inside the header; -1 with errno. */
static int read_record_header(int fd, off_t pos, uint64_t size, uint32_t *len, uint32_t *crc)
{
    unsigned char hdr[SPOOL_RECORD_OVERHEAD];
    ssize_t n;

    if ((uint64_t)pos + SPOOL_RECORD_OVERHEAD > size)
        return 1;
    n = eu_pread_all(fd, hdr, sizeof hdr, pos);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof hdr)
        return 1;
    *len = eu_get_le32(hdr);
    *crc = eu_get_le32(hdr + 4);
    return 0;
}

/* The length of the record at logical offset off (known to be a record of the file). */
static int record_length(struct spool *s, uint64_t off, uint32_t *len)
{
    uint32_t crc;
    int rc = read_record_header(s->fd, file_pos(s, off), spool_file_size(s), len, &crc);

    if (rc != 0) {
        if (rc > 0)
            errno = EIO;
        eu_log("spool %s: cannot read the record at offset %" PRIu64 ": %s", s->dir, off,
               strerror(errno));
        return -1;
    }
    if (*len == 0 || *len > SPOOL_MAX_RECORD || off + SPOOL_RECORD_OVERHEAD + *len > s->end) {
        eu_log("spool %s: damaged record at offset %" PRIu64 " (length %" PRIu32 ")", s->dir,
               off, *len);
        errno = EIO;
        return -1;
    }
    return 0;
}

/* The committed offset in spool.offset: 0 with *found set, 0 with *found clear when there is
 * none (or it is unreadable text: everything is then sent again), -1 on an I/O error. */
static int load_offset(struct spool *s, uint64_t *off, bool *found)
{
    char text[64];
    char *end;
    unsigned long long v;
    int rc = eu_read_small_file(s->dirfd, OFFSET_NAME, text, sizeof text);

    *found = false;
    if (rc == 1)
        return 0;
    if (rc < 0) {
        eu_log("spool %s: cannot read " OFFSET_NAME ": %s", s->dir, strerror(errno));
        return -1;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] < '0' || text[0] > '9' ||
        (*end != '\0' && strcmp(end, "\n") != 0)) {
        eu_log("spool %s: " OFFSET_NAME " is damaged; every spooled line will be sent again",
               s->dir);
        return 0;
    }
    *off = (uint64_t)v;
    *found = true;
    return 0;
}

static void remove_stale(struct spool *s, const char *name)
{
    if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT)
        eu_log("spool %s: cannot remove the stale %s: %s", s->dir, name, strerror(errno));
}

/* Check spool.dat record by record from the start; cut a torn or damaged tail; set end,
 * committed and pending from the saved committed offset. */
static int scan(struct spool *s, uint64_t size, uint64_t saved, bool have_saved)
{
    uint64_t pos = SPOOL_HEADER_SIZE;
    uint64_t logical = s->base;
    uint64_t total = 0, pending_from_saved = 0;
    uint64_t boundary = s->base; /* the last record start <= saved */
    const char *problem = NULL;

    while (pos < size) {
        uint32_t len, crc;
        ssize_t n;
        int rc = read_record_header(s->fd, (off_t)pos, size, &len, &crc);

        if (rc < 0) {
            eu_log("spool %s: cannot read " DATA_NAME ": %s", s->dir, strerror(errno));
            return -1;
        }
        if (rc > 0) {
            problem = "an incomplete record header";
            break;
        }
        if (len == 0 || len > SPOOL_MAX_RECORD) {
            problem = "an impossible record length";
            break;
        }
        if (size - pos - SPOOL_RECORD_OVERHEAD < len) {
            problem = "an incomplete record";
            break;
        }
        n = eu_pread_all(s->fd, s->buf, len, (off_t)(pos + SPOOL_RECORD_OVERHEAD));
        if (n < 0) {
            eu_log("spool %s: cannot read " DATA_NAME ": %s", s->dir, strerror(errno));
            return -1;
        }
        if ((size_t)n < len) {
            problem = "an incomplete record";
            break;
        }
        if (eu_crc32(s->buf, len) != crc) {
            problem = "a record with a wrong checksum";
            break;
        }
        total++;
        if (have_saved && logical >= saved)
            pending_from_saved++;
        if (have_saved && logical <= saved)
            boundary = logical;
        pos += SPOOL_RECORD_OVERHEAD + len;
        logical += SPOOL_RECORD_OVERHEAD + len;
    }
    if (problem) {
        eu_log("spool %s: cut %" PRIu64 " bytes at the end of " DATA_NAME
               " (%s, left by a crash or a full disk); the records before it are kept",
               s->dir, size - pos, problem);
        if (ftruncate(s->fd, (off_t)pos) != 0 || fsync(s->fd) != 0) {
            eu_log("spool %s: cannot truncate " DATA_NAME ": %s", s->dir, strerror(errno));
            return -1;
        }
    }
    s->end = logical;

    if (!have_saved || saved <= s->base) {
        s->committed = s->base;
        s->pending = total;
    } else if (saved >= s->end) {
        if (saved > s->end)
            eu_log("spool %s: " OFFSET_NAME " (%" PRIu64 ") is past the end of " DATA_NAME
                   " (%" PRIu64 "); new lines are appended at its end",
                   s->dir, saved, s->end);
        s->committed = s->end;
        s->pending = 0;
    } else {
        s->committed = boundary;
        s->pending = pending_from_saved;
        if (boundary != saved) {
            eu_log("spool %s: " OFFSET_NAME " (%" PRIu64 ") is not at a record; sending again "
                   "from offset %" PRIu64, s->dir, saved, boundary);
            s->pending++;
        }
    }
    return 0;
}

int spool_open(struct spool *s, const char *dir, uint64_t max_bytes)
{
    unsigned char hdr[SPOOL_HEADER_SIZE];
    struct stat st;
    uint64_t saved = 0;
    bool have_saved = false;
    ssize_t n;

    memset(s, 0, sizeof *s);
    s->dirfd = s->fd = s->lockfd = -1;
    s->max_bytes = max_bytes;
    s->dir = strdup(dir);
    s->buf = malloc(SPOOL_MAX_RECORD);
    if (!s->dir || !s->buf) {
        eu_log("spool %s: out of memory", dir);
        goto fail;
    }
    if (eu_mkdir_p(dir, 0700) != 0) {
        eu_log("spool %s: cannot create the folder: %s", dir, strerror(errno));
        goto fail;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        eu_log("spool %s: cannot open the folder: %s", dir, strerror(errno));
        goto fail;
    }
    s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        eu_log("spool %s: cannot create its lock file: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            eu_log("spool %s is in use by another edge-uplink process; give each instance "
                   "its own --spool", dir);
        else
            eu_log("spool %s: cannot lock it: %s", dir, strerror(errno));
        goto fail;
    }
    remove_stale(s, DATA_TMP_NAME);
    remove_stale(s, OFFSET_NAME ".tmp");
    remove_stale(s, "input.pos.tmp");

    s->fd = openat(s->dirfd, DATA_NAME, O_RDWR | O_CLOEXEC);
    if (s->fd < 0 && errno == ENOENT) {
        /* a new spool: the header appears complete or not at all */
        make_header(hdr, 0);
        if (eu_write_file_atomic(s->dirfd, DATA_NAME, hdr, sizeof hdr) != 0) {
            eu_log("spool %s: cannot create " DATA_NAME ": %s", dir, strerror(errno));
            goto fail;
        }
        s->fd = openat(s->dirfd, DATA_NAME, O_RDWR | O_CLOEXEC);
    }
    if (s->fd < 0) {
        eu_log("spool %s: cannot open " DATA_NAME ": %s", dir, strerror(errno));
        goto fail;
    }
    if (fstat(s->fd, &st) != 0) {
        eu_log("spool %s: cannot stat " DATA_NAME ": %s", dir, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        eu_log("spool %s: " DATA_NAME " is not a regular file", dir);
        goto fail;
    }
    n = eu_pread_all(s->fd, hdr, sizeof hdr, 0);
    if (n < 0) {
        eu_log("spool %s: cannot read " DATA_NAME ": %s", dir, strerror(errno));
        goto fail;
    }
    if ((size_t)n < sizeof hdr || memcmp(hdr, magic, sizeof magic) != 0) {
        eu_log("spool %s: " DATA_NAME " is not an edge-uplink spool (bad header); move it "
               "away or use another --spool", dir);
        goto fail;
    }
    s->base = eu_get_le64(hdr + 8);
    if (load_offset(s, &saved, &have_saved) != 0)
        goto fail;
    if (scan(s, (uint64_t)st.st_size, saved, have_saved) != 0)
        goto fail;
    s->committed_saved = have_saved ? saved : UINT64_MAX;
    return 0;

fail:
    spool_close(s);
    return -1;
}

void spool_close(struct spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock() */
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->buf);
    free(s->dir);
    s->fd = s->lockfd = s->dirfd = -1;
    s->buf = NULL;
    s->dir = NULL;
}

/* Make the queue (unsent records and the new one of size need) fit the cap. */
static int make_room(struct spool *s, uint64_t need, uint64_t *dropped)
{
    uint64_t target, c, n = 0;
    uint64_t old_committed = s->committed, old_pending = s->pending;

    if (spool_file_size(s) + need <= s->max_bytes)
        return 0;
    if (s->committed > s->base) {
        if (spool_compact(s) != 0)
            return -1;
        if (spool_file_size(s) + need <= s->max_bytes)
            return 0;
    }
    /* drop the oldest unsent records down to 7/8 of the cap */
    target = s->max_bytes - s->max_bytes / 8;
    if (target < SPOOL_HEADER_SIZE + need)
        target = SPOOL_HEADER_SIZE + need;
    c = s->committed;
    while (c < s->end && SPOOL_HEADER_SIZE + (s->end - c) + need > target) {
        uint32_t len;
        if (record_length(s, c, &len) != 0)
            return -1;
        c += SPOOL_RECORD_OVERHEAD + len;
        n++;
    }
    s->committed = c;
    s->pending -= n;
    if (spool_compact(s) != 0) {
        s->committed = old_committed;
        s->pending = old_pending;
        return -1;
    }
    s->dropped_total += n;
    *dropped = n;
    return 0;
}

int spool_append(struct spool *s, const void *data, size_t len, uint64_t *dropped)
{
    unsigned char hdr[SPOOL_RECORD_OVERHEAD];
    uint64_t need = SPOOL_RECORD_OVERHEAD + (uint64_t)len;
    off_t pos;

    *dropped = 0;
    if (len == 0 || len > SPOOL_MAX_RECORD) {
        eu_log("spool %s: cannot store a record of %zu bytes (1..%u)", s->dir, len,
               (unsigned)SPOOL_MAX_RECORD);
        errno = EINVAL;
        return -1;
    }
    if (s->max_bytes) {
        if (SPOOL_HEADER_SIZE + need > s->max_bytes) {
            /* can never fit: this very line is what the cap drops */
            s->dropped_total++;
            *dropped = 1;
            return 0;
        }
        if (make_room(s, need, dropped) != 0)
            return -1;
    }
    eu_put_le32(hdr, (uint32_t)len);
    eu_put_le32(hdr + 4, eu_crc32(data, len));
    pos = file_pos(s, s->end);
    if (eu_pwrite_all(s->fd, hdr, sizeof hdr, pos) != 0 ||
        eu_pwrite_all(s->fd, data, len, pos + (off_t)sizeof hdr) != 0) {
        int saved = errno;
        eu_log("spool %s: cannot write to " DATA_NAME ": %s", s->dir, strerror(saved));
        /* leave no partial record behind (spool_open would cut it anyway) */
        if (ftruncate(s->fd, pos) != 0)
            eu_log("spool %s: cannot truncate " DATA_NAME ": %s", s->dir, strerror(errno));
        errno = saved;
        return -1;
    }
    s->end += need;
    s->pending++;
    s->data_dirty = true;
    return 0;
}

int spool_read(struct spool *s, uint64_t off, void *buf, size_t cap, size_t *len,
               uint64_t *next)
{
    uint32_t rlen, crc;
    ssize_t n;
    int rc;

    if (off == s->end)
        return 1;
    if (off < s->base || off > s->end) {
        eu_log("spool %s: no record at offset %" PRIu64 " (the spool holds %" PRIu64
               "..%" PRIu64 ")", s->dir, off, s->base, s->end);
        errno = EINVAL;
        return -1;
    }
    rc = read_record_header(s->fd, file_pos(s, off), spool_file_size(s), &rlen, &crc);
    if (rc != 0) {
        if (rc > 0)
            errno = EIO;
        eu_log("spool %s: cannot read the record at offset %" PRIu64 ": %s", s->dir, off,
               strerror(errno));
        return -1;
    }
    if (rlen == 0 || rlen > SPOOL_MAX_RECORD || off + SPOOL_RECORD_OVERHEAD + rlen > s->end ||
        rlen > cap) {
        eu_log("spool %s: damaged record at offset %" PRIu64 " (length %" PRIu32 ")", s->dir,
               off, rlen);
        errno = EIO;
        return -1;
    }
    n = eu_pread_all(s->fd, buf, rlen, file_pos(s, off) + (off_t)SPOOL_RECORD_OVERHEAD);
    if (n < 0 || (size_t)n < rlen || eu_crc32(buf, rlen) != crc) {
        if (n >= 0)
            errno = EIO;
        eu_log("spool %s: cannot read the record at offset %" PRIu64 ": %s", s->dir, off,
               n < 0 ? strerror(errno) : "damaged (checksum)");
        return -1;
    }
    *len = rlen;
    *next = off + SPOOL_RECORD_OVERHEAD + rlen;
    return 0;
}

int spool_commit(struct spool *s, uint64_t off)
{
    uint64_t c = s->committed, n = 0;

    if (off <= s->committed)
        return 0;
    if (off > s->end) {
        eu_log("spool %s: cannot commit offset %" PRIu64 " past the end %" PRIu64, s->dir, off,
               s->end);
        errno = EINVAL;
        return -1;
    }
    while (c < off) {
        uint32_t len;
        if (record_length(s, c, &len) != 0)
            return -1;
        c += SPOOL_RECORD_OVERHEAD + len;
        n++;
    }
    if (c != off) {
        eu_log("spool %s: cannot commit offset %" PRIu64 ": not at a record", s->dir, off);
        errno = EINVAL;
        return -1;
    }
    s->committed = off;
    s->pending -= n;
    return 0;
}

int spool_sync(struct spool *s)
{
    if (s->data_dirty) {
        if (fdatasync(s->fd) != 0) {
            eu_log("spool %s: cannot sync " DATA_NAME ": %s", s->dir, strerror(errno));
            return -1;
        }
        s->data_dirty = false;
    }
    if (s->committed != s->committed_saved) {
        char text[32];
        int len = snprintf(text, sizeof text, "%" PRIu64 "\n", s->committed);

        if (eu_write_file_atomic(s->dirfd, OFFSET_NAME, text, (size_t)len) != 0) {
            eu_log("spool %s: cannot write " OFFSET_NAME ": %s", s->dir, strerror(errno));
            return -1;
        }
        s->committed_saved = s->committed;
    }
    return 0;
}

int spool_compact(struct spool *s)
{
    unsigned char hdr[SPOOL_HEADER_SIZE];
    uint64_t left = s->end - s->committed;
    off_t from = file_pos(s, s->committed);
    off_t to = SPOOL_HEADER_SIZE;
    int fd, dir_err;

    if (s->committed == s->base)
        return 0;
    fd = openat(s->dirfd, DATA_TMP_NAME, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        eu_log("spool %s: cannot create " DATA_TMP_NAME ": %s", s->dir, strerror(errno));
        return -1;
    }
    make_header(hdr, s->committed);
    if (eu_pwrite_all(fd, hdr, sizeof hdr, 0) != 0)
        goto fail;
    while (left > 0) {
        size_t chunk = left < SPOOL_MAX_RECORD ? (size_t)left : SPOOL_MAX_RECORD;
        ssize_t n = eu_pread_all(s->fd, s->buf, chunk, from);
        if (n < 0)
            goto fail;
        if ((size_t)n < chunk) {
            errno = EIO; /* spool.dat shrank under us */
            goto fail;
        }
        if (eu_pwrite_all(fd, s->buf, chunk, to) != 0)
            goto fail;
        from += (off_t)chunk;
        to += (off_t)chunk;
        left -= chunk;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (renameat(s->dirfd, DATA_TMP_NAME, s->dirfd, DATA_NAME) != 0)
        goto fail;
    /* spool.dat is now the new file: use it whatever happens next */
    dir_err = fsync(s->dirfd) == 0 ? 0 : errno;
    close(s->fd);
    s->fd = fd;
    s->base = s->committed;
    s->data_dirty = false;
    if (dir_err != 0) {
        eu_log("spool %s: cannot sync the folder after a compaction: %s", s->dir,
               strerror(dir_err));
        errno = dir_err;
        return -1;
    }
    return 0;

fail:
    eu_log("spool %s: compaction failed, keeping the old " DATA_NAME ": %s", s->dir,
           strerror(errno));
    close(fd);
    unlinkat(s->dirfd, DATA_TMP_NAME, 0);
    return -1;
}

int spool_maybe_compact(struct spool *s)
{
    uint64_t acked = s->committed - s->base;

    if (acked <= SPOOL_COMPACT_MIN_BYTES || acked <= (s->end - s->base) / 2)
        return 0;
    return spool_compact(s) == 0 ? 1 : -1;
}
