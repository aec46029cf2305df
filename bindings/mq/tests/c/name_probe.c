/*
 * name_probe.c - opens a queue that some other program made, by name only:
 * under LD_PRELOAD=libshmring-mq.so, a name that is a kernel queue must
 * stay the kernel's queue (the test makes it without the library).
 *
 * Build: cc -O2 -Wall -Wextra -Werror -pthread name_probe.c -o name_probe -lrt
 * Run:   ./name_probe NAME          NAME: an existing queue with a message
 * It receives one message and prints it, replies "pong" with priority 3,
 * shows that O_CREAT|O_EXCL of the name fails with EEXIST, and prints the
 * queue's attributes.
 *        ./name_probe NAME unlink   removes the queue and prints the result.
 */
#include "mqtest.h"

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	mqt_watch(20, "name_probe");
	if (argc == 3 && strcmp(argv[2], "unlink") == 0) {
		res("unlink", mq_unlink(argv[1]));
		return 0;
	}
	if (argc != 2)
		mqt_fail("usage: name_probe NAME [unlink]");
	mqd_t q = mq_open(argv[1], O_RDWR);
	reso("open_existing", q);
	if (q == (mqd_t)-1)
		return 0;
	rcv("receive", q);
	res("send_pong", snd(q, "pong", 3));
	struct mq_attr a = mkattr(4, 64);
	mqd_t again = mq_open(argv[1], O_CREAT | O_EXCL | O_RDWR, 0600, &a);
	reso("open_creat_excl", again);
	closeif(again);
	pattr("attr", q);
	res("close", mq_close(q));
	return 0;
}
