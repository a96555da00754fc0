/* edge-uplink: the input follower. It reads INPUT (a file, or stdin) without ever blocking
 * on a regular file, splits it into lines and hands each complete line to a callback. With
 * follow mode it behaves like `tail -F`: at the end of the file it waits for more, reopens the
 * path when the file was replaced (rotated: another inode) after reading the old one to its
 * end, and starts again from the beginning when the file was truncated.
 *
 * The position of a regular file (its inode, the byte offset after the last complete line
 * handed out, and that line's number) can be saved as input.pos in the spool folder, so that
 * a restart resumes exactly after the last line that went into the spool: no line is sent
 * twice because of the input, none is skipped. */
#ifndef EDGE_UPLINK_FOLLOW_H
#define EDGE_UPLINK_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Handed one line: its bytes (without the '\n'; NULL when too_long), its number in the
 * current file (from 1) and whether it was longer than the follower keeps (JSONLINE_MAX plus
 * a little: then only its number is known). Return 0, or -1 to stop reading (an error). */
typedef int (*follower_line_fn)(void *ctx, const char *line, size_t len, uint64_t lineno,
                                bool too_long);

struct input_pos {
    uint64_t ino;    /* the file's inode number */
    uint64_t offset; /* byte offset after the last line handed out */
    uint64_t line;   /* number of that line */
};

struct follower {
    char *path;        /* NULL: stdin */
    int fd;            /* -1 while a followed file does not exist */
    bool follow;
    bool regular;      /* a regular file: read without poll(), has a position */
    bool eof;          /* no more input will come (not following, end reached) */
    bool idle;         /* the last read found no new data */
    bool discarding;   /* inside a line that is too long */
    bool have_resume;  /* resume is still to be applied when the file opens */
    struct input_pos resume;
    uint64_t ino;
    uint64_t read_off; /* offset of the next byte read() returns */
    uint64_t line_off; /* offset after the last line handed out */
    uint64_t lineno;   /* number of the last line handed out */
    char *buf;         /* the partial line: buf[len-1] is the byte at read_off-1 */
    size_t len;
    size_t cap;
};

/* Open path ("-": stdin). follow: see above (needs a path). resume: a saved position or
 * NULL; applied when it is of the same file (inode) and not past its end. In follow mode a
 * missing file is waited for. 0, or -1 after logging why. */
int follower_open(struct follower *f, const char *path, bool follow,
                  const struct input_pos *resume);

/* The descriptor to poll() for input, or -1 when there is nothing to poll (a regular file,
 * which is always readable, or no file yet). */
int follower_poll_fd(const struct follower *f);

/* Read at most max_bytes and hand out the complete lines. At the end of input when not
 * following, the last line is handed out even without its '\n' and f->eof is set. For a
 * pipe or terminal, call it only when poll() said the fd is readable. 1 when data was read,
 * 0 when there was none (f->idle), -1 on an error (logged) or when fn returned -1. */
int follower_read(struct follower *f, size_t max_bytes, follower_line_fn fn, void *ctx);

/* Follow mode, at the end of the file: notice a truncated file (start over), a replaced
 * one (read the old to its end, then open the new) or one that appeared. 1 when there may
 * be new data to read, 0 when nothing changed, -1 on an error (logged). */
int follower_check(struct follower *f, follower_line_fn fn, void *ctx);

/* The position to save (false for stdin, pipes and a file not opened yet). */
bool follower_pos(const struct follower *f, struct input_pos *pos);

void follower_close(struct follower *f);

/* input.pos in the folder dirfd: 0 loaded, 1 none (or unreadable text, logged), -1 on an
 * I/O error (logged). */
int inputpos_load(int dirfd, struct input_pos *pos);
/* Save it atomically: 0, or -1 after logging why. */
int inputpos_save(int dirfd, const struct input_pos *pos);

#endif
