/* edge-uplink: the uplink agent of edge boxes on unreliable (cellular) links.
 *
 * edge-infer writes one JSON object per line (JSON Lines) to a file; edge-uplink reads those
 * lines and publishes each as one MQTT message (libmosquitto, MQTT 3.1.1), with
 * store-and-forward: a line accepted from the input is never lost because the broker is
 * unreachable or the process restarts.
 *
 *   edge-uplink --spool /var/lib/edge-uplink --follow /run/edge-infer/detections.jsonl
 *
 * Data flow
 *   INPUT ──(lines: checked to be one JSON object, else rejected with a warning)──▶ spool
 *   spool ──(in order, at most 20 messages in flight)──▶ broker
 *   broker acknowledgement (PUBACK at QoS 1; written to the socket at QoS 0) ──▶ the
 *   committed offset moves over the contiguous prefix of acknowledged lines.
 *
 * The spool (see spool.h for the details), in the --spool folder:
 *   spool.dat     append-only records: a 16-byte header ("EUSPOOL1" + the logical offset of
 *                 the first record, uint64 LE), then per line: uint32 LE length, uint32 LE
 *                 CRC-32 of the line, the line's bytes (without its line ending).
 *   spool.offset  the committed logical offset (decimal text), replaced atomically
 *                 (temporary file, fsync, rename, fsync of the folder).
 *   input.pos     "v1 ino=<inode> offset=<byte> line=<n>": how far a named INPUT went into
 *                 the spool, so that a restart on the same file (same inode) resumes after
 *                 the last spooled line, and a replaced or truncated file is read from its
 *                 start. Written after spool.dat was synced, atomically like spool.offset.
 *   lock          flock()ed while running: one process per spool.
 * Lines go into spool.dat before they are published; spool.dat is fdatasync'ed at least
 * every second and before exit, and spool.offset is only written after that. At start-up
 * every record is checked (length, CRC) and a torn tail left by a crash is cut off. When the
 * acknowledged prefix is more than half of spool.dat and more than 1 MiB, the unsent records
 * are copied into a new file that atomically replaces it (offsets are logical, so nothing
 * else changes).
 *
 * Delivery guarantee: at-least-once, in order, capped.
 *   - at-least-once: a line leaves the spool only when the broker acknowledged it; whatever
 *     was in flight at a crash, a kill or a lost connection is published again (a restart
 *     re-sends everything after the committed offset, and at most about a second of
 *     acknowledgements may not have been saved yet). Consumers may see duplicates and
 *     should be idempotent. QoS 0 only promises "written to the socket".
 *   - in order: lines are published in input order; a re-send repeats a suffix of it.
 *   - capped: spool.dat never grows past --max-spool-bytes. When a line does not fit, the
 *     oldest unsent lines are dropped (down to 7/8 of the cap) and the count is logged.
 *     That is the only way an accepted line is lost, and it is always reported.
 *
 * MQTT session: the fixed client id (default edge-uplink-<hostname>), clean_session=false,
 * keepalive 30 s, reconnection after 1 s, doubling up to 60 s. A single thread runs
 * everything: poll() on the input and the broker socket (200 ms at most), then
 * mosquitto_loop(); no libmosquitto threads (simple, and friendly to qemu-user).
 *
 * Exit status: 0 done or stopped by SIGTERM/SIGINT/SIGHUP (the spool and offsets are synced
 * and the connection closed cleanly first), 1 error, 2 bad usage, 3 not drained within
 * --drain-timeout. State changes are logged on stderr, one line each, "edge-uplink: ...".
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "uplink.h"
#include "version.h"

#define VERSION_LINE                                                                           \
    EDGE_UPLINK_VERSION " (" EDGE_UPLINK_BOARD ", " EDGE_UPLINK_GIT_REVISION ")"

/* Print to stdout and make sure it got there: 0, or 1 after a message. */
static int finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("edge-uplink: cannot write to stdout");
        return UPLINK_EXIT_ERROR;
    }
    return UPLINK_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct options opt;
    char err[512];
    char client_id[300];

    switch (options_parse(&opt, argc, argv, err, sizeof err)) {
    case OPTIONS_HELP:
        options_print_help(stdout);
        return finish_stdout();
    case OPTIONS_VERSION:
        printf("edge-uplink %s\n", VERSION_LINE);
        return finish_stdout();
    case OPTIONS_USAGE:
        fprintf(stderr, "edge-uplink: %s\n", err);
        return UPLINK_EXIT_USAGE;
    case OPTIONS_RUN:
        break;
    }

    if (opt.client_id) {
        if (strlen(opt.client_id) >= sizeof client_id) {
            fprintf(stderr, "edge-uplink: --client-id: longer than %zu bytes; give a shorter "
                    "id\n", sizeof client_id - 1);
            return UPLINK_EXIT_USAGE;
        }
        snprintf(client_id, sizeof client_id, "%s", opt.client_id);
    } else {
        char host[256];
        if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
            snprintf(host, sizeof host, "%s", "unknown");
        host[sizeof host - 1] = '\0';
        snprintf(client_id, sizeof client_id, "edge-uplink-%s", host);
    }
    return uplink_run(&opt, client_id, VERSION_LINE);
}
