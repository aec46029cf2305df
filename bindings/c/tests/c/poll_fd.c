/*
 * poll_fd.c: the readiness descriptors of the four endpoint types, seen
 * through poll(): the rule (receive until empty / send until full, then
 * wait), readiness after the other side acts, and the end-of-file
 * signals (POLLHUP for receivers, POLLERR for senders).
 *
 *   poll_fd NAME-PREFIX
 *
 * Makes NAME-PREFIX-spsc and NAME-PREFIX-mpmc and unlinks them. A wait
 * for readiness that must come has a 5 s limit; a check that nothing is
 * ready polls with timeout 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <shmring.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#define MUST_COME_MS 5000

static int checks, failures;

#define EXPECT(call, code)                                                                     \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        checks++;                                                                              \
        if (rc_ != (code)) {                                                                   \
            failures++;                                                                        \
            fprintf(stderr, "poll_fd.c:%d: %s returned %d (%s), expected %s; last error: %s\n", \
                    __LINE__, #call, rc_, shmring_strerror(rc_), #code, shmring_last_error());  \
        }                                                                                      \
    } while (0)

#define CHECK(cond)                                                             \
    do {                                                                        \
        checks++;                                                               \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "poll_fd.c:%d: check failed: %s\n", __LINE__, #cond); \
        }                                                                       \
    } while (0)

/* poll() on one descriptor: its revents, 0 on timeout, -1 on error. */
static int ready(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events, .revents = 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0) {
        perror("poll");
        return -1;
    }
    return n == 0 ? 0 : p.revents;
}

/* A descriptor the library hands out is valid, close-on-exec and non-blocking. */
static void check_descriptor(int fd)
{
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    int fdflags = fcntl(fd, F_GETFD);
    int flflags = fcntl(fd, F_GETFL);
    CHECK(fdflags >= 0 && (fdflags & FD_CLOEXEC));
    CHECK(flflags >= 0 && (flflags & O_NONBLOCK));
}

static void spsc(const char *name)
{
    unsigned char msg[100], buf[200];
    memset(msg, 0x5a, sizeof msg);
    size_t len = 0;

    shmring_spsc_options o = {0};
    o.name = name;
    o.flags = SHMRING_CREATE;
    o.capacity = 4096;
    shmring_spsc *ring = NULL;
    EXPECT(shmring_spsc_open(&o, &ring), SHMRING_OK);
    shmring_producer *p = NULL;
    shmring_consumer *c = NULL;
    EXPECT(shmring_producer_open(ring, &p), SHMRING_OK);
    EXPECT(shmring_consumer_open(ring, &c), SHMRING_OK);
    EXPECT(shmring_spsc_close(ring), SHMRING_OK);

    int pfd = shmring_producer_fd(p);
    int cfd = shmring_consumer_fd(c);
    check_descriptor(pfd);
    check_descriptor(cfd);
    CHECK(pfd != cfd);
    CHECK(shmring_producer_fd(p) == pfd); /* the same one every time */
    CHECK(shmring_consumer_fd(c) == cfd);

    /* A fresh consumer: empty (which arms), then nothing to poll. */
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(ready(cfd, POLLIN, 0) == 0);
    /* A send makes it readable, and it stays so until a receive finds it empty. */
    EXPECT(shmring_producer_try_send(p, "hello", 5), SHMRING_OK);
    CHECK(ready(cfd, POLLIN, MUST_COME_MS) & POLLIN);
    CHECK(ready(cfd, POLLIN, 0) & POLLIN);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(ready(cfd, POLLIN, 0) == 0);
    /* peek with timeout 0 arms as well. */
    const void *data = NULL;
    EXPECT(shmring_consumer_peek(c, 0, &data, &len), SHMRING_E_EMPTY);
    CHECK(ready(cfd, POLLIN, 0) == 0);
    EXPECT(shmring_producer_try_send(p, "again", 5), SHMRING_OK);
    CHECK(ready(cfd, POLLIN, MUST_COME_MS) & POLLIN);
    EXPECT(shmring_consumer_peek(c, 0, &data, &len), SHMRING_OK);
    CHECK(len == 5 && memcmp(data, "again", 5) == 0);
    /* Taking the descriptor is allowed while a message is peeked. */
    CHECK(shmring_consumer_fd(c) == cfd);
    EXPECT(shmring_consumer_release(c), SHMRING_OK);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(ready(cfd, POLLIN, 0) == 0);

    /* The producer: writable until a send finds the ring full (which arms). */
    CHECK(ready(pfd, POLLOUT, 0) & POLLOUT);
    int sent = 0;
    int rc;
    while ((rc = shmring_producer_try_send(p, msg, sizeof msg)) == SHMRING_OK && sent < 1000)
        sent++;
    EXPECT(rc, SHMRING_E_FULL);
    CHECK(sent > 1);
    CHECK(ready(pfd, POLLOUT, 0) == 0);
    /* The consumer frees room: writable again. */
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(ready(pfd, POLLOUT, MUST_COME_MS) & POLLOUT);
    EXPECT(shmring_producer_try_send(p, msg, sizeof msg), SHMRING_OK);
    /* reserve with timeout 0 arms too. */
    void *slot = NULL;
    EXPECT(shmring_producer_reserve(p, sizeof msg, 0, &slot), SHMRING_E_FULL);
    CHECK(ready(pfd, POLLOUT, 0) == 0);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(ready(pfd, POLLOUT, MUST_COME_MS) & POLLOUT);

    /* Receive the rest: exactly what was sent. */
    int received = 0;
    while ((rc = shmring_consumer_try_recv(c, buf, sizeof buf, &len)) == SHMRING_OK) {
        CHECK(len == sizeof msg);
        received++;
    }
    EXPECT(rc, SHMRING_E_EMPTY);
    CHECK(received == sent - 1);

    /* The producer goes: POLLHUP, then end of file. */
    EXPECT(shmring_producer_try_send(p, "last", 4), SHMRING_OK);
    EXPECT(shmring_producer_close(p), SHMRING_OK);
    int revents = ready(cfd, POLLIN, MUST_COME_MS);
    CHECK(revents > 0 && (revents & POLLHUP));
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 4 && memcmp(buf, "last", 4) == 0);
    EXPECT(shmring_consumer_try_recv(c, buf, sizeof buf, &len), SHMRING_E_DISCONNECTED);
    EXPECT(shmring_producer_fd(p), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_consumer_close(c), SHMRING_OK);
    EXPECT(shmring_consumer_fd(c), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_unlink(name), SHMRING_OK);
}

static void mpmc(const char *name)
{
    unsigned char buf[64];
    size_t len = 0;

    shmring_mpmc_options o = {0};
    o.name = name;
    o.flags = SHMRING_CREATE;
    o.slots = 4;
    o.slot_size = 64;
    shmring_mpmc *q = NULL;
    EXPECT(shmring_mpmc_open(&o, &q), SHMRING_OK);
    shmring_sender *s = NULL;
    shmring_receiver *r = NULL;
    EXPECT(shmring_sender_open(q, 0, &s), SHMRING_OK);
    EXPECT(shmring_receiver_open(q, &r), SHMRING_OK);
    EXPECT(shmring_mpmc_close(q), SHMRING_OK);

    int sfd = shmring_sender_fd(s);
    int rfd = shmring_receiver_fd(r);
    check_descriptor(sfd);
    check_descriptor(rfd);
    CHECK(sfd != rfd);
    CHECK(shmring_sender_fd(s) == sfd);
    CHECK(shmring_receiver_fd(r) == rfd);

    /* The receiver: empty arms, a send makes it readable. */
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(ready(rfd, POLLIN, 0) == 0);
    EXPECT(shmring_sender_try_send(s, "one", 3), SHMRING_OK);
    CHECK(ready(rfd, POLLIN, MUST_COME_MS) & POLLIN);
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 3 && memcmp(buf, "one", 3) == 0);
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(ready(rfd, POLLIN, 0) == 0);

    /* The sender: writable until full; a receive frees a slot. */
    CHECK(ready(sfd, POLLOUT, 0) & POLLOUT);
    int sent = 0;
    int rc;
    while ((rc = shmring_sender_try_send(s, "fill", 4)) == SHMRING_OK && sent < 100)
        sent++;
    EXPECT(rc, SHMRING_E_FULL);
    CHECK(sent == 4);
    CHECK(ready(sfd, POLLOUT, 0) == 0);
    EXPECT(shmring_receiver_try_recv(r, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(ready(sfd, POLLOUT, MUST_COME_MS) & POLLOUT);
    while ((rc = shmring_receiver_try_recv(r, buf, sizeof buf, &len)) == SHMRING_OK)
        CHECK(len == 4 && memcmp(buf, "fill", 4) == 0);
    EXPECT(rc, SHMRING_E_EMPTY);

    /* The receiver goes: POLLERR for the sender, and sends fail. */
    EXPECT(shmring_receiver_close(r), SHMRING_OK);
    EXPECT(shmring_receiver_fd(r), SHMRING_E_BAD_HANDLE);
    int revents = ready(sfd, POLLOUT, MUST_COME_MS);
    CHECK(revents > 0 && (revents & POLLERR));
    EXPECT(shmring_sender_try_send(s, "late", 4), SHMRING_E_DISCONNECTED);
    EXPECT(shmring_sender_close(s), SHMRING_OK);
    EXPECT(shmring_sender_fd(s), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_unlink(name), SHMRING_OK);
}

int main(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "shmring-ctest-poll-fd";
    char spsc_name[256], mpmc_name[256];
    snprintf(spsc_name, sizeof spsc_name, "%s-spsc", prefix);
    snprintf(mpmc_name, sizeof mpmc_name, "%s-mpmc", prefix);

    spsc(spsc_name);
    mpmc(mpmc_name);

    if (failures) {
        fprintf(stderr, "poll_fd: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("poll_fd: all %d checks passed\n", checks);
    return 0;
}
