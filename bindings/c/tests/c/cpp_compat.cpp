// The header compiles as C++ (extern "C" guards) and links.
#include <shmring.h>

#include <cstdio>
#include <cstring>

int main()
{
    shmring_producer *producer = nullptr;
    int rc = shmring_producer_send(producer, "x", 1);
    if (rc != SHMRING_E_BAD_HANDLE) {
        std::fprintf(stderr, "unexpected %d\n", rc);
        return 1;
    }
    shmring_spsc_options options = {};
    options.capacity = 1024;
    std::printf("c++: %s (capacity %llu)\n", shmring_strerror(rc), (unsigned long long)options.capacity);
    return std::strlen(shmring_last_error()) > 0 ? 0 : 1;
}
