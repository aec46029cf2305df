/*
 * poll_loop.c: one poll() over a ring, standard input and a timer.
 *
 *   poll_loop NAME [SECONDS] [--create]
 *
 * Receives from the SPSC ring NAME (direct mode: a named segment in
 * /dev/shm) and prints each message as "msg TEXT" (bytes outside
 * printable ASCII as \xHH); prints each line of standard input as
 * "stdin TEXT"; a timerfd ticks every 100 ms ("tick N"). All three wait
 * in one poll(). It exits 0
 *  - at end of file on the ring: the producer is gone and every message
 *    was received ("eof"),
 *  - after a message "quit" ("quit"),
 *  - or after SECONDS seconds, if given and not 0 ("time").
 * At start it prints "ready" (the descriptor is armed: a script may start
 * the producer now); at exit "done MESSAGES messages, LINES lines, TICKS
 * ticks (REASON)".
 *
 * The ring's descriptor follows the rule of every non-blocking
 * descriptor: receive with try_recv until SHMRING_E_EMPTY, and only then
 * poll. The empty answer is what arms the descriptor, so the next message
 * makes it readable; POLLHUP says the producer is gone (receive what is
 * left, then SHMRING_E_DISCONNECTED).
 *
 * Try it with the producer example (binary messages, printed escaped):
 *   poll_loop demo 5 --create &  sleep 0.2; producer demo 20
 *
 * Build: cc -Wall -Wextra -Werror -I bindings/c/include poll_loop.c \
 *           -L target/release -lshmring -o poll_loop
 */
#define _POSIX_C_SOURCE 200809L
#include <shmring.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define TICK_MS 100

static int fail(const char *what, int rc)
{
    fprintf(stderr, "poll_loop: %s: %s (%s)\n", what, shmring_strerror(rc), shmring_last_error());
    return 1;
}

static int fail_errno(const char *what)
{
    fprintf(stderr, "poll_loop: %s: %s\n", what, strerror(errno));
    return 1;
}

/* Prints "PREFIX TEXT\n", bytes outside printable ASCII as \xHH. */
static void print_escaped(const char *prefix, const unsigned char *p, size_t n)
{
    fputs(prefix, stdout);
    putchar(' ');
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
    putchar('\n');
}

/* What receiving until the ring said "nothing now" found. */
enum drained { DRAINED_EMPTY, DRAINED_EOF, DRAINED_QUIT, DRAINED_ERROR };

/*
 * Step one of the rule: receive until SHMRING_E_EMPTY (which arms the
 * descriptor) or SHMRING_E_DISCONNECTED (end of file). The buffer grows
 * when a message does not fit (the message waits in the ring meanwhile).
 */
static enum drained drain(shmring_consumer *consumer, uint64_t *messages)
{
    static unsigned char *buf;
    static size_t cap;
    for (;;) {
        size_t len = 0;
        int rc = buf ? shmring_consumer_try_recv(consumer, buf, cap, &len)
                     : SHMRING_E_BUFFER_TOO_SMALL;
        if (rc == SHMRING_E_BUFFER_TOO_SMALL) {
            size_t want = len > 4096 ? len : 4096;
            unsigned char *bigger = realloc(buf, want);
            if (bigger == NULL) {
                fprintf(stderr, "poll_loop: out of memory for a %zu-byte message\n", want);
                return DRAINED_ERROR;
            }
            buf = bigger;
            cap = want;
            continue;
        }
        if (rc == SHMRING_E_EMPTY)
            return DRAINED_EMPTY;
        if (rc == SHMRING_E_DISCONNECTED)
            return DRAINED_EOF;
        if (rc != SHMRING_OK) {
            fail("receive", rc);
            return DRAINED_ERROR;
        }
        ++*messages;
        print_escaped("msg", buf, len);
        if (len == 4 && memcmp(buf, "quit", 4) == 0)
            return DRAINED_QUIT;
    }
}

/* Standard input, cut into lines. */
struct lines {
    char buf[4096];
    size_t used;
    uint64_t count;
};

static void emit_line(struct lines *in, size_t len)
{
    print_escaped("stdin", (const unsigned char *)in->buf, len);
    in->count++;
}

/* Reads what is there; returns false at end of file (or an error). */
static bool read_lines(struct lines *in)
{
    ssize_t n = read(STDIN_FILENO, in->buf + in->used, sizeof in->buf - in->used);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        if (n < 0)
            fail_errno("read stdin");
        if (in->used > 0) /* a last line without '\n' */
            emit_line(in, in->used);
        in->used = 0;
        return false;
    }
    in->used += (size_t)n;
    char *nl;
    while ((nl = memchr(in->buf, '\n', in->used)) != NULL) {
        size_t len = (size_t)(nl - in->buf);
        emit_line(in, len);
        in->used -= len + 1;
        memmove(in->buf, nl + 1, in->used);
    }
    if (in->used == sizeof in->buf) { /* a line longer than the buffer: cut it */
        emit_line(in, in->used);
        in->used = 0;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: poll_loop NAME [SECONDS] [--create]\n");
        return 2;
    }
    uint64_t seconds = 0;
    bool create = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--create") == 0)
            create = true;
        else
            seconds = strtoull(argv[i], NULL, 10);
    }
    /* Lines as they come, also into a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    shmring_spsc_options options = {0};
    options.name = argv[1];
    options.capacity = 1 << 16;
    if (create)
        options.flags = SHMRING_CREATE;
    shmring_spsc *ring = NULL;
    int rc = shmring_spsc_open(&options, &ring);
    if (rc != SHMRING_OK)
        return fail("open ring", rc);
    shmring_consumer *consumer = NULL;
    rc = shmring_consumer_open(ring, &consumer);
    shmring_spsc_close(ring); /* the consumer keeps the ring mapped */
    if (rc != SHMRING_OK)
        return fail("open consumer", rc);

    /* The ring's descriptor: the consumer owns it (never close it). */
    int ring_fd = shmring_consumer_fd(consumer);
    if (ring_fd < 0)
        return fail("consumer descriptor", ring_fd);

    int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0)
        return fail_errno("timerfd_create");
    struct itimerspec every = {
        .it_interval = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L},
        .it_value = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L},
    };
    if (timerfd_settime(timer_fd, 0, &every, NULL) != 0)
        return fail_errno("timerfd_settime");

    struct lines in = {.used = 0, .count = 0};
    bool stdin_open = true;
    uint64_t messages = 0, ticks = 0;
    const char *reason = NULL; /* set when the loop must end for another cause */
    int status = 0;

    /*
     * 1. Receive until empty, which arms the descriptor; right at the
     * start too: messages sent before the descriptor was taken rang nobody.
     */
    enum drained d = drain(consumer, &messages);
    printf("ready\n");
    while (d == DRAINED_EMPTY && reason == NULL) {
        /* 2. Only then wait, on everything at once. */
        struct pollfd fds[3] = {
            {.fd = ring_fd, .events = POLLIN},
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN}, /* -1: ignored */
            {.fd = timer_fd, .events = POLLIN},
        };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            status = fail_errno("poll");
            reason = "error";
            break;
        }

        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
            stdin_open = read_lines(&in);

        if (fds[2].revents & POLLIN) {
            uint64_t expirations;
            if (read(timer_fd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations) {
                ticks += expirations;
                printf("tick %" PRIu64 "\n", ticks);
                if (seconds > 0 && ticks * TICK_MS >= seconds * 1000)
                    reason = "time";
            }
        }

        /*
         * 3. The ring: POLLIN (a message may be waiting) and POLLHUP (the
         * producer is gone) both mean "receive until empty" (step 1
         * again); end of file shows as SHMRING_E_DISCONNECTED once the ring
         * is drained. The descriptor itself is never read.
         */
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            d = drain(consumer, &messages);
    }
    switch (d) {
    case DRAINED_EOF:
        reason = "eof";
        break;
    case DRAINED_QUIT:
        reason = "quit";
        break;
    case DRAINED_ERROR:
        reason = "error";
        status = 1;
        break;
    case DRAINED_EMPTY:
        break; /* the timer or an error ended the loop */
    }

    printf("done %" PRIu64 " messages, %" PRIu64 " lines, %" PRIu64 " ticks (%s)\n", messages,
           in.count, ticks, reason);
    close(timer_fd);
    rc = shmring_consumer_close(consumer); /* closes ring_fd too */
    if (rc != SHMRING_OK)
        status = fail("close consumer", rc);
    if (create)
        shmring_unlink(argv[1]);
    return status;
}
