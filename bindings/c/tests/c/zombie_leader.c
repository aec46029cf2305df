/*
 * zombie_leader.c: a common C pattern that must not look like a death.
 * A sending thread opens the producer of ring NAME and sends "tick N"
 * every 20 ms; once it is attached, the main thread prints "ready" and
 * calls pthread_exit(). The thread-group leader is then a zombie (state
 * `Z` in /proc/PID/stat) while the process lives on and keeps sending.
 * Runs until killed.
 *
 *   zombie_leader NAME
 */
#include <shmring.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *ring_name;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int attach_rc = 1; /* 1: not yet known */

static void report(int rc)
{
    pthread_mutex_lock(&lock);
    attach_rc = rc;
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
}

static void *send_ticks(void *arg)
{
    (void)arg;
    struct shmring_spsc_options o;
    memset(&o, 0, sizeof o);
    o.name = ring_name;
    shmring_spsc *ring = NULL;
    shmring_producer *producer = NULL;
    int rc = shmring_spsc_open(&o, &ring);
    if (rc == SHMRING_OK)
        rc = shmring_producer_open(ring, &producer);
    report(rc);
    if (rc != SHMRING_OK)
        return NULL;
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (unsigned long n = 0;; n++) {
        char tick[32];
        int len = snprintf(tick, sizeof tick, "tick %lu", n);
        if (shmring_producer_send(producer, tick, (size_t)len) != SHMRING_OK)
            return NULL;
        nanosleep(&pause, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: zombie_leader NAME\n");
        return 2;
    }
    ring_name = argv[1];
    pthread_t sender;
    if (pthread_create(&sender, NULL, send_ticks, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    pthread_mutex_lock(&lock);
    while (attach_rc == 1)
        pthread_cond_wait(&changed, &lock);
    int rc = attach_rc;
    pthread_mutex_unlock(&lock);
    if (rc != SHMRING_OK) {
        printf("error: %s\n", shmring_strerror(rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    pthread_exit(NULL);
}
