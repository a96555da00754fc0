/* edge-uplink: the in-flight window. The spool's records are published in order; each
 * published record waits here, with its MQTT message id, until the broker acknowledges it
 * (PUBACK for QoS 1; for QoS 0, libmosquitto's on_publish once it is written to the socket).
 * Acknowledgements may come in any order, but the committed offset only moves over the
 * contiguous prefix of acknowledged records, so a restart never skips an unacknowledged one. */
#ifndef EDGE_UPLINK_WINDOW_H
#define EDGE_UPLINK_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define WINDOW_MAX 64u

struct window_entry {
    int mid;
    bool acked;
    uint64_t off;  /* the record's logical offset in the spool */
    uint64_t next; /* the offset after it */
};

struct window {
    struct window_entry e[WINDOW_MAX];
    unsigned head;  /* index of the oldest entry */
    unsigned count;
    unsigned limit; /* at most this many in flight (<= WINDOW_MAX) */
};

void window_init(struct window *w, unsigned limit);
bool window_full(const struct window *w);
bool window_empty(const struct window *w);

/* Add the record just published (it must follow the previous one). false when full. */
bool window_push(struct window *w, int mid, uint64_t off, uint64_t next);

/* Mark the record with message id mid acknowledged: false when no such record waits. */
bool window_ack(struct window *w, int mid);

/* Remove the acknowledged prefix: true and the offset up to which everything is
 * acknowledged in *commit when it was not empty. */
bool window_pop_acked(struct window *w, uint64_t *commit);

/* Forget the entries of records before off (dropped by the spool's cap). */
void window_drop_before(struct window *w, uint64_t off);

/* Empty the window for publishing again: true and the offset of the oldest unacknowledged
 * record in *from when there was one (call window_pop_acked first). */
bool window_rewind(struct window *w, uint64_t *from);

#endif
