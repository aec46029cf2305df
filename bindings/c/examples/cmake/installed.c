/*
 * installed.c: checks an installed libshmring (make install-c) from a
 * program built the way users build theirs (CMake's find_package, or
 * pkg-config; see CMakeLists.txt and packaging/check-install.sh).
 *
 *   installed
 *
 * Prints the header's version (SHMRING_VERSION) and the loaded library's
 * (shmring_version()) and fails if they differ; then makes an SPSC ring
 * named "shmring-installed-<pid>", sends one message through it from a
 * producer to a consumer in this process, checks it, and unlinks the ring.
 * Exit status 0 when everything held.
 */
#include <shmring.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "installed: %s: %s (%s)\n", what, shmring_strerror(rc), shmring_last_error());
    return 1;
}

int main(void)
{
    const char *library = shmring_version();
    printf("shmring header %s (%d.%d.%d), library %s\n", SHMRING_VERSION,
           SHMRING_VERSION_MAJOR, SHMRING_VERSION_MINOR, SHMRING_VERSION_PATCH, library);
    if (strcmp(library, SHMRING_VERSION) != 0) {
        fprintf(stderr, "installed: header and library versions differ\n");
        return 1;
    }

    char name[64];
    snprintf(name, sizeof name, "shmring-installed-%ld", (long)getpid());
    shmring_spsc_options options = {0};
    options.name = name;
    options.flags = SHMRING_CREATE;
    options.capacity = 4096;

    shmring_spsc *ring;
    int rc = shmring_spsc_open(&options, &ring);
    if (rc != SHMRING_OK)
        return fail("open", rc);
    shmring_producer *producer = NULL;
    shmring_consumer *consumer = NULL;
    int status = 1;
    if ((rc = shmring_producer_open(ring, &producer)) != SHMRING_OK) {
        fail("producer", rc);
        goto out;
    }
    if ((rc = shmring_consumer_open(ring, &consumer)) != SHMRING_OK) {
        fail("consumer", rc);
        goto out;
    }
    const char message[] = "hello through an installed shmring";
    if ((rc = shmring_producer_send_timeout(producer, message, sizeof message, 1000)) != SHMRING_OK) {
        fail("send", rc);
        goto out;
    }
    char buf[128];
    size_t len = 0;
    if ((rc = shmring_consumer_recv_timeout(consumer, buf, sizeof buf, &len, 1000)) != SHMRING_OK) {
        fail("receive", rc);
        goto out;
    }
    if (len != sizeof message || memcmp(buf, message, len) != 0) {
        fprintf(stderr, "installed: received %zu bytes, not the message sent\n", len);
        goto out;
    }
    printf("round trip through %s: \"%s\"\n", name, buf);
    status = 0;
out:
    if (consumer)
        shmring_consumer_close(consumer);
    if (producer)
        shmring_producer_close(producer);
    shmring_spsc_close(ring);
    rc = shmring_unlink(name);
    if (rc != SHMRING_OK) {
        fail("unlink", rc);
        status = 1;
    }
    return status;
}
