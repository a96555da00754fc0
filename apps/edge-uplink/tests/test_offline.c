/* The edge-uplink program itself, offline: a broker port nothing listens on, a small JSON
 * Lines file, --exit-when-drained --drain-timeout 2. It must exit 3 with every valid line in
 * the spool (checked with the library) and the invalid ones rejected on stderr; a second run
 * on the same spool and file resumes after the lines already spooled. Also --version and a
 * bad option.
 *
 * Arguments: the expected version (meson's project version). Environment: EDGE_UPLINK, the
 * program's path. In a cross build the program runs through binfmt_misc (qemu-user) with
 * QEMU_LD_PREFIX set by meson.build; when it cannot be started at all the test is skipped
 * (exit 77). */
#define _POSIX_C_SOURCE 200809L

#include "follow.h"
#include "spool.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"

#define SKIP 77
#define NOT_STARTED (-1)

extern char **environ;

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    REQUIRE(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd); /* nothing listens there now */
    return ntohs(a.sin_port);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run argv with stdout and stderr into files: its exit status, NOT_STARTED when it could
 * not be started, 128+signal when killed. */
static int run(char *const argv[], const char *out_path, const char *err_path)
{
    posix_spawn_file_actions_t fa;
    uint64_t deadline = now_ms() + 60000u;
    pid_t pid;
    int status = 0, rc;

    REQUIRE(posix_spawn_file_actions_init(&fa) == 0);
    REQUIRE(posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path,
                                             O_WRONLY | O_CREAT | O_TRUNC, 0600) == 0);
    REQUIRE(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path,
                                             O_WRONLY | O_CREAT | O_TRUNC, 0600) == 0);
    rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(rc));
        return NOT_STARTED;
    }
    for (;;) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        REQUIRE(w == 0 || errno == EINTR);
        if (now_ms() > deadline) {
            fprintf(stderr, "%s still runs after 60 s: killing it\n", argv[0]);
            kill(pid, SIGKILL);
            REQUIRE(waitpid(pid, &status, 0) == pid);
            break;
        }
        nanosleep(&pause, NULL);
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    if (WEXITSTATUS(status) == 127) {
        fprintf(stderr, "%s could not be executed (status 127)\n", argv[0]);
        return NOT_STARTED;
    }
    return WEXITSTATUS(status);
}

static char *slurp(const char *path)
{
    size_t size = (size_t)file_size(path);
    char *text = malloc(size + 1);
    FILE *f = fopen(path, "r");

    REQUIRE(text != NULL && f != NULL);
    REQUIRE(fread(text, 1, size, f) == size);
    fclose(f);
    text[size] = '\0';
    return text;
}

static void check_contains(const char *text, const char *what, const char *where)
{
    if (!strstr(text, what)) {
        fprintf(stderr, "%s does not contain \"%s\":\n%s\n", where, what, text);
        check_failures++;
    }
}

static const char *const valid[] = {
    "{\"frame\":1,\"detections\":[]}",
    "{\"frame\":2,\"text\":\"} { ]\"}",
    "{\"frame\":3}",
    "{\"frame\":4,\"nested\":{\"a\":[1,{\"b\":2}]}}",
    "{\"frame\":5}",
    "{\"frame\":6}",
};

/* The spool holds exactly valid[0..count) after the committed offset. */
static void check_spool(const char *spool_dir, unsigned count)
{
    static char buf[SPOOL_MAX_RECORD];
    struct spool s;
    uint64_t off;
    unsigned i = 0;

    REQUIRE(spool_open(&s, spool_dir, 0) == 0);
    CHECK_U64(s.pending, count);
    for (off = s.committed;;) {
        size_t len;
        uint64_t next;
        int rc = spool_read(&s, off, buf, sizeof buf, &len, &next);
        if (rc != 0) {
            CHECK(rc == 1);
            break;
        }
        REQUIRE(i < count);
        CHECK(len == strlen(valid[i]) && memcmp(buf, valid[i], len) == 0);
        off = next;
        i++;
    }
    CHECK_U64(i, count);
    spool_close(&s);
}

int main(int argc, char **argv)
{
    const char *exe = getenv("EDGE_UPLINK");
    char *dir, *text;
    char input[512], spool[512], out[512], err[512], port[16], version_prefix[128];
    struct input_pos pos;
    uint64_t t0, elapsed;
    int code, dirfd;

    if (!exe || !exe[0] || argc < 2) {
        fprintf(stderr, "usage: EDGE_UPLINK=<program> %s <expected version>\n", argv[0]);
        return 1;
    }
    dir = scratch_dir("test-offline");
    snprintf(input, sizeof input, "%s/in.jsonl", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(out, sizeof out, "%s/stdout.txt", dir);
    snprintf(err, sizeof err, "%s/stderr.txt", dir);
    write_text(input, "{\"frame\":1,\"detections\":[]}\n"
                      "[1,2,3]\n"
                      "\n"
                      "{\"frame\":2,\"text\":\"} { ]\"}\r\n"
                      "not json\n"
                      "{\"frame\":3}\n"
                      "{\"frame\":4,\"nested\":{\"a\":[1,{\"b\":2}]}}\n"
                      "{\"frame\":5}");

    /* --version */
    {
        char *args[] = {(char *)exe, (char *)"--version", NULL};
        code = run(args, out, err);
        if (code == NOT_STARTED) {
            fprintf(stderr, "skipped: the program cannot be started here\n");
            remove_tree(dir);
            free(dir);
            return SKIP;
        }
        CHECK_U64(code, 0);
        text = slurp(out);
        snprintf(version_prefix, sizeof version_prefix, "edge-uplink %s (", argv[1]);
        CHECK(strncmp(text, version_prefix, strlen(version_prefix)) == 0);
        CHECK(strlen(text) > 2 && strcmp(text + strlen(text) - 2, ")\n") == 0);
        if (check_failures)
            fprintf(stderr, "--version printed: %s", text);
        free(text);
    }

    /* bad usage: exit 2, one line naming the option */
    {
        char *args[] = {(char *)exe, (char *)"--spool", spool, (char *)"--port", (char *)"0",
                        input, NULL};
        CHECK_U64(run(args, out, err), 2);
        text = slurp(err);
        check_contains(text, "--port", "stderr of --port 0");
        CHECK(strchr(text, '\n') == text + strlen(text) - 1);
        free(text);
    }

    /* offline: not drained in time, exit 3, every valid line in the spool */
    snprintf(port, sizeof port, "%d", free_port());
    {
        char *args[] = {(char *)exe, (char *)"--host", (char *)"127.0.0.1", (char *)"--port",
                        port, (char *)"--spool", spool, (char *)"--client-id",
                        (char *)"edge-uplink-test", (char *)"--exit-when-drained",
                        (char *)"--drain-timeout", (char *)"2", input, NULL};
        t0 = now_ms();
        code = run(args, out, err);
        elapsed = now_ms() - t0;
    }
    CHECK_U64(code, 3);
    CHECK(elapsed >= 1900);
    text = slurp(err);
    check_contains(text, "rejected line 2 of", "stderr");
    check_contains(text, "rejected line 5 of", "stderr");
    check_contains(text, "cannot connect to 127.0.0.1:", "stderr");
    check_contains(text, "not drained", "stderr");
    if (check_failures)
        fprintf(stderr, "stderr of the offline run:\n%s\n", text);
    free(text);
    check_spool(spool, 5);
    dirfd = open(spool, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    CHECK(inputpos_load(dirfd, &pos) == 0);
    CHECK_U64(pos.offset, file_size(input));
    CHECK_U64(pos.line, 8);
    close(dirfd);

    /* a restart on the same spool and file: only the new line is added */
    append_text(input, "\n{\"frame\":6}\n");
    {
        char *args[] = {(char *)exe, (char *)"--port", port, (char *)"--spool", spool,
                        (char *)"--exit-when-drained", (char *)"--drain-timeout",
                        (char *)"0.5", input, NULL};
        CHECK_U64(run(args, out, err), 3);
    }
    text = slurp(err);
    check_contains(text, "resuming the input", "stderr of the second run");
    if (check_failures)
        fprintf(stderr, "stderr of the second run:\n%s\n", text);
    free(text);
    check_spool(spool, 6);

    if (check_failures == 0)
        remove_tree(dir);
    free(dir);
    return check_report("test_offline");
}
