/* The raw shared-memory ping-pong (pingpong.h). */
#include "pingpong.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* As SPIN_NANOSECONDS in src/backends/process/shm_channel.c. */
#define SPIN_NS 5000.0
#define BOX_HEADER 64

typedef struct box {
    _Atomic uint32_t full;
    _Atomic uint32_t sleeping;
    uint64_t size;
} box;

static box *box_at(uint8_t *region, size_t stride, int index) {
    return (box *)(void *)(region + (size_t)index * stride);
}

static uint8_t *box_data(box *b) {
    return (uint8_t *)b + BOX_HEADER;
}

static void box_wait(box *b, bool spin) {
    if (spin) {
        double start = bench_now_ns();
        for (unsigned i = 0;; i++) {
            if (atomic_load(&b->full)) {
                return;
            }
            if ((i & 63) == 63 && bench_now_ns() - start > SPIN_NS) {
                break;
            }
            __builtin_ia32_pause();
        }
    }
    for (;;) {
        atomic_store(&b->sleeping, 1);
        if (atomic_load(&b->full)) {
            atomic_store(&b->sleeping, 0);
            return;
        }
        syscall(SYS_futex, &b->full, FUTEX_WAIT, 0, NULL, NULL, 0);
        atomic_store(&b->sleeping, 0);
    }
}

static void box_post(box *b, const uint8_t *data, size_t size) {
    b->size = size;
    memcpy(box_data(b), data, size);
    atomic_store(&b->full, 1);
    if (atomic_load(&b->sleeping)) {
        syscall(SYS_futex, &b->full, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
}

static size_t box_take(box *b, uint8_t *out) {
    size_t size = (size_t)b->size;
    memcpy(out, box_data(b), size);
    atomic_store(&b->full, 0);
    return size;
}

static size_t stride_for(size_t capacity) {
    return (BOX_HEADER + capacity + 4095) & ~(size_t)4095;
}

bool pingpong_start(pingpong *pp, const char *self, int pairs, size_t capacity, bool spin) {
    memset(pp, 0, sizeof *pp);
    pp->pairs = pairs;
    pp->capacity = capacity;
    pp->spin = spin;
    pp->stride = stride_for(capacity);
    pp->region_size = pp->stride * 2 * (size_t)pairs;
    /* Inherited by the peer (no close-on-exec): it maps the same pages. */
    pp->fd = memfd_create("asylo-bench-pingpong", 0);
    if (pp->fd < 0 || ftruncate(pp->fd, (off_t)pp->region_size) != 0) {
        perror("asylo_bench: pingpong memfd");
        return false;
    }
    pp->region = mmap(NULL, pp->region_size, PROT_READ | PROT_WRITE, MAP_SHARED, pp->fd, 0);
    if (pp->region == MAP_FAILED) {
        perror("asylo_bench: pingpong mmap");
        close(pp->fd);
        return false;
    }
    char fd_text[16], pairs_text[16], capacity_text[32];
    snprintf(fd_text, sizeof fd_text, "%d", pp->fd);
    snprintf(pairs_text, sizeof pairs_text, "%d", pairs);
    snprintf(capacity_text, sizeof capacity_text, "%zu", capacity);
    char *argv[] = {(char *)self,  "--pingpong-peer",       fd_text, pairs_text,
                    capacity_text, spin ? "spin" : "futex", NULL};
    char ready[64];
    if (!child_spawn(argv, &pp->peer) ||
        !child_read_marker(&pp->peer, "PINGPONG READY", ready, sizeof ready, 10000)) {
        fprintf(stderr, "asylo_bench: the ping-pong peer did not start\n");
        pingpong_stop(pp);
        return false;
    }
    return true;
}

void pingpong_round_trip(pingpong *pp, int pair, const uint8_t *input, size_t size,
                         uint8_t *reply) {
    box_post(box_at(pp->region, pp->stride, 2 * pair), input, size);
    box *back = box_at(pp->region, pp->stride, 2 * pair + 1);
    box_wait(back, pp->spin);
    box_take(back, reply);
}

void pingpong_stop(pingpong *pp) {
    if (pp->peer.pid > 0) {
        kill(pp->peer.pid, SIGKILL);
        child_stop(&pp->peer, 2000);
    }
    if (pp->region != NULL && pp->region != MAP_FAILED) {
        munmap(pp->region, pp->region_size);
    }
    if (pp->fd >= 0) {
        close(pp->fd);
    }
    memset(pp, 0, sizeof *pp);
    pp->fd = -1;
}

/* ---- the peer ---- */

typedef struct peer_thread {
    pthread_t thread;
    uint8_t *region;
    size_t stride;
    int pair;
    size_t capacity;
    bool spin;
} peer_thread;

static void *peer_serve(void *argument) {
    peer_thread *self = argument;
    uint8_t *copy = malloc(self->capacity > 0 ? self->capacity : 1);
    if (copy == NULL) {
        return NULL;
    }
    box *in = box_at(self->region, self->stride, 2 * self->pair);
    box *out = box_at(self->region, self->stride, 2 * self->pair + 1);
    for (;;) {
        box_wait(in, self->spin);
        size_t size = box_take(in, copy);
        box_post(out, copy, size);
    }
    return NULL;
}

int pingpong_peer_main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s --pingpong-peer FD PAIRS CAPACITY spin|futex\n", argv[0]);
        return 2;
    }
    /* Ends with the bench, whatever happens to it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = atoi(argv[2]);
    int pairs = atoi(argv[3]);
    size_t capacity = (size_t)strtoull(argv[4], NULL, 10);
    bool spin = strcmp(argv[5], "spin") == 0;
    if (pairs < 1 || pairs > 256) {
        fprintf(stderr, "pingpong peer: %d pairs is outside 1..256\n", pairs);
        return 2;
    }
    size_t stride = stride_for(capacity);
    size_t size = stride * 2 * (size_t)pairs;
    uint8_t *region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (region == MAP_FAILED) {
        perror("pingpong peer: mmap");
        return 1;
    }
    peer_thread *threads = calloc((size_t)pairs, sizeof *threads);
    if (threads == NULL) {
        return 1;
    }
    for (int i = 0; i < pairs; i++) {
        threads[i] = (peer_thread){
            .region = region, .stride = stride, .pair = i, .capacity = capacity, .spin = spin};
        if (pthread_create(&threads[i].thread, NULL, peer_serve, &threads[i]) != 0) {
            fprintf(stderr, "pingpong peer: cannot start thread %d\n", i);
            return 1;
        }
    }
    printf("PINGPONG READY\n");
    fflush(stdout);
    /* Serves until the bench kills it. */
    pthread_join(threads[0].thread, NULL);
    return 0;
}
