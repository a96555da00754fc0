#define _POSIX_C_SOURCE 200809L

#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* MQTT's limit on a string (topic, client id) and mosquitto's on a topic's levels */
#define MQTT_MAX_STRING 65535u
#define MQTT_MAX_TOPIC_LEVELS 200u
/* the longest --drain-timeout, in seconds (about 115 days) */
#define MAX_DRAIN_TIMEOUT_S 1e7

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_TOPIC,
    OPT_CLIENT_ID,
    OPT_SPOOL,
    OPT_MAX_SPOOL_BYTES,
    OPT_QOS,
    OPT_FOLLOW,
    OPT_EXIT_WHEN_DRAINED,
    OPT_DRAIN_TIMEOUT,
    OPT_VERSION,
    OPT_HELP
};

static const struct option long_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"client-id", required_argument, NULL, OPT_CLIENT_ID},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"max-spool-bytes", required_argument, NULL, OPT_MAX_SPOOL_BYTES},
    {"qos", required_argument, NULL, OPT_QOS},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"exit-when-drained", no_argument, NULL, OPT_EXIT_WHEN_DRAINED},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void options_print_help(FILE *out)
{
    fputs("Usage: edge-uplink --spool DIR [options] [INPUT]\n"
          "\n"
          "Publish each JSON object line of INPUT (a file; '-' or nothing: stdin) as one MQTT\n"
          "message. Lines are stored in the spool before they are published and leave it\n"
          "only when the broker acknowledged them: at-least-once delivery, in order, across\n"
          "broker outages and restarts, in a queue capped at --max-spool-bytes.\n"
          "\n"
          "Options:\n"
          "  --host H                 broker host (default " OPTIONS_DEFAULT_HOST ")\n"
          "  --port P                 broker port, 1..65535 (default 1883)\n"
          "  --topic T                topic to publish to, no '+' or '#'\n"
          "                           (default " OPTIONS_DEFAULT_TOPIC ")\n"
          "  --client-id ID           MQTT client id, kept for the persistent session\n"
          "                           (default edge-uplink-<hostname>)\n"
          "  --spool DIR              spool folder, created 0700 if missing (required)\n"
          "  --max-spool-bytes N      spool size cap; suffixes K, M, G (default 64M,\n"
          "                           at least 1M); when full, the oldest unsent lines\n"
          "                           are dropped and counted on stderr\n"
          "  --qos 0|1                MQTT QoS of the messages (default 1)\n"
          "  --follow                 keep reading INPUT as it grows, like tail -F\n"
          "                           (reopened when rotated, reread when truncated)\n"
          "  --exit-when-drained      exit 0 once INPUT is read to its end and every line\n"
          "                           is acknowledged\n"
          "  --drain-timeout SECONDS  with --exit-when-drained: exit 3 when not drained\n"
          "                           in time (default: wait forever)\n"
          "  --version                print the version and exit\n"
          "  --help                   print this help and exit\n"
          "\n"
          "Exit status: 0 done (or stopped by SIGTERM, SIGINT or SIGHUP), 1 error,\n"
          "2 bad usage, 3 not drained within --drain-timeout.\n",
          out);
}

static enum options_result usage(char *err, size_t errlen, const char *fmt, ...)
    EU_PRINTF(3, 4);

static enum options_result usage(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return OPTIONS_USAGE;
}

/* a decimal number without sign, spaces or anything after it */
static bool parse_u64(const char *s, uint64_t *v, char **end)
{
    unsigned long long x;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    x = strtoull(s, end, 10);
    if (errno != 0)
        return false;
    *v = (uint64_t)x;
    return true;
}

static bool parse_size(const char *s, uint64_t *v)
{
    char *end;
    uint64_t x, mult = 1;

    if (!parse_u64(s, &x, &end))
        return false;
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            mult = 1024u;
            break;
        case 'm':
        case 'M':
            mult = 1024u * 1024u;
            break;
        case 'g':
        case 'G':
            mult = 1024u * 1024u * 1024u;
            break;
        default:
            return false;
        }
        end++;
        /* "64M", "64MB", "64MiB" */
        if (strcmp(end, "") != 0 && strcmp(end, "B") != 0 && strcmp(end, "iB") != 0)
            return false;
    }
    if (x > UINT64_MAX / mult)
        return false;
    *v = x * mult;
    return true;
}

bool options_valid_mqtt_utf8(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        unsigned need, k;
        uint32_t cp;

        if (c < 0x80u) {
            need = 0;
            cp = c;
        } else if (c >= 0xC2u && c <= 0xDFu) {
            need = 1;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0u) == 0xE0u) {
            need = 2;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0u && c <= 0xF4u) {
            need = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (len - i - 1 < need)
            return false;
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0u) != 0x80u)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((need == 2 && cp < 0x800u) || (need == 3 && (cp < 0x10000u || cp > 0x10FFFFu)))
            return false; /* overlong or out of range */
        if (cp >= 0xD800u && cp <= 0xDFFFu)
            return false; /* surrogates */
        if ((cp >= 0xFDD0u && cp <= 0xFDEFu) || (cp & 0xFFFFu) == 0xFFFEu ||
            (cp & 0xFFFFu) == 0xFFFFu)
            return false; /* non-characters */
        if (cp <= 0x1Fu || (cp >= 0x7Fu && cp <= 0x9Fu))
            return false; /* control characters (and NUL) */
        i += need + 1;
    }
    return true;
}

static enum options_result check_topic(const char *t, char *err, size_t errlen)
{
    size_t len = strlen(t), levels = 0, i;

    if (len == 0)
        return usage(err, errlen, "--topic: the topic is empty; give one, e.g. --topic "
                                  OPTIONS_DEFAULT_TOPIC);
    if (strchr(t, '+') || strchr(t, '#'))
        return usage(err, errlen, "--topic: '%s' holds a wildcard ('+' or '#'), which only "
                     "subscriptions may use; give a plain topic such as " OPTIONS_DEFAULT_TOPIC,
                     t);
    if (len > MQTT_MAX_STRING)
        return usage(err, errlen, "--topic: the topic is %zu bytes long; give at most %u", len,
                     MQTT_MAX_STRING);
    for (i = 0; i < len; i++)
        if (t[i] == '/')
            levels++;
    if (levels > MQTT_MAX_TOPIC_LEVELS)
        return usage(err, errlen, "--topic: the topic has %zu levels; give at most %u",
                     levels + 1, MQTT_MAX_TOPIC_LEVELS + 1);
    if (!options_valid_mqtt_utf8(t, len))
        return usage(err, errlen, "--topic: the topic is not valid UTF-8 or holds control "
                                  "characters; give a UTF-8 topic");
    return OPTIONS_RUN;
}

enum options_result options_parse(struct options *o, int argc, char **argv, char *err,
                                  size_t errlen)
{
    bool drain_timeout_given = false;
    int c;

    o->host = OPTIONS_DEFAULT_HOST;
    o->port = OPTIONS_DEFAULT_PORT;
    o->topic = OPTIONS_DEFAULT_TOPIC;
    o->client_id = NULL;
    o->spool = NULL;
    o->max_spool_bytes = OPTIONS_DEFAULT_MAX_SPOOL_BYTES;
    o->qos = 1;
    o->follow = false;
    o->exit_when_drained = false;
    o->drain_timeout_ms = -1;
    o->input = "-";
    if (errlen > 0)
        err[0] = '\0';

    optind = 0; /* glibc: start over, so that options_parse() can be called again */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
        const char *arg = optarg;
        uint64_t v;
        char *end;

        switch (c) {
        case OPT_HOST:
            if (arg[0] == '\0')
                return usage(err, errlen, "--host: the host is empty; give a name or "
                                          "address, e.g. --host 127.0.0.1");
            o->host = arg;
            break;
        case OPT_PORT:
            if (!parse_u64(arg, &v, &end) || *end != '\0' || v < 1 || v > 65535)
                return usage(err, errlen, "--port: '%s' is not a port number; give 1..65535",
                             arg);
            o->port = (int)v;
            break;
        case OPT_TOPIC:
            if (check_topic(arg, err, errlen) != OPTIONS_RUN)
                return OPTIONS_USAGE;
            o->topic = arg;
            break;
        case OPT_CLIENT_ID:
            if (arg[0] == '\0')
                return usage(err, errlen, "--client-id: the client id is empty; give one "
                                          "that is the same at every start, e.g. edge-uplink-1");
            if (strlen(arg) > MQTT_MAX_STRING || !options_valid_mqtt_utf8(arg, strlen(arg)))
                return usage(err, errlen, "--client-id: not valid UTF-8, holds control "
                                          "characters or is too long; give a short UTF-8 id");
            o->client_id = arg;
            break;
        case OPT_SPOOL:
            if (arg[0] == '\0')
                return usage(err, errlen, "--spool: the folder is empty; give one, e.g. "
                                          "--spool /var/lib/edge-uplink");
            o->spool = arg;
            break;
        case OPT_MAX_SPOOL_BYTES:
            if (!parse_size(arg, &v))
                return usage(err, errlen, "--max-spool-bytes: '%s' is not a size; give bytes "
                             "or a number with K, M or G, e.g. 64M", arg);
            if (v < OPTIONS_MIN_MAX_SPOOL_BYTES)
                return usage(err, errlen, "--max-spool-bytes: '%s' is too small; give at "
                             "least 1M (a line may be 256K)", arg);
            o->max_spool_bytes = v;
            break;
        case OPT_QOS:
            if (strcmp(arg, "0") != 0 && strcmp(arg, "1") != 0)
                return usage(err, errlen, "--qos: '%s' is not supported; give 0 or 1", arg);
            o->qos = arg[0] - '0';
            break;
        case OPT_FOLLOW:
            o->follow = true;
            break;
        case OPT_EXIT_WHEN_DRAINED:
            o->exit_when_drained = true;
            break;
        case OPT_DRAIN_TIMEOUT: {
            double s;
            if (arg[0] < '0' || arg[0] > '9')
                goto bad_timeout;
            errno = 0;
            s = strtod(arg, &end);
            if (errno != 0 || *end != '\0' || !isfinite(s) || s < 0 ||
                s > MAX_DRAIN_TIMEOUT_S)
                goto bad_timeout;
            o->drain_timeout_ms = (int64_t)(s * 1000.0 + 0.5);
            drain_timeout_given = true;
            break;
        bad_timeout:
            return usage(err, errlen, "--drain-timeout: '%s' is not a number of seconds; "
                         "give e.g. 30 or 2.5", arg);
        }
        case OPT_VERSION:
            return OPTIONS_VERSION;
        case OPT_HELP:
            return OPTIONS_HELP;
        case ':':
            return usage(err, errlen, "%s needs a value; see --help", argv[optind - 1]);
        default:
            if (optopt >= OPT_HOST && optopt <= OPT_HELP)
                return usage(err, errlen, "'%s' takes no value; give just --%s",
                             argv[optind - 1], long_options[optopt - OPT_HOST].name);
            if (optopt != 0)
                return usage(err, errlen, "unknown option '-%c'; see --help", optopt);
            return usage(err, errlen, "unknown option '%s'; see --help", argv[optind - 1]);
        }
    }

    if (argc - optind > 1)
        return usage(err, errlen, "too many arguments ('%s', '%s'); give at most one INPUT "
                     "file", argv[optind], argv[optind + 1]);
    if (argc - optind == 1) {
        if (argv[optind][0] == '\0')
            return usage(err, errlen, "INPUT is empty; give a file, or '-' for stdin");
        o->input = argv[optind];
    }
    if (!o->spool)
        return usage(err, errlen, "--spool DIR is required: the folder that keeps unsent "
                                  "lines, e.g. --spool /var/lib/edge-uplink");
    if (o->follow && strcmp(o->input, "-") == 0)
        return usage(err, errlen, "--follow needs a file INPUT; stdin cannot be reopened or "
                                  "followed");
    if (drain_timeout_given && !o->exit_when_drained)
        return usage(err, errlen, "--drain-timeout needs --exit-when-drained; add it or drop "
                                  "--drain-timeout");
    return OPTIONS_RUN;
}
