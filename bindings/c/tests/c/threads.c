/*
 * threads.c: the thread rules of the header, exercised.
 *  - one shmring_sender shared by 4 threads (per-thread order kept);
 *  - a producer made in one thread and used in another;
 *  - closing a consumer while another thread is blocked in a receive is
 *    refused with SHMRING_E_BUSY (the case the busy marker is for).
 *
 *   threads NAME-PREFIX
 */
#include <shmring.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define THREADS 4
#define PER_THREAD 10000

static shmring_sender *shared_sender;

static void *send_many(void *arg)
{
    uint64_t t = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        uint64_t msg = t << 32 | i;
        int rc = shmring_sender_send_timeout(shared_sender, &msg, sizeof msg, 10000);
        if (rc != SHMRING_OK) {
            fprintf(stderr, "sender thread %d: %s\n", (int)t, shmring_strerror(rc));
            return (void *)1;
        }
    }
    return NULL;
}

static shmring_producer *moved_producer;

static void *use_moved_producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        if (shmring_producer_send_timeout(moved_producer, &i, sizeof i, 10000) != SHMRING_OK)
            return (void *)1;
    return NULL;
}

static shmring_consumer *blocked_consumer;
static int blocked_rc;

static void *block_in_recv(void *arg)
{
    (void)arg;
    char buf[64];
    size_t len;
    blocked_rc = shmring_consumer_recv_timeout(blocked_consumer, buf, sizeof buf, &len, 1500);
    return NULL;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "threads: %s: %d %s (%s)\n", what, rc, shmring_strerror(rc), shmring_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "shmring-ctest-threads";
    char qname[256], rname[256];
    snprintf(qname, sizeof qname, "%s-q", prefix);
    snprintf(rname, sizeof rname, "%s-r", prefix);
    int rc;

    /* 1. a shared sender */
    shmring_mpmc_options qo = {0};
    qo.name = qname;
    qo.flags = SHMRING_CREATE;
    qo.slots = 256;
    qo.slot_size = 64;
    shmring_mpmc *q;
    shmring_receiver *receiver;
    if ((rc = shmring_mpmc_open(&qo, &q)) || (rc = shmring_sender_open(q, 0, &shared_sender)) ||
        (rc = shmring_receiver_open(q, &receiver)))
        return fail("mpmc", rc);
    shmring_unlink(qname);
    pthread_t th[THREADS];
    for (uintptr_t t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, send_many, (void *)t);
    uint64_t next[THREADS] = {0};
    for (int n = 0; n < THREADS * PER_THREAD; n++) {
        uint64_t msg;
        size_t len;
        if ((rc = shmring_receiver_recv_timeout(receiver, &msg, sizeof msg, &len, 10000)))
            return fail("receive", rc);
        uint64_t t = msg >> 32, i = msg & 0xffffffff;
        if (len != sizeof msg || t >= THREADS || i != next[t]) {
            fprintf(stderr, "threads: out of order: thread %llu message %llu\n",
                    (unsigned long long)t, (unsigned long long)i);
            return 1;
        }
        next[t]++;
    }
    for (int t = 0; t < THREADS; t++) {
        void *res;
        pthread_join(th[t], &res);
        if (res)
            return 1;
    }
    shmring_sender_close(shared_sender);
    shmring_receiver_close(receiver);
    shmring_mpmc_close(q);

    /* 2. a producer moved to another thread and back */
    shmring_spsc_options ro = {0};
    ro.name = rname;
    ro.flags = SHMRING_CREATE;
    ro.capacity = 1 << 16;
    shmring_spsc *ring;
    shmring_consumer *consumer;
    if ((rc = shmring_spsc_open(&ro, &ring)) || (rc = shmring_producer_open(ring, &moved_producer)) ||
        (rc = shmring_consumer_open(ring, &consumer)))
        return fail("spsc", rc);
    shmring_unlink(rname);
    pthread_t mover;
    void *res;
    pthread_create(&mover, NULL, use_moved_producer, NULL);
    pthread_join(mover, &res); /* the join is the hand-over back */
    if (res)
        return 1;
    int last = 1000;
    if ((rc = shmring_producer_send(moved_producer, &last, sizeof last)))
        return fail("send after the move", rc);
    for (int i = 0; i <= 1000; i++) {
        int v;
        size_t len;
        if ((rc = shmring_consumer_try_recv(consumer, &v, sizeof v, &len)) || v != i)
            return fail("receive moved", rc);
    }

    /* 3. close while another thread is blocked in a receive */
    blocked_consumer = consumer;
    pthread_t blocker;
    pthread_create(&blocker, NULL, block_in_recv, NULL);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    rc = shmring_consumer_close(consumer);
    if (rc != SHMRING_E_BUSY)
        return fail("close during a blocked receive should be refused", rc);
    pthread_join(blocker, NULL);
    if (blocked_rc != SHMRING_E_TIMEOUT)
        return fail("blocked receive", blocked_rc);
    if ((rc = shmring_consumer_close(consumer)))
        return fail("close after the receive", rc);
    shmring_producer_close(moved_producer);
    shmring_spsc_close(ring);
    printf("threads: ok\n");
    return 0;
}
