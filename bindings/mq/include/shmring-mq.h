/*
 * shmring-mq.h - what libshmring-mq adds to <mqueue.h>.
 *
 * libshmring-mq exports the POSIX message-queue API itself (mq_open,
 * mq_send, ... with the Linux signatures: include <mqueue.h> for them);
 * link it with -lshmring-mq before -lrt, or preload it into an unmodified
 * program (LD_PRELOAD=libshmring-mq.so). See docs/mq.md.
 */
#ifndef SHMRING_MQ_H
#define SHMRING_MQ_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Why the calling thread's last failed mq_* call of this library failed,
 * in words ("" if none has failed yet). errno says what POSIX allows;
 * this says what happened (for example "the queue's file system is full"
 * or "the deadline passed while the queue's lock was held (a stopped or
 * misbehaving peer)"). The string belongs to the thread and stays valid
 * until its next failing call. Calls the library passes on to the C
 * library (kernel queues) do not set it.
 */
const char *shmring_mq_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_MQ_H */
