/* byteor C client: attach to a byteor shared-memory ring as one of its stages.
 *
 * Header-only, C11 with GNU atomics builtins, Linux. Define _GNU_SOURCE before including any
 * system header (open-file-description locks need it), and include "byteor.h" (generated from
 * the Rust layout, byteor/include/) and this file:
 *
 *     #define _GNU_SOURCE
 *     #include "byteor.h"
 *     #include "byteor_client.h"
 *
 * The client makes the same checks as the Rust side (byteor::transport::shm::Region::open),
 * in the same order, each failure its own enum byteor_error; it never trusts a count or offset
 * read from the region without checking it. A stage process:
 *
 *     struct byteor_client c;
 *     byteor_open(&c, path, &expect, 1000);      // verify the header
 *     byteor_attach(&c, "sum");                  // take the stage's place (its OS lock)
 *     for (;;) {
 *         uint64_t end = byteor_available(&c);   // events below `end` are ready
 *         for (; c.next < end; c.next++) handle(byteor_event(&c, c.next));
 *         byteor_release(&c, end);               // publish progress: the producer reuses slots
 *         ... byteor_stream_state(), byteor_heartbeat(), byteor_producer_alive() when idle ...
 *     }
 *     byteor_detach(&c, 1);
 *
 * Threading: one client per thread. Memory ordering: sequences are read with acquire and
 * written with release, as the Rust kernel does. */
#ifndef BYTEOR_CLIENT_H
#define BYTEOR_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byteor.h"

#ifndef F_OFD_SETLK
#error "byteor_client.h needs F_OFD_SETLK: define _GNU_SOURCE before including system headers"
#endif

/* What the opener expects of a region (from its generated event header and its spec). */
struct byteor_expect {
    const char *event_name;      /* BYTEOR_EVENT_NAME_<Name> */
    uint64_t event_size;         /* sizeof(struct <Name>) */
    uint64_t event_align;        /* _Alignof(struct <Name>) */
    uint64_t layout_fingerprint; /* BYTEOR_LAYOUT_FINGERPRINT_<Name> */
    uint64_t spec_fingerprint;   /* the pipeline spec's fingerprint */
    uint64_t capacity;           /* slots expected, 0 for any */
};

/* An open region and, once attached, this process's stage in it. */
struct byteor_client {
    int fd;
    unsigned char *base;
    uint64_t len;
    struct byteor_region_header_v1 *header;
    uint64_t capacity;
    uint64_t slot_bytes;
    uint32_t stage_count;
    int32_t stage;      /* -1 until attached */
    uint32_t deps;      /* the stages this one runs after; 0: the producer's cursor */
    uint64_t next;      /* the next sequence to handle (resumes where the stage left off) */
    int last_errno;     /* errno of the last BYTEOR_ERR_IO / MISSING / PERMISSION_DENIED */
};

static inline const char *byteor_error_name(enum byteor_error e) {
    switch (e) {
    case BYTEOR_OK: return "BYTEOR_OK";
    case BYTEOR_ERR_MISSING: return "BYTEOR_ERR_MISSING";
    case BYTEOR_ERR_PERMISSION_DENIED: return "BYTEOR_ERR_PERMISSION_DENIED";
    case BYTEOR_ERR_SHORTER_THAN_HEADER: return "BYTEOR_ERR_SHORTER_THAN_HEADER";
    case BYTEOR_ERR_SHORTER_THAN_GEOMETRY: return "BYTEOR_ERR_SHORTER_THAN_GEOMETRY";
    case BYTEOR_ERR_FOREIGN_MAGIC: return "BYTEOR_ERR_FOREIGN_MAGIC";
    case BYTEOR_ERR_ZEROED: return "BYTEOR_ERR_ZEROED";
    case BYTEOR_ERR_STILL_INITIALISING: return "BYTEOR_ERR_STILL_INITIALISING";
    case BYTEOR_ERR_ABI_VERSION: return "BYTEOR_ERR_ABI_VERSION";
    case BYTEOR_ERR_EVENT_LAYOUT: return "BYTEOR_ERR_EVENT_LAYOUT";
    case BYTEOR_ERR_SPEC_FINGERPRINT: return "BYTEOR_ERR_SPEC_FINGERPRINT";
    case BYTEOR_ERR_GEOMETRY: return "BYTEOR_ERR_GEOMETRY";
    case BYTEOR_ERR_STAGE_TAKEN: return "BYTEOR_ERR_STAGE_TAKEN";
    case BYTEOR_ERR_UNKNOWN_STAGE: return "BYTEOR_ERR_UNKNOWN_STAGE";
    case BYTEOR_ERR_IO: return "BYTEOR_ERR_IO";
    }
    return "BYTEOR_ERR_?";
}

/* ---- internals ------------------------------------------------------------------------- */

static inline uint64_t byteor__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t *byteor__sequence(const struct byteor_client *c, uint32_t k) {
    /* k = 0: the producer's cursor; k = 1 + i: stage i. Offsets were checked at open. */
    return (uint64_t *)(c->base + c->header->identity.sequences_offset +
                        (uint64_t)k * BYTEOR_SEQUENCE_STRIDE);
}

static inline int byteor__lock(int fd, int cmd, short type, uint64_t byte) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = (off_t)byte;
    lock.l_len = 1;
    lock.l_pid = 0; /* must be 0 for OFD locks */
    if (fcntl(fd, cmd, &lock) != 0) return -1;
    return cmd == F_OFD_GETLK ? (lock.l_type != F_UNLCK) : 0;
}

/* Field 22 of /proc/self/stat: this process's start time in clock ticks after boot. */
static inline uint64_t byteor__start_time(void) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    /* After ')' come fields 3, 4, ...: skip 19 to reach field 22. */
    unsigned long long value = 0;
    int field = 2;
    for (p++; *p && field < 22; p++) {
        if (*p == ' ') {
            field++;
            if (field == 22) value = strtoull(p + 1, NULL, 10);
        }
    }
    return value;
}

static inline enum byteor_error byteor__fail(struct byteor_client *c, enum byteor_error e) {
    if (c->base) munmap(c->base, (size_t)c->len);
    if (c->fd >= 0) close(c->fd);
    c->base = NULL;
    c->fd = -1;
    return e;
}

static inline int byteor__header_zero(const struct byteor_client *c) {
    const uint64_t *words = (const uint64_t *)c->base;
    for (size_t i = 0; i < BYTEOR_REGION_HEADER_BYTES / 8; i++)
        if (__atomic_load_n(&words[i], __ATOMIC_RELAXED) != 0) return 0;
    return 1;
}

/* ---- API ------------------------------------------------------------------------------- */

/* Opens the region at `path` and checks it against `expect`: the file's size before mapping,
 * then every header field. Waits up to `init_timeout_ms` for a creator still initialising. */
static inline enum byteor_error byteor_open(struct byteor_client *c, const char *path,
                                            const struct byteor_expect *expect,
                                            unsigned init_timeout_ms) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->stage = -1;
    c->fd = open(path, O_RDWR | O_CLOEXEC);
    if (c->fd < 0) {
        c->last_errno = errno;
        if (errno == ENOENT) return BYTEOR_ERR_MISSING;
        if (errno == EACCES || errno == EPERM) return BYTEOR_ERR_PERMISSION_DENIED;
        return BYTEOR_ERR_IO;
    }
    struct stat st;
    if (fstat(c->fd, &st) != 0) {
        c->last_errno = errno;
        return byteor__fail(c, BYTEOR_ERR_IO);
    }
    c->len = (uint64_t)st.st_size;
    if (c->len < BYTEOR_REGION_HEADER_BYTES) return byteor__fail(c, BYTEOR_ERR_SHORTER_THAN_HEADER);
    void *map = mmap(NULL, (size_t)c->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     c->fd, 0);
    if (map == MAP_FAILED) {
        c->last_errno = errno;
        return byteor__fail(c, BYTEOR_ERR_IO);
    }
    c->base = (unsigned char *)map;
    struct byteor_region_header_v1 *h = (struct byteor_region_header_v1 *)c->base;
    c->header = h;

    /* Wait for the version word; a foreign magic fails at once. */
    uint64_t magic_ours;
    memcpy(&magic_ours, BYTEOR_REGION_MAGIC, 8);
    uint64_t deadline = byteor__now_ns() + (uint64_t)init_timeout_ms * 1000000ull;
    for (;;) {
        uint64_t magic = __atomic_load_n(&h->identity.magic, __ATOMIC_ACQUIRE);
        if (magic != 0 && magic != magic_ours) return byteor__fail(c, BYTEOR_ERR_FOREIGN_MAGIC);
        if (__atomic_load_n(&h->identity.abi_version, __ATOMIC_ACQUIRE) != 0) break;
        if (byteor__now_ns() >= deadline)
            return byteor__fail(c, byteor__header_zero(c) ? BYTEOR_ERR_ZEROED
                                                          : BYTEOR_ERR_STILL_INITIALISING);
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }

    /* Copy the plain fields once; check the copy (the peer is untrusted). */
    struct byteor_identity_v1 id;
    struct byteor_event_v1 ev;
    memcpy(&id, (const void *)&h->identity, sizeof id);
    memcpy(&ev, (const void *)&h->event, sizeof ev);
    if (__atomic_load_n(&h->identity.abi_version, __ATOMIC_ACQUIRE) != BYTEOR_REGION_ABI_VERSION)
        return byteor__fail(c, BYTEOR_ERR_ABI_VERSION);
    char name[BYTEOR_SHM_NAME_BYTES + 1];
    memcpy(name, ev.name, BYTEOR_SHM_NAME_BYTES);
    name[BYTEOR_SHM_NAME_BYTES] = 0;
    if (strcmp(name, expect->event_name) != 0 || ev.size != expect->event_size ||
        ev.align != expect->event_align || id.layout_fingerprint != expect->layout_fingerprint)
        return byteor__fail(c, BYTEOR_ERR_EVENT_LAYOUT);
    if (id.spec_fingerprint != expect->spec_fingerprint)
        return byteor__fail(c, BYTEOR_ERR_SPEC_FINGERPRINT);
    if (id.header_bytes != BYTEOR_REGION_HEADER_BYTES || id.stage_count > BYTEOR_SHM_MAX_STAGES ||
        id.slot_bytes != ev.size || id.slot_align != ev.align || id.capacity < 2 ||
        (id.capacity & (id.capacity - 1)) != 0 || id.capacity > (1ull << 24))
        return byteor__fail(c, BYTEOR_ERR_GEOMETRY);
    uint64_t sequences = BYTEOR_REGION_HEADER_BYTES;
    uint64_t slots = sequences + (uint64_t)(id.stage_count + 1) * BYTEOR_SEQUENCE_STRIDE;
    uint64_t total = slots + id.capacity * id.slot_bytes; /* capacity <= 2^24, slot < 2^32 */
    if (id.sequences_offset != sequences || id.slots_offset != slots || id.region_bytes != total)
        return byteor__fail(c, BYTEOR_ERR_GEOMETRY);
    if (c->len < total) return byteor__fail(c, BYTEOR_ERR_SHORTER_THAN_GEOMETRY);
    if (c->len != total) return byteor__fail(c, BYTEOR_ERR_GEOMETRY);
    if (expect->capacity != 0 && id.capacity != expect->capacity)
        return byteor__fail(c, BYTEOR_ERR_GEOMETRY);
    for (uint32_t i = 0; i < id.stage_count; i++)
        if ((id.stage_deps[i] >> i) != 0) return byteor__fail(c, BYTEOR_ERR_GEOMETRY);
    c->capacity = id.capacity;
    c->slot_bytes = id.slot_bytes;
    c->stage_count = id.stage_count;
    return BYTEOR_OK;
}

/* Takes the place of stage `stage` (its OS lock, released when this process dies however it
 * dies; its record: pid, start time, heartbeat). Resumes from the stage's sequence. */
static inline enum byteor_error byteor_attach(struct byteor_client *c, const char *stage) {
    struct byteor_region_header_v1 *h = c->header;
    int32_t found = -1;
    for (uint32_t i = 0; i < c->stage_count; i++) {
        char name[BYTEOR_SHM_NAME_BYTES + 1];
        memcpy(name, (const void *)h->stage_names[i], BYTEOR_SHM_NAME_BYTES);
        name[BYTEOR_SHM_NAME_BYTES] = 0;
        if (strcmp(name, stage) == 0) found = (int32_t)i;
    }
    if (found < 0) return BYTEOR_ERR_UNKNOWN_STAGE;
    if (byteor__lock(c->fd, F_OFD_SETLK, F_WRLCK, 1u + (uint32_t)found) != 0) {
        c->last_errno = errno;
        return (errno == EAGAIN || errno == EACCES) ? BYTEOR_ERR_STAGE_TAKEN : BYTEOR_ERR_IO;
    }
    struct byteor_peer_v1 *peer = &h->peers[1 + found];
    __atomic_store_n(&peer->start_time, byteor__start_time(), __ATOMIC_RELAXED);
    __atomic_store_n(&peer->heartbeat_ns, byteor__now_ns(), __ATOMIC_RELAXED);
    __atomic_fetch_add(&peer->attachments, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&peer->status, BYTEOR_PEER_RUNNING, __ATOMIC_RELAXED);
    __atomic_store_n(&peer->pid, (uint32_t)getpid(), __ATOMIC_RELEASE);
    c->stage = found;
    c->deps = h->identity.stage_deps[found];
    c->next = __atomic_load_n(byteor__sequence(c, 1u + (uint32_t)found), __ATOMIC_ACQUIRE);
    return BYTEOR_OK;
}

/* The end (exclusive) of the events this stage may handle now: published by the producer and
 * finished by every stage it runs after. */
static inline uint64_t byteor_available(const struct byteor_client *c) {
    if (c->deps == 0) return __atomic_load_n(byteor__sequence(c, 0), __ATOMIC_ACQUIRE);
    uint64_t end = UINT64_MAX;
    for (uint32_t j = 0; j < c->stage_count; j++) {
        if (c->deps & (1u << j)) {
            uint64_t s = __atomic_load_n(byteor__sequence(c, 1 + j), __ATOMIC_ACQUIRE);
            if (s < end) end = s;
        }
    }
    return end;
}

/* The event of sequence `seq` (valid until this stage releases it). */
static inline const void *byteor_event(const struct byteor_client *c, uint64_t seq) {
    return c->base + c->header->identity.slots_offset + (seq & (c->capacity - 1)) * c->slot_bytes;
}

/* Publishes this stage's progress: every event below `end` is finished. */
static inline void byteor_release(struct byteor_client *c, uint64_t end) {
    c->next = end;
    __atomic_store_n(byteor__sequence(c, 1u + (uint32_t)c->stage), end, __ATOMIC_RELEASE);
}

/* Records a heartbeat; call it at least every heartbeat timeout of the producer's side. */
static inline void byteor_heartbeat(struct byteor_client *c) {
    __atomic_store_n(&c->header->peers[1 + c->stage].heartbeat_ns, byteor__now_ns(),
                     __ATOMIC_RELEASE);
}

/* BYTEOR_REGION_RUNNING, _CLOSED (then *drain_target is the end of the stream) or _FAILED. */
static inline uint32_t byteor_stream_state(const struct byteor_client *c, uint64_t *drain_target) {
    uint32_t state = __atomic_load_n(&c->header->control.state, __ATOMIC_ACQUIRE);
    if (drain_target) *drain_target = __atomic_load_n(&c->header->control.drain_target, __ATOMIC_RELAXED);
    return state;
}

/* Whether a process holds the producer's place (its lock). */
static inline int byteor_producer_alive(const struct byteor_client *c) {
    return byteor__lock(c->fd, F_OFD_GETLK, F_WRLCK, 0) == 1;
}

/* Leaves the region: records the stage done (`done` != 0) or failed at `c->next`, releases
 * the place, unmaps and closes. */
static inline void byteor_detach(struct byteor_client *c, int done) {
    if (c->stage >= 0) {
        struct byteor_peer_v1 *peer = &c->header->peers[1 + c->stage];
        __atomic_store_n(&peer->failed_at, done ? UINT64_MAX : c->next, __ATOMIC_RELAXED);
        __atomic_store_n(&peer->status, done ? BYTEOR_PEER_DONE : BYTEOR_PEER_FAILED,
                         __ATOMIC_RELEASE);
        byteor__lock(c->fd, F_OFD_SETLK, F_UNLCK, 1u + (uint32_t)c->stage);
    }
    byteor__fail(c, BYTEOR_OK);
}

#endif /* BYTEOR_CLIENT_H */
