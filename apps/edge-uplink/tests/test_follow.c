/* The input follower: lines, partial lines, over-long lines, the saved position (resume
 * after a restart without re-reading or skipping), truncation, rotation, a file that
 * appears later. */
#define _POSIX_C_SOURCE 200809L

#include "follow.h"
#include "jsonline.h"

#include <fcntl.h>

#include "check.h"

#define MAX_LINES 64

struct got {
    unsigned n;
    char *text[MAX_LINES];
    uint64_t lineno[MAX_LINES];
    bool too_long[MAX_LINES];
};

static int collect(void *ctx, const char *line, size_t len, uint64_t lineno, bool too_long)
{
    struct got *g = ctx;

    REQUIRE(g->n < MAX_LINES);
    g->text[g->n] = malloc(len + 1);
    REQUIRE(g->text[g->n] != NULL);
    if (len)
        memcpy(g->text[g->n], line, len);
    g->text[g->n][len] = '\0';
    g->lineno[g->n] = lineno;
    g->too_long[g->n] = too_long;
    g->n++;
    return 0;
}

static void got_reset(struct got *g)
{
    unsigned i;

    for (i = 0; i < g->n; i++)
        free(g->text[i]);
    memset(g, 0, sizeof *g);
}

/* "{"n":001}\n": 10 bytes a line */
static void write_lines(const char *path, const char *mode, unsigned from, unsigned count)
{
    char buf[1024];
    size_t len = 0;
    unsigned i;

    for (i = from; i < from + count; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "{\"n\":%03u}\n", i);
    write_file(path, mode, buf, len);
}

static void check_line(const struct got *g, unsigned i, unsigned n, uint64_t lineno)
{
    char want[32];

    snprintf(want, sizeof want, "{\"n\":%03u}", n);
    REQUIRE(i < g->n);
    CHECK_STR(g->text[i], want);
    CHECK_U64(g->lineno[i], lineno);
    CHECK(!g->too_long[i]);
}

static void read_until_idle(struct follower *f, struct got *g)
{
    int rc;

    while ((rc = follower_read(f, 1u << 20, collect, g)) > 0)
        ;
    CHECK(rc == 0);
}

static void test_resume(const char *dir)
{
    char input[512];
    struct follower f;
    struct got g;
    struct input_pos pos, loaded;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);

    REQUIRE(dirfd >= 0);
    memset(&g, 0, sizeof g);
    snprintf(input, sizeof input, "%s/in.jsonl", dir);
    write_lines(input, "w", 1, 5);

    CHECK(inputpos_load(dirfd, &loaded) == 1); /* none yet */
    REQUIRE(follower_open(&f, input, false, NULL) == 0);
    CHECK(follower_poll_fd(&f) == -1); /* a regular file is not polled */
    /* read 35 bytes: 3 lines and half of the 4th */
    CHECK(follower_read(&f, 35, collect, &g) == 1);
    CHECK_U64(g.n, 3);
    check_line(&g, 0, 1, 1);
    check_line(&g, 2, 3, 3);
    REQUIRE(follower_pos(&f, &pos));
    CHECK_U64(pos.offset, 30); /* after line 3, not after the half line */
    CHECK_U64(pos.line, 3);
    CHECK(inputpos_save(dirfd, &pos) == 0);
    follower_close(&f);
    got_reset(&g);

    /* the writer goes on while we are stopped */
    write_lines(input, "a", 6, 2);
    CHECK(inputpos_load(dirfd, &loaded) == 0);
    CHECK_U64(loaded.ino, pos.ino);
    CHECK_U64(loaded.offset, 30);
    CHECK_U64(loaded.line, 3);
    REQUIRE(follower_open(&f, input, false, &loaded) == 0);
    read_until_idle(&f, &g);
    CHECK(f.eof);
    CHECK_U64(g.n, 4); /* lines 4..7, each once */
    check_line(&g, 0, 4, 4);
    check_line(&g, 3, 7, 7);
    REQUIRE(follower_pos(&f, &pos));
    CHECK_U64(pos.offset, 70);
    CHECK_U64(pos.line, 7);
    follower_close(&f);
    got_reset(&g);

    /* a saved position past the end: the file was truncated meanwhile, read it all */
    loaded.offset = 1000;
    REQUIRE(follower_open(&f, input, false, &loaded) == 0);
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 7);
    check_line(&g, 0, 1, 1);
    follower_close(&f);
    got_reset(&g);

    /* a position of another file (inode): read it all */
    loaded.offset = 30;
    loaded.ino = pos.ino + 1;
    REQUIRE(follower_open(&f, input, false, &loaded) == 0);
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 7);
    follower_close(&f);
    got_reset(&g);

    /* a damaged input.pos is ignored */
    write_text(path_in(dir, "input.pos"), "v1 ino=12 offset=x line=3\n");
    CHECK(inputpos_load(dirfd, &loaded) == 1);
    close(dirfd);
}

static void test_partial_and_long(const char *dir)
{
    char input[512];
    struct follower f;
    struct got g;
    size_t big = 3 * JSONLINE_MAX; /* well past what the follower keeps */
    char *line = malloc(big + 1);

    REQUIRE(line != NULL);
    memset(&g, 0, sizeof g);
    snprintf(input, sizeof input, "%s/partial.jsonl", dir);

    /* following: a line without its '\n' waits for the rest */
    write_text(input, "{\"a\":1}\r\n{\"b\":");
    REQUIRE(follower_open(&f, input, true, NULL) == 0);
    read_until_idle(&f, &g);
    CHECK(f.idle);
    CHECK(!f.eof);
    CHECK_U64(g.n, 1);
    CHECK_STR(g.text[0], "{\"a\":1}\r"); /* the '\r' is for the caller to strip */
    append_text(input, "2}\n");
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 2);
    CHECK_STR(g.text[1], "{\"b\":2}");
    CHECK_U64(g.lineno[1], 2);

    /* a line too long to keep: reported by number only; the next one is fine */
    memset(line, 'x', big);
    line[0] = '{';
    line[big - 1] = '}';
    line[big] = '\n';
    write_file(input, "a", line, big + 1);
    append_text(input, "{\"c\":3}\n");
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 4);
    CHECK(g.too_long[2]);
    CHECK_U64(g.lineno[2], 3);
    CHECK_STR(g.text[3], "{\"c\":3}");
    CHECK_U64(g.lineno[3], 4);
    {
        struct input_pos pos;
        REQUIRE(follower_pos(&f, &pos));
        CHECK_U64(pos.offset, file_size(input));
    }
    follower_close(&f);
    got_reset(&g);

    /* not following: the last line counts even without its '\n' */
    write_text(input, "{\"a\":1}\n{\"z\":26}");
    REQUIRE(follower_open(&f, input, false, NULL) == 0);
    read_until_idle(&f, &g);
    CHECK(f.eof);
    CHECK_U64(g.n, 2);
    CHECK_STR(g.text[1], "{\"z\":26}");
    CHECK(follower_read(&f, 100, collect, &g) == 0); /* nothing after the end */
    follower_close(&f);
    got_reset(&g);
    free(line);
}

static void test_truncate_rotate(const char *dir)
{
    char input[512], rotated[512];
    struct follower f;
    struct got g;

    memset(&g, 0, sizeof g);
    snprintf(input, sizeof input, "%s/follow.jsonl", dir);
    snprintf(rotated, sizeof rotated, "%s/follow.jsonl.1", dir);
    write_lines(input, "w", 1, 5);
    REQUIRE(follower_open(&f, input, true, NULL) == 0);
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 5);
    CHECK(follower_check(&f, collect, &g) == 0); /* nothing changed */

    /* truncated and written again, shorter: detected, read from the start */
    write_lines(input, "w", 100, 2);
    CHECK(follower_read(&f, 1u << 20, collect, &g) == 0);
    CHECK(follower_check(&f, collect, &g) == 1);
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 7);
    check_line(&g, 5, 100, 1);
    check_line(&g, 6, 101, 2);

    /* rotated: renamed away, one more line reaches the old file, a new file starts */
    REQUIRE(rename(input, rotated) == 0);
    write_lines(rotated, "a", 102, 1);
    CHECK(follower_check(&f, collect, &g) == 0); /* no new file yet: keep the old one */
    write_lines(input, "w", 200, 2);
    CHECK(follower_check(&f, collect, &g) == 1);
    CHECK_U64(g.n, 8); /* the old file was finished first */
    check_line(&g, 7, 102, 3);
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 10);
    check_line(&g, 8, 200, 1);
    check_line(&g, 9, 201, 2);
    {
        struct input_pos pos;
        struct stat st;
        REQUIRE(follower_pos(&f, &pos));
        REQUIRE(stat(input, &st) == 0);
        CHECK_U64(pos.ino, (uint64_t)st.st_ino);
        CHECK_U64(pos.offset, 20);
    }
    follower_close(&f);
    got_reset(&g);

    /* following a file that is not there yet */
    REQUIRE(unlink(input) == 0);
    REQUIRE(follower_open(&f, input, true, NULL) == 0);
    CHECK(follower_read(&f, 100, collect, &g) == 0);
    CHECK(follower_check(&f, collect, &g) == 0);
    write_lines(input, "w", 300, 1);
    CHECK(follower_check(&f, collect, &g) == 1);
    read_until_idle(&f, &g);
    CHECK_U64(g.n, 1);
    check_line(&g, 0, 300, 1);
    follower_close(&f);
    got_reset(&g);

    /* not following, a missing file is an error; stdin cannot be followed */
    CHECK(follower_open(&f, input, false, NULL) == 0);
    follower_close(&f);
    CHECK(follower_open(&f, path_in(dir, "missing.jsonl"), false, NULL) == -1);
    CHECK(follower_open(&f, "-", true, NULL) == -1);
}

/* fails on the line that holds "fail", like a spool that cannot be written */
static int fail_on_mark(void *ctx, const char *line, size_t len, uint64_t lineno,
                        bool too_long)
{
    size_t i;

    (void)ctx;
    (void)lineno;
    (void)too_long;
    for (i = 0; line && i + 4 <= len; i++) /* the line is not NUL-terminated */
        if (memcmp(line + i, "fail", 4) == 0)
            return -1;
    return 0;
}

static void test_failed_line_not_consumed(const char *dir)
{
    char input[512];
    struct follower f;
    struct input_pos pos;

    snprintf(input, sizeof input, "%s/fail.jsonl", dir);
    write_text(input, "{\"a\":1}\n{\"fail\":2}\n{\"c\":3}\n");
    REQUIRE(follower_open(&f, input, false, NULL) == 0);
    CHECK(follower_read(&f, 1u << 20, fail_on_mark, NULL) == -1);
    REQUIRE(follower_pos(&f, &pos));
    CHECK_U64(pos.offset, 8); /* after line 1 only */
    CHECK_U64(pos.line, 1);
    follower_close(&f);

    /* the same for a last line without '\n' */
    write_text(input, "{\"a\":1}\n{\"fail\":2}");
    REQUIRE(follower_open(&f, input, false, NULL) == 0);
    CHECK(follower_read(&f, 1u << 20, fail_on_mark, NULL) == -1);
    REQUIRE(follower_pos(&f, &pos));
    CHECK_U64(pos.offset, 8);
    CHECK_U64(pos.line, 1);
    follower_close(&f);
}

int main(void)
{
    char *dir = scratch_dir("test-follow");

    test_resume(dir);
    test_partial_and_long(dir);
    test_truncate_rotate(dir);
    test_failed_line_not_consumed(dir);
    if (check_failures == 0)
        remove_tree(dir);
    free(dir);
    return check_report("test_follow");
}
