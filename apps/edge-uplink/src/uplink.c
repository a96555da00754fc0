#define _POSIX_C_SOURCE 200809L

#include "uplink.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"
#include "jsonline.h"
#include "spool.h"
#include "util.h"
#include "window.h"

#define KEEPALIVE_S 30
#define INFLIGHT 20u
#define POLL_MS 200
#define SYNC_MS 1000u
#define READ_BUDGET (1u << 20)
#define BACKOFF_MIN_S 1u
#define BACKOFF_MAX_S 60u
#define SHUTDOWN_GRACE_MS 1000u
#define EARLY_MAX 8u

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

struct uplink {
    const struct options *opt;
    struct mosquitto *m;
    struct spool spool;
    struct follower in;
    struct window win;
    enum conn_state state;
    bool attempted;       /* mosquitto_connect_async() was called once */
    bool stopping;        /* a disconnect now is ours */
    bool failed;          /* an error inside a callback */
    unsigned backoff_s;   /* the next reconnect delay */
    uint64_t retry_at_ms; /* when CONN_DOWN: when to connect again */
    uint64_t send_off;    /* the next spool record to publish */
    char *payload;        /* SPOOL_MAX_RECORD bytes */
    bool in_publish;      /* inside mosquitto_publish() */
    int early[EARLY_MAX]; /* QoS 0 message ids acknowledged inside mosquitto_publish() */
    unsigned nearly;
    bool pos_saved_valid;
    struct input_pos pos_saved;
    uint64_t accepted, rejected, dropped;
    uint64_t last_sync_ms;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sa.sa_flags = 0; /* no SA_RESTART: poll() returns at once */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGHUP, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static const char *input_name(const struct uplink *u)
{
    return strcmp(u->opt->input, "-") == 0 ? "stdin" : u->opt->input;
}

static void commit_acked(struct uplink *u)
{
    uint64_t upto;

    if (window_pop_acked(&u->win, &upto) && spool_commit(&u->spool, upto) != 0)
        u->failed = true;
}

/* The connection is gone (or never came): log it once and plan the next attempt. */
static void went_down(struct uplink *u, const char *why)
{
    uint64_t from;
    unsigned delay = u->backoff_s;

    if (u->state == CONN_DOWN)
        return;
    if (!u->stopping) {
        if (u->state == CONN_UP)
            eu_log("disconnected from %s:%d: %s; reconnecting in %u s", u->opt->host,
                   u->opt->port, why, delay);
        else
            eu_log("cannot connect to %s:%d: %s; retrying in %u s", u->opt->host, u->opt->port,
                   why, delay);
    }
    u->state = CONN_DOWN;
    u->retry_at_ms = eu_now_ms() + (uint64_t)delay * 1000u;
    u->backoff_s = delay * 2u > BACKOFF_MAX_S ? BACKOFF_MAX_S : delay * 2u;
    if (u->opt->qos == 0) {
        /* QoS 0 messages still queued in libmosquitto are discarded at the reconnection:
         * publish everything not written to the socket again. (QoS 1 messages stay in
         * libmosquitto's session and are sent again, with their ids, after the CONNACK.) */
        commit_acked(u);
        if (window_rewind(&u->win, &from))
            u->send_off = from;
    }
}

static void cb_connect(struct mosquitto *m, void *obj, int rc)
{
    struct uplink *u = obj;

    (void)m;
    if (rc != 0) {
        /* libmosquitto closes the connection and calls cb_disconnect next */
        eu_log("the broker %s:%d refused the connection: %s", u->opt->host, u->opt->port,
               mosquitto_connack_string(rc));
        return;
    }
    u->state = CONN_UP;
    u->backoff_s = BACKOFF_MIN_S;
    eu_log("connected to %s:%d (%" PRIu64 " lines queued)", u->opt->host, u->opt->port,
           u->spool.pending);
}

/* mosquitto_strerror() without its final full stop, for "...: <reason>; retrying" */
static const char *mqtt_error(int rc, char *buf, size_t size)
{
    size_t len;

    snprintf(buf, size, "%s", mosquitto_strerror(rc));
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '.')
        buf[len - 1] = '\0';
    return buf;
}

static void cb_disconnect(struct mosquitto *m, void *obj, int rc)
{
    char why[128];

    (void)m;
    went_down(obj, rc == MOSQ_ERR_SUCCESS ? "closed" : mqtt_error(rc, why, sizeof why));
}

static void cb_publish(struct mosquitto *m, void *obj, int mid)
{
    struct uplink *u = obj;

    (void)m;
    if (window_ack(&u->win, mid)) {
        commit_acked(u);
        return;
    }
    /* a QoS 0 message is acknowledged inside mosquitto_publish() when it could be written
     * at once, before its id is known to the window; otherwise: one the window forgot
     * (dropped by the cap, or published again after a reconnection) */
    if (u->in_publish && u->nearly < EARLY_MAX)
        u->early[u->nearly++] = mid;
}

static void connect_now(struct uplink *u)
{
    char buf[128];
    const char *why;
    int rc;

    errno = 0;
    if (!u->attempted)
        rc = mosquitto_connect_async(u->m, u->opt->host, u->opt->port, KEEPALIVE_S);
    else
        rc = mosquitto_reconnect_async(u->m);
    u->attempted = true;
    u->state = CONN_CONNECTING;
    if (rc == MOSQ_ERR_SUCCESS)
        return;
    if (rc == MOSQ_ERR_ERRNO)
        why = strerror(errno);
    else if (rc == MOSQ_ERR_EAI)
        why = "cannot resolve the host name";
    else
        why = mqtt_error(rc, buf, sizeof buf);
    went_down(u, why);
}

/* errors of mosquitto_publish() at QoS 1 that come after the message was queued in the
 * session: libmosquitto sends it (again) after the next CONNACK */
static bool queued_anyway(int rc)
{
    return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO ||
           rc == MOSQ_ERR_PROTOCOL || rc == MOSQ_ERR_KEEPALIVE;
}

/* Publish spool records in order while connected and the window has room. */
static int publish_more(struct uplink *u)
{
    while (u->state == CONN_UP && !window_full(&u->win) && !u->failed) {
        size_t len;
        uint64_t off = u->send_off, next;
        unsigned i;
        int mid = 0, rc;
        int r = spool_read(&u->spool, off, u->payload, SPOOL_MAX_RECORD, &len, &next);

        if (r == 1)
            break;
        if (r < 0)
            return -1;
        u->in_publish = true;
        u->nearly = 0;
        rc = mosquitto_publish(u->m, &mid, u->opt->topic, (int)len, u->payload, u->opt->qos,
                               false);
        u->in_publish = false;

        if (rc == MOSQ_ERR_SUCCESS || (u->opt->qos > 0 && mid != 0 && queued_anyway(rc))) {
            window_push(&u->win, mid, off, next);
            u->send_off = next;
            for (i = 0; i < u->nearly; i++)
                if (u->early[i] == mid && window_ack(&u->win, mid))
                    commit_acked(u);
            if (rc != MOSQ_ERR_SUCCESS)
                break; /* the connection is failing: mosquitto_loop() will tell */
            continue;
        }
        if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET) {
            /* never publishable: count it as done rather than block the queue */
            char why[128];
            eu_log("dropped the spooled line at offset %" PRIu64 ": %s", off,
                   mqtt_error(rc, why, sizeof why));
            window_push(&u->win, -1, off, next);
            window_ack(&u->win, -1);
            commit_acked(u);
            u->send_off = next;
            continue;
        }
        if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_MALFORMED_UTF8 ||
            rc == MOSQ_ERR_QOS_NOT_SUPPORTED || rc == MOSQ_ERR_NOT_SUPPORTED) {
            char why[128];
            eu_log("cannot publish to topic %s: %s", u->opt->topic,
                   mqtt_error(rc, why, sizeof why));
            return -1;
        }
        break; /* not sent (QoS 0 and the connection failing, out of memory): later */
    }
    return u->failed ? -1 : 0;
}

/* A line of input: check it and append it to the spool. */
static int on_line(void *ctx, const char *line, size_t len, uint64_t lineno, bool too_long)
{
    struct uplink *u = ctx;
    enum jsonline_status st = JSONLINE_TOO_LONG;
    uint64_t dropped = 0;

    if (!too_long) {
        len = jsonline_strip_eol(line, len);
        st = jsonline_check(line, len);
    }
    if (st == JSONLINE_EMPTY)
        return 0;
    if (st != JSONLINE_OK) {
        u->rejected++;
        eu_log("rejected line %" PRIu64 " of %s: %s", lineno, input_name(u),
               jsonline_status_str(st));
        return 0;
    }
    if (spool_append(&u->spool, line, len, &dropped) != 0)
        return -1;
    u->accepted++;
    if (dropped > 0) {
        u->dropped += dropped;
        eu_log("spool full (--max-spool-bytes %" PRIu64 "): dropped the %" PRIu64
               " oldest unsent lines", u->opt->max_spool_bytes, dropped);
        window_drop_before(&u->win, u->spool.committed);
        if (u->send_off < u->spool.committed)
            u->send_off = u->spool.committed;
    }
    return 0;
}

/* Make the spool durable, then record how far the input went into it. */
static int sync_all(struct uplink *u)
{
    struct input_pos pos;

    u->last_sync_ms = eu_now_ms();
    if (spool_sync(&u->spool) != 0)
        return -1;
    if (follower_pos(&u->in, &pos) &&
        (!u->pos_saved_valid || pos.ino != u->pos_saved.ino ||
         pos.offset != u->pos_saved.offset || pos.line != u->pos_saved.line)) {
        if (inputpos_save(spool_dirfd(&u->spool), &pos) != 0)
            return -1;
        u->pos_saved = pos;
        u->pos_saved_valid = true;
    }
    return 0;
}

static int read_input(struct uplink *u, bool fd_ready, bool *more)
{
    int r;

    *more = false;
    if (u->in.eof)
        return 0;
    if (follower_poll_fd(&u->in) >= 0) {
        /* a pipe or terminal: only when poll() said so */
        return fd_ready && follower_read(&u->in, READ_BUDGET, on_line, u) < 0 ? -1 : 0;
    }
    r = follower_read(&u->in, READ_BUDGET, on_line, u);
    if (r < 0)
        return -1;
    if (r > 0) {
        *more = true;
        return 0;
    }
    if (u->opt->follow) {
        r = follower_check(&u->in, on_line, u);
        if (r < 0)
            return -1;
        *more = r > 0;
    }
    return 0;
}

/* Say goodbye to the broker: wait a little for outstanding acknowledgements, then send
 * DISCONNECT. */
static void disconnect(struct uplink *u)
{
    uint64_t deadline = eu_now_ms() + SHUTDOWN_GRACE_MS;

    while (u->state == CONN_UP && !window_empty(&u->win) && !u->failed &&
           eu_now_ms() < deadline) {
        if (mosquitto_loop(u->m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
    }
    u->stopping = true;
    if (u->state == CONN_UP && mosquitto_disconnect(u->m) == MOSQ_ERR_SUCCESS) {
        deadline = eu_now_ms() + SHUTDOWN_GRACE_MS;
        while (mosquitto_socket(u->m) >= 0 && eu_now_ms() < deadline) {
            if (mosquitto_loop(u->m, 100, 1) != MOSQ_ERR_SUCCESS)
                break;
        }
        eu_log("disconnected from %s:%d", u->opt->host, u->opt->port);
    }
    u->state = CONN_DOWN;
}

int uplink_run(const struct options *opt, const char *client_id, const char *version)
{
    struct uplink u;
    struct input_pos pos;
    bool have_pos = false, input_ready = false, lib_init = false;
    int status = UPLINK_EXIT_ERROR;
    uint64_t start;

    memset(&u, 0, sizeof u);
    u.opt = opt;
    u.spool.dirfd = u.spool.fd = u.spool.lockfd = -1;
    u.in.fd = -1;
    u.backoff_s = BACKOFF_MIN_S;
    window_init(&u.win, INFLIGHT);

    if (install_signals() != 0) {
        eu_log("cannot install the signal handlers: %s", strerror(errno));
        return UPLINK_EXIT_ERROR;
    }
    if (spool_open(&u.spool, opt->spool, opt->max_spool_bytes) != 0)
        return UPLINK_EXIT_ERROR;
    eu_log("version %s starting: %s -> mqtt://%s:%d/%s (QoS %d, client id %s), spool %s "
           "with %" PRIu64 " lines queued", version, input_name(&u), opt->host, opt->port,
           opt->topic, opt->qos, client_id, opt->spool, u.spool.pending);
    if (strcmp(opt->input, "-") != 0) {
        int r = inputpos_load(spool_dirfd(&u.spool), &pos);
        if (r < 0)
            goto out;
        if (r == 0) {
            have_pos = true;
            u.pos_saved = pos;
            u.pos_saved_valid = true;
        }
    }
    if (follower_open(&u.in, opt->input, opt->follow, have_pos ? &pos : NULL) != 0)
        goto out;
    u.payload = malloc(SPOOL_MAX_RECORD);
    if (!u.payload) {
        eu_log("out of memory");
        goto out;
    }
    if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS) {
        eu_log("cannot initialise libmosquitto");
        goto out;
    }
    lib_init = true;
    u.m = mosquitto_new(client_id, false, &u); /* clean_session=false: a persistent session */
    if (!u.m) {
        eu_log("cannot create the MQTT client: %s", strerror(errno));
        goto out;
    }
    mosquitto_max_inflight_messages_set(u.m, INFLIGHT);
    /* only used by mosquitto_loop_forever(); the same policy is applied below by hand */
    mosquitto_reconnect_delay_set(u.m, BACKOFF_MIN_S, BACKOFF_MAX_S, true);
    mosquitto_connect_callback_set(u.m, cb_connect);
    mosquitto_disconnect_callback_set(u.m, cb_disconnect);
    mosquitto_publish_callback_set(u.m, cb_publish);

    u.send_off = u.spool.committed;
    start = u.last_sync_ms = eu_now_ms();

    for (;;) {
        struct pollfd pfd[2];
        nfds_t n = 0;
        int timeout = POLL_MS, in_idx = -1, sock, infd, r;
        bool more = false;
        uint64_t now = eu_now_ms();

        if (stop_signal) {
            eu_log("stopping on signal %d", (int)stop_signal);
            status = UPLINK_EXIT_OK;
            break;
        }
        if (u.failed)
            goto out;
        if (u.state == CONN_DOWN && now >= u.retry_at_ms)
            connect_now(&u);
        if (read_input(&u, input_ready, &more) != 0)
            goto out;
        if (publish_more(&u) != 0)
            goto out;

        now = eu_now_ms();
        if (now - u.last_sync_ms >= SYNC_MS) {
            if (sync_all(&u) != 0 || spool_maybe_compact(&u.spool) < 0)
                goto out;
        }
        if (opt->exit_when_drained) {
            bool input_done = u.in.eof || (opt->follow && u.in.idle && !more);
            if (input_done && u.spool.pending == 0 && window_empty(&u.win)) {
                eu_log("drained: every line of %s is acknowledged", input_name(&u));
                status = UPLINK_EXIT_OK;
                break;
            }
            if (opt->drain_timeout_ms >= 0 && now - start >= (uint64_t)opt->drain_timeout_ms) {
                eu_log("not drained after %.3g s: %" PRIu64 " lines not acknowledged yet "
                       "(kept in the spool)", (double)opt->drain_timeout_ms / 1000.0,
                       u.spool.pending);
                status = UPLINK_EXIT_NOT_DRAINED;
                break;
            }
            if (opt->drain_timeout_ms >= 0) {
                uint64_t left = start + (uint64_t)opt->drain_timeout_ms - now; /* > 0 here */
                if (left < (uint64_t)timeout)
                    timeout = (int)left;
            }
        }

        /* wait for the network, the input or the next timer */
        if (more)
            timeout = 0;
        if (u.state == CONN_DOWN) {
            uint64_t left = u.retry_at_ms > now ? u.retry_at_ms - now : 0;
            if (left < (uint64_t)timeout)
                timeout = (int)left;
        }
        sock = mosquitto_socket(u.m);
        if (sock >= 0) {
            pfd[n].fd = sock;
            pfd[n].events = POLLIN;
            if (mosquitto_want_write(u.m))
                pfd[n].events |= POLLOUT;
            pfd[n].revents = 0;
            n++;
        }
        infd = follower_poll_fd(&u.in);
        if (infd >= 0) {
            in_idx = (int)n;
            pfd[n].fd = infd;
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            n++;
        }
        r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR) {
            eu_log("poll: %s", strerror(errno));
            goto out;
        }
        input_ready = r > 0 && in_idx >= 0 && pfd[in_idx].revents != 0;
        if (mosquitto_socket(u.m) >= 0)
            (void)mosquitto_loop(u.m, 0, 1); /* failures arrive through cb_disconnect */
        if (u.state != CONN_DOWN && mosquitto_socket(u.m) < 0)
            went_down(&u, "connection closed");
    }

out:
    if (u.m && u.state == CONN_UP)
        disconnect(&u);
    if (u.spool.fd >= 0 && sync_all(&u) != 0)
        status = UPLINK_EXIT_ERROR;
    if (u.spool.fd >= 0)
        eu_log("exiting: %" PRIu64 " lines spooled, %" PRIu64 " rejected, %" PRIu64
               " dropped by the cap, %" PRIu64 " not acknowledged yet (kept in the spool)",
               u.accepted, u.rejected, u.dropped, u.spool.pending);
    if (u.m)
        mosquitto_destroy(u.m);
    if (lib_init)
        mosquitto_lib_cleanup();
    free(u.payload);
    follower_close(&u.in);
    spool_close(&u.spool);
    return status;
}
