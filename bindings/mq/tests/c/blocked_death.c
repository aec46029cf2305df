/*
 * blocked_death.c - a receiver SIGKILLed while blocked in mq_receive is no
 * longer "a receiver waiting": a notification registered afterwards fires
 * at the next message, as on Linux; and the queue keeps working.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread blocked_death.c -o blocked_death -lrt
 * Run:   ./blocked_death              (any user)
 * Output (deterministic): one line per round, then "blocked_death: done".
 */
#include "mqtest.h"

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t got_code;

static void on_usr1(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)ctx;
	got_code = info->si_code;
	got_signal = 1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	mqt_watch(30, "setup");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	char name[300];
	mqd_t q = mqt_create(name, sizeof name, 4, 32, O_RDWR, 0600);
	for (int round = 0; round < 3; round++) {
		mqt_stage = "blocked receiver";
		int ready[2];
		if (pipe(ready) < 0)
			mqt_fail("pipe");
		pid_t child = mqt_fork();
		if (child == 0) {
			char buf[32];
			/* Tell the parent our thread id, then block for ever. */
			pid_t tid = gettid();
			mqt_write_full(ready[1], &tid, sizeof tid);
			mq_receive(q, buf, sizeof buf, NULL);
			_exit(3);
		}
		pid_t tid;
		if (mqt_read_full(ready[0], &tid, sizeof tid) < 0)
			mqt_fail("child's tid");
		close(ready[0]);
		close(ready[1]);
		/* Asleep in the call: state S on two reads 30 ms apart. */
		for (int i = 0;; i++) {
			char path[64], buf[512];
			snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", (long)child, (long)tid);
			int fd = open(path, O_RDONLY);
			ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
			if (fd >= 0)
				close(fd);
			if (n > 0) {
				buf[n] = 0;
				char *p = strrchr(buf, ')');
				if (p && p[1] == ' ' && p[2] == 'S')
					break;
			}
			if (i > 300)
				mqt_fail("receiver never blocked");
			mqt_sleep_ms(10);
		}
		mqt_sleep_ms(30);
		kill(child, SIGKILL);
		int st = mqt_wait(child);
		printf("round %d: receiver killed while blocked: %s\n", round,
		       st == 1000 + SIGKILL ? "yes" : "no");

		mqt_stage = "notify after the death";
		struct sigevent ev;
		memset(&ev, 0, sizeof ev);
		ev.sigev_notify = SIGEV_SIGNAL;
		ev.sigev_signo = SIGUSR1;
		got_signal = 0;
		res("  mq_notify", mq_notify(q, &ev));
		res("  mq_send", snd(q, "wake", 1));
		for (int i = 0; i < 200 && !got_signal; i++)
			mqt_sleep_ms(10);
		printf("  notified: %s si_code=%s\n", got_signal ? "yes" : "no",
		       got_signal ? sicodename(got_code) : "-");
		rcv("  mq_receive", q);
		pattr("  after", q);
	}
	mq_close(q);
	res("mq_unlink", mq_unlink(name));
	mqt_nnames = 0;
	printf("blocked_death: done\n");
	return 0;
}
