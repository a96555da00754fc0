#define _POSIX_C_SOURCE 200809L

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void eu_log(const char *fmt, ...)
{
    static const char prefix[] = "edge-uplink: ";
    char line[1024];
    size_t len = sizeof prefix - 1;
    va_list ap;
    int n;
    int saved = errno;

    memcpy(line, prefix, len);
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len += (size_t)n < sizeof line - len - 1 ? (size_t)n : sizeof line - len - 2;
    line[len++] = '\n';
    /* one write() per line, so that lines of concurrent writers do not interleave */
    (void)eu_write_all(STDERR_FILENO, line, len);
    errno = saved;
}

uint64_t eu_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0; /* cannot fail with a valid clock id */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int eu_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int eu_pwrite_all(int fd, const void *buf, size_t len, off_t offset)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (off_t)n;
    }
    return 0;
}

ssize_t eu_pread_all(int fd, void *buf, size_t len, off_t offset)
{
    unsigned char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, offset + (off_t)done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int eu_write_file_atomic(int dirfd, const char *name, const void *data, size_t len)
{
    char tmp[256];
    int fd, saved;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", name) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (eu_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        errno = saved;
        return -1;
    }
    if (close(fd) != 0) {
        saved = errno;
        unlinkat(dirfd, tmp, 0);
        errno = saved;
        return -1;
    }
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        saved = errno;
        unlinkat(dirfd, tmp, 0);
        errno = saved;
        return -1;
    }
    return fsync(dirfd);
}

int eu_read_small_file(int dirfd, const char *name, char *buf, size_t cap)
{
    ssize_t n;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    n = eu_pread_all(fd, buf, cap, 0);
    if (n < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    close(fd);
    if ((size_t)n >= cap) {
        errno = EFBIG;
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

int eu_mkdir_p(const char *path, mode_t mode)
{
    size_t len = strlen(path);
    char *copy;
    char *p;

    if (len == 0) {
        errno = ENOENT;
        return -1;
    }
    copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, path, len + 1);
    /* every prefix that ends before a '/', then the whole path */
    for (p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) != 0 && errno != EEXIST) {
                int err = errno;
                free(copy);
                errno = err;
                return -1;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    {
        struct stat st;
        if (stat(path, &st) != 0)
            return -1;
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
    }
    return 0;
}

uint32_t eu_crc32(const void *data, size_t len)
{
    static uint32_t table[256];
    static int have_table;
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;

    if (!have_table) {
        uint32_t n;
        for (n = 0; n < 256; n++) {
            uint32_t c = n;
            int k;
            for (k = 0; k < 8; k++)
                c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        have_table = 1;
    }
    for (i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

void eu_put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xFFu);
    p[1] = (unsigned char)((v >> 8) & 0xFFu);
    p[2] = (unsigned char)((v >> 16) & 0xFFu);
    p[3] = (unsigned char)((v >> 24) & 0xFFu);
}

void eu_put_le64(unsigned char *p, uint64_t v)
{
    eu_put_le32(p, (uint32_t)(v & 0xFFFFFFFFu));
    eu_put_le32(p + 4, (uint32_t)(v >> 32));
}

uint32_t eu_get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

uint64_t eu_get_le64(const unsigned char *p)
{
    return (uint64_t)eu_get_le32(p) | ((uint64_t)eu_get_le32(p + 4) << 32);
}
