/*
 * echo_server.c - an ordinary POSIX message-queue server (no test hooks).
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread echo_server.c -o echo_server -lrt
 * Usage: echo_server REQUEST_QUEUE
 *   REQUEST_QUEUE  queue name with a leading slash, e.g. /mqt-echo-1234; the
 *                  server creates it (O_CREAT|O_EXCL, mode 0600, mq_maxmsg 10,
 *                  mq_msgsize 1024) and unlinks it when told to stop.
 * Harness (any user, same user as the client):
 *   ./echo_server /mqt-echo-$$ > server.out &
 *   ./echo_client /mqt-echo-$$ > client.out     # retries until the queue exists
 *   wait                                         # both exit 0
 *
 * Protocol: a request is a text header line "OP ARG REPLY_QUEUE\n" followed
 * by a binary payload, sent with any priority.
 *   ECHO seq reply   -> reply on queue "reply", same priority:
 *                       "R seq prio len order\n" + the payload reversed
 *                       (order = position within a batch, 0 outside one)
 *   BATCH n reply    -> wait (mq_getattr) until n requests are queued, serve
 *                       them in queue order (priority order), then send
 *                       "END n\n" with priority 0
 *   STOP 0 reply     -> mq_unlink the request queue, reply
 *                       "STOPPED served=S batches=B\n" (priority 0), exit 0
 * Output (deterministic): "echo_server: ready", then
 * "echo_server: stopped served=S batches=B".  Exit 0; 2 on error or after 10 s
 * without any request.
 */
#include "mqtest.h"

#define MSGSIZE 1024

static mqd_t req = (mqd_t)-1, rep = (mqd_t)-1;
static char rep_name[300];
static const char *req_name;
static int served, batches;

static void die(const char *what)
{
	int e = errno;
	printf("echo_server: error: %s: %s\n", what, errname(e));
	if (req != (mqd_t)-1)
		mq_unlink(req_name);
	exit(2);
}

static ssize_t get(char *buf, unsigned *prio)
{
	struct timespec ts = mqt_deadline(10000);
	ssize_t n = mq_timedreceive(req, buf, MSGSIZE, prio, &ts);
	if (n < 0)
		die(errno == ETIMEDOUT ? "idle timeout" : "mq_timedreceive");
	return n;
}

static void put(const char *buf, size_t len, unsigned prio)
{
	struct timespec ts = mqt_deadline(5000);
	if (mq_timedsend(rep, buf, len, prio, &ts) < 0)
		die("reply mq_timedsend");
}

/* Parse the header; open the reply queue if it changed.  Returns header length. */
static size_t parse(char *buf, ssize_t n, char *op, unsigned *arg)
{
	char *nl = memchr(buf, '\n', (size_t)n);
	char name[300];
	if (!nl || nl - buf > 290) {
		errno = EINVAL;
		die("malformed request");
	}
	*nl = 0;
	if (sscanf(buf, "%15s %u %299s", op, arg, name) != 3) {
		errno = EINVAL;
		die("malformed header");
	}
	if (strcmp(name, rep_name) != 0) {
		if (rep != (mqd_t)-1)
			mq_close(rep);
		rep = mq_open(name, O_WRONLY);
		if (rep == (mqd_t)-1)
			die("open reply queue");
		snprintf(rep_name, sizeof rep_name, "%s", name);
	}
	return (size_t)(nl - buf) + 1;
}

static void echo(char *buf, ssize_t n, size_t hl, unsigned seq, unsigned prio, int order)
{
	char out[MSGSIZE];
	size_t plen = (size_t)n - hl;
	int k = snprintf(out, sizeof out, "R %u %u %zu %d\n", seq, prio, plen, order);
	if ((size_t)k + plen > sizeof out) {
		errno = EMSGSIZE;
		die("reply too long");
	}
	for (size_t i = 0; i < plen; i++)
		out[(size_t)k + i] = buf[hl + plen - 1 - i];
	put(out, (size_t)k + plen, prio);
	served++;
}

int main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: echo_server /REQUEST_QUEUE\n");
		return 2;
	}
	req_name = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct mq_attr a;
	memset(&a, 0, sizeof a);
	a.mq_maxmsg = 10;
	a.mq_msgsize = MSGSIZE;
	req = mq_open(req_name, O_CREAT | O_EXCL | O_RDONLY, 0600, &a);
	if (req == (mqd_t)-1)
		die("create request queue");
	printf("echo_server: ready\n");
	for (;;) {
		char buf[MSGSIZE], op[16];
		unsigned prio, arg;
		ssize_t n = get(buf, &prio);
		size_t hl = parse(buf, n, op, &arg);
		if (strcmp(op, "ECHO") == 0) {
			echo(buf, n, hl, arg, prio, 0);
		} else if (strcmp(op, "BATCH") == 0) {
			batches++;
			long long t0 = mqt_now_ns();
			for (;;) {
				if (mq_getattr(req, &a) < 0)
					die("mq_getattr");
				if (a.mq_curmsgs >= (long)arg)
					break;
				if (mqt_now_ns() - t0 > 5000000000LL) {
					errno = ETIMEDOUT;
					die("batch never complete");
				}
				mqt_sleep_us(500);
			}
			for (unsigned k = 0; k < arg; k++) {
				unsigned seq;
				n = get(buf, &prio);
				hl = parse(buf, n, op, &seq);
				if (strcmp(op, "ECHO") != 0) {
					errno = EINVAL;
					die("batch contains a non-ECHO request");
				}
				echo(buf, n, hl, seq, prio, (int)k);
			}
			char end[32];
			int k = snprintf(end, sizeof end, "END %u\n", arg);
			put(end, (size_t)k, 0);
		} else if (strcmp(op, "STOP") == 0) {
			if (mq_unlink(req_name) < 0)
				die("mq_unlink");
			char msg[80];
			int k = snprintf(msg, sizeof msg, "STOPPED served=%d batches=%d\n", served,
					 batches);
			put(msg, (size_t)k, 0);
			mq_close(rep);
			mq_close(req);
			printf("echo_server: stopped served=%d batches=%d\n", served, batches);
			return 0;
		} else {
			errno = EINVAL;
			die("unknown request");
		}
	}
}
