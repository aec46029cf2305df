/*
 * broker_echo.c: request/reply through rings created by the broker
 * (shmringd). The parent creates an MPMC request queue and an SPSC reply
 * ring (ephemeral), forks an echo server, sends COUNT requests and checks
 * every reply, then prints the broker's view of the rings and removes them.
 *
 *   broker_echo [SOCKET [NAME [COUNT]]]
 *
 * SOCKET "-" or absent: the default socket path ($SHMRING_SOCKET, else
 * $XDG_RUNTIME_DIR/shmring/broker.sock, else /tmp/shmring-$UID/broker.sock).
 */
#include <shmring.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

static int fail(const char *who, const char *what, int rc)
{
    fprintf(stderr, "broker_echo %s: %s: %s (%s)\n", who, what, shmring_strerror(rc),
            shmring_last_error());
    return 1;
}

/* The echo server: every request comes back on the reply ring. */
static int serve(const char *socket, const char *req_name, const char *rep_name)
{
    shmring_client *client = NULL;
    int rc = shmring_client_connect(socket, &client);
    if (rc != SHMRING_OK)
        return fail("server", "connect", rc);

    shmring_mpmc_options qo = {0};
    qo.name = req_name;
    qo.client = client;
    shmring_mpmc *requests = NULL;
    if ((rc = shmring_mpmc_open(&qo, &requests)) != SHMRING_OK)
        return fail("server", "open requests", rc);
    shmring_spsc_options ro = {0};
    ro.name = rep_name;
    ro.client = client;
    shmring_spsc *replies = NULL;
    if ((rc = shmring_spsc_open(&ro, &replies)) != SHMRING_OK)
        return fail("server", "open replies", rc);
    shmring_client_close(client);

    shmring_receiver *in = NULL;
    shmring_producer *out = NULL;
    if ((rc = shmring_receiver_open(requests, &in)) != SHMRING_OK)
        return fail("server", "receiver", rc);
    if ((rc = shmring_producer_open(replies, &out)) != SHMRING_OK)
        return fail("server", "producer", rc);
    shmring_mpmc_close(requests);
    shmring_spsc_close(replies);

    for (;;) {
        const void *msg;
        size_t len;
        rc = shmring_receiver_peek(in, TIMEOUT_MS, &msg, &len);
        if (rc == SHMRING_E_DISCONNECTED)
            break; /* every sender is gone: done */
        if (rc != SHMRING_OK)
            return fail("server", "receive", rc);
        rc = shmring_producer_send_timeout(out, msg, len, TIMEOUT_MS);
        if (rc != SHMRING_OK)
            return fail("server", "reply", rc);
        shmring_receiver_release(in);
    }
    shmring_receiver_close(in);
    shmring_producer_close(out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *socket = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
    char req_name[200], rep_name[200];
    if (argc > 2) {
        snprintf(req_name, sizeof req_name, "%s-req", argv[2]);
        snprintf(rep_name, sizeof rep_name, "%s-rep", argv[2]);
    } else {
        snprintf(req_name, sizeof req_name, "broker-echo-%ld-req", (long)getpid());
        snprintf(rep_name, sizeof rep_name, "broker-echo-%ld-rep", (long)getpid());
    }
    int count = argc > 3 ? atoi(argv[3]) : 1000;

    shmring_client *client = NULL;
    int rc = shmring_client_connect(socket, &client);
    if (rc != SHMRING_OK)
        return fail("client", "connect", rc);

    shmring_mpmc_options qo = {0};
    qo.name = req_name;
    qo.client = client;
    qo.flags = SHMRING_CREATE | SHMRING_EPHEMERAL;
    qo.slots = 64;
    qo.slot_size = 128;
    shmring_mpmc *requests = NULL;
    if ((rc = shmring_mpmc_open(&qo, &requests)) != SHMRING_OK)
        return fail("client", "create requests", rc);
    shmring_spsc_options ro = {0};
    ro.name = rep_name;
    ro.client = client;
    ro.flags = SHMRING_CREATE | SHMRING_EPHEMERAL;
    ro.capacity = 1 << 14;
    shmring_spsc *replies = NULL;
    if ((rc = shmring_spsc_open(&ro, &replies)) != SHMRING_OK)
        return fail("client", "create replies", rc);

    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0)
        _exit(serve(socket, req_name, rep_name));

    shmring_sender *out = NULL;
    shmring_consumer *in = NULL;
    if ((rc = shmring_sender_open(requests, 0, &out)) != SHMRING_OK)
        return fail("client", "sender", rc);
    if ((rc = shmring_consumer_open(replies, &in)) != SHMRING_OK)
        return fail("client", "consumer", rc);

    for (int i = 0; i < count; i++) {
        char request[64], reply[128];
        int n = snprintf(request, sizeof request, "request %d", i);
        size_t len = 0;
        if ((rc = shmring_sender_send_timeout(out, request, (size_t)n, TIMEOUT_MS)) != SHMRING_OK)
            return fail("client", "send", rc);
        rc = shmring_consumer_recv_timeout(in, reply, sizeof reply, &len, TIMEOUT_MS);
        if (rc != SHMRING_OK)
            return fail("client", "receive", rc);
        if (len != (size_t)n || memcmp(reply, request, len) != 0) {
            fprintf(stderr, "broker_echo: reply %d does not match\n", i);
            return 1;
        }
    }

    shmring_segment_info info;
    if ((rc = shmring_client_stat(client, rep_name, &info)) != SHMRING_OK)
        return fail("client", "stat", rc);
    printf("%s: kind %s, capacity %llu, %u holders, %llu messages in flight\n", info.name,
           info.kind == SHMRING_KIND_SPSC ? "spsc" : "mpmc", (unsigned long long)info.capacity,
           info.holders, (unsigned long long)info.messages_in_flight);

    /* Closing the only sender is the end of file for the server. */
    shmring_sender_close(out);
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "broker_echo: the echo server failed\n");
        return 1;
    }
    shmring_consumer_close(in);
    shmring_mpmc_close(requests);
    shmring_spsc_close(replies);
    if ((rc = shmring_client_unlink(client, req_name)) != SHMRING_OK)
        return fail("client", "unlink", rc);
    if ((rc = shmring_client_unlink(client, rep_name)) != SHMRING_OK)
        return fail("client", "unlink", rc);
    shmring_client_close(client);
    printf("echoed %d messages through the broker\n", count);
    return 0;
}
