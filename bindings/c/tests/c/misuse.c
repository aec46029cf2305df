/*
 * misuse.c: every documented misuse gets its documented error code, and
 * nothing crashes (the test also runs this under valgrind memcheck).
 *
 *   misuse NAME-PREFIX
 */
#include <shmring.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int checks, failures;

#define EXPECT(call, code)                                                                    \
    do {                                                                                      \
        int rc_ = (call);                                                                     \
        checks++;                                                                             \
        if (rc_ != (code)) {                                                                  \
            failures++;                                                                       \
            fprintf(stderr, "misuse.c:%d: %s returned %d (%s), expected %s; last error: %s\n", \
                    __LINE__, #call, rc_, shmring_strerror(rc_), #code, shmring_last_error()); \
        }                                                                                     \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "misuse.c:%d: check failed: %s\n", __LINE__, #cond); \
        }                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "shmring-ctest-misuse";
    char spsc_name[256], mpmc_name[256];
    snprintf(spsc_name, sizeof spsc_name, "%s-spsc", prefix);
    snprintf(mpmc_name, sizeof mpmc_name, "%s-mpmc", prefix);
    unsigned char msg[100], buf[200];
    memset(msg, 0xab, sizeof msg);
    size_t len = 0;

    /* strerror and the last error */
    CHECK(strcmp(shmring_strerror(SHMRING_OK), "success") == 0);
    CHECK(strlen(shmring_strerror(SHMRING_E_BAD_HANDLE)) > 0);
    CHECK(strcmp(shmring_strerror(12345), "unknown error code") == 0);
    CHECK(shmring_last_error() != NULL);

    /* NULL handles and NULL pointers */
    EXPECT(shmring_producer_send(NULL, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_consumer_recv(NULL, buf, sizeof buf, &len), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_sender_try_send(NULL, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_receiver_try_recv(NULL, buf, sizeof buf, &len), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_producer_fd(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_consumer_fd(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_sender_fd(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_receiver_fd(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_spsc_close(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_client_close(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_spsc_open(NULL, NULL), SHMRING_E_INVALID);
    CHECK(strlen(shmring_last_error()) > 0);

    /* bad names */
    shmring_spsc_options o = {0};
    shmring_spsc *ring = NULL;
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_INVALID); /* name NULL */
    o.name = "";
    o.flags = SHMRING_CREATE;
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_BAD_NAME);
    o.name = "a/b";
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_BAD_NAME);
    o.name = "\xff\xfe";
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_BAD_NAME);
    EXPECT(shmring_unlink("a/b"), SHMRING_E_BAD_NAME);
    o.name = spsc_name;
    o.flags = 0;
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_NOT_FOUND);
    o.flags = 0x100;
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_INVALID);
    o.flags = SHMRING_CREATE;
    o.capacity = 1000; /* not a power of two */
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_E_BAD_CONFIG);
    o.capacity = 4096;
    EXPECT(shmring_spsc_open(&o, NULL), SHMRING_E_INVALID);

    /* an SPSC ring */
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_OK);
    shmring_spsc *again = NULL;
    EXPECT(shmring_spsc_open(&o, &again), SHMRING_E_EXISTS);
    shmring_producer *p = NULL;
    shmring_consumer *c = NULL;
    EXPECT(shmring_producer_open(ring, &p), SHMRING_OK);
    EXPECT(shmring_consumer_open(ring, &c), SHMRING_OK);
    shmring_producer *p2 = NULL;
    EXPECT(shmring_producer_open(ring, &p2), SHMRING_E_BUSY);

    /* zero sizes, NULL buffers, too large */
    EXPECT(shmring_producer_send(p, msg, 0), SHMRING_E_INVALID);
    EXPECT(shmring_producer_send(p, NULL, 4), SHMRING_E_INVALID);
    EXPECT(shmring_consumer_try_recv(c, buf, 0, &len), SHMRING_E_INVALID);
    EXPECT(shmring_consumer_try_recv(c, NULL, 10, &len), SHMRING_E_INVALID);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, NULL), SHMRING_E_INVALID);
    static unsigned char big[2048];
    EXPECT(shmring_producer_try_send(p, big, sizeof big), SHMRING_E_TOO_LARGE);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    EXPECT(shmring_consumer_recv_timeout(c, buf, sizeof buf, &len, 1), SHMRING_E_TIMEOUT);

    /* too-small buffer: the message stays in the ring */
    EXPECT(shmring_producer_send(p, msg, sizeof msg), SHMRING_OK);
    len = 0;
    EXPECT(shmring_consumer_recv_timeout(c, buf, 10, &len, 1000), SHMRING_E_BUFFER_TOO_SMALL);
    CHECK(len == sizeof msg);
    len = 0;
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == sizeof msg && memcmp(buf, msg, sizeof msg) == 0);

    /* state errors: commit/cancel without reserve, release without peek */
    EXPECT(shmring_producer_commit(p, 4), SHMRING_E_STATE);
    EXPECT(shmring_producer_cancel(p), SHMRING_E_STATE);
    EXPECT(shmring_consumer_release(c), SHMRING_E_STATE);
    void *slot = NULL;
    EXPECT(shmring_producer_reserve(p, 8, 0, &slot), SHMRING_OK);
    EXPECT(shmring_producer_reserve(p, 8, 0, &slot), SHMRING_E_STATE);
    EXPECT(shmring_producer_send(p, msg, 4), SHMRING_E_STATE);
    EXPECT(shmring_producer_commit(p, 9), SHMRING_E_INVALID);
    memcpy(slot, "zerocopy", 8);
    EXPECT(shmring_producer_commit(p, 8), SHMRING_OK);
    const void *data = NULL;
    EXPECT(shmring_consumer_peek(c, 0, &data, &len), SHMRING_OK);
    CHECK(len == 8 && memcmp(data, "zerocopy", 8) == 0);
    EXPECT(shmring_consumer_peek(c, 0, &data, &len), SHMRING_E_STATE);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_STATE);
    EXPECT(shmring_consumer_release(c), SHMRING_OK);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    EXPECT(shmring_producer_reserve(p, 8, 0, &slot), SHMRING_OK);
    EXPECT(shmring_producer_cancel(p), SHMRING_OK);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_EMPTY);

    /* stats */
    shmring_spsc_stats st;
    EXPECT(shmring_spsc_stat(ring, &st), SHMRING_OK);
    CHECK(st.capacity == 4096 && st.max_message == 1024 && st.producer_attached && st.consumer_attached);
    EXPECT(shmring_spsc_stat(ring, NULL), SHMRING_E_INVALID);

    /* wrong handle type: a producer passed as a consumer */
    EXPECT(shmring_consumer_try_recv((shmring_consumer *)p, buf, sizeof buf, &len), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_consumer_fd((shmring_consumer *)p), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_sender_fd((shmring_sender *)c), SHMRING_E_BAD_HANDLE);

    /* closed handles: reported, never dereferenced */
    EXPECT(shmring_producer_close(p), SHMRING_OK);
    EXPECT(shmring_producer_send(p, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_producer_close(p), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_producer_fd(p), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_DISCONNECTED);
    EXPECT(shmring_consumer_close(c), SHMRING_OK);
    EXPECT(shmring_consumer_close(c), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_spsc_close(ring), SHMRING_OK);
    EXPECT(shmring_spsc_stat(ring, &st), SHMRING_E_BAD_HANDLE);
    /* A new handle may reuse the slot: the old one stays invalid. */
    o.flags = 0;
    EXPECT(shmring_spsc_open(&o, &again), SHMRING_OK);
    EXPECT(shmring_spsc_stat(ring, &st), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_spsc_stat(again, &st), SHMRING_OK);
    EXPECT(shmring_spsc_close(again), SHMRING_OK);
    EXPECT(shmring_unlink(spsc_name), SHMRING_OK);
    EXPECT(shmring_unlink(spsc_name), SHMRING_E_NOT_FOUND);

    /* MPMC: a too-small buffer keeps the message in the receiver */
    shmring_mpmc_options mo = {0};
    mo.name = mpmc_name;
    mo.flags = SHMRING_CREATE;
    mo.slots = 4;
    mo.slot_size = 128;
    shmring_mpmc *q = NULL;
    EXPECT(shmring_mpmc_open(&mo, &q), SHMRING_OK);
    shmring_sender *s = NULL;
    shmring_receiver *r = NULL;
    EXPECT(shmring_sender_open(q, 0, &s), SHMRING_OK);
    EXPECT(shmring_receiver_open(q, &r), SHMRING_OK);
    EXPECT(shmring_sender_send(s, msg, sizeof msg), SHMRING_OK);
    EXPECT(shmring_sender_send(s, "second", 6), SHMRING_OK);
    len = 0;
    EXPECT(shmring_receiver_recv_timeout(r, buf, 10, &len, 1000), SHMRING_E_BUFFER_TOO_SMALL);
    CHECK(len == sizeof msg);
    EXPECT(shmring_receiver_peek(r, 0, &data, &len), SHMRING_OK);
    CHECK(len == sizeof msg && memcmp(data, msg, len) == 0);
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_E_STATE);
    EXPECT(shmring_receiver_release(r), SHMRING_OK);
    EXPECT(shmring_receiver_release(r), SHMRING_E_STATE);
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 6 && memcmp(buf, "second", 6) == 0);
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    EXPECT(shmring_sender_try_send(s, big, sizeof big), SHMRING_E_TOO_LARGE);
    EXPECT(shmring_sender_commit(s, 1), SHMRING_E_STATE);
    EXPECT(shmring_sender_reserve(s, 5, 0, &slot), SHMRING_OK);
    EXPECT(shmring_sender_reserve(s, 5, 0, &slot), SHMRING_E_STATE);
    memcpy(slot, "hello", 5);
    EXPECT(shmring_sender_commit(s, 5), SHMRING_OK);
    EXPECT(shmring_receiver_recv(r, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);
    EXPECT(shmring_sender_reserve(s, 5, 0, &slot), SHMRING_OK);
    EXPECT(shmring_sender_cancel(s), SHMRING_OK); /* a skipped slot */
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    for (int i = 0; i < 4; i++)
        EXPECT(shmring_sender_try_send(s, msg, 8), SHMRING_OK);
    EXPECT(shmring_sender_try_send(s, msg, 8), SHMRING_E_FULL);
    EXPECT(shmring_sender_send_timeout(s, msg, 8, 1), SHMRING_E_TIMEOUT);
    EXPECT(shmring_sender_reserve(s, 8, 1, &slot), SHMRING_E_TIMEOUT);
    shmring_mpmc_stats ms;
    EXPECT(shmring_mpmc_stat(q, &ms), SHMRING_OK);
    CHECK(ms.slots == 4 && ms.slot_size == 128 && ms.priorities == 1 && ms.messages_in_flight == 4);
    CHECK(ms.live_senders == 1 && ms.live_receivers == 1);
    CHECK(ms.dead_sender_slots == 0 && ms.dead_receiver_messages == 0);
    /* a pending message is dropped with its receiver (no leak) */
    EXPECT(shmring_receiver_recv(r, buf, 4, &len), SHMRING_E_BUFFER_TOO_SMALL);
    EXPECT(shmring_receiver_close(r), SHMRING_OK);
    EXPECT(shmring_receiver_close(r), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_sender_send(s, msg, 4), SHMRING_E_DISCONNECTED);
    /* an open reservation is published as skipped on close */
    EXPECT(shmring_sender_close(s), SHMRING_OK);
    EXPECT(shmring_sender_send(s, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_mpmc_close(q), SHMRING_OK);
    EXPECT(shmring_mpmc_close(q), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_unlink(mpmc_name), SHMRING_OK);

    /* the broker: nobody listens at this path */
    shmring_client *client = NULL;
    EXPECT(shmring_client_connect("/nonexistent/shmring.sock", &client), SHMRING_E_NO_BROKER);
    EXPECT(shmring_client_connect(NULL, NULL), SHMRING_E_INVALID);

    if (failures) {
        fprintf(stderr, "misuse: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("misuse: all %d checks passed\n", checks);
    return 0;
}
