#define _POSIX_C_SOURCE 200809L

#include "window.h"

#include <string.h>

static struct window_entry *at(struct window *w, unsigned i)
{
    return &w->e[(w->head + i) % WINDOW_MAX];
}

void window_init(struct window *w, unsigned limit)
{
    memset(w, 0, sizeof *w);
    w->limit = limit == 0 ? 1 : limit > WINDOW_MAX ? WINDOW_MAX : limit;
}

bool window_full(const struct window *w)
{
    return w->count >= w->limit;
}

bool window_empty(const struct window *w)
{
    return w->count == 0;
}

bool window_push(struct window *w, int mid, uint64_t off, uint64_t next)
{
    struct window_entry *e;

    if (window_full(w))
        return false;
    e = at(w, w->count);
    e->mid = mid;
    e->acked = false;
    e->off = off;
    e->next = next;
    w->count++;
    return true;
}

bool window_ack(struct window *w, int mid)
{
    unsigned i;

    for (i = 0; i < w->count; i++) {
        struct window_entry *e = at(w, i);
        if (e->mid == mid && !e->acked) {
            e->acked = true;
            return true;
        }
    }
    return false;
}

bool window_pop_acked(struct window *w, uint64_t *commit)
{
    bool popped = false;

    while (w->count > 0 && at(w, 0)->acked) {
        *commit = at(w, 0)->next;
        w->head = (w->head + 1) % WINDOW_MAX;
        w->count--;
        popped = true;
    }
    return popped;
}

void window_drop_before(struct window *w, uint64_t off)
{
    while (w->count > 0 && at(w, 0)->off < off) {
        w->head = (w->head + 1) % WINDOW_MAX;
        w->count--;
    }
}

bool window_rewind(struct window *w, uint64_t *from)
{
    bool any = w->count > 0;

    if (any)
        *from = at(w, 0)->off;
    w->head = 0;
    w->count = 0;
    return any;
}
