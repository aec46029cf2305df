/*
 * mqtest.h - shared helpers for the POSIX message-queue test programs.
 *
 * The programs in this directory are run twice: against the kernel's own
 * queues (no preload) and against libshmring-mq.so (LD_PRELOAD); the two
 * outputs must be byte-identical.  Everything printed is therefore a result
 * (return value, symbolic errno, payload, priority), never a name, a pid, an
 * address or a time.
 *
 * Harness conventions provided here:
 *   - queue names "/mqt-<pid>-<counter>", remembered and unlinked by
 *     mqt_cleanup() (also on the watchdog and harness-failure paths);
 *   - mqt_watch(secs, stage): alarm() watchdog; on expiry prints
 *     "WATCHDOG: hang in <stage>", kills the children, unlinks, exits 2;
 *   - mqt_fork(): fork that flushes stdout first, remembers the child (killed
 *     on failure paths), and in the child sets PDEATHSIG and its own watchdog
 *     (a hung child exits with status MQT_CHILD_HANG);
 *   - mqt_fail(): harness failure, exit 2.
 *
 * Only <mqueue.h>, POSIX and Linux headers.  All functions are static inline
 * so that a program using a subset still builds with -Wall -Wextra -Werror.
 */
#ifndef MQTEST_H
#define MQTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MQT_MAX_NAMES 256
#define MQT_MAX_CHILDREN 64
#define MQT_CHILD_HANG 125 /* exit status of a child whose watchdog fired */

static char mqt_names[MQT_MAX_NAMES][300];
static int mqt_nnames;
static pid_t mqt_children[MQT_MAX_CHILDREN];
static int mqt_nchildren;
static int mqt_counter;
static volatile sig_atomic_t mqt_is_child;
static const char *volatile mqt_stage = "start";

static inline const char *errname(int e)
{
	static char buf[32];
	switch (e) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ELOOP: return "ELOOP";
	case EOVERFLOW: return "EOVERFLOW";
	case EMSGSIZE: return "EMSGSIZE";
	case ENOTSUP: return "ENOTSUP";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ENOTSOCK: return "ENOTSOCK";
	case EOWNERDEAD: return "EOWNERDEAD";
	default:
		snprintf(buf, sizeof buf, "E#%d", e);
		return buf;
	}
}

static inline const char *signame(int s)
{
	static char buf[32];
	switch (s) {
	case 0: return "0";
	case SIGUSR1: return "SIGUSR1";
	case SIGUSR2: return "SIGUSR2";
	case SIGALRM: return "SIGALRM";
	case SIGKILL: return "SIGKILL";
	case SIGTERM: return "SIGTERM";
	case SIGSEGV: return "SIGSEGV";
	case SIGABRT: return "SIGABRT";
	case SIGPIPE: return "SIGPIPE";
	default:
		if (s >= SIGRTMIN && s <= SIGRTMAX)
			snprintf(buf, sizeof buf, "SIGRTMIN+%d", s - SIGRTMIN);
		else
			snprintf(buf, sizeof buf, "SIG#%d", s);
		return buf;
	}
}

static inline const char *sicodename(int c)
{
	static char buf[32];
	switch (c) {
	case SI_MESGQ: return "SI_MESGQ";
	case SI_QUEUE: return "SI_QUEUE";
	case SI_USER: return "SI_USER";
	case SI_TKILL: return "SI_TKILL";
	case SI_TIMER: return "SI_TIMER";
	case SI_ASYNCIO: return "SI_ASYNCIO";
	case SI_KERNEL: return "SI_KERNEL";
	case SI_SIGIO: return "SI_SIGIO";
	default:
		snprintf(buf, sizeof buf, "code%d", c);
		return buf;
	}
}

/* async-signal-safe write of a string */
static inline void mqt_puts_raw(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static inline void mqt_cleanup(void)
{
	for (int i = 0; i < mqt_nnames; i++)
		mq_unlink(mqt_names[i]);
	mqt_nnames = 0;
}

static inline void mqt_kill_children(void)
{
	for (int i = 0; i < mqt_nchildren; i++) {
		if (mqt_children[i] > 0) {
			kill(mqt_children[i], SIGKILL);
			waitpid(mqt_children[i], NULL, 0);
		}
	}
	mqt_nchildren = 0;
}

static inline void mqt_watchdog_handler(int sig)
{
	(void)sig;
	if (mqt_is_child) {
		mqt_puts_raw(1, "WATCHDOG: child hang in ");
		mqt_puts_raw(1, mqt_stage);
		mqt_puts_raw(1, "\n");
		_exit(MQT_CHILD_HANG);
	}
	mqt_puts_raw(1, "WATCHDOG: hang in ");
	mqt_puts_raw(1, mqt_stage);
	mqt_puts_raw(1, "\n");
	mqt_kill_children();
	mqt_cleanup();
	_exit(2);
}

/* (Re)arm the watchdog for a stage.  secs == 0 disarms it. */
static inline void mqt_watch(unsigned secs, const char *stage)
{
	static int installed;
	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = mqt_watchdog_handler;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		installed = 1;
	}
	mqt_stage = stage;
	alarm(secs);
}

/* Harness failure: print, clean up, exit 2. */
static inline void mqt_fail(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	fflush(stdout);
	printf("HARNESS FAILURE: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %s)\n", errname(e));
	fflush(stdout);
	if (mqt_is_child)
		_exit(MQT_CHILD_HANG);
	mqt_kill_children();
	mqt_cleanup();
	exit(2);
}

/* Remember a queue name for mqt_cleanup(). */
static inline void mqt_remember(const char *name)
{
	if (mqt_nnames < MQT_MAX_NAMES)
		snprintf(mqt_names[mqt_nnames++], sizeof mqt_names[0], "%s", name);
}

/* Fresh unique queue name, remembered for cleanup. */
static inline void mqt_name(char *buf, size_t n)
{
	snprintf(buf, n, "/mqt-%ld-%d", (long)getpid(), mqt_counter++);
	mqt_remember(buf);
}

/* Create a fresh queue (harness failure if it cannot be created). */
static inline mqd_t mqt_create(char *name, size_t n, long maxmsg, long msgsize,
			       int oflag, mode_t mode)
{
	struct mq_attr a;
	memset(&a, 0, sizeof a);
	a.mq_maxmsg = maxmsg;
	a.mq_msgsize = msgsize;
	mqt_name(name, n);
	mqd_t q = mq_open(name, O_CREAT | O_EXCL | oflag, mode, &a);
	if (q == (mqd_t)-1)
		mqt_fail("cannot create queue %ld x %ld", maxmsg, msgsize);
	return q;
}

static inline void mqt_forget_child(pid_t p)
{
	for (int i = 0; i < mqt_nchildren; i++)
		if (mqt_children[i] == p) {
			mqt_children[i] = mqt_children[--mqt_nchildren];
			return;
		}
}

/* fork(): flush stdout; in the child: PDEATHSIG + own watchdog of secs. */
static inline pid_t mqt_fork_wd(unsigned secs)
{
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t p = fork();
	if (p < 0)
		mqt_fail("fork");
	if (p == 0) {
		mqt_is_child = 1;
		mqt_nchildren = 0;
		mqt_nnames = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(MQT_CHILD_HANG);
		mqt_watch(secs, mqt_stage);
		return 0;
	}
	if (mqt_nchildren < MQT_MAX_CHILDREN)
		mqt_children[mqt_nchildren++] = p;
	return p;
}

static inline pid_t mqt_fork(void) { return mqt_fork_wd(10); }

/*
 * Wait for a child; returns its exit status (0..255) or 1000 + signal.
 * A child whose watchdog fired is a harness failure.
 */
static inline int mqt_wait(pid_t p)
{
	int st;
	while (waitpid(p, &st, 0) < 0) {
		if (errno != EINTR)
			mqt_fail("waitpid");
	}
	mqt_forget_child(p);
	if (WIFEXITED(st)) {
		if (WEXITSTATUS(st) == MQT_CHILD_HANG)
			mqt_fail("child hang or failure in %s", mqt_stage);
		return WEXITSTATUS(st);
	}
	return 1000 + WTERMSIG(st);
}

/* Absolute CLOCK_REALTIME deadline ms milliseconds from now (may be < 0). */
static inline struct timespec mqt_deadline(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec +
		       (long long)ms * 1000000LL;
	ts.tv_sec = (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	return ts;
}

static inline long long mqt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void mqt_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void mqt_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Scheduler state letter of a thread of this process ('S', 'R', ...). */
static inline char mqt_thread_state(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%ld/stat", (long)tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return (p && p[1] == ' ') ? p[2] : '?';
}

/*
 * Wait until thread tid is asleep (state 'S' seen on two reads 30 ms apart),
 * i.e. blocked in the call under test.  Harness failure after 3 s.
 */
static inline void mqt_wait_blocked(pid_t tid)
{
	for (int i = 0; i < 300; i++) {
		if (mqt_thread_state(tid) == 'S') {
			mqt_sleep_ms(30);
			if (mqt_thread_state(tid) == 'S')
				return;
		}
		mqt_sleep_ms(10);
	}
	mqt_fail("thread never blocked in %s", mqt_stage);
}

/* Read exactly n bytes (EINTR-safe); returns 0 on success, -1 otherwise. */
static inline int mqt_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static inline int mqt_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Simple deterministic PRNG (xorshift64*). */
static inline uint64_t mqt_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ULL;
}

static inline uint32_t mqt_checksum(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* ---- printing helpers (errno is read first thing) ---- */
static inline void res(const char *label, long r)
{
	int e = errno;
	if (r < 0)
		printf("%s: -1 %s\n", label, errname(e));
	else
		printf("%s: %ld\n", label, r);
}
static inline void reso(const char *label, mqd_t q)
{
	int e = errno;
	if (q == (mqd_t)-1)
		printf("%s: -1 %s\n", label, errname(e));
	else
		printf("%s: ok\n", label);
}
static inline void rescode(const char *label, int code, const char *ok)
{
	if (code == 0)
		printf("%s: %s\n", label, ok);
	else if (code < 256)
		printf("%s: -1 %s\n", label, errname(code));
	else
		printf("%s: child killed by %s\n", label, signame(code - 1000));
}
static inline const char *flagstr(long f)
{
	static char b[32];
	if (f == 0)
		return "0";
	if (f == O_NONBLOCK)
		return "O_NONBLOCK";
	snprintf(b, sizeof b, "0x%lx", f);
	return b;
}
static inline void pa(const char *label, const struct mq_attr *a)
{
	printf("%s: maxmsg=%ld msgsize=%ld curmsgs=%ld flags=%s\n", label,
	       a->mq_maxmsg, a->mq_msgsize, a->mq_curmsgs, flagstr(a->mq_flags));
}
static inline void pattr(const char *label, mqd_t q)
{
	struct mq_attr a;
	if (mq_getattr(q, &a) < 0) {
		printf("%s: getattr -1 %s\n", label, errname(errno));
		return;
	}
	pa(label, &a);
}
static inline long curmsgs(mqd_t q)
{
	struct mq_attr a;
	return mq_getattr(q, &a) < 0 ? -1 : a.mq_curmsgs;
}
static inline void closeif(mqd_t q)
{
	if (q != (mqd_t)-1)
		mq_close(q);
}
static inline int snd(mqd_t q, const char *s, unsigned prio)
{
	return mq_send(q, s, strlen(s), prio);
}
/* receive one message, print "label: payload/prio" (or the error) */
static inline void rcv(const char *label, mqd_t q)
{
	char buf[8192];
	unsigned prio = 0;
	ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
	if (n < 0) {
		res(label, -1);
		return;
	}
	printf("%s: %.*s/%u\n", label, (int)n, buf, prio);
}
static inline struct mq_attr mkattr(long maxmsg, long msgsize)
{
	struct mq_attr a;
	memset(&a, 0, sizeof a);
	a.mq_maxmsg = maxmsg;
	a.mq_msgsize = msgsize;
	return a;
}
static inline int err_or_0(long r) { return r < 0 ? errno : 0; }

/* ---- child helpers: fn runs in a forked child, returns 0 or an errno ---- */
static inline int child_run(int (*fn)(void))
{
	pid_t p = mqt_fork();
	if (p == 0) {
		int r = fn();
		fflush(stdout);
		_exit(r);
	}
	return mqt_wait(p);
}
#endif /* MQTEST_H */
