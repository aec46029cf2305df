/*
 * conformance.c - every POSIX mq_* function and error, one line per check.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread conformance.c -o conformance -lrt
 * Run:   ./conformance            (as root: the permission checks fork a child
 *                                   that drops to uid/gid 65534)
 * Output is deterministic and must be byte-identical between the kernel's
 * queues and libshmring-mq.so (LD_PRELOAD).  Exit 0 when the program ran to
 * the end, 2 on a hang (watchdog) or harness failure.
 * Internal: "./conformance --exec-recv NAME" is the fresh-image child of the
 * persistence checks (started through /proc/self/exe).
 */
#include "mqtest.h"
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define NM 64
static char g_name[NM];
static mqd_t g_q;
static int g_oflag;
static const char *g_payload = "x";
static unsigned g_prio;
static long g_delay_ms;

static int as_nobody(int (*fn)(void))
{
	pid_t p = mqt_fork();
	if (p == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			mqt_fail("cannot drop to uid 65534");
		int r = fn();
		fflush(stdout);
		_exit(r);
	}
	return mqt_wait(p);
}
static int c_open_name(void)
{
	mqd_t q = mq_open(g_name, g_oflag);
	if (q == (mqd_t)-1)
		return errno;
	mq_close(q);
	return 0;
}
static int c_unlink_name(void) { return err_or_0(mq_unlink(g_name)); }
static int c_send(void)
{
	if (g_delay_ms)
		mqt_sleep_ms(g_delay_ms);
	return err_or_0(snd(g_q, g_payload, g_prio));
}
static int c_send_by_name(void)
{
	mqd_t q = mq_open(g_name, O_WRONLY);
	if (q == (mqd_t)-1)
		return errno;
	return c_send();
}
static int c_notify_none(void)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_NONE;
	return err_or_0(mq_notify(g_q, &ev));
}
static int c_notify_remove(void) { return err_or_0(mq_notify(g_q, NULL)); }
static int c_notify_none_by_name(void)
{
	g_q = mq_open(g_name, O_RDONLY);
	return g_q == (mqd_t)-1 ? errno : c_notify_none();
}
static int c_recv_print(void)
{
	rcv("fork_child_recv", g_q);
	return 0;
}
static int c_setattr_nonblock(void)
{
	struct mq_attr a = mkattr(0, 0);
	a.mq_flags = O_NONBLOCK;
	return err_or_0(mq_setattr(g_q, &a, NULL));
}

/* ================================================================ open */
static void t_open(void)
{
	mqt_watch(10, "open");
	char n[NM], n2[NM], big[400];
	struct mq_attr a = mkattr(4, 64);
	mqd_t q, q2;
	mqt_name(n, NM);
	q = mq_open(n, O_CREAT | O_RDWR, 0600, &a);
	reso("open_creat_new", q);
	pattr("open_creat_new_attr", q);
	reso("open_creat_excl_existing", q2 = mq_open(n, O_CREAT | O_EXCL | O_RDWR, 0600, &a));
	closeif(q2);
	mqt_name(n2, NM);
	reso("open_missing", q2 = mq_open(n2, O_RDWR));
	closeif(q2);
	snprintf(big, sizeof big, "mqt-%ld-noslash", (long)getpid());
	reso("open_no_leading_slash", q2 = mq_open(big, O_CREAT | O_RDWR, 0600, &a));
	if (q2 != (mqd_t)-1) {
		mq_close(q2);
		mq_unlink(big);
	}
	res("unlink_no_leading_slash", mq_unlink(big));
	static const int lens[] = { 255, 256, 300 };
	for (int i = 0; i < 3; i++) {
		char label[64];
		int k = snprintf(big, sizeof big, "/mqt-%ld-L", (long)getpid());
		memset(big + k, 'x', (size_t)(lens[i] + 1 - k));
		big[lens[i] + 1] = 0;
		snprintf(label, sizeof label, "open_name_len_%d", lens[i]);
		reso(label, q2 = mq_open(big, O_CREAT | O_EXCL | O_RDWR, 0600, &a));
		snprintf(label, sizeof label, "unlink_name_len_%d", lens[i]);
		res(label, mq_unlink(big));
		closeif(q2);
	}
	reso("open_root_slash", q2 = mq_open("/", O_RDWR));
	closeif(q2);
	reso("open_root_slash_creat", q2 = mq_open("/", O_CREAT | O_RDWR, 0600, &a));
	closeif(q2);
	res("unlink_root_slash", mq_unlink("/"));
	snprintf(big, sizeof big, "%s/b", n2);
	reso("open_inner_slash_creat", q2 = mq_open(big, O_CREAT | O_RDWR, 0600, &a));
	closeif(q2);
	res("unlink_inner_slash", mq_unlink(big));
	reso("open_accmode3_existing", q2 = mq_open(n, O_ACCMODE));
	closeif(q2);
	mqt_name(n2, NM);
	reso("open_accmode3_creat_new", q2 = mq_open(n2, O_CREAT | O_ACCMODE, 0600, &a));
	closeif(q2);
	static const long bad[4][2] = { { 0, 64 }, { -1, 64 }, { 4, 0 }, { 4, -1 } };
	static const char *badl[4] = { "maxmsg_0", "maxmsg_-1", "msgsize_0", "msgsize_-1" };
	for (int i = 0; i < 4; i++) {
		char label[64];
		struct mq_attr b = mkattr(bad[i][0], bad[i][1]);
		mqt_name(n2, NM);
		snprintf(label, sizeof label, "open_attr_%s", badl[i]);
		reso(label, q2 = mq_open(n2, O_CREAT | O_RDWR, 0600, &b));
		closeif(q2);
		snprintf(label, sizeof label, "open_attr_%s_then_open", badl[i]);
		reso(label, q2 = mq_open(n2, O_RDWR));
		closeif(q2);
	}
	mqt_name(n2, NM);
	q2 = mq_open(n2, O_CREAT | O_RDWR, 0600, NULL);
	reso("open_attr_null", q2);
	pattr("open_attr_null_defaults", q2);
	closeif(q2);
	mq_unlink(n2);
	mqt_name(n2, NM);
	struct mq_attr c = mkattr(3, 32);
	c.mq_flags = O_NONBLOCK;
	c.mq_curmsgs = 2;
	q2 = mq_open(n2, O_CREAT | O_RDWR, 0600, &c);
	pattr("open_attr_flags_curmsgs_ignored", q2);
	closeif(q2);
	c = mkattr(2, 32);
	reso("open_creat_existing_other_attr", q2 = mq_open(n, O_CREAT | O_RDWR, 0600, &c));
	pattr("open_creat_existing_other_attr_getattr", q2);
	closeif(q2);
	c = mkattr(0, -1);
	reso("open_creat_existing_invalid_attr", q2 = mq_open(n, O_CREAT | O_RDWR, 0600, &c));
	pattr("open_creat_existing_invalid_attr_getattr", q2);
	closeif(q2);
	static const int fl[5] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDONLY | O_NONBLOCK, O_WRONLY | O_NONBLOCK };
	static const char *fll[5] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_RDONLY|O_NONBLOCK", "O_WRONLY|O_NONBLOCK" };
	for (int i = 0; i < 5; i++) {
		char label[64];
		snprintf(label, sizeof label, "open_%s", fll[i]);
		reso(label, q2 = mq_open(n, fl[i]));
		pattr(label, q2);
		closeif(q2);
	}
	res("close_created", mq_close(q));
	res("unlink_created", mq_unlink(n));
	res("unlink_again", mq_unlink(n));
}

/* ======================================================= send / receive */
static void t_sendrecv(void)
{
	mqt_watch(10, "sendrecv");
	char n[NM], buf[8192], big[200];
	unsigned prio;
	mqd_t q = mqt_create(n, NM, 8, 64, O_RDWR, 0600);
	static const char *pl[6] = { "a", "b", "c", "d", "e", "f" };
	static const unsigned pr[6] = { 3, 1, 3, 7, 0, 7 };
	printf("send_6:");
	for (int i = 0; i < 6; i++)
		printf(" %d", snd(q, pl[i], pr[i]));
	printf("\ncurmsgs_after_6: %ld\nrecv_order:", curmsgs(q));
	for (int i = 0; i < 6; i++) {
		ssize_t r = mq_receive(q, buf, sizeof buf, &prio);
		if (r < 0)
			printf(" -1 %s", errname(errno));
		else
			printf(" %.*s/%u", (int)r, buf, prio);
	}
	printf("\n");
	res("send_prio_max_minus_1", snd(q, "p", MQ_PRIO_MAX - 1));
	rcv("recv_prio_max_minus_1", q);
	res("send_prio_max", snd(q, "p", MQ_PRIO_MAX));
	res("send_prio_uint_max", snd(q, "p", UINT_MAX));
	memset(big, 'm', sizeof big);
	res("send_65_on_msgsize_64", mq_send(q, big, 65, 0));
	res("send_64_on_msgsize_64", mq_send(q, big, 64, 0));
	res("recv_64", mq_receive(q, buf, sizeof buf, &prio));
	res("send_zero_length", mq_send(q, big, 0, 2));
	prio = 99;
	res("recv_zero_length", mq_receive(q, buf, sizeof buf, &prio));
	printf("recv_zero_length_prio: %u\n", prio);
	res("send_small", snd(q, "s", 4));
	res("recv_buf_63_msgsize_64", mq_receive(q, buf, 63, &prio));
	printf("curmsgs_after_emsgsize: %ld\n", curmsgs(q));
	res("recv_buf_64_msgsize_64", mq_receive(q, buf, 64, NULL));
	mq_close(q);

	/* full / empty, blocking and non-blocking, deadlines */
	mqd_t qb = mqt_create(n, NM, 2, 64, O_RDWR, 0600);
	mqd_t qn = mq_open(n, O_RDWR | O_NONBLOCK);
	struct timespec ts;
	long long t0;
	res("recv_nonblock_empty", mq_receive(qn, buf, sizeof buf, NULL));
	res("recv_nonblock_empty_small_buf", mq_receive(qn, buf, 10, NULL));
	ts = mqt_deadline(50);
	t0 = mqt_now_ns();
	res("timedrecv_empty_50ms", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	printf("timedrecv_empty_50ms_waited_enough: %d\n", mqt_now_ns() - t0 >= 45000000LL);
	ts = mqt_deadline(-1000);
	res("timedrecv_empty_past", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	res("timedrecv_empty_epoch", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts = mqt_deadline(50);
	res("timedrecv_nonblock_empty_50ms", mq_timedreceive(qn, buf, sizeof buf, NULL, &ts));
	ts = mqt_deadline(1000);
	ts.tv_nsec = 1000000000;
	res("timedrecv_empty_nsec_1e9", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts.tv_nsec = -1;
	res("timedrecv_empty_nsec_-1", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	res("timedrecv_empty_sec_-1", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	res("fill_1", snd(qb, "f1", 1));
	ts = mqt_deadline(-1000);
	res("timedsend_nonfull_past", mq_timedsend(qb, "f2", 2, 1, &ts));
	res("send_nonblock_full", snd(qn, "f3", 1));
	ts = mqt_deadline(50);
	t0 = mqt_now_ns();
	res("timedsend_full_50ms", mq_timedsend(qb, "f3", 2, 1, &ts));
	printf("timedsend_full_50ms_waited_enough: %d\n", mqt_now_ns() - t0 >= 45000000LL);
	ts = mqt_deadline(-1000);
	res("timedsend_full_past", mq_timedsend(qb, "f3", 2, 1, &ts));
	ts = mqt_deadline(50);
	res("timedsend_nonblock_full_50ms", mq_timedsend(qn, "f3", 2, 1, &ts));
	ts = mqt_deadline(1000);
	ts.tv_nsec = 1000000000;
	res("timedsend_full_nsec_1e9", mq_timedsend(qb, "f3", 2, 1, &ts));
	ts.tv_nsec = -1;
	res("timedsend_full_nsec_-1", mq_timedsend(qb, "f3", 2, 1, &ts));
	ts = mqt_deadline(1000);
	ts.tv_nsec = 1000000000;
	res("timedrecv_nonempty_nsec_1e9", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts.tv_nsec = -1;
	res("timedrecv_nonempty_nsec_-1", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	res("timedrecv_nonempty_sec_-1", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	printf("curmsgs_after_invalid_timeouts: %ld\n", curmsgs(qb));
	ts = mqt_deadline(-1000);
	res("timedrecv_nonempty_past", mq_timedreceive(qb, buf, sizeof buf, NULL, &ts));
	ts = mqt_deadline(1000);
	ts.tv_nsec = 1000000000;
	res("timedsend_nonfull_nsec_1e9", mq_timedsend(qb, "g", 1, 1, &ts));
	ts.tv_nsec = -1;
	res("timedsend_nonfull_nsec_-1", mq_timedsend(qb, "g", 1, 1, &ts));
	printf("curmsgs_after_nonfull_invalid: %ld\n", curmsgs(qb));
	ts = mqt_deadline(1000);
	res("timedrecv_nonblock_nonempty", mq_timedreceive(qn, buf, sizeof buf, NULL, &ts));
	printf("curmsgs_end: %ld\n", curmsgs(qb));

	/* EBADF */
	mqt_watch(10, "ebadf");
	mqd_t qr = mq_open(n, O_RDONLY), qw = mq_open(n, O_WRONLY);
	int pfd[2];
	struct sigevent ev;
	struct mq_attr a = mkattr(0, 0);
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_NONE;
	if (pipe(pfd) < 0)
		mqt_fail("pipe");
	ts = mqt_deadline(50);
	res("send_on_rdonly", snd(qr, "x", 0));
	res("timedsend_on_rdonly", mq_timedsend(qr, "x", 1, 0, &ts));
	res("recv_on_wronly", mq_receive(qw, buf, sizeof buf, NULL));
	res("timedrecv_on_wronly", mq_timedreceive(qw, buf, sizeof buf, NULL, &ts));
	res("getattr_on_wronly", mq_getattr(qw, &a));
	res("notify_on_wronly", mq_notify(qw, &ev));
	res("notify_remove_on_wronly", mq_notify(qw, NULL));
	static const char *what[3] = { "minus1", "pipe", "closed" };
	for (int i = 0; i < 3; i++) {
		char label[64];
		mqd_t d = i == 0 ? -1 : pfd[0];
		if (i == 2) {
			d = mq_open(n, O_RDWR);
			res("close_for_closed_checks", mq_close(d));
		}
#define BADF(op, expr) snprintf(label, sizeof label, "%s_on_%s", op, what[i]), res(label, expr)
		BADF("send", snd(d, "x", 0));
		BADF("recv", mq_receive(d, buf, sizeof buf, NULL));
		BADF("timedsend", mq_timedsend(d, "x", 1, 0, &ts));
		BADF("timedrecv", mq_timedreceive(d, buf, sizeof buf, NULL, &ts));
		BADF("getattr", mq_getattr(d, &a));
		BADF("setattr", mq_setattr(d, &a, NULL));
		BADF("notify", mq_notify(d, &ev));
		BADF("notify_remove", mq_notify(d, NULL));
		if (i != 1)
			BADF("close", mq_close(d));
	}
	res("mq_close_on_pipe", mq_close(pfd[1]));
	close(pfd[0]);
	/* which error wins */
	res("prec_send_rdonly_prio_max_oversize", mq_send(qr, big, 100, MQ_PRIO_MAX));
	res("prec_send_minus1_prio_max", snd(-1, "x", MQ_PRIO_MAX));
	res("prec_send_rdonly_oversize", mq_send(qr, big, 100, 0));
	res("prec_recv_wronly_small_buf", mq_receive(qw, buf, 10, NULL));
	ts.tv_nsec = 1000000000;
	res("prec_timedsend_minus1_nsec_1e9", mq_timedsend(-1, "x", 1, 0, &ts));
	res("prec_timedrecv_minus1_nsec_1e9", mq_timedreceive(-1, buf, sizeof buf, NULL, &ts));
	res("prec_timedsend_oversize_nsec_1e9", mq_timedsend(qw, big, 100, 0, &ts));
	mq_close(qr);
	mq_close(qw);
	mq_close(qn);
	mq_close(qb);
}

/* ================================================= getattr / setattr */
static void t_attr(void)
{
	mqt_watch(10, "attr");
	char n[NM], buf[8192];
	mqd_t q = mqt_create(n, NM, 4, 64, O_RDWR, 0600);
	mqd_t qn = mq_open(n, O_RDWR | O_NONBLOCK);
	static const char ops[] = "ssrsssNrrrr";
	printf("curmsgs_sequence:");
	for (int i = 0; ops[i]; i++) {
		long r = ops[i] == 's' ? snd(q, "m", (unsigned)i)
			 : ops[i] == 'N' ? snd(qn, "m", 1)
					 : mq_receive(q, buf, sizeof buf, NULL);
		if (r < 0)
			printf(" (%s)", errname(errno));
		printf(" %ld", curmsgs(q));
	}
	printf("\n");
	pattr("attr_blocking_desc", q);
	pattr("attr_nonblock_desc", qn);
	struct mq_attr nw = mkattr(99, 99), old;
	nw.mq_flags = O_NONBLOCK;
	nw.mq_curmsgs = 7;
	memset(&old, 0x55, sizeof old);
	res("setattr_set_nonblock", mq_setattr(q, &nw, &old));
	pa("setattr_set_nonblock_old", &old);
	pattr("setattr_set_nonblock_new", q);
	res("recv_after_set_nonblock", mq_receive(q, buf, sizeof buf, NULL));
	pattr("other_desc_unaffected", qn);
	nw.mq_flags = 0;
	res("setattr_clear_nonblock", mq_setattr(q, &nw, &old));
	pa("setattr_clear_nonblock_old", &old);
	pattr("setattr_clear_nonblock_new", q);
	static const long other[3] = { O_RDWR, 0x1, O_NONBLOCK | O_RDWR };
	static const char *otherl[3] = { "O_RDWR", "0x1", "O_NONBLOCK|O_RDWR" };
	for (int i = 0; i < 3; i++) {
		char label[64];
		nw.mq_flags = other[i];
		snprintf(label, sizeof label, "setattr_flags_%s", otherl[i]);
		res(label, mq_setattr(q, &nw, &old));
		pattr(label, q);
	}
	nw.mq_flags = O_NONBLOCK;
	res("setattr_null_old", mq_setattr(q, &nw, NULL));
	pattr("setattr_null_old_new", q);
	nw.mq_flags = 0;
	res("setattr_null_old_clear", mq_setattr(q, &nw, NULL));
	/* O_NONBLOCK lives in the open file description, shared across fork */
	g_q = q;
	rescode("fork_child_setattr_nonblock", child_run(c_setattr_nonblock), "0");
	pattr("parent_desc_after_child_setattr", q);
	mq_setattr(q, &nw, NULL);
	mq_close(qn);
	mq_close(q);
}

/* ================================================================ notify */
static volatile sig_atomic_t n_count, n_signo, n_code, n_value;
static volatile pid_t n_pid;
static pid_t n_expect_pid;
static void on_notify(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	n_signo = si->si_signo;
	n_code = si->si_code;
	n_value = si->si_value.sival_int;
	n_pid = si->si_pid;
	n_count++;
}
static void wait_count(int target, long ms)
{
	for (long i = 0; i < ms && n_count < target; i++)
		mqt_sleep_ms(1);
}
static void print_sig(const char *label)
{
	printf("%s: count=%d", label, (int)n_count);
	if (n_count)
		printf(" signo=%s code=%s value=%d from_sender=%d", signame(n_signo),
		       sicodename(n_code), (int)n_value, n_pid == n_expect_pid);
	printf("\n");
}
static int notify_sig(mqd_t q, int signo, int value)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = signo;
	ev.sigev_value.sival_int = value;
	return mq_notify(q, &ev);
}
/* a forked child sends g_payload on g_q; we then wait for the signal */
static void child_sends(const char *payload, long grace_ms, int expect)
{
	g_payload = payload;
	g_prio = 1;
	g_delay_ms = 0;
	fflush(stdout);
	pid_t p = mqt_fork();
	if (p == 0)
		_exit(c_send());
	n_expect_pid = p;
	if (mqt_wait(p) != 0)
		printf("child_send_failed\n");
	wait_count(expect, grace_ms);
}
struct blk {
	mqd_t q;
	int op; /* 0 receive, 1 send, 2 timedreceive */
	long ms;
	volatile pid_t tid;
	ssize_t ret;
	int err;
	volatile int done;
	char buf[8192];
};
static void *blocker(void *p)
{
	struct blk *b = p;
	struct timespec ts = mqt_deadline(b->ms);
	__atomic_store_n(&b->tid, gettid(), __ATOMIC_SEQ_CST);
	if (b->op == 0)
		b->ret = mq_receive(b->q, b->buf, sizeof b->buf, NULL);
	else if (b->op == 1)
		b->ret = snd(b->q, "blocked-send", 1);
	else
		b->ret = mq_timedreceive(b->q, b->buf, sizeof b->buf, NULL, &ts);
	b->err = errno;
	__atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}
static pthread_t start_blocker(struct blk *b)
{
	pthread_t t;
	b->tid = 0;
	if (pthread_create(&t, NULL, blocker, b) != 0)
		mqt_fail("pthread_create");
	while (__atomic_load_n(&b->tid, __ATOMIC_SEQ_CST) == 0)
		mqt_sleep_ms(1);
	mqt_wait_blocked(b->tid);
	return t;
}
static int thr_pipe[2];
static pid_t main_tid;
static void on_thread(union sigval v)
{
	int m[2] = { v.sival_int, gettid() != main_tid };
	if (write(thr_pipe[1], m, sizeof m) < 0)
		_exit(3);
}

static void t_notify(void)
{
	mqt_watch(20, "notify");
	char n[NM], buf[8192];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_notify;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	mqd_t q1 = mqt_create(n, NM, 4, 64, O_RDWR, 0600);
	mqd_t q2 = mq_open(n, O_RDWR);
	snprintf(g_name, NM, "%s", n);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_NONE;
	res("notify_none_register", mq_notify(q1, &ev));
	res("notify_again_same_desc", mq_notify(q1, &ev));
	res("notify_again_other_desc", mq_notify(q2, &ev));
	g_q = q1;
	rescode("notify_from_child", child_run(c_notify_none), "0");
	rescode("notify_remove_by_child_nonowner", child_run(c_notify_remove), "0");
	res("notify_after_nonowner_remove", mq_notify(q2, &ev));
	res("notify_remove_owner", mq_notify(q1, NULL));
	res("notify_after_owner_remove", mq_notify(q1, &ev));
	res("notify_remove_via_other_desc", mq_notify(q2, NULL));
	res("notify_after_remove_via_other_desc", mq_notify(q2, &ev));
	res("notify_remove", mq_notify(q2, NULL));
	res("notify_remove_when_none", mq_notify(q1, NULL));

	/* SIGEV_SIGNAL on empty -> non-empty, sent by another process */
	n_count = 0;
	res("notify_signal_register", notify_sig(q1, SIGUSR2, 42));
	child_sends("n1", 2000, 1);
	print_sig("notify_signal_delivered");
	rcv("notify_signal_msg", q1);
	n_count = 0;
	child_sends("n2", 200, 1);
	print_sig("notify_signal_second_transition");
	rcv("notify_signal_msg2", q1);
	res("notify_register_after_delivery", notify_sig(q1, SIGUSR2, 43));
	res("notify_remove_43", mq_notify(q1, NULL));

	/* not delivered when the queue is already non-empty; stays registered */
	snd(q1, "pre", 1);
	n_count = 0;
	res("notify_register_nonempty", notify_sig(q1, SIGUSR2, 44));
	child_sends("n3", 200, 1);
	print_sig("notify_nonempty_send");
	res("notify_still_registered", mq_notify(q2, &ev));
	rcv("drain_1", q1);
	rcv("drain_2", q1);
	child_sends("n4", 2000, 1);
	print_sig("notify_after_empty_again");
	rcv("drain_3", q1);

	/* not delivered when a receiver is blocked in mq_receive */
	n_count = 0;
	res("notify_register_blocked_receiver", notify_sig(q1, SIGUSR2, 45));
	static struct blk b;
	b.q = q1;
	b.op = 0;
	pthread_t t = start_blocker(&b);
	child_sends("n5", 200, 1);
	pthread_join(t, NULL);
	printf("blocked_receiver_got: %zd %.*s\n", b.ret, b.ret > 0 ? (int)b.ret : 0, b.buf);
	print_sig("notify_blocked_receiver");
	res("notify_registration_after_blocked", mq_notify(q2, &ev));
	mq_notify(q1, NULL);

	/* SIGEV_THREAD, the message comes from another process */
	mqt_watch(20, "notify_thread");
	if (pipe(thr_pipe) < 0)
		mqt_fail("pipe");
	main_tid = gettid();
	struct sigevent et;
	memset(&et, 0, sizeof et);
	et.sigev_notify = SIGEV_THREAD;
	et.sigev_notify_function = on_thread;
	et.sigev_value.sival_int = 777;
	res("notify_thread_register", mq_notify(q1, &et));
	child_sends("t1", 0, 0);
	struct pollfd pf = { thr_pipe[0], POLLIN, 0 };
	int m[2] = { -1, -1 };
	if (poll(&pf, 1, 3000) == 1 && mqt_read_full(thr_pipe[0], m, sizeof m) == 0)
		printf("notify_thread_ran: value=%d other_thread=%d\n", m[0], m[1]);
	else
		printf("notify_thread_ran: no\n");
	res("notify_register_after_thread", mq_notify(q1, &ev));
	mq_notify(q1, NULL);
	rcv("notify_thread_msg", q1);
	close(thr_pipe[0]);
	close(thr_pipe[1]);

	/* invalid registrations */
	struct sigevent bad;
	memset(&bad, 0, sizeof bad);
	bad.sigev_notify = 99;
	res("notify_sigev_99", mq_notify(q1, &bad));
	n_count = 0;
	res("notify_signal_0", notify_sig(q1, 0, 1));
	child_sends("z", 200, 1);
	print_sig("notify_signal_0_send");
	res("notify_after_signal_0_send", mq_notify(q1, &ev));
	mq_notify(q1, NULL);
	rcv("drain_z", q1);
	res("notify_signal_65", notify_sig(q1, 65, 1));
	res("notify_signal_64", notify_sig(q1, 64, 1));
	mq_notify(q1, NULL);

	/* closing descriptors / exit of the owner */
	res("notify_register_q2", mq_notify(q2, &ev));
	res("close_q2_owner_desc", mq_close(q2));
	rescode("notify_child_after_owner_close", child_run(c_notify_none_by_name), "0");
	q2 = mq_open(n, O_RDWR);
	res("notify_register_q1", mq_notify(q1, &ev));
	res("close_q2_other_desc_of_owner", mq_close(q2));
	rescode("notify_child_after_owner_closed_other_desc", child_run(c_notify_none_by_name), "0");
	mq_notify(q1, NULL);
	rescode("notify_child_registers_then_exits", child_run(c_notify_none_by_name), "0");
	res("notify_after_owner_exit", mq_notify(q1, &ev));
	mq_notify(q1, NULL);
	(void)buf;
	mq_close(q1);
}

/* ================================================================ EINTR */
static volatile sig_atomic_t u1_count;
static void on_usr1(int s)
{
	(void)s;
	u1_count++;
}
static void eintr_case(const char *label, mqd_t q, int op, long ms, int restart, const char *later)
{
	struct sigaction sa;
	static struct blk b;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	u1_count = 0;
	memset(&b, 0, sizeof b);
	b.q = q;
	b.op = op;
	b.ms = ms;
	pthread_t t = start_blocker(&b);
	pthread_kill(t, SIGUSR1);
	mqt_sleep_ms(200);
	int done = __atomic_load_n(&b.done, __ATOMIC_SEQ_CST);
	if (later) { /* a message / a free slot arrives from another process */
		g_q = q;
		g_payload = later;
		g_prio = 3;
		g_delay_ms = 0;
		int r = child_run(op == 1 ? c_recv_print : c_send);
		if (r)
			rescode("eintr_child", r, "0");
	}
	pthread_join(t, NULL);
	printf("%s: handler=%d blocked_after_signal=%d ", label, (int)u1_count, !done);
	if (b.ret < 0)
		printf("-1 %s\n", errname(b.err));
	else if (op == 1)
		printf("%zd\n", b.ret);
	else
		printf("%zd %.*s\n", b.ret, (int)b.ret, b.buf);
}
static void t_eintr(void)
{
	mqt_watch(20, "eintr");
	char n[NM];
	mqd_t q = mqt_create(n, NM, 1, 64, O_RDWR, 0600);
	eintr_case("eintr_recv_no_restart", q, 0, 0, 0, NULL);
	eintr_case("eintr_recv_sa_restart", q, 0, 0, 1, "late-msg");
	eintr_case("eintr_timedrecv_no_restart", q, 2, 1000, 0, NULL);
	eintr_case("eintr_timedrecv_sa_restart", q, 2, 1000, 1, NULL);
	snd(q, "full", 0);
	eintr_case("eintr_send_no_restart", q, 1, 0, 0, NULL);
	eintr_case("eintr_send_sa_restart", q, 1, 0, 1, "unused");
	rcv("eintr_left_in_queue", q);
	signal(SIGUSR1, SIG_DFL);
	mq_close(q);
}

/* ========================================================== permissions */
static void perm(const char *label, int oflag)
{
	g_oflag = oflag;
	rescode(label, as_nobody(c_open_name), "ok");
}
static void t_perm(void)
{
	mqt_watch(20, "permissions");
	mode_t um = umask(0);
	mqd_t q = mqt_create(g_name, NM, 2, 64, O_RDWR, 0600);
	perm("perm_0600_nobody_rdonly", O_RDONLY);
	perm("perm_0600_nobody_wronly", O_WRONLY);
	mq_close(q);
	q = mqt_create(g_name, NM, 2, 64, O_RDWR, 0644);
	perm("perm_0644_nobody_rdonly", O_RDONLY);
	perm("perm_0644_nobody_wronly", O_WRONLY);
	perm("perm_0644_nobody_rdwr", O_RDWR);
	rescode("perm_0644_nobody_unlink", as_nobody(c_unlink_name), "0");
	reso("perm_0644_still_there", q = mq_open(g_name, O_RDWR));
	closeif(q);
	q = mqt_create(g_name, NM, 2, 64, O_RDWR, 0622);
	perm("perm_0622_nobody_wronly", O_WRONLY);
	perm("perm_0622_nobody_rdonly", O_RDONLY);
	mq_close(q);
	q = mqt_create(g_name, NM, 2, 64, O_RDWR, 0000);
	mq_close(q);
	reso("perm_0000_root_rdwr", q = mq_open(g_name, O_RDWR));
	closeif(q);
	umask(022);
	q = mqt_create(g_name, NM, 2, 64, O_RDWR, 0666);
	umask(0);
	perm("perm_umask022_0666_nobody_wronly", O_WRONLY);
	perm("perm_umask022_0666_nobody_rdonly", O_RDONLY);
	mq_close(q);
	umask(um);
}

/* ================================================= poll / select / epoll */
static void readiness(const char *label, mqd_t q, int ep, int ms)
{
	struct pollfd pf = { q, POLLIN, 0 };
	int r = poll(&pf, 1, ms);
	printf("%s: poll=%d pollin=%d", label, r, (pf.revents & POLLIN) != 0);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(q, &rs);
	struct timeval tv = { 0, 0 };
	r = select(q + 1, &rs, NULL, NULL, &tv);
	printf(" select=%d readable=%d", r, r > 0 && FD_ISSET(q, &rs));
	struct epoll_event e;
	memset(&e, 0, sizeof e);
	r = epoll_wait(ep, &e, 1, 0);
	printf(" epoll=%d epollin=%d\n", r, r > 0 && (e.events & EPOLLIN) != 0);
}
static void t_poll(void)
{
	mqt_watch(20, "poll");
	char n[NM];
	mqd_t q = mqt_create(n, NM, 4, 64, O_RDWR, 0600);
	int ep = epoll_create1(0);
	struct epoll_event e;
	memset(&e, 0, sizeof e);
	e.events = EPOLLIN;
	res("epoll_ctl_add", epoll_ctl(ep, EPOLL_CTL_ADD, q, &e));
	readiness("ready_empty", q, ep, 0);
	snd(q, "p1", 1);
	readiness("ready_one_msg", q, ep, 0);
	snd(q, "p2", 2);
	rcv("ready_recv", q);
	readiness("ready_after_one_of_two", q, ep, 0);
	rcv("ready_recv", q);
	readiness("ready_after_last", q, ep, 0);
	for (int k = 0; k < 3; k++) {
		static const char *lab[3] = { "poll_wakeup", "select_wakeup", "epoll_wakeup" };
		g_q = q;
		g_payload = "wake";
		g_prio = 0;
		g_delay_ms = 100;
		pid_t p = mqt_fork();
		if (p == 0)
			_exit(c_send());
		int r, in;
		if (k == 0) {
			struct pollfd pf = { q, POLLIN, 0 };
			r = poll(&pf, 1, 2000);
			in = (pf.revents & POLLIN) != 0;
		} else if (k == 1) {
			fd_set rs;
			FD_ZERO(&rs);
			FD_SET(q, &rs);
			struct timeval tv = { 2, 0 };
			r = select(q + 1, &rs, NULL, NULL, &tv);
			in = r > 0 && FD_ISSET(q, &rs);
		} else {
			r = epoll_wait(ep, &e, 1, 2000);
			in = r > 0 && (e.events & EPOLLIN);
		}
		printf("%s: ret=%d in=%d\n", lab[k], r, in);
		mqt_wait(p);
		rcv("wakeup_msg", q);
	}
	close(ep);
	mq_close(q);
}

/* ============================================== persistence and sharing */
static int exec_recv(const char *name)
{
	mqt_is_child = 1;
	mqt_watch(10, "exec child");
	mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK);
	reso("exec_child_open", q);
	pattr("exec_child_attr", q);
	rcv("exec_child_recv", q);
	return 0;
}
static void t_persist(void)
{
	mqt_watch(20, "persistence");
	char n[NM];
	mqd_t q = mqt_create(n, NM, 8, 64, O_RDWR, 0600);
	snd(q, "m1", 1);
	snd(q, "m5", 5);
	snd(q, "m3", 3);
	snd(q, "m3b", 3);
	res("close_all", mq_close(q));
	q = mq_open(n, O_RDWR);
	reso("reopen", q);
	pattr("reopen_attr", q);
	g_q = q;
	child_run(c_recv_print);
	fflush(stdout);
	pid_t p = mqt_fork();
	if (p == 0) {
		execl("/proc/self/exe", "conformance", "--exec-recv", n, (char *)NULL);
		_exit(MQT_CHILD_HANG);
	}
	rescode("exec_child_exit", mqt_wait(p), "0");
	pattr("after_children", q);
	res("unlink", mq_unlink(n));
	res("send_after_unlink", snd(q, "u", 2));
	pattr("attr_after_unlink", q);
	mqd_t q2;
	reso("open_after_unlink", q2 = mq_open(n, O_RDWR));
	closeif(q2);
	res("unlink_missing", mq_unlink(n));
	reso("creat_after_unlink", q2 = mq_open(n, O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
	pattr("creat_after_unlink_attr", q2);
	rcv("old_desc_recv", q);
	rcv("old_desc_recv", q);
	res("unlink_fresh", mq_unlink(n));
	closeif(q2);
	mq_close(q);

	/* close() instead of mq_close(), then a new queue (may reuse the number) */
	mqt_watch(10, "close");
	char n2[NM];
	q = mqt_create(n, NM, 4, 64, O_RDWR, 0600);
	snd(q, "kept", 4);
	res("plain_close", close(q));
	q2 = mqt_create(n2, NM, 4, 64, O_RDWR | O_NONBLOCK, 0600);
	res("new_queue_send", snd(q2, "new", 6));
	pattr("new_queue_attr", q2);
	rcv("new_queue_recv", q2);
	rcv("new_queue_recv_empty", q2);
	q = mq_open(n, O_RDONLY | O_NONBLOCK);
	rcv("plain_closed_queue_recv", q);
	mq_close(q);
	mq_close(q2);

	/* fork: the child sends with the parent's descriptor */
	q = mqt_create(n, NM, 4, 64, O_RDWR, 0600);
	g_q = q;
	g_payload = "from-child";
	g_prio = 9;
	g_delay_ms = 0;
	rescode("fork_child_send", child_run(c_send), "0");
	rcv("fork_parent_recv", q);
	snprintf(g_name, NM, "%s", n);
	g_payload = "by-name";
	rescode("fork_child_send_by_name", child_run(c_send_by_name), "0");
	rcv("fork_parent_recv", q);
	mq_close(q);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--exec-recv") == 0)
		return exec_recv(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_open();
	t_sendrecv();
	t_attr();
	t_notify();
	t_eintr();
	t_perm();
	t_poll();
	t_persist();
	mqt_watch(0, "end");
	mqt_cleanup();
	printf("conformance: done\n");
	fflush(stdout);
	return 0;
}
