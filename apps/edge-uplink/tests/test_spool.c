/* The spool: append and read back in order, commit and reopen, a torn or damaged tail cut
 * at open, compaction keeps the unsent records, the cap drops the oldest and says how many,
 * and the lock keeps a second user out. */
#define _POSIX_C_SOURCE 200809L

#include "spool.h"
#include "util.h"

#include "check.h"

static char payload[SPOOL_MAX_RECORD];

static size_t make_line(char *buf, size_t cap, unsigned n, size_t pad)
{
    int len = snprintf(buf, cap, "{\"n\":%u,\"pad\":\"", n);
    size_t i;

    for (i = 0; i < pad; i++)
        buf[len++] = 'x';
    buf[len++] = '"';
    buf[len++] = '}';
    return (size_t)len;
}

static void append_n(struct spool *s, unsigned from, unsigned count, size_t pad)
{
    unsigned i;

    for (i = from; i < from + count; i++) {
        char line[8192];
        uint64_t dropped = 99;
        size_t len = make_line(line, sizeof line, i, pad);
        CHECK(spool_append(s, line, len, &dropped) == 0);
        CHECK_U64(dropped, 0);
    }
}

/* Read every record from off to the end; check they are numbered first, first+1, ...
 * Returns the count. */
static unsigned read_all(struct spool *s, uint64_t off, unsigned first, size_t pad)
{
    unsigned count = 0;

    for (;;) {
        char want[8192];
        size_t len = 0, wlen;
        uint64_t next = 0;
        int rc = spool_read(s, off, payload, sizeof payload, &len, &next);

        if (rc == 1)
            break;
        CHECK(rc == 0);
        if (rc != 0)
            break;
        wlen = make_line(want, sizeof want, first + count, pad);
        CHECK_U64(len, wlen);
        CHECK(len == wlen && memcmp(payload, want, len) == 0);
        CHECK_U64(next, off + SPOOL_RECORD_OVERHEAD + len);
        off = next;
        count++;
    }
    return count;
}

/* the offset after the first n records from off */
static uint64_t skip(struct spool *s, uint64_t off, unsigned n)
{
    while (n-- > 0) {
        size_t len;
        uint64_t next;
        REQUIRE(spool_read(s, off, payload, sizeof payload, &len, &next) == 0);
        off = next;
    }
    return off;
}

static void test_append_read_commit(const char *root)
{
    char dir[512];
    struct spool s;
    uint64_t c40, end;

    snprintf(dir, sizeof dir, "%s/basic/nested", root); /* created with its parents */
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(s.pending, 0);
    CHECK_U64(s.committed, 0);
    CHECK_U64(spool_file_size(&s), SPOOL_HEADER_SIZE);
    append_n(&s, 0, 100, 10);
    CHECK_U64(s.pending, 100);
    CHECK_U64(read_all(&s, s.committed, 0, 10), 100);

    c40 = skip(&s, s.committed, 40);
    CHECK(spool_commit(&s, c40) == 0);
    CHECK_U64(s.pending, 60);
    CHECK(spool_commit(&s, 5) == 0); /* below committed: ignored */
    CHECK_U64(s.committed, c40);
    CHECK(spool_commit(&s, c40 + 1) == -1); /* not a record boundary */
    CHECK(spool_commit(&s, s.end + 100) == -1);
    CHECK_U64(s.committed, c40);
    CHECK(spool_sync(&s) == 0);
    end = s.end;
    spool_close(&s);

    {
        struct stat st;
        REQUIRE(stat(dir, &st) == 0);
        CHECK_U64(st.st_mode & 0777, 0700);
    }

    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(s.committed, c40);
    CHECK_U64(s.end, end);
    CHECK_U64(s.pending, 60);
    CHECK_U64(read_all(&s, s.committed, 40, 10), 60);
    /* reading at an offset that is not a record fails */
    {
        size_t len;
        uint64_t next;
        CHECK(spool_read(&s, s.end + 3, payload, sizeof payload, &len, &next) == -1);
        CHECK(spool_read(&s, s.end, payload, sizeof payload, &len, &next) == 1);
    }
    spool_close(&s);
}

static void test_torn_tail(const char *root)
{
    char dir[512], dat[600];
    struct spool s;
    uint64_t size, end;
    unsigned char rec[SPOOL_RECORD_OVERHEAD + 10];

    snprintf(dir, sizeof dir, "%s/torn", root);
    snprintf(dat, sizeof dat, "%s/spool.dat", dir);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    append_n(&s, 0, 10, 5);
    CHECK(spool_commit(&s, skip(&s, s.committed, 3)) == 0);
    CHECK(spool_sync(&s) == 0);
    end = s.end;
    spool_close(&s);
    size = file_size(dat);

    /* a crash in the middle of a record: its header says 100 bytes, 10 made it */
    eu_put_le32(rec, 100);
    eu_put_le32(rec + 4, 0x12345678u);
    memset(rec + SPOOL_RECORD_OVERHEAD, 'x', 10);
    write_file(dat, "a", rec, sizeof rec);
    CHECK_U64(file_size(dat), size + sizeof rec);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(file_size(dat), size);
    CHECK_U64(s.end, end);
    CHECK_U64(s.pending, 7);
    CHECK_U64(read_all(&s, s.committed, 3, 5), 7);
    /* and the spool goes on from there */
    append_n(&s, 10, 1, 5);
    CHECK(spool_sync(&s) == 0);
    spool_close(&s);

    /* a crash in the middle of a record header */
    size = file_size(dat);
    write_file(dat, "a", "\x05\x00\x00", 3);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(file_size(dat), size);
    CHECK_U64(read_all(&s, s.committed, 3, 5), 8);
    spool_close(&s);

    /* a complete record whose bytes never reached the disk (zeros, wrong checksum) */
    memset(rec, 0, sizeof rec);
    eu_put_le32(rec, 10);
    eu_put_le32(rec + 4, 0xdeadbeefu);
    write_file(dat, "a", rec, sizeof rec);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(file_size(dat), size);
    CHECK_U64(s.pending, 8);
    spool_close(&s);

    /* zeros where a header should be (a length of 0 is impossible) */
    memset(rec, 0, sizeof rec);
    write_file(dat, "a", rec, sizeof rec);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(file_size(dat), size);
    CHECK_U64(s.pending, 8);
    spool_close(&s);
}

static void test_compaction(const char *root)
{
    char dir[512], dat[600], off_path[600];
    struct spool s;
    uint64_t c60, size_before, end, base;
    enum { PAD = 4000 };

    snprintf(dir, sizeof dir, "%s/compact", root);
    snprintf(dat, sizeof dat, "%s/spool.dat", dir);
    snprintf(off_path, sizeof off_path, "%s/spool.offset", dir);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    append_n(&s, 0, 100, 10);
    c60 = skip(&s, s.committed, 60);
    CHECK(spool_commit(&s, c60) == 0);
    CHECK(spool_maybe_compact(&s) == 0); /* less than 1 MiB acknowledged */
    size_before = spool_file_size(&s);
    end = s.end;
    CHECK(spool_compact(&s) == 0);
    CHECK_U64(s.base, c60);
    CHECK_U64(s.end, end); /* offsets are logical: unchanged */
    CHECK_U64(s.pending, 40);
    CHECK(spool_file_size(&s) < size_before);
    CHECK_U64(file_size(dat), spool_file_size(&s));
    CHECK_U64(read_all(&s, s.committed, 60, 10), 40);
    append_n(&s, 100, 5, 10);
    CHECK(spool_sync(&s) == 0);
    spool_close(&s);

    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(s.base, c60);
    CHECK_U64(s.committed, c60);
    CHECK_U64(s.pending, 45);
    CHECK_U64(read_all(&s, s.committed, 60, 10), 45);
    spool_close(&s);

    /* a crash after the compaction's rename, before spool.offset was written again: the
     * older committed offset is below the new base; nothing of the file is lost */
    write_text(off_path, "0\n");
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(s.committed, c60);
    CHECK_U64(s.pending, 45);
    spool_close(&s);

    /* spool_maybe_compact(): more than 1 MiB and more than half acknowledged */
    REQUIRE(spool_open(&s, dir, 0) == 0);
    append_n(&s, 105, 400, PAD); /* about 1.6 MiB */
    CHECK(spool_maybe_compact(&s) == 0); /* nothing acknowledged yet */
    CHECK(spool_commit(&s, skip(&s, s.committed, 45 + 300)) == 0);
    CHECK_U64(s.pending, 100);
    end = s.end;
    CHECK(spool_maybe_compact(&s) == 1);
    base = s.base;
    CHECK_U64(base, s.committed);
    CHECK_U64(s.end, end);
    CHECK(spool_file_size(&s) < 500u * 1024u);
    CHECK_U64(read_all(&s, s.committed, 405, PAD), 100);
    CHECK(spool_sync(&s) == 0);
    spool_close(&s);
    REQUIRE(spool_open(&s, dir, 0) == 0);
    CHECK_U64(s.base, base);
    CHECK_U64(s.pending, 100);
    spool_close(&s);
}

static void test_cap(const char *root)
{
    char dir[512];
    struct spool s;
    uint64_t max = 4096, total_dropped = 0, record;
    unsigned i, n = 300;
    char line[256];
    size_t len = make_line(line, sizeof line, 0, 20);

    snprintf(dir, sizeof dir, "%s/cap", root);
    REQUIRE(spool_open(&s, dir, max) == 0);
    record = SPOOL_RECORD_OVERHEAD + len;
    for (i = 0; i < n; i++) {
        uint64_t dropped = 0;
        len = make_line(line, sizeof line, i, 20);
        CHECK(spool_append(&s, line, len, &dropped) == 0);
        CHECK(spool_file_size(&s) <= max);
        if (dropped > 0) {
            /* only when it was full, and down to about 7/8 of the cap */
            CHECK(dropped >= 1);
            CHECK(spool_file_size(&s) <= max - max / 8 + record);
        }
        total_dropped += dropped;
    }
    CHECK(total_dropped > 0);
    CHECK_U64(s.dropped_total, total_dropped);
    CHECK_U64(s.pending + total_dropped, n);
    /* what is left: the newest lines, in order, up to the last one */
    CHECK_U64(read_all(&s, s.committed, n - (unsigned)s.pending, 20), s.pending);
    CHECK(spool_sync(&s) == 0);
    spool_close(&s);

    /* with an acknowledged prefix, that prefix goes first: nothing unsent is dropped */
    REQUIRE(spool_open(&s, dir, max) == 0);
    {
        uint64_t dropped = 0;
        unsigned k = 500;
        while (spool_file_size(&s) + record <= max) { /* fill it up */
            len = make_line(line, sizeof line, k++, 20);
            CHECK(spool_append(&s, line, len, &dropped) == 0);
            CHECK_U64(dropped, 0);
        }
        CHECK(spool_commit(&s, s.end) == 0); /* all sent: the next append compacts */
        len = make_line(line, sizeof line, 1000, 20);
        CHECK(spool_append(&s, line, len, &dropped) == 0);
        CHECK_U64(dropped, 0);
        CHECK_U64(s.pending, 1);
        CHECK_U64(spool_file_size(&s), SPOOL_HEADER_SIZE + SPOOL_RECORD_OVERHEAD + len);
    }
    /* a line bigger than the whole cap is itself what gets dropped */
    {
        char *huge = malloc(8000);
        uint64_t dropped = 0;
        REQUIRE(huge != NULL);
        memset(huge, 'x', 8000);
        CHECK(spool_append(&s, huge, 8000, &dropped) == 0);
        CHECK_U64(dropped, 1);
        CHECK_U64(s.pending, 1);
        free(huge);
    }
    /* records of 0 bytes or over the maximum are refused */
    {
        uint64_t dropped;
        CHECK(spool_append(&s, line, 0, &dropped) == -1);
        CHECK(spool_append(&s, line, SPOOL_MAX_RECORD + 1, &dropped) == -1);
    }
    spool_close(&s);
}

static void test_lock_and_damage(const char *root)
{
    char dir[512], dat[600], off_path[600];
    struct spool a, b;

    snprintf(dir, sizeof dir, "%s/lock", root);
    snprintf(dat, sizeof dat, "%s/spool.dat", dir);
    snprintf(off_path, sizeof off_path, "%s/spool.offset", dir);
    REQUIRE(spool_open(&a, dir, 0) == 0);
    CHECK(spool_open(&b, dir, 0) == -1); /* in use */
    append_n(&a, 0, 3, 1);
    CHECK(spool_sync(&a) == 0);
    spool_close(&a);
    REQUIRE(spool_open(&b, dir, 0) == 0); /* free again */
    CHECK_U64(b.pending, 3);
    spool_close(&b);

    /* an offset file past the end (spool.dat lost its tail): new lines go at the end */
    write_text(off_path, "999999\n");
    REQUIRE(spool_open(&a, dir, 0) == 0);
    CHECK_U64(a.committed, a.end);
    CHECK_U64(a.pending, 0);
    spool_close(&a);

    /* an unreadable offset file: everything is sent again */
    write_text(off_path, "garbage\n");
    REQUIRE(spool_open(&a, dir, 0) == 0);
    CHECK_U64(a.committed, 0);
    CHECK_U64(a.pending, 3);
    spool_close(&a);

    /* an offset between records: from the record that holds it */
    write_text(off_path, "3\n");
    REQUIRE(spool_open(&a, dir, 0) == 0);
    CHECK_U64(a.committed, 0);
    CHECK_U64(a.pending, 3);
    spool_close(&a);

    /* not a spool at all: refused, and left alone */
    write_text(dat, "this is not a spool file\n");
    CHECK(spool_open(&a, dir, 0) == -1);
    CHECK_U64(file_size(dat), strlen("this is not a spool file\n"));
}

int main(void)
{
    char *root = scratch_dir("test-spool");

    test_append_read_commit(root);
    test_torn_tail(root);
    test_compaction(root);
    test_cap(root);
    test_lock_and_damage(root);
    if (check_failures == 0)
        remove_tree(root);
    free(root);
    return check_report("test_spool");
}
