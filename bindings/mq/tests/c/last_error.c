/*
 * last_error.c - the one function libshmring-mq adds: why a call failed.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -I bindings/mq/include last_error.c
 *           -L <dir of libshmring-mq.so> -lshmring-mq -lrt -o last_error
 * Output (deterministic): each failing call's errno and words.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shmring-mq.h"

int main(void)
{
	printf("before any failure: \"%s\"\n", shmring_mq_last_error());
	mqd_t q = mq_open("no-slash", O_RDONLY);
	printf("mq_open(\"no-slash\"): %d %s: %s\n", (int)q, strerror(errno),
	       shmring_mq_last_error());
	char name[64];
	snprintf(name, sizeof name, "/last-error-%ld", (long)getpid());
	struct mq_attr a = { .mq_maxmsg = 2, .mq_msgsize = 8 };
	q = mq_open(name, O_CREAT | O_EXCL | O_WRONLY, 0600, &a);
	char buf[8];
	ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
	printf("mq_receive on O_WRONLY: %d %s: %s\n", (int)n, strerror(errno),
	       shmring_mq_last_error());
	int rc = mq_send(q, "123456789", 9, 0);
	printf("mq_send of 9 bytes: %d %s: %s\n", rc, strerror(errno), shmring_mq_last_error());
	mq_close(q);
	mq_unlink(name);
	return 0;
}
