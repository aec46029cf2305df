/*
 * echo_client.c - an ordinary POSIX message-queue client of echo_server.c.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread echo_client.c -o echo_client -lrt
 * Usage: echo_client REQUEST_QUEUE [COUNT]
 *   REQUEST_QUEUE  the name given to echo_server (leading slash); the client
 *                  retries mq_open for up to 5 s, so it may start first.
 *   COUNT          number of ECHO requests (default 200).
 * Harness (any user, same user as the server):
 *   ./echo_server /mqt-echo-$$ > server.out &
 *   ./echo_client /mqt-echo-$$ > client.out
 *   wait                                       # both exit 0
 *
 * The client creates its own reply queue (REQUEST_QUEUE-reply-<pid>, never
 * printed), sends COUNT requests in batches of 1..8 with priorities 0, 7, 14, 21, 28 and
 * payloads of 0..599 bytes (every third through an O_NONBLOCK descriptor,
 * which never finds the queue full), prints every reply in the order it is
 * received (a batch is served in priority order, FIFO within a priority),
 * checks each echoed payload, uses mq_getattr on both queues, tells the server
 * to stop and checks that the request queue is gone.
 * Output is deterministic.  Exit 0 when it ran to the end; 2 on a protocol
 * error or a timeout (30 s watchdog).
 */
#include "mqtest.h"

#define MSGSIZE 1024

static char req_name[256], rep_name[300];
static mqd_t req, req_nb, rep, rep_nb;

static void die(const char *what)
{
	int e = errno;
	printf("echo_client: error: %s: %s\n", what, errname(e));
	mq_unlink(rep_name);
	exit(2);
}

static void attr_line(const char *label, mqd_t q)
{
	struct mq_attr a;
	if (mq_getattr(q, &a) < 0)
		die("mq_getattr");
	printf("%s: maxmsg=%ld msgsize=%ld curmsgs=%ld flags=%s\n", label, a.mq_maxmsg,
	       a.mq_msgsize, a.mq_curmsgs, a.mq_flags & O_NONBLOCK ? "O_NONBLOCK" : "0");
}

static unsigned prio_of(unsigned seq) { return (seq * 7 + 3) % 5 * 7; } /* 0 7 14 21 28 */
static size_t size_of(unsigned seq) { return seq % 10 == 9 ? 0 : (seq * 37) % 600; }
static unsigned char byte_of(unsigned seq, size_t i) { return (unsigned char)(seq * 13 + i * 7); }

static void request(const char *op, unsigned arg, unsigned prio, size_t plen, int nonblock)
{
	char buf[MSGSIZE + 200];
	int k = snprintf(buf, sizeof buf, "%s %u %s\n", op, arg, rep_name);
	for (size_t i = 0; i < plen; i++)
		buf[(size_t)k + i] = (char)byte_of(arg, i);
	if ((size_t)k + plen > MSGSIZE) {
		errno = EMSGSIZE;
		die("request too long (request queue name too long?)");
	}
	if (mq_send(nonblock ? req_nb : req, buf, (size_t)k + plen, prio) < 0)
		die("mq_send request");
}

/* Receive one reply (waiting at most 5 s) and print it. */
static void reply(void)
{
	char buf[MSGSIZE];
	unsigned prio;
	struct timespec ts = mqt_deadline(5000);
	ssize_t n = mq_timedreceive(rep, buf, sizeof buf, &prio, &ts);
	if (n < 0)
		die("mq_timedreceive reply");
	char *nl = memchr(buf, '\n', (size_t)n);
	if (!nl) {
		errno = EINVAL;
		die("malformed reply");
	}
	*nl = 0;
	size_t hl = (size_t)(nl - buf) + 1;
	unsigned seq, hprio;
	size_t len;
	int order;
	if (buf[0] != 'R') {
		printf("reply: %s prio=%u\n", buf, prio);
		return;
	}
	if (sscanf(buf, "R %u %u %zu %d", &seq, &hprio, &len, &order) != 4) {
		errno = EINVAL;
		die("malformed reply header");
	}
	int ok = hprio == prio && prio == prio_of(seq) && len == size_of(seq) &&
		 hl + len == (size_t)n;
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)buf[hl + i] == byte_of(seq, len - 1 - i);
	printf("reply: seq=%u prio=%u len=%zu order=%d payload=%s\n", seq, prio, len, order,
	       ok ? "ok" : "BAD");
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || argv[1][0] != '/' || strlen(argv[1]) > 200) {
		fprintf(stderr, "usage: echo_client /REQUEST_QUEUE [COUNT]\n");
		return 2;
	}
	unsigned count = argc == 3 ? (unsigned)strtoul(argv[2], NULL, 10) : 200;
	setvbuf(stdout, NULL, _IOLBF, 0);
	mqt_watch(30, "echo_client");
	snprintf(req_name, sizeof req_name, "%s", argv[1]);
	snprintf(rep_name, sizeof rep_name, "%s-reply-%ld", req_name, (long)getpid());
	mqt_remember(rep_name);
	struct mq_attr a;
	memset(&a, 0, sizeof a);
	a.mq_maxmsg = 10;
	a.mq_msgsize = MSGSIZE;
	rep = mq_open(rep_name, O_CREAT | O_EXCL | O_RDONLY, 0600, &a);
	if (rep == (mqd_t)-1)
		die("create reply queue");
	rep_nb = mq_open(rep_name, O_RDONLY | O_NONBLOCK);
	for (int i = 0;; i++) {
		req = mq_open(req_name, O_WRONLY);
		if (req != (mqd_t)-1)
			break;
		if (errno != ENOENT || i == 500)
			die("open request queue");
		mqt_sleep_ms(10);
	}
	req_nb = mq_open(req_name, O_WRONLY | O_NONBLOCK);
	if (rep_nb == (mqd_t)-1 || req_nb == (mqd_t)-1)
		die("second descriptors");
	printf("echo_client: connected\n");
	attr_line("request_queue", req);
	attr_line("request_queue_nonblock", req_nb);
	attr_line("reply_queue", rep);
	char big[MSGSIZE + 1];
	memset(big, 'x', sizeof big);
	if (mq_send(req, big, sizeof big, 0) < 0)
		printf("oversized_request: -1 %s\n", errname(errno));
	else
		printf("oversized_request: 0\n");

	unsigned seq = 0, bsize = 1;
	while (seq < count) {
		unsigned n = bsize < count - seq ? bsize : count - seq;
		bsize = bsize % 8 + 1;
		if (n == 1) {
			request("ECHO", seq, prio_of(seq), size_of(seq), seq % 3 == 0);
			seq++;
			reply();
			continue;
		}
		request("BATCH", n, 31, 0, 0);
		for (unsigned k = 0; k < n; k++, seq++)
			request("ECHO", seq, prio_of(seq), size_of(seq), seq % 3 == 0);
		/* wait until the whole batch and its END are in the reply queue */
		long long t0 = mqt_now_ns();
		for (;;) {
			if (mq_getattr(rep, &a) < 0)
				die("mq_getattr");
			if (a.mq_curmsgs == (long)n + 1)
				break;
			if (mqt_now_ns() - t0 > 5000000000LL) {
				errno = ETIMEDOUT;
				die("batch replies");
			}
			mqt_sleep_us(500);
		}
		printf("batch: n=%u reply_curmsgs=%ld\n", n, a.mq_curmsgs);
		for (unsigned k = 0; k <= n; k++)
			reply();
	}
	char buf[MSGSIZE];
	if (mq_receive(rep_nb, buf, sizeof buf, NULL) < 0)
		printf("reply_queue_empty_nonblock: -1 %s\n", errname(errno));
	else
		printf("reply_queue_empty_nonblock: got a message\n");
	attr_line("reply_queue_end", rep);
	request("STOP", 0, 0, 0, 0);
	reply();
	mqd_t gone = mq_open(req_name, O_WRONLY);
	printf("request_queue_after_stop: %s\n", gone == (mqd_t)-1 ? errname(errno) : "still there");
	mq_close(req);
	mq_close(req_nb);
	mq_close(rep_nb);
	mq_close(rep);
	if (mq_unlink(rep_name) < 0)
		die("mq_unlink reply queue");
	printf("echo_client: done requests=%u\n", count);
	return 0;
}
