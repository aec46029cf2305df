/*
 * pingpong.c: the C side of benches/c_vs_rust.rs. Same protocol as
 * `shmring-c-peer ping|pong`: 64-byte messages, busy-spinning waits.
 *
 *   pingpong ping IN OUT ROUNDS CPU   prints "p50 NS p99 NS mean NS"
 *   pingpong pong IN OUT CPU          echoes until the pinger leaves
 */
#define _GNU_SOURCE
#include <shmring.h>

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 10000

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "warning: cannot pin to CPU %d\n", cpu);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "pingpong: %s: %s (%s)\n", what, shmring_strerror(rc), shmring_last_error());
    return 1;
}

static int open_ring(const char *name, shmring_spsc **ring)
{
    shmring_spsc_options o = {0};
    o.name = name;
    o.flags = SHMRING_WAIT_SPIN;
    return shmring_spsc_open(&o, ring);
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: pingpong ping IN OUT ROUNDS CPU | pong IN OUT CPU\n");
        return 2;
    }
    int is_ping = strcmp(argv[1], "ping") == 0;
    pin(atoi(is_ping ? argv[5] : argv[4]));
    shmring_spsc *in_ring, *out_ring;
    int rc;
    if ((rc = open_ring(argv[2], &in_ring)) || (rc = open_ring(argv[3], &out_ring)))
        return fail("open", rc);
    shmring_consumer *in;
    shmring_producer *out;
    if ((rc = shmring_consumer_open(in_ring, &in)) || (rc = shmring_producer_open(out_ring, &out)))
        return fail("attach", rc);
    unsigned char msg[64], buf[64];
    size_t len;
    memset(msg, 0x5a, sizeof msg);

    if (!is_ping) {
        for (;;) {
            rc = shmring_consumer_recv_timeout(in, buf, sizeof buf, &len, TIMEOUT_MS);
            if (rc == SHMRING_E_DISCONNECTED)
                return 0;
            if (rc != SHMRING_OK)
                return fail("pong receive", rc);
            if ((rc = shmring_producer_send_timeout(out, buf, len, TIMEOUT_MS)))
                return fail("pong send", rc);
        }
    }

    size_t rounds = strtoull(argv[4], NULL, 10), warmup = rounds / 10;
    uint64_t *samples = malloc(rounds * sizeof *samples);
    if (!samples)
        return 1;
    for (size_t i = 0; i < warmup + rounds; i++) {
        uint64_t start = now_ns();
        if ((rc = shmring_producer_send_timeout(out, msg, sizeof msg, TIMEOUT_MS)))
            return fail("ping send", rc);
        if ((rc = shmring_consumer_recv_timeout(in, buf, sizeof buf, &len, TIMEOUT_MS)))
            return fail("ping receive", rc);
        uint64_t ns = now_ns() - start;
        if (i >= warmup)
            samples[i - warmup] = ns;
    }
    qsort(samples, rounds, sizeof *samples, cmp);
    uint64_t total = 0;
    for (size_t i = 0; i < rounds; i++)
        total += samples[i];
    size_t p99 = (size_t)((double)rounds * 0.99);
    printf("p50 %llu p99 %llu mean %llu\n", (unsigned long long)samples[rounds / 2],
           (unsigned long long)samples[p99 < rounds ? p99 : rounds - 1],
           (unsigned long long)(total / rounds));
    free(samples);
    shmring_producer_close(out);
    shmring_consumer_close(in);
    return 0;
}
