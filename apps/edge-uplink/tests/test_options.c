/* Options: defaults, every option, and bad usage (one line naming the option). */
#define _POSIX_C_SOURCE 200809L

#include "options.h"

#include <stdarg.h>

#include "check.h"

static char err[512];
static struct options opt;

/* parse a NULL-terminated list of arguments (after the program name) */
static enum options_result parse(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    const char *a;
    va_list ap;

    argv[argc++] = (char *)"edge-uplink";
    va_start(ap, first);
    for (a = first; a != NULL; a = va_arg(ap, const char *)) {
        REQUIRE(argc < 31);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return options_parse(&opt, argc, argv, err, sizeof err);
}

/* bad usage, with a message that names what (and has no newline: one line) */
static void check_usage(enum options_result r, const char *names)
{
    CHECK(r == OPTIONS_USAGE);
    if (!strstr(err, names)) {
        fprintf(stderr, "message \"%s\" does not name %s\n", err, names);
        check_failures++;
    }
    CHECK(strchr(err, '\n') == NULL);
    CHECK(strlen(err) > strlen(names));
}

static void test_defaults(void)
{
    CHECK(parse("--spool", "/tmp/s", NULL) == OPTIONS_RUN);
    CHECK_STR(opt.host, "127.0.0.1");
    CHECK_U64(opt.port, 1883);
    CHECK_STR(opt.topic, "edge/detections");
    CHECK(opt.client_id == NULL);
    CHECK_STR(opt.spool, "/tmp/s");
    CHECK_U64(opt.max_spool_bytes, 64u * 1024u * 1024u);
    CHECK_U64(opt.qos, 1);
    CHECK(!opt.follow);
    CHECK(!opt.exit_when_drained);
    CHECK(opt.drain_timeout_ms == -1);
    CHECK_STR(opt.input, "-");
}

static void test_all(void)
{
    CHECK(parse("--host", "broker.example", "--port", "8883", "--topic", "site/1/det",
                "--client-id", "box-7", "--spool", "sp", "--max-spool-bytes", "2M", "--qos",
                "0", "--follow", "--exit-when-drained", "--drain-timeout", "2.5", "in.jsonl",
                NULL) == OPTIONS_RUN);
    CHECK_STR(opt.host, "broker.example");
    CHECK_U64(opt.port, 8883);
    CHECK_STR(opt.topic, "site/1/det");
    CHECK_STR(opt.client_id, "box-7");
    CHECK_STR(opt.spool, "sp");
    CHECK_U64(opt.max_spool_bytes, 2u * 1024u * 1024u);
    CHECK_U64(opt.qos, 0);
    CHECK(opt.follow);
    CHECK(opt.exit_when_drained);
    CHECK(opt.drain_timeout_ms == 2500);
    CHECK_STR(opt.input, "in.jsonl");

    /* INPUT before the options, --opt=value, sizes */
    CHECK(parse("in.jsonl", "--spool=sp", "--port=1", "--max-spool-bytes", "1048576", NULL) ==
          OPTIONS_RUN);
    CHECK_STR(opt.input, "in.jsonl");
    CHECK_U64(opt.port, 1);
    CHECK_U64(opt.max_spool_bytes, 1048576);
    CHECK(parse("--spool", "sp", "--port", "65535", "--max-spool-bytes", "1G", "-", NULL) ==
          OPTIONS_RUN);
    CHECK_U64(opt.port, 65535);
    CHECK_U64(opt.max_spool_bytes, 1024u * 1024u * 1024u);
    CHECK(parse("--spool", "sp", "--max-spool-bytes", "512KiB", NULL) == OPTIONS_USAGE);
    CHECK(parse("--spool", "sp", "--max-spool-bytes", "1024K", NULL) == OPTIONS_RUN);
    CHECK(parse("--spool", "sp", "--exit-when-drained", "--drain-timeout", "0", NULL) ==
          OPTIONS_RUN);
    CHECK(opt.drain_timeout_ms == 0);

    CHECK(parse("--help", NULL) == OPTIONS_HELP);
    CHECK(parse("--version", NULL) == OPTIONS_VERSION);
    CHECK(parse("--spool", "sp", "--version", NULL) == OPTIONS_VERSION);
}

static void test_bad_port(void)
{
    check_usage(parse("--spool", "sp", "--port", "0", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", "65536", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", "abc", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", "", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", "-1", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", "18 83", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", "99999999999999999999999", NULL), "--port");
    check_usage(parse("--spool", "sp", "--port", NULL), "--port"); /* no value */
    CHECK(strstr(err, "1..65535") == NULL); /* that one says a value is needed */
    check_usage(parse("--spool", "sp", "--port", "0", NULL), "1..65535");
}

static void test_bad_topic(void)
{
    check_usage(parse("--spool", "sp", "--topic", "", NULL), "--topic");
    check_usage(parse("--spool", "sp", "--topic", "edge/+/detections", NULL), "--topic");
    check_usage(parse("--spool", "sp", "--topic", "edge/#", NULL), "--topic");
    check_usage(parse("--spool", "sp", "--topic", "#", NULL), "--topic");
    check_usage(parse("--spool", "sp", "--topic", "+", NULL), "--topic");
    check_usage(parse("--spool", "sp", "--topic", "bad\x01topic", NULL), "--topic");
    check_usage(parse("--spool", "sp", "--topic", "bad\xff", NULL), "--topic");
    CHECK(parse("--spool", "sp", "--topic", "caf\xc3\xa9/d\xc3\xa9tections", NULL) ==
          OPTIONS_RUN);
    CHECK(parse("--spool", "sp", "--topic", "/leading/slash/", NULL) == OPTIONS_RUN);
}

static void test_other_usage(void)
{
    check_usage(parse(NULL), "--spool");
    check_usage(parse("--spool", "", NULL), "--spool");
    check_usage(parse("--spool", "sp", "--qos", "2", NULL), "--qos");
    check_usage(parse("--spool", "sp", "--qos", "01", NULL), "--qos");
    check_usage(parse("--spool", "sp", "--max-spool-bytes", "12X", NULL), "--max-spool-bytes");
    check_usage(parse("--spool", "sp", "--max-spool-bytes", "1000", NULL), "--max-spool-bytes");
    check_usage(parse("--spool", "sp", "--max-spool-bytes", "-5M", NULL), "--max-spool-bytes");
    check_usage(parse("--spool", "sp", "--drain-timeout", "5", NULL), "--exit-when-drained");
    check_usage(parse("--spool", "sp", "--exit-when-drained", "--drain-timeout", "soon", NULL),
                "--drain-timeout");
    check_usage(parse("--spool", "sp", "--exit-when-drained", "--drain-timeout", "-1", NULL),
                "--drain-timeout");
    check_usage(parse("--spool", "sp", "--exit-when-drained", "--drain-timeout", "nan", NULL),
                "--drain-timeout");
    check_usage(parse("--spool", "sp", "--follow", NULL), "--follow");
    check_usage(parse("--spool", "sp", "--follow", "-", NULL), "--follow");
    check_usage(parse("--spool", "sp", "a.jsonl", "b.jsonl", NULL), "INPUT");
    check_usage(parse("--spool", "sp", "", NULL), "INPUT");
    check_usage(parse("--spool", "sp", "--bogus", NULL), "--bogus");
    check_usage(parse("--spool", "sp", "-x", NULL), "-x");
    check_usage(parse("--spool", "sp", "--follow=yes", "f", NULL), "--follow");
    check_usage(parse("--spool", "sp", "--host", "", NULL), "--host");
    check_usage(parse("--spool", "sp", "--client-id", "", NULL), "--client-id");
}

int main(void)
{
    test_defaults();
    test_all();
    test_bad_port();
    test_bad_topic();
    test_other_usage();
    /* options_valid_mqtt_utf8 */
    CHECK(options_valid_mqtt_utf8("abc", 3));
    CHECK(!options_valid_mqtt_utf8("\xc0\xaf", 2));         /* overlong */
    CHECK(!options_valid_mqtt_utf8("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!options_valid_mqtt_utf8("\xef\xbf\xbf", 3));     /* U+FFFF */
    CHECK(!options_valid_mqtt_utf8("\xc3", 1));             /* cut short */
    CHECK(options_valid_mqtt_utf8("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
    return check_report("test_options");
}
