// Uses statx(2), which glibc exports from 2.28 on: fine for bullseye, not for JetPack 4 (2.27).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

int main(void) {
    struct statx st;
    int rc = statx(AT_FDCWD, "/", 0, STATX_TYPE, &st);
    printf("statx rc=%d\n", rc);
    return 0;
}
