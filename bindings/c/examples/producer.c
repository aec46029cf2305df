/*
 * producer.c: sends COUNT test messages into an SPSC ring (direct mode:
 * a named segment in /dev/shm), then closes (end of file for the consumer).
 *
 *   producer NAME COUNT [--create]
 *
 * Message i is 8 + i % 57 bytes: i as a little-endian 64-bit number, then
 * bytes (i * 7 + j) & 0xff. Even messages are sent with send_timeout, odd
 * ones written in place with reserve/commit. Prints
 * "sent COUNT checksum HEX" (FNV-1a 64 over all bytes sent).
 *
 * Build: cc -Wall -Wextra -Werror -I bindings/c/include producer.c \
 *           -L target/release -lshmring -o producer
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
    fprintf(stderr, "producer: %s: %s (%s)\n", what, shmring_strerror(rc), shmring_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: producer NAME COUNT [--create]\n");
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
    shmring_producer *producer = NULL;
    rc = shmring_producer_open(ring, &producer);
    if (rc != SHMRING_OK)
        return fail("open producer", rc);
    /* The producer keeps the ring mapped: the ring handle can go now. */
    shmring_spsc_close(ring);

    unsigned char msg[64];
    uint64_t sum = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < count; i++) {
        size_t len = make_message(i, msg);
        if (i % 2 == 0) {
            rc = shmring_producer_send_timeout(producer, msg, len, TIMEOUT_MS);
            if (rc != SHMRING_OK)
                return fail("send", rc);
        } else {
            void *slot = NULL;
            rc = shmring_producer_reserve(producer, len, TIMEOUT_MS, &slot);
            if (rc != SHMRING_OK)
                return fail("reserve", rc);
            memcpy(slot, msg, len);
            rc = shmring_producer_commit(producer, len);
            if (rc != SHMRING_OK)
                return fail("commit", rc);
        }
        sum = fnv1a(sum, msg, len);
    }
    rc = shmring_producer_close(producer);
    if (rc != SHMRING_OK)
        return fail("close", rc);
    printf("sent %" PRIu64 " checksum %016" PRIx64 "\n", count, sum);
    return 0;
}
