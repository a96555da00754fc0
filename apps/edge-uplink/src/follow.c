#define _POSIX_C_SOURCE 200809L

#include "follow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonline.h"
#include "util.h"

/* the longest partial line kept: a maximal line, its '\r' and some slack */
#define KEEP_MAX (JSONLINE_MAX + 16u)
#define READ_CHUNK 65536u

#define POS_NAME "input.pos"

static const char *name_of(const struct follower *f)
{
    return f->path ? f->path : "stdin";
}

static void start_at(struct follower *f, uint64_t offset, uint64_t lineno)
{
    f->read_off = f->line_off = offset;
    f->lineno = lineno;
    f->len = 0;
    f->discarding = false;
}

/* Open f->path. A missing file in follow mode leaves f->fd at -1 and is not an error.
 * quiet: do not log a failure (already reported while waiting for the file). */
static int open_path(struct follower *f, bool quiet)
{
    struct stat st;
    int fd;

    /* O_NONBLOCK: opening a FIFO must not wait for a writer; no effect on regular files */
    fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (f->follow && errno == ENOENT)
            return 0;
        if (!quiet)
            eu_log("cannot open the input %s: %s", f->path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        eu_log("cannot stat the input %s: %s", f->path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        eu_log("the input %s is a folder; give a file", f->path);
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->regular = S_ISREG(st.st_mode);
    f->ino = (uint64_t)st.st_ino;
    start_at(f, 0, 0);

    if (f->regular && f->have_resume) {
        const struct input_pos *r = &f->resume;
        f->have_resume = false;
        if (r->ino != f->ino) {
            eu_log("the input %s is not the file it was when edge-uplink stopped (another "
                   "inode); reading it from the start", f->path);
        } else if (r->offset > (uint64_t)st.st_size) {
            eu_log("the input %s is shorter than when edge-uplink stopped (truncated); "
                   "reading it from the start", f->path);
        } else if (r->offset > 0) {
            if (lseek(fd, (off_t)r->offset, SEEK_SET) < 0) {
                eu_log("cannot seek in the input %s: %s", f->path, strerror(errno));
                close(fd);
                f->fd = -1;
                return -1;
            }
            start_at(f, r->offset, r->line);
            eu_log("resuming the input %s after line %" PRIu64 " (byte %" PRIu64 ")", f->path,
                   r->line, r->offset);
        }
    }
    return 0;
}

int follower_open(struct follower *f, const char *path, bool follow,
                  const struct input_pos *resume)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->follow = follow;
    f->cap = KEEP_MAX + READ_CHUNK;
    f->buf = malloc(f->cap);
    if (!f->buf) {
        eu_log("out of memory");
        return -1;
    }
    if (strcmp(path, "-") == 0) {
        struct stat st;
        if (follow) {
            eu_log("cannot follow stdin; give a file INPUT with --follow");
            follower_close(f);
            return -1;
        }
        if (fstat(STDIN_FILENO, &st) != 0) {
            eu_log("cannot stat stdin: %s", strerror(errno));
            follower_close(f);
            return -1;
        }
        f->fd = STDIN_FILENO;
        f->regular = S_ISREG(st.st_mode);
        return 0;
    }
    f->path = strdup(path);
    if (!f->path) {
        eu_log("out of memory");
        follower_close(f);
        return -1;
    }
    if (resume) {
        f->resume = *resume;
        f->have_resume = true;
    }
    if (open_path(f, false) != 0) {
        follower_close(f);
        return -1;
    }
    if (f->fd < 0)
        eu_log("waiting for the input %s to appear", f->path);
    return 0;
}

int follower_poll_fd(const struct follower *f)
{
    if (f->fd < 0 || f->regular || f->eof)
        return -1;
    return f->fd;
}

/* Hand out the complete lines in buf; bytes before scan_from hold no '\n'. */
static int split(struct follower *f, size_t scan_from, follower_line_fn fn, void *ctx)
{
    size_t pos = 0, from = scan_from;
    int rc = 0;

    while (from < f->len) {
        char *nl = memchr(f->buf + from, '\n', f->len - from);
        size_t end;

        if (!nl)
            break;
        end = (size_t)(nl - f->buf);
        if (f->discarding)
            rc = fn(ctx, NULL, 0, f->lineno + 1, true);
        else
            rc = fn(ctx, f->buf + pos, end - pos, f->lineno + 1, false);
        if (rc != 0)
            break; /* the line is not consumed: the saved position stays before it */
        f->lineno++;
        f->discarding = false;
        pos = from = end + 1;
        f->line_off = f->read_off - (f->len - pos);
    }
    memmove(f->buf, f->buf + pos, f->len - pos);
    f->len -= pos;
    if (f->discarding) {
        f->len = 0;
    } else if (f->len > KEEP_MAX) {
        /* too long to ever be accepted: skip to its end, only counting it */
        f->discarding = true;
        f->len = 0;
    }
    return rc == 0 ? 0 : -1;
}

/* Hand out what is left of a last line without '\n'. */
static int flush_partial(struct follower *f, follower_line_fn fn, void *ctx)
{
    int rc;

    if (f->len == 0 && !f->discarding)
        return 0;
    if (f->discarding)
        rc = fn(ctx, NULL, 0, f->lineno + 1, true);
    else
        rc = fn(ctx, f->buf, f->len, f->lineno + 1, false);
    if (rc != 0)
        return -1; /* not consumed */
    f->lineno++;
    f->discarding = false;
    f->len = 0;
    f->line_off = f->read_off;
    return 0;
}

int follower_read(struct follower *f, size_t max_bytes, follower_line_fn fn, void *ctx)
{
    size_t total = 0;

    if (f->fd < 0 || f->eof) {
        f->idle = true;
        return 0;
    }
    while (total < max_bytes) {
        size_t want = f->cap - f->len;
        size_t old_len = f->len;
        ssize_t n;

        if (want > max_bytes - total)
            want = max_bytes - total;
        if (want > READ_CHUNK)
            want = READ_CHUNK;
        n = read(f->fd, f->buf + f->len, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            eu_log("cannot read the input %s: %s", name_of(f), strerror(errno));
            return -1;
        }
        if (n == 0) {
            if (!f->follow) {
                f->eof = true;
                if (flush_partial(f, fn, ctx) != 0)
                    return -1;
            } else if (!f->regular) {
                /* a FIFO whose writer went away: poll() would report POLLHUP for ever;
                 * open it again to wait for the next writer */
                if (flush_partial(f, fn, ctx) != 0)
                    return -1;
                close(f->fd);
                f->fd = -1;
                if (open_path(f, false) != 0)
                    return -1;
            }
            break;
        }
        f->read_off += (uint64_t)n;
        f->len += (size_t)n;
        total += (size_t)n;
        if (split(f, old_len, fn, ctx) != 0)
            return -1;
        if (!f->regular)
            break; /* one read() per poll() readiness */
    }
    f->idle = total == 0;
    return total > 0 ? 1 : 0;
}

int follower_check(struct follower *f, follower_line_fn fn, void *ctx)
{
    struct stat fst, pst;

    if (!f->follow || !f->path)
        return 0;
    if (f->fd < 0) {
        if (open_path(f, true) != 0 || f->fd < 0)
            return 0; /* still waiting */
        eu_log("the input %s appeared; reading it", f->path);
        return 1;
    }
    if (fstat(f->fd, &fst) != 0) {
        eu_log("cannot stat the input %s: %s", f->path, strerror(errno));
        return -1;
    }
    if (f->regular && (uint64_t)fst.st_size < f->read_off) {
        eu_log("the input %s was truncated; reading it from the start", f->path);
        if (lseek(f->fd, 0, SEEK_SET) < 0) {
            eu_log("cannot seek in the input %s: %s", f->path, strerror(errno));
            return -1;
        }
        start_at(f, 0, 0);
        return 1;
    }
    if (stat(f->path, &pst) != 0)
        return 0; /* moved away and not created again yet: keep reading the old file */
    if (pst.st_ino == fst.st_ino && pst.st_dev == fst.st_dev)
        return 0;

    /* replaced: finish the old file, then switch to the new one */
    for (;;) {
        int rc = follower_read(f, 1u << 20, fn, ctx);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
    }
    if (flush_partial(f, fn, ctx) != 0)
        return -1;
    close(f->fd);
    f->fd = -1;
    if (open_path(f, false) != 0)
        return 0; /* vanished or unreadable: keep trying */
    if (f->fd >= 0)
        eu_log("the input %s was replaced (rotated); reading the new file", f->path);
    return 1;
}

bool follower_pos(const struct follower *f, struct input_pos *pos)
{
    if (!f->path || !f->regular || f->fd < 0)
        return false;
    pos->ino = f->ino;
    pos->offset = f->line_off;
    pos->line = f->lineno;
    return true;
}

void follower_close(struct follower *f)
{
    if (f->fd >= 0 && f->fd != STDIN_FILENO)
        close(f->fd);
    f->fd = -1;
    free(f->buf);
    free(f->path);
    f->buf = NULL;
    f->path = NULL;
}

/* "name=<decimal>" at *p, then one space or the end of the line */
static bool parse_field(const char **p, const char *name, uint64_t *v)
{
    size_t n = strlen(name);
    const char *s = *p;
    uint64_t x = 0;

    if (strncmp(s, name, n) != 0)
        return false;
    s += n;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10u)
            return false;
        x = x * 10u + d;
        s++;
    }
    if (*s == ' ')
        s++;
    else if (*s != '\n')
        return false;
    *v = x;
    *p = s;
    return true;
}

int inputpos_load(int dirfd, struct input_pos *pos)
{
    char text[128];
    const char *p = text;
    int rc = eu_read_small_file(dirfd, POS_NAME, text, sizeof text);

    if (rc == 1)
        return 1;
    if (rc < 0) {
        eu_log("cannot read " POS_NAME " in the spool: %s", strerror(errno));
        return -1;
    }
    if (strncmp(p, "v1 ", 3) == 0)
        p += 3;
    else
        p = "";
    if (!parse_field(&p, "ino=", &pos->ino) || !parse_field(&p, "offset=", &pos->offset) ||
        !parse_field(&p, "line=", &pos->line) || strcmp(p, "\n") != 0) {
        eu_log(POS_NAME " in the spool is damaged; reading the input from its start");
        return 1;
    }
    return 0;
}

int inputpos_save(int dirfd, const struct input_pos *pos)
{
    char text[128];
    int len = snprintf(text, sizeof text,
                       "v1 ino=%" PRIu64 " offset=%" PRIu64 " line=%" PRIu64 "\n", pos->ino,
                       pos->offset, pos->line);

    if (eu_write_file_atomic(dirfd, POS_NAME, text, (size_t)len) != 0) {
        eu_log("cannot write " POS_NAME " in the spool: %s", strerror(errno));
        return -1;
    }
    return 0;
}
