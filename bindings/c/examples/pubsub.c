/*
 * pubsub.c: one publisher, any number of subscribers, every subscriber
 * sees every message (direct mode: a named segment in /dev/shm).
 *
 *   pubsub NAME publish COUNT SUBSCRIBERS [--create] [--lossy]
 *   pubsub NAME subscribe
 *
 * The publisher waits (at most 10 s) until SUBSCRIBERS subscribers have
 * joined, publishes COUNT messages (even ones with send_timeout, odd ones
 * written in place with reserve/commit), then closes: end of file for the
 * subscribers. It prints "published COUNT checksum HEX"; each subscriber
 * prints "received N checksum HEX missed M" (FNV-1a 64 over the bytes
 * received; M > 0 only on a lossy ring, for a subscriber that fell a ring
 * behind). With --create the publisher makes the ring (lossless unless
 * --lossy); start the subscribers once it exists.
 *
 * Message i is 8 + i % 57 bytes: i as a little-endian 64-bit number, then
 * bytes (i * 7 + j) & 0xff.
 *
 * Build: cc -Wall -Wextra -Werror -I bindings/c/include pubsub.c \
 *           -L target/release -lshmring -o pubsub
 */
#include <shmring.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 10000

static size_t make_message(uint64_t i, unsigned char *buf)
{
    size_t len = 8 + (size_t)(i % 57);
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)(i >> (8 * b));
    for (size_t j = 8; j < len; j++)
        buf[j] = (unsigned char)((i * 7 + j) & 0xff);
    return len;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        h ^= p[k];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "pubsub: %s: %s (%s)\n", what, shmring_strerror(rc), shmring_last_error());
    return 1;
}

static int publish(shmring_pubsub *ring, uint64_t count, uint32_t subscribers)
{
    /* Wait for the subscribers: a subscriber sees the messages published
     * after it joined (or, joining at the oldest, what the ring holds). */
    shmring_pubsub_stats st;
    int rc;
    for (int waited = 0;; waited++) {
        if ((rc = shmring_pubsub_stat(ring, &st)) != SHMRING_OK)
            return fail("stat", rc);
        if (st.live_subscribers >= subscribers)
            break;
        if (waited == TIMEOUT_MS) {
            fprintf(stderr, "pubsub: %u of %u subscribers joined\n", st.live_subscribers,
                    subscribers);
            return 1;
        }
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }

    shmring_publisher *publisher = NULL;
    if ((rc = shmring_publisher_open(ring, &publisher)) != SHMRING_OK)
        return fail("open publisher", rc);
    unsigned char msg[64];
    uint64_t sum = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < count; i++) {
        size_t len = make_message(i, msg);
        if (i % 2 == 0) {
            /* Lossless: waits while the slowest subscriber is a ring
             * behind. Lossy: never waits. */
            rc = shmring_publisher_send_timeout(publisher, msg, len, TIMEOUT_MS);
        } else {
            void *slot;
            rc = shmring_publisher_reserve(publisher, len, TIMEOUT_MS, &slot);
            if (rc == SHMRING_OK) {
                memcpy(slot, msg, len); /* written once, read by every subscriber */
                rc = shmring_publisher_commit(publisher, len);
            }
        }
        if (rc != SHMRING_OK)
            return fail("publish", rc);
        sum = fnv1a(sum, msg, len);
    }
    shmring_publisher_close(publisher); /* end of file for the subscribers */
    printf("published %" PRIu64 " checksum %016" PRIx64 "\n", count, sum);
    return 0;
}

static int subscribe(shmring_pubsub *ring)
{
    shmring_subscriber *subscriber = NULL;
    int rc = shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &subscriber);
    if (rc != SHMRING_OK)
        return fail("open subscriber", rc);
    unsigned char buf[256];
    uint64_t received = 0, sum = 0xcbf29ce484222325ULL;
    for (;;) {
        size_t len;
        rc = shmring_subscriber_recv_timeout(subscriber, buf, sizeof buf, &len, TIMEOUT_MS);
        if (rc == SHMRING_E_DISCONNECTED)
            break; /* the publisher is gone and everything was received */
        if (rc == SHMRING_E_LAGGED)
            continue; /* lossy: messages lost; shmring_subscriber_missed counts them */
        if (rc != SHMRING_OK)
            return fail("receive", rc);
        sum = fnv1a(sum, buf, len);
        received++;
    }
    uint64_t missed = 0;
    shmring_subscriber_missed(subscriber, &missed);
    shmring_subscriber_close(subscriber);
    printf("received %" PRIu64 " checksum %016" PRIx64 " missed %" PRIu64 "\n", received, sum,
           missed);
    return 0;
}

int main(int argc, char **argv)
{
    int publishing = argc >= 5 && strcmp(argv[2], "publish") == 0;
    if (!publishing && !(argc == 3 && strcmp(argv[2], "subscribe") == 0)) {
        fprintf(stderr, "usage: pubsub NAME publish COUNT SUBSCRIBERS [--create] [--lossy]\n"
                        "       pubsub NAME subscribe\n");
        return 2;
    }
    shmring_pubsub_options options = {0}; /* zero = defaults */
    options.name = argv[1];
    for (int a = 5; a < argc; a++) {
        if (strcmp(argv[a], "--create") == 0)
            options.flags |= SHMRING_CREATE;
        else if (strcmp(argv[a], "--lossy") == 0)
            options.delivery = SHMRING_LOSSY;
    }
    shmring_pubsub *ring = NULL;
    int rc = shmring_pubsub_open(&options, &ring);
    if (rc != SHMRING_OK)
        return fail("open ring", rc);
    int status = publishing
                     ? publish(ring, strtoull(argv[3], NULL, 10), (uint32_t)strtoul(argv[4], NULL, 10))
                     : subscribe(ring);
    shmring_pubsub_close(ring);
    if (options.flags & SHMRING_CREATE)
        shmring_unlink(argv[1]);
    return status;
}
