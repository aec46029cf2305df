/*
 * kill_survive.c - the queue stays consistent when its users are SIGKILLed.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread kill_survive.c -o kill_survive -lrt
 * Run:   ./kill_survive [ROUNDS [SEED]]   (default 200 rounds, seed 1; any user)
 *
 * The parent creates a queue (mq_maxmsg 10, mq_msgsize 16, one priority) and
 * forks a sender, which takes numbers from a shared counter (atomic
 * fetch-add) and sends each in a tight blocking loop, and a receiver, which
 * receives in a tight loop and writes (receiver instance, number) to a pipe
 * read by the parent.  Each round the parent waits a random 0-5 ms (reading
 * the pipe meanwhile), SIGKILLs the sender (even rounds) or the receiver (odd
 * rounds), reaps it and forks a new one.  At the end it kills both, drains
 * the queue itself and checks:
 *   - the received numbers (pipe reports, then the parent's drain) are
 *     strictly increasing: nothing received twice, FIFO kept;
 *   - every number taken but never received is either the last number a
 *     killed sender took (not fully sent), or the one a killed receiver had in
 *     hand: at most one per killed receiver, and only right after that
 *     receiver's last report;
 *   - mq_getattr's mq_curmsgs equals the number of messages drained;
 *   - the queue still accepts and returns a message.
 * Output: "kill_survive: ok rounds=N" (deterministic).  Exit 1 with a
 * "kill_survive: FAILED ..." line if a property is violated, 2 on a hang or
 * harness failure.  Takes about a second against the kernel.
 */
#include "mqtest.h"
#include <poll.h>
#include <sys/mman.h>

struct report {
	uint32_t inst; /* receiver instance */
	uint32_t pad;
	uint64_t seq;
};

static uint64_t *next_seq; /* shared counter */
static mqd_t q;
static int rpipe[2];
static struct report *rep;
static size_t nrep, caprep;

static void sender(void)
{
	for (;;) {
		uint64_t seq = __atomic_fetch_add(next_seq, 1, __ATOMIC_SEQ_CST);
		if (mq_send(q, (const char *)&seq, sizeof seq, 0) < 0)
			_exit(3);
	}
}

static void receiver(uint32_t inst)
{
	for (;;) {
		struct report r = { inst, 0, 0 };
		char buf[16];
		ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
		if (n != (ssize_t)sizeof r.seq)
			_exit(3);
		memcpy(&r.seq, buf, sizeof r.seq);
		if (write(rpipe[1], &r, sizeof r) != (ssize_t)sizeof r)
			_exit(3);
	}
}

static void push(struct report r)
{
	if (nrep == caprep) {
		caprep = caprep ? caprep * 2 : 65536;
		rep = realloc(rep, caprep * sizeof *rep);
		if (!rep)
			mqt_fail("out of memory");
	}
	rep[nrep++] = r;
}

/* Read every complete report available now, waiting at most until deadline. */
static void drain_pipe(long long deadline_ns)
{
	static char part[sizeof(struct report)];
	static size_t have;
	for (;;) {
		char buf[16 * 1024];
		ssize_t n = read(rpipe[0], buf, sizeof buf);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				part[have++] = buf[i];
				if (have == sizeof part) {
					struct report r;
					memcpy(&r, part, sizeof r);
					push(r);
					have = 0;
				}
			}
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			mqt_fail("read pipe");
		long long left = deadline_ns - mqt_now_ns();
		if (left <= 0)
			return;
		struct timespec ts = { left / 1000000000LL, left % 1000000000LL };
		struct pollfd pf = { rpipe[0], POLLIN, 0 };
		ppoll(&pf, 1, &ts, NULL);
	}
}

static pid_t spawn(int is_sender, uint32_t inst)
{
	pid_t p = mqt_fork_wd(60);
	if (p == 0) {
		close(rpipe[0]);
		if (is_sender)
			sender();
		receiver(inst);
	}
	return p;
}

static void kill_reap(pid_t p, const char *who)
{
	int st;
	kill(p, SIGKILL);
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			mqt_fail("waitpid");
	mqt_forget_child(p);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		printf("kill_survive: FAILED %s exited by itself (status %d)\n", who,
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		mqt_kill_children();
		mqt_cleanup();
		exit(1);
	}
}

static int fail(const char *fmt, ...)
{
	va_list ap;
	printf("kill_survive: FAILED ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	uint64_t rng = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	if (rounds < 2 || rng == 0) {
		fprintf(stderr, "usage: kill_survive [ROUNDS >= 2 [SEED > 0]]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	mqt_watch(60, "kill rounds");
	char name[64];
	q = mqt_create(name, sizeof name, 10, 16, O_RDWR, 0600);
	next_seq = mmap(NULL, sizeof *next_seq, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (next_seq == MAP_FAILED || pipe(rpipe) < 0)
		mqt_fail("mmap/pipe");
	fcntl(rpipe[0], F_SETFL, O_NONBLOCK);
	/* sender instance i took the numbers [sstart[i], sstart[i + 1]) */
	uint64_t *sstart = calloc((size_t)rounds + 3, sizeof *sstart);
	uint32_t ns = 0, nr = 0;
	sstart[0] = 0;
	pid_t sp = spawn(1, 0), rp = spawn(0, nr);
	for (int round = 0; round < rounds; round++) {
		long delay_us = (long)(mqt_rand(&rng) % 5001);
		drain_pipe(mqt_now_ns() + delay_us * 1000LL);
		if (round % 2 == 0) {
			kill_reap(sp, "sender");
			sstart[++ns] = __atomic_load_n(next_seq, __ATOMIC_SEQ_CST);
			sp = spawn(1, 0);
		} else {
			kill_reap(rp, "receiver");
			rp = spawn(0, ++nr);
		}
	}
	drain_pipe(mqt_now_ns() + 2000000LL);
	kill_reap(sp, "sender");
	sstart[++ns] = __atomic_load_n(next_seq, __ATOMIC_SEQ_CST);
	kill_reap(rp, "receiver");
	nr++; /* receiver instances 0 .. nr-1 are all dead; nr marks the drain */
	drain_pipe(0);
	close(rpipe[1]);
	drain_pipe(0);

	mqt_watch(20, "final checks");
	struct mq_attr a;
	if (mq_getattr(q, &a) < 0)
		mqt_fail("mq_getattr");
	mqd_t qn = mq_open(name, O_RDWR | O_NONBLOCK);
	long drained = 0;
	for (;;) {
		uint64_t seq;
		char buf[16];
		ssize_t n = mq_receive(qn, buf, sizeof buf, NULL);
		if (n < 0)
			break;
		memcpy(&seq, buf, sizeof seq);
		push((struct report){ nr, 0, seq });
		drained++;
	}
	int failed = 0;
	if (errno != EAGAIN)
		failed |= fail("drain ended with %s", errname(errno));
	if (drained != a.mq_curmsgs)
		failed |= fail("mq_curmsgs %ld but drained %ld", a.mq_curmsgs, drained);
	uint64_t total = sstart[ns];
	for (size_t i = 1; i < nrep && !failed; i++)
		if (rep[i].seq <= rep[i - 1].seq)
			failed |= fail("%s: %llu received after %llu",
				       rep[i].seq == rep[i - 1].seq ? "received twice" : "out of order",
				       (unsigned long long)rep[i].seq, (unsigned long long)rep[i - 1].seq);
	if (nrep && rep[nrep - 1].seq >= total)
		failed |= fail("received a number that was never taken");
	/* walk the gaps between consecutive received numbers */
	uint32_t si = 0;
	uint64_t lost_total = 0;
	for (size_t i = 0; i <= nrep && !failed; i++) {
		uint64_t lo = i == 0 ? 0 : rep[i - 1].seq + 1;
		uint64_t hi = i == nrep ? total : rep[i].seq;
		uint32_t ia = i == 0 ? 0 : rep[i - 1].inst;
		uint32_t ib = i == nrep ? nr : rep[i].inst;
		uint64_t in_hand = 0;
		for (uint64_t m = lo; m < hi; m++) {
			while (si < ns && sstart[si + 1] <= m)
				si++;
			if (si < ns && m == sstart[si + 1] - 1)
				continue; /* the last number a killed sender took */
			in_hand++;
		}
		lost_total += hi - lo;
		if (in_hand > (uint64_t)(ib - ia))
			failed |= fail("%llu numbers lost between %llu and %llu with only %u "
				       "receivers killed there",
				       (unsigned long long)in_hand, (unsigned long long)lo,
				       (unsigned long long)hi, ib - ia);
	}
	uint64_t probe = 0xabcdef, back = 0;
	char pbuf[16];
	unsigned prio = 0;
	if (mq_send(qn, (const char *)&probe, sizeof probe, 5) < 0 ||
	    mq_receive(qn, pbuf, sizeof pbuf, &prio) != (ssize_t)sizeof back ||
	    (memcpy(&back, pbuf, sizeof back), back != probe) || prio != 5)
		failed |= fail("queue unusable after the kills (%s)", errname(errno));
	if (mq_getattr(qn, &a) < 0 || a.mq_curmsgs != 0)
		failed |= fail("queue not empty at the end");
	mq_close(qn);
	mq_close(q);
	mqt_watch(0, "end");
	mqt_cleanup();
	if (getenv("MQT_VERBOSE")) /* statistics vary from run to run: stderr only */
		fprintf(stderr, "kill_survive: taken=%llu received=%zu drained=%ld lost=%llu\n",
			(unsigned long long)total, nrep, drained, (unsigned long long)lost_total);
	if (!failed)
		printf("kill_survive: ok rounds=%d\n", rounds);
	return failed;
}
