/* A byteor stage written in C: attaches to a shared-memory ring as stage STAGE, sums the
 * `value` of every Tick, checks that ticks arrive once each and in order, and prints what it
 * saw when the producer ends the stream.
 *
 *     consumer REGION_PATH STAGE SPEC_FINGERPRINT_HEX
 *
 * Output (stdout): `count=N sum=S out_of_order=K`. Exit status: 0 after a clean end of stream,
 * 2 on bad arguments, 3 when the region cannot be opened or attached (the error is named on
 * stderr), 4 when the pipeline failed, 5 when the producer died (after handling everything it
 * had published).
 *
 * Build: gcc -std=c11 -Wall -Wextra -Werror -O2 -I byteor/include -I byteor/c -I examples/c \
 *            examples/c/consumer.c -o consumer */
#define _GNU_SOURCE
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "byteor.h"
#include "byteor_client.h"
#include "tick.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s REGION_PATH STAGE SPEC_FINGERPRINT_HEX\n", argv[0]);
        return 2;
    }
    struct byteor_expect expect = {
        .event_name = BYTEOR_EVENT_NAME_Tick,
        .event_size = sizeof(struct Tick),
        .event_align = _Alignof(struct Tick),
        .layout_fingerprint = BYTEOR_LAYOUT_FINGERPRINT_Tick,
        .spec_fingerprint = strtoull(argv[3], NULL, 16),
        .capacity = 0,
    };
    struct byteor_client c;
    enum byteor_error e = byteor_open(&c, argv[1], &expect, 1000);
    if (e == BYTEOR_OK) e = byteor_attach(&c, argv[2]);
    if (e != BYTEOR_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], byteor_error_name(e));
        return 3;
    }
    uint64_t count = 0, sum = 0, out_of_order = 0, idle = 0, loops = 0;
    int status = 0;
    for (;;) {
        if ((++loops & 1023) == 0) byteor_heartbeat(&c);
        uint64_t end = byteor_available(&c);
        if (end > c.next) {
            for (uint64_t seq = c.next; seq < end; seq++) {
                const struct Tick *t = (const struct Tick *)byteor_event(&c, seq);
                if (t->seq != seq) out_of_order++;
                sum += t->value;
                count++;
            }
            byteor_release(&c, end);
            idle = 0;
            continue;
        }
        uint64_t target = 0;
        uint32_t state = byteor_stream_state(&c, &target);
        if (state == BYTEOR_REGION_CLOSED && c.next >= target) break;
        if (state == BYTEOR_REGION_FAILED) {
            status = 4;
            break;
        }
        if ((++idle & 1023) == 0) {
            if (!byteor_producer_alive(&c) && byteor_available(&c) == c.next &&
                byteor_stream_state(&c, NULL) == BYTEOR_REGION_RUNNING) {
                status = 5;
                break;
            }
        }
        sched_yield();
    }
    printf("count=%" PRIu64 " sum=%" PRIu64 " out_of_order=%" PRIu64 "\n", count, sum, out_of_order);
    byteor_detach(&c, status == 0);
    return status;
}
