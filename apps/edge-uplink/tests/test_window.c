/* The in-flight window: the committed offset moves only over the contiguous acknowledged
 * prefix, whatever order the acknowledgements come in. */
#define _POSIX_C_SOURCE 200809L

#include "window.h"

#include "check.h"

int main(void)
{
    struct window w;
    uint64_t commit = 0, from = 0;
    unsigned i;

    window_init(&w, 3);
    CHECK(window_empty(&w));
    CHECK(window_push(&w, 11, 0, 10));
    CHECK(window_push(&w, 12, 10, 25));
    CHECK(window_push(&w, 13, 25, 40));
    CHECK(window_full(&w));
    CHECK(!window_push(&w, 14, 40, 50));

    /* the 2nd and 3rd acknowledged first: nothing can be committed */
    CHECK(window_ack(&w, 13));
    CHECK(window_ack(&w, 12));
    CHECK(!window_ack(&w, 12)); /* twice */
    CHECK(!window_ack(&w, 99)); /* unknown */
    CHECK(!window_pop_acked(&w, &commit));
    CHECK_U64(commit, 0);
    /* then the 1st: all three at once */
    CHECK(window_ack(&w, 11));
    CHECK(window_pop_acked(&w, &commit));
    CHECK_U64(commit, 40);
    CHECK(window_empty(&w));

    /* wrapping around the ring, the window limit of 20 */
    window_init(&w, 20);
    for (i = 0; i < 200; i++) {
        CHECK(window_push(&w, (int)i + 1, i * 10u, i * 10u + 10u));
        if (window_full(&w)) {
            CHECK(window_ack(&w, (int)i + 1 - 19)); /* the oldest */
            CHECK(window_pop_acked(&w, &commit));
        }
    }
    CHECK_U64(w.count, 19);

    /* the cap dropped records: their entries go */
    window_drop_before(&w, 1950);
    CHECK_U64(w.count, 5);
    /* QoS 0 after a disconnection: publish again from the oldest unacknowledged */
    CHECK(window_ack(&w, 197));            /* the 2nd (offset 1960) */
    CHECK(!window_pop_acked(&w, &commit)); /* the 1st (offset 1950) is not */
    CHECK(window_rewind(&w, &from));
    CHECK_U64(from, 1950);
    CHECK(window_empty(&w));
    CHECK(!window_rewind(&w, &from));

    /* limits are clamped */
    window_init(&w, 0);
    CHECK_U64(w.limit, 1);
    window_init(&w, 1000);
    CHECK_U64(w.limit, WINDOW_MAX);
    return check_report("test_window");
}
