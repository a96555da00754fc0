/* edge-uplink: command line options. */
#ifndef EDGE_UPLINK_OPTIONS_H
#define EDGE_UPLINK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OPTIONS_DEFAULT_HOST "127.0.0.1"
#define OPTIONS_DEFAULT_PORT 1883
#define OPTIONS_DEFAULT_TOPIC "edge/detections"
#define OPTIONS_DEFAULT_MAX_SPOOL_BYTES (64ull * 1024u * 1024u)
#define OPTIONS_MIN_MAX_SPOOL_BYTES (1024ull * 1024u)

struct options {
    const char *host;
    int port;
    const char *topic;
    const char *client_id;     /* NULL: edge-uplink-<hostname> */
    const char *spool;         /* the spool folder (required) */
    uint64_t max_spool_bytes;
    int qos;                   /* 0 or 1 */
    bool follow;
    bool exit_when_drained;
    int64_t drain_timeout_ms;  /* -1: wait forever */
    const char *input;         /* "-": stdin */
};

enum options_result {
    OPTIONS_RUN,     /* run with these options */
    OPTIONS_HELP,    /* --help given */
    OPTIONS_VERSION, /* --version given */
    OPTIONS_USAGE    /* bad usage: err holds one line naming the option and the fix */
};

/* Parse argv (getopt_long; may permute argv). The strings of *o point into argv. */
enum options_result options_parse(struct options *o, int argc, char **argv, char *err,
                                  size_t errlen);

/* The --help text. */
void options_print_help(FILE *out);

/* Whether s is UTF-8 that MQTT accepts in a topic or client id (no control characters, no
 * surrogates or non-characters). */
bool options_valid_mqtt_utf8(const char *s, size_t len);

#endif
