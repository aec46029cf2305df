/*
 * prio_stress.c - priority order and exactly-once delivery under contention.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread prio_stress.c -o prio_stress -lrt
 * Run:   ./prio_stress [COUNT]      COUNT = total messages of phase 1
 *                                   (default 100000); any user.
 *
 * Phase 1: 4 sender processes, 3 receiver processes, one queue (mq_maxmsg 10,
 *   mq_msgsize 64).  Half of COUNT with priorities uniform in
 *   0..MQ_PRIO_MAX-1, half with priorities concentrated on a few values.
 *   Payload: sender id, per-sender sequence number, priority, length,
 *   checksum (variable length 24..64 bytes).  Checked: every message
 *   received exactly once (receivers count into a shared anonymous mapping),
 *   payload intact and equal to the priority it was received with, and for
 *   each (sender, priority) every receiver sees increasing sequence numbers
 *   (FIFO within a priority).  Some sends are mq_timedsend, some receives
 *   mq_timedreceive (deadlines far ahead).
 * Phase 2: COUNT/50 rounds (at least 100): the parent fills the queue to
 *   mq_maxmsg with random priorities while no receiver runs, then the 3
 *   receivers drain it concurrently (non-blocking descriptor -> EAGAIN,
 *   past deadline -> ETIMEDOUT, non-blocking + deadline -> EAGAIN).  Each
 *   receiver's own sequence of priorities must be non-increasing and FIFO
 *   within equal priorities; the round must drain exactly mq_maxmsg messages.
 *
 * Output (deterministic): one summary line per phase, then "prio_stress: ok".
 * Exit 0 ok, 1 if a property is violated (printed), 2 on hang / harness
 * failure.  Finishes in a few seconds against the kernel.
 */
#include "mqtest.h"
#include <sys/mman.h>

#define NS 4
#define NR 3
#define MAXMSG 10
#define MSGSIZE 64
#define STOP_SENDER 0xffffu

struct msg {
	uint32_t sender, seq, prio, len, round, check;
	unsigned char fill[MSGSIZE - 24];
};

struct shared {
	int violations;
	char first[256];
};

static struct shared *sh;
static unsigned char *seen; /* [NS][per] delivery counters */
static uint32_t per;        /* max messages per sender */
static char qname[64];

static void violation(const char *fmt, ...)
{
	if (__atomic_fetch_add(&sh->violations, 1, __ATOMIC_SEQ_CST) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->first, sizeof sh->first, fmt, ap);
		va_end(ap);
	}
}

static uint32_t pick_prio(int mode, uint64_t *rng)
{
	static const uint32_t few[8] = { 0, 1, 1, 7, 7, 7, 31, MQ_PRIO_MAX - 1 };
	uint64_t r = mqt_rand(rng);
	return mode == 0 ? (uint32_t)(r % MQ_PRIO_MAX) : few[r % 8];
}

static size_t make_msg(struct msg *m, uint32_t sender, uint32_t seq, uint32_t prio,
		       uint32_t round, uint64_t *rng)
{
	size_t len = 24 + (size_t)(mqt_rand(rng) % (MSGSIZE - 24 + 1));
	memset(m, 0, sizeof *m);
	m->sender = sender;
	m->seq = seq;
	m->prio = prio;
	m->len = (uint32_t)len;
	m->round = round;
	for (size_t i = 0; i < len - 24; i++)
		m->fill[i] = (unsigned char)(seq * 31 + i * 7 + sender);
	m->check = mqt_checksum(m->fill, len - 24) ^ seq ^ (sender << 20) ^ prio;
	return len;
}

static int check_msg(const struct msg *m, ssize_t n, unsigned prio)
{
	if (n < 24 || (size_t)n != m->len) {
		violation("received length %zd, payload says %u", n, m->len);
		return -1;
	}
	if (m->check != (mqt_checksum(m->fill, (size_t)n - 24) ^ m->seq ^ (m->sender << 20) ^ m->prio)) {
		violation("bad checksum (sender %u seq %u)", m->sender, m->seq);
		return -1;
	}
	if (prio != m->prio) {
		violation("received with priority %u, sent with %u", prio, m->prio);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ phase 1 */
static void sender1(int s, int mode, uint32_t n)
{
	mqd_t q = mq_open(qname, O_WRONLY);
	if (q == (mqd_t)-1) {
		violation("sender mq_open: %s", errname(errno));
		_exit(1);
	}
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(s + 1) + (uint64_t)mode;
	struct msg m;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t prio = pick_prio(mode, &rng);
		size_t len = make_msg(&m, (uint32_t)s, i, prio, 0, &rng);
		int r;
		if (i % 3 == 0) {
			struct timespec ts = mqt_deadline(10000);
			r = mq_timedsend(q, (char *)&m, len, prio, &ts);
		} else {
			r = mq_send(q, (char *)&m, len, prio);
		}
		if (r < 0) {
			violation("mq_send: %s", errname(errno));
			_exit(1);
		}
	}
	_exit(0);
}

static void receiver1(int r)
{
	mqd_t q = mq_open(qname, O_RDONLY);
	if (q == (mqd_t)-1) {
		violation("receiver mq_open: %s", errname(errno));
		_exit(1);
	}
	/* last sequence number per (sender, priority), -1 = none yet */
	int64_t *last = malloc(sizeof(int64_t) * NS * MQ_PRIO_MAX);
	if (!last)
		_exit(1);
	for (size_t i = 0; i < (size_t)NS * MQ_PRIO_MAX; i++)
		last[i] = -1;
	struct msg m;
	for (uint32_t k = 0;; k++) {
		unsigned prio;
		ssize_t n;
		if ((k + (uint32_t)r) % 4 == 0) {
			struct timespec ts = mqt_deadline(10000);
			n = mq_timedreceive(q, (char *)&m, sizeof m, &prio, &ts);
		} else {
			n = mq_receive(q, (char *)&m, sizeof m, &prio);
		}
		if (n < 0) {
			violation("mq_receive: %s", errname(errno));
			_exit(1);
		}
		if (n == 4 && m.sender == STOP_SENDER)
			break;
		if (check_msg(&m, n, prio) < 0)
			continue;
		if (m.sender >= NS || m.seq >= per) {
			violation("bad sender/seq %u/%u", m.sender, m.seq);
			continue;
		}
		__atomic_fetch_add(&seen[(size_t)m.sender * per + m.seq], 1, __ATOMIC_SEQ_CST);
		int64_t *l = &last[(size_t)m.sender * MQ_PRIO_MAX + prio];
		if ((int64_t)m.seq <= *l)
			violation("FIFO within priority: sender %u prio %u seq %u after %lld",
				  m.sender, prio, m.seq, (long long)*l);
		*l = m.seq;
	}
	_exit(0);
}

static int phase1(int mode, uint32_t count)
{
	char label[64];
	mqt_watch(60, mode == 0 ? "phase1 uniform" : "phase1 concentrated");
	memset(seen, 0, (size_t)NS * per);
	pid_t rp[NR], sp[NS];
	for (int r = 0; r < NR; r++)
		if ((rp[r] = mqt_fork_wd(60)) == 0)
			receiver1(r);
	uint32_t n[NS];
	for (int s = 0; s < NS; s++) {
		n[s] = count / NS + ((uint32_t)s < count % NS);
		if ((sp[s] = mqt_fork_wd(60)) == 0)
			sender1(s, mode, n[s]);
	}
	int bad = 0;
	for (int s = 0; s < NS; s++)
		bad |= mqt_wait(sp[s]) != 0;
	mqd_t q = mq_open(qname, O_WRONLY);
	for (int r = 0; r < NR; r++) {
		struct msg stop;
		memset(&stop, 0, sizeof stop);
		stop.sender = STOP_SENDER;
		if (mq_send(q, (char *)&stop, 4, 0) < 0)
			mqt_fail("stop send");
	}
	for (int r = 0; r < NR; r++)
		bad |= mqt_wait(rp[r]) != 0;
	struct mq_attr a;
	mq_getattr(q, &a);
	mq_close(q);
	uint64_t missing = 0, dup = 0;
	for (int s = 0; s < NS; s++)
		for (uint32_t i = 0; i < n[s]; i++) {
			missing += seen[(size_t)s * per + i] == 0;
			dup += seen[(size_t)s * per + i] > 1;
		}
	snprintf(label, sizeof label, "%s", mode == 0 ? "uniform" : "concentrated");
	printf("prio_stress: phase1 mode=%s messages=%u senders=%d receivers=%d: ", label,
	       count, NS, NR);
	if (missing || dup || bad || sh->violations || a.mq_curmsgs != 0) {
		printf("FAILED missing=%llu duplicated=%llu child_failure=%d curmsgs=%ld "
		       "violations=%d first: %s\n",
		       (unsigned long long)missing, (unsigned long long)dup, bad, a.mq_curmsgs,
		       sh->violations, sh->first);
		return 1;
	}
	printf("exactly_once=ok fifo_within_priority=ok payload=ok\n");
	return 0;
}

/* ------------------------------------------------------------ phase 2 */
struct done {
	int receiver;
	int count;
};

static void receiver2(int r, int go_fd, int done_fd)
{
	int oflag = r == 1 ? O_RDONLY : O_RDONLY | O_NONBLOCK;
	mqd_t q = mq_open(qname, oflag);
	if (q == (mqd_t)-1) {
		violation("phase2 mq_open: %s", errname(errno));
		_exit(1);
	}
	for (uint32_t round = 0;; round++) {
		char c;
		if (mqt_read_full(go_fd, &c, 1) < 0 || c == 'q')
			_exit(0);
		struct done d = { r, 0 };
		long lastprio = -1;
		long lastidx = -1;
		for (;;) {
			struct msg m;
			unsigned prio;
			ssize_t n;
			if (r == 0) {
				n = mq_receive(q, (char *)&m, sizeof m, &prio);
			} else {
				struct timespec ts = mqt_deadline(r == 1 ? -1000 : 1000);
				n = mq_timedreceive(q, (char *)&m, sizeof m, &prio, &ts);
			}
			if (n < 0) {
				int want = r == 1 ? ETIMEDOUT : EAGAIN;
				if (errno != want)
					violation("phase2 receiver %d: %s instead of %s", r,
						  errname(errno), errname(want));
				break;
			}
			if (check_msg(&m, n, prio) < 0)
				continue;
			if (m.round != round)
				violation("message of round %u in round %u", m.round, round);
			if (lastprio >= 0 && (long)prio > lastprio)
				violation("priority %u received after %ld", prio, lastprio);
			if ((long)prio == lastprio && (long)m.seq <= lastidx)
				violation("FIFO within priority %u: index %u after %ld", prio, m.seq,
					  lastidx);
			lastprio = prio;
			lastidx = m.seq;
			d.count++;
		}
		if (mqt_write_full(done_fd, &d, sizeof d) < 0)
			_exit(1);
	}
}

static int phase2(uint32_t rounds)
{
	mqt_watch(60, "phase2");
	int go[NR][2], done[2];
	pid_t rp[NR];
	if (pipe(done) < 0)
		mqt_fail("pipe");
	for (int r = 0; r < NR; r++) {
		if (pipe(go[r]) < 0)
			mqt_fail("pipe");
		if ((rp[r] = mqt_fork_wd(60)) == 0) {
			for (int k = 0; k <= r; k++)
				close(go[k][1]);
			receiver2(r, go[r][0], done[1]);
		}
		close(go[r][0]);
	}
	mqd_t q = mq_open(qname, O_WRONLY | O_NONBLOCK);
	uint64_t rng = 12345;
	int bad_rounds = 0;
	uint32_t shared_rounds = 0;
	for (uint32_t round = 0; round < rounds && !sh->violations; round++) {
		int mode = (int)(round % 2);
		for (uint32_t i = 0; i < MAXMSG; i++) {
			struct msg m;
			uint32_t prio = pick_prio(mode, &rng);
			size_t len = make_msg(&m, 0, i, prio, round, &rng);
			if (mq_send(q, (char *)&m, len, prio) < 0)
				mqt_fail("phase2 fill");
		}
		struct msg extra;
		memset(&extra, 0, sizeof extra);
		if (mq_send(q, (char *)&extra, 24, 0) == 0 || errno != EAGAIN) {
			violation("send to a full queue did not fail with EAGAIN");
			break;
		}
		for (int r = 0; r < NR; r++)
			if (mqt_write_full(go[r][1], "g", 1) < 0)
				mqt_fail("go");
		int total = 0, busy = 0;
		for (int r = 0; r < NR; r++) {
			struct done d;
			if (mqt_read_full(done[0], &d, sizeof d) < 0)
				mqt_fail("done");
			total += d.count;
			busy += d.count > 0;
		}
		shared_rounds += busy > 1;
		struct mq_attr a;
		mq_getattr(q, &a);
		if (total != MAXMSG || a.mq_curmsgs != 0) {
			if (!bad_rounds++)
				violation("round %u: drained %d, curmsgs %ld", round, total,
					  a.mq_curmsgs);
		}
	}
	int bad = 0;
	for (int r = 0; r < NR; r++) {
		if (mqt_write_full(go[r][1], "q", 1) < 0)
			mqt_fail("quit");
		close(go[r][1]);
	}
	for (int r = 0; r < NR; r++)
		bad |= mqt_wait(rp[r]) != 0;
	close(done[0]);
	close(done[1]);
	mq_close(q);
	if (getenv("MQT_VERBOSE")) /* varies from run to run: stderr only */
		fprintf(stderr, "prio_stress: phase2 rounds drained by 2+ receivers: %u\n",
			shared_rounds);
	printf("prio_stress: phase2 rounds=%u messages=%u receivers=%d: ", rounds,
	       rounds * MAXMSG, NR);
	if (bad || sh->violations) {
		printf("FAILED child_failure=%d violations=%d first: %s\n", bad, sh->violations,
		       sh->first);
		return 1;
	}
	printf("strict_priority_order=ok fifo_within_priority=ok all_drained=ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
	if (count < 8 || count > 10000000) {
		fprintf(stderr, "usage: prio_stress [COUNT >= 8]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint32_t half[2] = { (uint32_t)count / 2, (uint32_t)(count - count / 2) };
	per = half[1] / NS + 1;
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	seen = mmap(NULL, (size_t)NS * per, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	if (sh == MAP_FAILED || seen == MAP_FAILED)
		mqt_fail("mmap");
	mqd_t q = mqt_create(qname, sizeof qname, MAXMSG, MSGSIZE, O_RDWR, 0600);
	mq_close(q);
	int fail = phase1(0, half[0]);
	if (!fail)
		fail = phase1(1, half[1]);
	uint32_t rounds = (uint32_t)(count / 50 < 100 ? 100 : count / 50);
	if (!fail)
		fail = phase2(rounds);
	mqt_watch(0, "end");
	mqt_cleanup();
	printf(fail ? "prio_stress: FAILED\n" : "prio_stress: ok\n");
	return fail;
}
