/*
 * consumer.c: receives COUNT test messages from an SPSC ring (direct
 * mode), checks each one, then waits for the producer's end of file.
 *
 *   consumer NAME COUNT [--create]
 *
 * Messages as in producer.c. Even messages are copied out with
 * recv_timeout, odd ones read in place with peek/release. Prints
 * "received COUNT checksum HEX".
 */
#include <shmring.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    fprintf(stderr, "consumer: %s: %s (%s)\n", what, shmring_strerror(rc), shmring_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: consumer NAME COUNT [--create]\n");
        return 2;
    }
    uint64_t count = strtoull(argv[2], NULL, 10);

    shmring_spsc_options options = {0};
    options.name = argv[1];
    options.capacity = 1 << 16;
    if (argc > 3 && strcmp(argv[3], "--create") == 0)
        options.flags |= SHMRING_CREATE;

    shmring_spsc *ring = NULL;
    int rc = shmring_spsc_open(&options, &ring);
    if (rc != SHMRING_OK)
        return fail("open ring", rc);
    shmring_consumer *consumer = NULL;
    rc = shmring_consumer_open(ring, &consumer);
    if (rc != SHMRING_OK)
        return fail("open consumer", rc);
    shmring_spsc_close(ring);

    unsigned char buf[256], expected[64];
    uint64_t sum = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *msg;
        size_t len = 0;
        if (i % 2 == 0) {
            rc = shmring_consumer_recv_timeout(consumer, buf, sizeof buf, &len, TIMEOUT_MS);
            msg = buf;
        } else {
            const void *data = NULL;
            rc = shmring_consumer_peek(consumer, TIMEOUT_MS, &data, &len);
            msg = data;
        }
        if (rc != SHMRING_OK)
            return fail("receive", rc);
        size_t want = make_message(i, expected);
        if (len != want || memcmp(msg, expected, len) != 0) {
            fprintf(stderr, "consumer: message %" PRIu64 " is wrong (%zu bytes)\n", i, len);
            return 1;
        }
        sum = fnv1a(sum, msg, len);
        if (i % 2 == 1 && (rc = shmring_consumer_release(consumer)) != SHMRING_OK)
            return fail("release", rc);
    }
    /* Everything received: the next receive reports the producer's exit. */
    size_t len;
    rc = shmring_consumer_recv_timeout(consumer, buf, sizeof buf, &len, TIMEOUT_MS);
    if (rc != SHMRING_E_DISCONNECTED)
        return fail("expected end of file", rc);
    shmring_consumer_close(consumer);
    printf("received %" PRIu64 " checksum %016" PRIx64 "\n", count, sum);
    return 0;
}
