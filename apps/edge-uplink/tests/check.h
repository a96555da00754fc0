/* edge-uplink tests: a tiny check framework and scratch-folder helpers (no external test
 * framework). Include after the system headers' feature macros (_POSIX_C_SOURCE). Scratch
 * folders are relative to the working folder (meson runs the tests in the build folder), so
 * they are the same under qemu-user's sysroot prefix. */
#ifndef EDGE_UPLINK_TEST_CHECK_H
#define EDGE_UPLINK_TEST_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_failures;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
            check_failures++;                                                                  \
        }                                                                                      \
    } while (0)

#define CHECK_U64(actual, expected)                                                            \
    do {                                                                                       \
        uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                           \
        if (a_ != e_) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s is %" PRIu64 ", expected %" PRIu64 "\n", \
                    __FILE__, __LINE__, #actual, a_, e_);                                      \
            check_failures++;                                                                  \
        }                                                                                      \
    } while (0)

#define CHECK_STR(actual, expected)                                                            \
    do {                                                                                       \
        const char *a_ = (actual), *e_ = (expected);                                           \
        if (!a_ || strcmp(a_, e_) != 0) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s is \"%s\", expected \"%s\"\n", __FILE__,  \
                    __LINE__, #actual, a_ ? a_ : "(null)", e_);                                \
            check_failures++;                                                                  \
        }                                                                                      \
    } while (0)

/* Stop the test program: something it needs failed. */
#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: required: %s (%s)\n", __FILE__, __LINE__, #cond,           \
                    strerror(errno));                                                          \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static inline int check_report(const char *name)
{
    if (check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

/* A new folder "<prefix>-XXXXXX" in the working folder; free() the result. */
static inline char *scratch_dir(const char *prefix)
{
    size_t len = strlen(prefix) + 8;
    char *dir = malloc(len);

    REQUIRE(dir != NULL);
    snprintf(dir, len, "%s-XXXXXX", prefix);
    REQUIRE(mkdtemp(dir) != NULL);
    return dir;
}

/* dir/name in a static buffer (one at a time) */
static inline const char *path_in(const char *dir, const char *name)
{
    static char path[4096];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Remove a folder and what it holds (files and folders, recursively). */
static inline void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static inline void write_file(const char *path, const char *mode, const void *data, size_t len)
{
    FILE *f = fopen(path, mode);

    REQUIRE(f != NULL);
    REQUIRE(fwrite(data, 1, len, f) == len);
    REQUIRE(fclose(f) == 0);
}

static inline void write_text(const char *path, const char *text)
{
    write_file(path, "w", text, strlen(text));
}

static inline void append_text(const char *path, const char *text)
{
    write_file(path, "a", text, strlen(text));
}

static inline uint64_t file_size(const char *path)
{
    struct stat st;

    REQUIRE(stat(path, &st) == 0);
    return (uint64_t)st.st_size;
}

#endif
