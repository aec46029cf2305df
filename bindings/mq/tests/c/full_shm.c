/*
 * full_shm.c - the file system that holds the queues is full: mq_open
 * fails with ENOSPC, and the queues made before it keep working.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread full_shm.c -o full_shm -lrt
 * Run:   ./full_shm        (preloaded, with SHMRING_MQ_DIR on a small tmpfs;
 *                           the kernel's queues are limited by
 *                           RLIMIT_MSGQUEUE instead: EMFILE)
 * Output (deterministic): see the printf calls.
 */
#include "mqtest.h"

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	mqt_watch(20, "full_shm");
	static char names[64][64];
	mqd_t qs[64];
	int n = 0, err = 0;
	while (n < 64) {
		struct mq_attr a = mkattr(10, 8192);
		snprintf(names[n], sizeof names[n], "/mqt-full-%ld-%d", (long)getpid(), n);
		qs[n] = mq_open(names[n], O_CREAT | O_EXCL | O_RDWR, 0600, &a);
		if (qs[n] == (mqd_t)-1) {
			err = errno;
			break;
		}
		n++;
	}
	printf("made some queues, then: %s\n", n > 0 ? errname(err) : "none made");
	char msg[8192];
	memset(msg, 'q', sizeof msg);
	int ok = 1;
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < 10; j++)
			ok &= mq_send(qs[i], msg, sizeof msg, (unsigned)j) == 0;
		char buf[8192];
		unsigned prio;
		ok &= mq_receive(qs[i], buf, sizeof buf, &prio) == (ssize_t)sizeof msg && prio == 9;
	}
	printf("the queues made before keep every message: %s\n", ok ? "yes" : "no");
	for (int i = 0; i < n; i++) {
		mq_close(qs[i]);
		mq_unlink(names[i]);
	}
	printf("full_shm: done\n");
	return 0;
}
