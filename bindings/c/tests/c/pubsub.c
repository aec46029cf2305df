/*
 * pubsub.c: the publish/subscribe C API, from C. One publisher (this
 * process) and two subscriber processes (fork) on a lossless ring and on
 * a lossy one; the documented error codes; a lossy peek that survives the
 * publisher overwriting its slot; the readiness descriptors; and, given a
 * socket, a ring made through the broker. Also run under valgrind.
 *
 *   pubsub NAME-PREFIX COUNT [BROKER-SOCKET]
 *
 * Message k is 8 + k % 57 bytes: k as a little-endian 64-bit number, then
 * bytes (k * 7 + j) & 0xff, so a torn or misplaced message shows.
 */
#include <shmring.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
/* A child still running after this is killed by its alarm. */
#define CHILD_SECONDS 100

static int checks, failures;
static const char *who = "pubsub";

#define EXPECT(call, code)                                                                     \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        checks++;                                                                              \
        if (rc_ != (code)) {                                                                   \
            failures++;                                                                        \
            fprintf(stderr, "%s: pubsub.c:%d: %s returned %d (%s), expected %s; last error: %s\n", \
                    who, __LINE__, #call, rc_, shmring_strerror(rc_), #code,                   \
                    shmring_last_error());                                                     \
        }                                                                                      \
    } while (0)

#define CHECK(cond)                                                                    \
    do {                                                                               \
        checks++;                                                                      \
        if (!(cond)) {                                                                 \
            failures++;                                                                \
            fprintf(stderr, "%s: pubsub.c:%d: check failed: %s\n", who, __LINE__, #cond); \
        }                                                                              \
    } while (0)

static size_t make_message(uint64_t k, unsigned char *buf)
{
    size_t len = 8 + (size_t)(k % 57);
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)(k >> (8 * b));
    for (size_t j = 8; j < len; j++)
        buf[j] = (unsigned char)((k * 7 + j) & 0xff);
    return len;
}

/* The sequence number of a well-formed message, or UINT64_MAX. */
static uint64_t message_number(const unsigned char *buf, size_t len)
{
    if (len < 8)
        return UINT64_MAX;
    uint64_t k = 0;
    for (int b = 0; b < 8; b++)
        k |= (uint64_t)buf[b] << (8 * b);
    if (len != 8 + (size_t)(k % 57))
        return UINT64_MAX;
    for (size_t j = 8; j < len; j++)
        if (buf[j] != (unsigned char)((k * 7 + j) & 0xff))
            return UINT64_MAX;
    return k;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        h ^= p[k];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_START 0xcbf29ce484222325ULL

/* What a subscriber process reports through the result pipe (one write,
 * less than PIPE_BUF: atomic). */
struct result {
    uint64_t index, received, missed, lag_events, checksum, ok;
};

/* ---- the subscriber processes ------------------------------------------ */

enum style { BY_COPY, BY_PEEK, SLOW_AFTER_GO };

/*
 * A forked subscriber: opens the ring by name itself (a child uses only
 * handles it opens), joins at the next message, says so on `ready`, and
 * receives until the publisher's end. Every message must be the next one
 * expected: after a lag, exactly the number the lag added to `missed`
 * further on.
 */
static int subscriber_process(const char *name, int index, enum style style, int ready, int go,
                              int results)
{
    char tag[32];
    snprintf(tag, sizeof tag, "subscriber %d", index);
    who = tag;
    alarm(CHILD_SECONDS);

    shmring_pubsub_options o = {0};
    o.name = name;
    shmring_pubsub *ring = NULL;
    shmring_subscriber *s = NULL;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_OK);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &s), SHMRING_OK);
    EXPECT(shmring_pubsub_close(ring), SHMRING_OK);
    char byte = 'r';
    CHECK(write(ready, &byte, 1) == 1);
    if (style == SLOW_AFTER_GO)
        CHECK(read(go, &byte, 1) == 1);

    struct result r = {.index = (uint64_t)index, .checksum = FNV_START};
    uint64_t expected = 0, missed_before = 0;
    unsigned char buf[256];
    int rc;
    for (;;) {
        size_t len = 0;
        const unsigned char *msg = buf;
        if (style == BY_PEEK) {
            const void *data = NULL;
            rc = shmring_subscriber_peek(s, TIMEOUT_MS, &data, &len);
            msg = data;
        } else {
            rc = shmring_subscriber_recv_timeout(s, buf, sizeof buf, &len, TIMEOUT_MS);
        }
        if (rc == SHMRING_E_DISCONNECTED)
            break;
        if (rc == SHMRING_E_LAGGED) {
            uint64_t missed = 0;
            EXPECT(shmring_subscriber_missed(s, &missed), SHMRING_OK);
            CHECK(missed > missed_before);
            expected += missed - missed_before;
            missed_before = missed;
            r.lag_events++;
            continue;
        }
        if (rc != SHMRING_OK) {
            EXPECT(rc, SHMRING_OK);
            break;
        }
        uint64_t k = message_number(msg, len);
        if (k != expected) {
            fprintf(stderr, "%s: message %" PRIu64 " where %" PRIu64 " was due (len %zu)\n", tag, k,
                    expected, len);
            failures++;
            break;
        }
        r.checksum = fnv1a(r.checksum, msg, len);
        r.received++;
        expected++;
        if (style == BY_PEEK)
            EXPECT(shmring_subscriber_release(s), SHMRING_OK);
        if (style == BY_COPY && k % 61 == 0)
            sched_yield(); /* uneven timing against the publisher */
    }
    uint64_t position = 0, lag = 1;
    EXPECT(shmring_subscriber_missed(s, &r.missed), SHMRING_OK);
    EXPECT(shmring_subscriber_position(s, &position), SHMRING_OK);
    EXPECT(shmring_subscriber_lag(s, &lag), SHMRING_OK);
    CHECK(r.missed == missed_before);
    CHECK(position == expected && lag == 0);
    EXPECT(shmring_subscriber_close(s), SHMRING_OK);
    r.ok = failures == 0;
    CHECK(write(results, &r, sizeof r) == (ssize_t)sizeof r);
    return failures == 0 ? 0 : 1;
}

static pid_t spawn_subscriber(const char *name, int index, enum style style, int ready[2],
                              int go[2], int results[2])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        close(results[0]);
        exit(subscriber_process(name, index, style, ready[1], go[0], results[1]));
    }
    CHECK(pid > 0);
    return pid;
}

/* Waits for `n` one-byte signals on `fd`, at most TIMEOUT_MS each. */
static int await_bytes(int fd, int n)
{
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char byte;
        if (poll(&p, 1, TIMEOUT_MS) != 1 || read(fd, &byte, 1) != 1)
            return 0;
    }
    return 1;
}

/* Reaps `pid` within CHILD_SECONDS (its alarm kills it by then). */
static void reap(pid_t pid)
{
    int status = 0;
    for (int waited = 0;; waited++) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (done < 0 || waited > (CHILD_SECONDS + 10) * 100) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            CHECK(!"a subscriber process did not finish");
            return;
        }
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void read_results(int fd, struct result *r, int n)
{
    memset(r, 0, sizeof *r * (size_t)n);
    for (int i = 0; i < n; i++) {
        struct result one;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, TIMEOUT_MS) != 1 || read(fd, &one, sizeof one) != (ssize_t)sizeof one ||
            one.index >= (uint64_t)n) {
            CHECK(!"a subscriber's result is missing");
            return;
        }
        r[one.index] = one;
    }
}

/* Publishes message k: even ones with send_timeout, k % 4 == 1 written
 * in place, k % 4 == 3 with try_send (waiting only if full). */
static uint64_t publish(shmring_publisher *p, uint64_t k, uint64_t sum, int lossy)
{
    unsigned char msg[64];
    size_t len = make_message(k, msg);
    if (k % 2 == 0) {
        EXPECT(shmring_publisher_send_timeout(p, msg, len, TIMEOUT_MS), SHMRING_OK);
    } else if (k % 4 == 1) {
        void *slot = NULL;
        EXPECT(shmring_publisher_reserve(p, 64, TIMEOUT_MS, &slot), SHMRING_OK);
        if (slot) {
            memcpy(slot, msg, len);
            EXPECT(shmring_publisher_commit(p, len), SHMRING_OK);
        }
    } else {
        int rc = shmring_publisher_try_send(p, msg, len);
        if (lossy)
            EXPECT(rc, SHMRING_OK); /* a lossy publisher never waits */
        else if (rc == SHMRING_E_FULL)
            rc = shmring_publisher_send_timeout(p, msg, len, TIMEOUT_MS);
        EXPECT(rc, SHMRING_OK);
    }
    return fnv1a(sum, msg, len);
}

/*
 * One publisher, two subscriber processes. Lossless: both receive every
 * message in order (one by copy, one in place), checksums equal. Lossy:
 * one receives while the publisher runs, the other only after it ended;
 * each one's received plus missed is exactly what was published, the
 * late one lagged, and every delivered message is whole.
 */
static void fan_out(const char *name, uint64_t count, int lossy)
{
    shmring_pubsub_options o = {0};
    o.name = name;
    o.flags = SHMRING_CREATE;
    o.slots = lossy ? 16 : 64;
    o.slot_size = 128;
    o.subscribers = 4;
    o.delivery = lossy ? SHMRING_LOSSY : SHMRING_LOSSLESS;
    shmring_pubsub *ring = NULL;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_OK);
    if (!ring)
        return;

    int ready[2], go[2], results[2];
    CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(results) == 0);
    pid_t a = spawn_subscriber(name, 0, BY_COPY, ready, go, results);
    pid_t b = spawn_subscriber(name, 1, lossy ? SLOW_AFTER_GO : BY_PEEK, ready, go, results);
    close(ready[1]);
    close(go[0]);
    close(results[1]);
    CHECK(await_bytes(ready[0], 2));

    shmring_pubsub_stats st;
    EXPECT(shmring_pubsub_stat(ring, &st), SHMRING_OK);
    CHECK(st.live_subscribers == 2 && st.subscribers == 4 && !st.publisher_attached);
    CHECK(st.delivery == (lossy ? SHMRING_LOSSY : SHMRING_LOSSLESS));

    shmring_publisher *p = NULL;
    EXPECT(shmring_publisher_open(ring, &p), SHMRING_OK);
    uint64_t sum = FNV_START;
    for (uint64_t k = 0; k < count && failures == 0; k++)
        sum = publish(p, k, sum, lossy);
    EXPECT(shmring_pubsub_stat(ring, &st), SHMRING_OK);
    CHECK(st.published == count && st.publisher_attached);
    EXPECT(shmring_publisher_close(p), SHMRING_OK);
    char byte = 'g';
    CHECK(write(go[1], &byte, 1) == 1);

    struct result r[2];
    read_results(results[0], r, 2);
    reap(a);
    reap(b);
    for (int i = 0; i < 2; i++) {
        CHECK(r[i].ok);
        CHECK(r[i].received + r[i].missed == count);
        if (!lossy) {
            CHECK(r[i].received == count && r[i].missed == 0 && r[i].lag_events == 0);
            CHECK(r[i].checksum == sum);
        }
    }
    if (lossy) {
        /* The late one found the ring overwritten many times over. */
        CHECK(r[1].lag_events >= 1 && r[1].missed >= count - 16);
        CHECK(r[1].received >= 1 && r[1].received < 16);
    }
    printf("%s: subscriber 0 received %" PRIu64 " missed %" PRIu64 " (%" PRIu64
           " lags); subscriber 1 received %" PRIu64 " missed %" PRIu64 " (%" PRIu64 " lags)\n",
           lossy ? "lossy" : "lossless", r[0].received, r[0].missed, r[0].lag_events,
           r[1].received, r[1].missed, r[1].lag_events);
    close(ready[0]);
    close(go[1]);
    close(results[0]);
    EXPECT(shmring_pubsub_close(ring), SHMRING_OK);
    EXPECT(shmring_unlink(name), SHMRING_OK);
}

/* ---- in one process ----------------------------------------------------- */

static void error_paths(const char *name, const char *spsc_name)
{
    unsigned char msg[64], buf[256];
    size_t len = 0;
    uint64_t value = 0;
    shmring_pubsub_options o = {0};
    shmring_pubsub *ring = NULL;

    EXPECT(shmring_pubsub_open(NULL, &ring), SHMRING_E_INVALID);
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_E_INVALID); /* name NULL */
    o.name = name;
    o.flags = SHMRING_CREATE;
    EXPECT(shmring_pubsub_open(&o, NULL), SHMRING_E_INVALID);
    o.delivery = 7;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_E_INVALID);
    o.delivery = SHMRING_LOSSLESS;
    o.slots = 3; /* not a power of two */
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_E_BAD_CONFIG);
    o.slots = 4;
    o.subscribers = 5000;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_E_BAD_CONFIG);
    o.flags = 0;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_E_NOT_FOUND);

    /* another kind under the name */
    shmring_spsc_options so = {0};
    so.name = spsc_name;
    so.flags = SHMRING_CREATE;
    shmring_spsc *spsc = NULL;
    EXPECT(shmring_spsc_open(&so, &spsc), SHMRING_OK);
    o.name = spsc_name;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_E_INCOMPATIBLE);
    EXPECT(shmring_spsc_close(spsc), SHMRING_OK);
    EXPECT(shmring_unlink(spsc_name), SHMRING_OK);

    o.name = name;
    o.flags = SHMRING_CREATE;
    o.slots = 4;
    o.slot_size = 32;
    o.subscribers = 2;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_OK);
    shmring_pubsub *again = NULL;
    EXPECT(shmring_pubsub_open(&o, &again), SHMRING_E_EXISTS);

    /* one publisher; subscribers up to the limit */
    shmring_publisher *p = NULL, *p2 = NULL;
    EXPECT(shmring_publisher_open(ring, &p), SHMRING_OK);
    EXPECT(shmring_publisher_open(ring, &p2), SHMRING_E_BUSY);
    EXPECT(shmring_publisher_open(ring, NULL), SHMRING_E_INVALID);
    shmring_subscriber *s1 = NULL, *s2 = NULL, *s3 = NULL;
    EXPECT(shmring_subscriber_open(ring, 5, &s1), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, NULL), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &s1), SHMRING_OK);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &s2), SHMRING_OK);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &s3), SHMRING_E_LIMIT);
    EXPECT(shmring_subscriber_close(s2), SHMRING_OK);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_OLDEST, &s2), SHMRING_OK);

    /* sizes */
    static unsigned char big[33];
    void *slot = NULL;
    EXPECT(shmring_publisher_try_send(p, big, sizeof big), SHMRING_E_TOO_LARGE);
    EXPECT(shmring_publisher_reserve(p, sizeof big, 0, &slot), SHMRING_E_TOO_LARGE);
    EXPECT(shmring_publisher_send(p, msg, 0), SHMRING_E_INVALID);
    EXPECT(shmring_publisher_send(p, NULL, 4), SHMRING_E_INVALID);
    EXPECT(shmring_publisher_reserve(p, 0, 0, &slot), SHMRING_E_INVALID);
    EXPECT(shmring_publisher_reserve(p, 8, 0, NULL), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_try_recv(s1, buf, 0, &len), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_try_recv(s1, NULL, 10, &len), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_try_recv(s1, buf, sizeof buf, NULL), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_try_recv(s1, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    EXPECT(shmring_subscriber_recv_timeout(s1, buf, sizeof buf, &len, 1), SHMRING_E_TIMEOUT);
    const void *data = NULL;
    EXPECT(shmring_subscriber_peek(s1, 0, &data, &len), SHMRING_E_EMPTY);

    /* lossless and full: the publisher waits for the slowest */
    for (uint64_t k = 0; k < 4; k++)
        EXPECT(shmring_publisher_try_send(p, msg, make_message(k, msg)), SHMRING_OK);
    EXPECT(shmring_publisher_try_send(p, msg, 8), SHMRING_E_FULL);
    EXPECT(shmring_publisher_send_timeout(p, msg, 8, 1), SHMRING_E_TIMEOUT);
    EXPECT(shmring_publisher_reserve(p, 8, 0, &slot), SHMRING_E_FULL);
    EXPECT(shmring_publisher_reserve(p, 8, 1, &slot), SHMRING_E_TIMEOUT);
    shmring_pubsub_stats st;
    EXPECT(shmring_pubsub_stat(ring, &st), SHMRING_OK);
    CHECK(st.slots == 4 && st.slot_size == 32 && st.published == 4);
    CHECK(st.messages_in_flight == 4 && st.subscribers == 2 && st.live_subscribers == 2);
    CHECK(st.delivery == SHMRING_LOSSLESS && st.publisher_attached && st.reaped_subscribers == 0);
    EXPECT(shmring_pubsub_stat(ring, NULL), SHMRING_E_INVALID);
    EXPECT(shmring_subscriber_lag(s1, &value), SHMRING_OK);
    CHECK(value == 4);
    EXPECT(shmring_subscriber_position(s1, &value), SHMRING_OK);
    CHECK(value == 0);
    EXPECT(shmring_subscriber_missed(s1, &value), SHMRING_OK);
    CHECK(value == 0);
    EXPECT(shmring_subscriber_missed(s1, NULL), SHMRING_E_INVALID);

    /* a too-small buffer: the message stays for the next receive */
    len = 0;
    EXPECT(shmring_subscriber_recv_timeout(s1, buf, 2, &len, 1000), SHMRING_E_BUFFER_TOO_SMALL);
    CHECK(len == 8);
    EXPECT(shmring_subscriber_peek(s1, 0, &data, &len), SHMRING_OK);
    CHECK(len == 8 && message_number(data, len) == 0);
    EXPECT(shmring_subscriber_peek(s1, 0, &data, &len), SHMRING_E_STATE);
    EXPECT(shmring_subscriber_try_recv(s1, buf, sizeof buf, &len), SHMRING_E_STATE);
    EXPECT(shmring_subscriber_position(s1, &value), SHMRING_OK);
    CHECK(value == 0); /* lossless: peeked in place, not passed yet */
    EXPECT(shmring_subscriber_release(s1), SHMRING_OK);
    EXPECT(shmring_subscriber_release(s1), SHMRING_E_STATE);
    for (uint64_t k = 1; k < 4; k++) {
        EXPECT(shmring_subscriber_try_recv(s1, buf, sizeof buf, &len), SHMRING_OK);
        CHECK(message_number(buf, len) == k);
    }
    /* s2 joined at the oldest: it has all four too, and holds the
     * publisher back until it reads them */
    EXPECT(shmring_publisher_try_send(p, msg, 8), SHMRING_E_FULL);
    for (uint64_t k = 0; k < 4; k++) {
        EXPECT(shmring_subscriber_try_recv(s2, buf, sizeof buf, &len), SHMRING_OK);
        CHECK(message_number(buf, len) == k);
    }

    /* zero-copy publishing and its states */
    EXPECT(shmring_publisher_commit(p, 4), SHMRING_E_STATE);
    EXPECT(shmring_publisher_cancel(p), SHMRING_E_STATE);
    EXPECT(shmring_subscriber_release(s1), SHMRING_E_STATE);
    EXPECT(shmring_publisher_reserve(p, 16, 0, &slot), SHMRING_OK);
    EXPECT(shmring_publisher_reserve(p, 16, 0, &slot), SHMRING_E_STATE);
    EXPECT(shmring_publisher_send(p, msg, 4), SHMRING_E_STATE);
    EXPECT(shmring_publisher_commit(p, 17), SHMRING_E_INVALID);
    memcpy(slot, "zerocopy", 8);
    EXPECT(shmring_publisher_commit(p, 8), SHMRING_OK);
    EXPECT(shmring_publisher_reserve(p, 8, 0, &slot), SHMRING_OK);
    EXPECT(shmring_publisher_cancel(p), SHMRING_OK);
    shmring_subscriber *subs[2] = {s1, s2};
    for (int i = 0; i < 2; i++) {
        EXPECT(shmring_subscriber_try_recv(subs[i], buf, sizeof buf, &len), SHMRING_OK);
        CHECK(len == 8 && memcmp(buf, "zerocopy", 8) == 0);
        EXPECT(shmring_subscriber_try_recv(subs[i], buf, sizeof buf, &len), SHMRING_E_EMPTY);
    }

    /* NULL, closed and mistyped handles: reported, never dereferenced */
    EXPECT(shmring_publisher_send(NULL, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_publisher_commit(NULL, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_publisher_fd(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_recv(NULL, buf, sizeof buf, &len), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_release(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_missed(NULL, &value), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_fd(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_open(NULL, SHMRING_JOIN_NEXT, &s3), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_publisher_open(NULL, &p2), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_pubsub_stat(NULL, &st), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_pubsub_close(NULL), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_publisher_send((shmring_publisher *)s1, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_try_recv((shmring_subscriber *)p, buf, sizeof buf, &len),
           SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_lag((shmring_subscriber *)ring, &value), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_publisher_open((shmring_pubsub *)p, &p2), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_producer_send((shmring_producer *)p, msg, 4), SHMRING_E_BAD_HANDLE);

    /* the publisher's end */
    EXPECT(shmring_publisher_try_send(p, "last", 4), SHMRING_OK);
    EXPECT(shmring_publisher_close(p), SHMRING_OK);
    EXPECT(shmring_publisher_close(p), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_publisher_send(p, msg, 4), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_try_recv(s1, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 4 && memcmp(buf, "last", 4) == 0);
    EXPECT(shmring_subscriber_try_recv(s1, buf, sizeof buf, &len), SHMRING_E_DISCONNECTED);
    EXPECT(shmring_subscriber_recv(s1, buf, sizeof buf, &len), SHMRING_E_DISCONNECTED);
    EXPECT(shmring_pubsub_stat(ring, &st), SHMRING_OK);
    CHECK(!st.publisher_attached && st.published == 6);
    /* the role is free again, after the last message */
    EXPECT(shmring_publisher_open(ring, &p), SHMRING_OK);
    EXPECT(shmring_publisher_try_send(p, "next", 4), SHMRING_OK);
    EXPECT(shmring_subscriber_try_recv(s2, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 4 && memcmp(buf, "last", 4) == 0);
    EXPECT(shmring_subscriber_try_recv(s2, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(len == 4 && memcmp(buf, "next", 4) == 0);
    EXPECT(shmring_publisher_close(p), SHMRING_OK);

    EXPECT(shmring_subscriber_close(s1), SHMRING_OK);
    EXPECT(shmring_subscriber_close(s1), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_subscriber_close(s2), SHMRING_OK);
    EXPECT(shmring_pubsub_stat(ring, &st), SHMRING_OK);
    CHECK(st.live_subscribers == 0 && st.messages_in_flight == 0);
    EXPECT(shmring_pubsub_close(ring), SHMRING_OK);
    EXPECT(shmring_pubsub_close(ring), SHMRING_E_BAD_HANDLE);
    EXPECT(shmring_unlink(name), SHMRING_OK);
}

/*
 * Lossy, in place: what `peek` hands out is the subscriber's validated
 * copy, so the publisher overwriting the slot a ring over does not change
 * it; a too-small buffer keeps the copy too. Then the lag is exact.
 */
static void lossy_copies(const char *name)
{
    shmring_pubsub_options o = {0};
    o.name = name;
    o.flags = SHMRING_CREATE;
    o.slots = 4;
    o.slot_size = 64;
    o.delivery = SHMRING_LOSSY;
    shmring_pubsub *ring = NULL;
    shmring_publisher *p = NULL;
    shmring_subscriber *s = NULL;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_OK);
    EXPECT(shmring_publisher_open(ring, &p), SHMRING_OK);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &s), SHMRING_OK);
    if (!ring || !p || !s)
        return;
    unsigned char msg[64], buf[64];
    size_t len = 0;
    uint64_t k = 0, value = 0;

    EXPECT(shmring_publisher_send(p, msg, make_message(k++, msg)), SHMRING_OK);
    const void *data = NULL;
    EXPECT(shmring_subscriber_peek(s, 0, &data, &len), SHMRING_OK);
    CHECK(len == 8 && message_number(data, len) == 0);
    /* a lossy publisher never waits: two rings' worth over the peek */
    for (int i = 0; i < 8; i++)
        EXPECT(shmring_publisher_try_send(p, msg, make_message(k++, msg)), SHMRING_OK);
    CHECK(message_number(data, len) == 0); /* the copy is the handle's */
    EXPECT(shmring_subscriber_position(s, &value), SHMRING_OK);
    CHECK(value == 1); /* lossy: already passed */
    EXPECT(shmring_subscriber_release(s), SHMRING_OK);
    /* messages 1..8 were published, 5..8 are in the ring; 6..8 are
     * safe from the next claim: 1..5 are lost */
    EXPECT(shmring_subscriber_lag(s, &value), SHMRING_OK);
    CHECK(value == 8);
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_E_LAGGED);
    EXPECT(shmring_subscriber_missed(s, &value), SHMRING_OK);
    CHECK(value == 5);
    /* a too-small buffer: the copy stays in the handle, whatever the
     * publisher does meanwhile */
    EXPECT(shmring_subscriber_try_recv(s, buf, 4, &len), SHMRING_E_BUFFER_TOO_SMALL);
    CHECK(len == 8 + 6 % 57);
    for (int i = 0; i < 8; i++)
        EXPECT(shmring_publisher_send(p, msg, make_message(k++, msg)), SHMRING_OK);
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(message_number(buf, len) == 6);
    /* 7..16 published since; 14..16 remain safe: 7..13 lost */
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_E_LAGGED);
    EXPECT(shmring_subscriber_missed(s, &value), SHMRING_OK);
    CHECK(value == 5 + 7);
    uint64_t received = 2;
    int rc;
    while ((rc = shmring_subscriber_try_recv(s, buf, sizeof buf, &len)) == SHMRING_OK) {
        CHECK(message_number(buf, len) == 14 + received - 2);
        received++;
    }
    EXPECT(rc, SHMRING_E_EMPTY);
    CHECK(received + value == k);
    EXPECT(shmring_subscriber_close(s), SHMRING_OK);
    EXPECT(shmring_publisher_close(p), SHMRING_OK);
    EXPECT(shmring_pubsub_close(ring), SHMRING_OK);
    EXPECT(shmring_unlink(name), SHMRING_OK);
}

static int poll_one(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n == 1 ? p.revents : 0;
}

/* Whether the subscriber's descriptor is (or soon is) not readable
 * after an empty answer. Its relay thread may still finish a job that an
 * earlier arm posted and ring once more (docs/architecture.md: "a stale
 * job only makes the pipe ready once too often"); the rule is that the
 * next try then says empty again and arms anew, so a few such rounds
 * settle it. */
static int settles_unreadable(shmring_subscriber *s, int sfd)
{
    char buf[64];
    size_t len;
    for (int round = 0; round < 5; round++) {
        if (!(poll_one(sfd, POLLIN, 0) & POLLIN))
            return 1;
        if (shmring_subscriber_try_recv(s, buf, sizeof buf, &len) != SHMRING_E_EMPTY)
            return 0;
        usleep(1000);
    }
    return 0;
}

/* The descriptors follow the rule: not ready after an empty (full)
 * answer, ready once the other side acted. */
static void descriptors(const char *name)
{
    shmring_pubsub_options o = {0};
    o.name = name;
    o.flags = SHMRING_CREATE;
    o.slots = 2;
    o.slot_size = 32;
    shmring_pubsub *ring = NULL;
    shmring_publisher *p = NULL;
    shmring_subscriber *s = NULL;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_OK);
    EXPECT(shmring_publisher_open(ring, &p), SHMRING_OK);
    EXPECT(shmring_subscriber_open(ring, SHMRING_JOIN_NEXT, &s), SHMRING_OK);
    if (!ring || !p || !s)
        return;
    unsigned char buf[64];
    size_t len = 0;

    int sfd = shmring_subscriber_fd(s), pfd = shmring_publisher_fd(p);
    CHECK(sfd >= 0 && pfd >= 0 && sfd != pfd);
    CHECK(shmring_subscriber_fd(s) == sfd && shmring_publisher_fd(p) == pfd);
    CHECK((fcntl(sfd, F_GETFD) & FD_CLOEXEC) && (fcntl(sfd, F_GETFL) & O_NONBLOCK));
    CHECK((fcntl(pfd, F_GETFD) & FD_CLOEXEC) && (fcntl(pfd, F_GETFL) & O_NONBLOCK));

    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(settles_unreadable(s, sfd));
    EXPECT(shmring_publisher_try_send(p, "one", 3), SHMRING_OK);
    CHECK(poll_one(sfd, POLLIN, TIMEOUT_MS) & POLLIN);
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_OK);
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(settles_unreadable(s, sfd));

    CHECK(poll_one(pfd, POLLOUT, 0) & POLLOUT); /* not armed yet */
    EXPECT(shmring_publisher_try_send(p, "two", 3), SHMRING_OK);
    EXPECT(shmring_publisher_try_send(p, "three", 5), SHMRING_OK);
    EXPECT(shmring_publisher_try_send(p, "four", 4), SHMRING_E_FULL);
    CHECK(!(poll_one(pfd, POLLOUT, 0) & POLLOUT));
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_OK);
    CHECK(poll_one(pfd, POLLOUT, TIMEOUT_MS) & POLLOUT);
    EXPECT(shmring_publisher_try_send(p, "four", 4), SHMRING_OK);

    /* the publisher's end shows as POLLIN too */
    for (int i = 0; i < 2; i++)
        EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_OK);
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_E_EMPTY);
    CHECK(settles_unreadable(s, sfd));
    EXPECT(shmring_publisher_close(p), SHMRING_OK);
    CHECK(poll_one(sfd, POLLIN, TIMEOUT_MS) & POLLIN);
    EXPECT(shmring_subscriber_try_recv(s, buf, sizeof buf, &len), SHMRING_E_DISCONNECTED);
    EXPECT(shmring_subscriber_close(s), SHMRING_OK);
    EXPECT(shmring_pubsub_close(ring), SHMRING_OK);
    EXPECT(shmring_unlink(name), SHMRING_OK);
}

/* Through the broker: an ephemeral lossy ring, and the broker's view. */
static void through_the_broker(const char *socket, const char *name)
{
    shmring_client *client = NULL;
    EXPECT(shmring_client_connect(socket, &client), SHMRING_OK);
    if (!client)
        return;
    shmring_pubsub_options o = {0};
    o.name = name;
    o.client = client;
    o.flags = SHMRING_CREATE | SHMRING_EPHEMERAL;
    o.slots = 8;
    o.slot_size = 48;
    o.subscribers = 3;
    o.delivery = SHMRING_LOSSY;
    shmring_pubsub *ring = NULL;
    EXPECT(shmring_pubsub_open(&o, &ring), SHMRING_OK);
    shmring_pubsub *opened = NULL;
    o.flags = 0;
    o.slots = o.slot_size = 0; /* opening takes the ring's own shape */
    EXPECT(shmring_pubsub_open(&o, &opened), SHMRING_OK);
    shmring_publisher *p = NULL;
    shmring_subscriber *s = NULL;
    EXPECT(shmring_subscriber_open(opened, SHMRING_JOIN_NEXT, &s), SHMRING_OK);
    EXPECT(shmring_publisher_open(ring, &p), SHMRING_OK);
    unsigned char msg[64], buf[64];
    size_t len = 0;
    for (uint64_t k = 0; k < 5; k++)
        EXPECT(shmring_publisher_send(p, msg, make_message(k, msg)), SHMRING_OK);
    for (uint64_t k = 0; k < 5; k++) {
        EXPECT(shmring_subscriber_recv_timeout(s, buf, sizeof buf, &len, TIMEOUT_MS), SHMRING_OK);
        CHECK(message_number(buf, len) == k);
    }
    shmring_pubsub_stats st;
    EXPECT(shmring_pubsub_stat(opened, &st), SHMRING_OK);
    CHECK(st.slots == 8 && st.slot_size == 48 && st.subscribers == 3);
    CHECK(st.delivery == SHMRING_LOSSY && st.published == 5);
    shmring_segment_info info;
    EXPECT(shmring_client_stat(client, name, &info), SHMRING_OK);
    CHECK(info.kind == SHMRING_KIND_PUBSUB && info.capacity == 8 && info.max_message == 48);
    CHECK(info.ephemeral == 1 && strcmp(info.name, name) == 0);
    EXPECT(shmring_publisher_close(p), SHMRING_OK);
    EXPECT(shmring_subscriber_close(s), SHMRING_OK);
    EXPECT(shmring_pubsub_close(ring), SHMRING_OK);
    EXPECT(shmring_pubsub_close(opened), SHMRING_OK);
    EXPECT(shmring_client_unlink(client, name), SHMRING_OK);
    EXPECT(shmring_client_close(client), SHMRING_OK);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pubsub NAME-PREFIX COUNT [BROKER-SOCKET]\n");
        return 2;
    }
    const char *prefix = argv[1];
    uint64_t count = strtoull(argv[2], NULL, 10);
    char names[6][256];
    const char *tags[6] = {"errors", "spsc", "lossless", "lossy", "copies", "poll"};
    for (int i = 0; i < 6; i++)
        snprintf(names[i], sizeof names[i], "%s-%s", prefix, tags[i]);

    error_paths(names[0], names[1]);
    /* Forks before any descriptor's helper thread exists. */
    fan_out(names[2], count, 0);
    fan_out(names[3], count, 1);
    lossy_copies(names[4]);
    descriptors(names[5]);
    if (argc > 3) {
        char broker_name[256];
        snprintf(broker_name, sizeof broker_name, "%s-broker", prefix);
        through_the_broker(argv[3], broker_name);
    }

    if (failures) {
        fprintf(stderr, "pubsub: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("pubsub: all %d checks passed\n", checks);
    return 0;
}
