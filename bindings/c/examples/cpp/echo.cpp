// echo.cpp: a request/reply round trip between two processes through two
// named SPSC rings, with the throwing API of shmring.hpp.
//
//   echo [COUNT]          (default 10000)
//
// The parent creates the rings "shmring-cpp-echo-<pid>-req" and
// "...-rep" in /dev/shm, then forks. The child opens them by name and
// echoes every request back unchanged, reading it in place (peek) and
// writing the reply in place (reserve/commit). The parent sends COUNT
// requests of 1 to 1000 bytes (copied with send(), written in place with
// reserve(), or as text), checks that each reply is byte for byte the
// request, then closes its producer: end of file for the child, which
// closes its own: end of file for the parent. Both names are unlinked at
// the end, whatever happened.
//
// Output: "child: echoed N messages" and "parent: N round trips intact,
// checksum HEX". Exit status 0 only if every reply arrived intact and
// the child succeeded too.
//
// Build (one line):
//   c++ -std=c++20 -Wall -Wextra -Wpedantic -Werror -I bindings/c/include
//       echo.cpp -L target/release -lshmring -Wl,-rpath,$PWD/target/release
//       -o echo
#include <shmring.hpp>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A safety net: no call below waits longer than this for its peer.
constexpr auto patience = 10s;

// Request i: 1 + (i * 37) % 1000 bytes, byte j = (i + j * 13) & 0xff.
std::vector<std::byte> make_request(std::uint64_t i)
{
    std::vector<std::byte> m(1 + (i * 37) % 1000);
    for (std::size_t j = 0; j < m.size(); j++) {
        m[j] = static_cast<std::byte>((i + j * 13) & 0xff);
    }
    return m;
}

// FNV-1a 64 over everything received.
std::uint64_t fnv1a(std::uint64_t h, std::span<const std::byte> bytes)
{
    for (std::byte b : bytes) {
        h ^= static_cast<std::uint64_t>(b);
        h *= 0x100000001b3ULL;
    }
    return h;
}

// Removes both names from /dev/shm when the parent leaves main, however
// it leaves.
struct unlink_at_exit {
    std::string req, rep;
    ~unlink_at_exit()
    {
        (void)shmring::try_unlink(req);
        (void)shmring::try_unlink(rep);
    }
};

// The child: echo every request until end of file. Opens its own handles
// (after fork(), a child uses only handles it opened itself).
int echo(const std::string& req_name, const std::string& rep_name)
{
    try {
        shmring::consumer requests = shmring::spsc::open(req_name).open_consumer();
        shmring::producer replies = shmring::spsc::open(rep_name).open_producer();
        // The spsc objects were temporaries: closed already, and the
        // endpoints keep the rings mapped.
        std::uint64_t n = 0;
        while (std::optional<shmring::recv_guard> request = requests.peek_for(patience)) {
            // Reply in place: reserve room in the reply ring, copy the
            // request straight from the request ring, publish.
            shmring::send_grant reply = replies.reserve_for(request->size(), patience);
            std::memcpy(reply.data(), request->data(), request->size());
            reply.commit();
            request->release(); // or let the guard go out of scope
            n++;
        }
        // peek_for returned std::nullopt: the parent closed its producer.
        std::printf("child: echoed %llu messages\n", static_cast<unsigned long long>(n));
        return 0;
    } catch (const shmring::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        return 1;
    }
}

int run(const std::string& req_name, const std::string& rep_name, std::uint64_t count,
        pid_t child)
{
    shmring::producer requests = shmring::spsc::open(req_name).open_producer();
    shmring::consumer replies = shmring::spsc::open(rep_name).open_consumer();

    std::array<std::byte, 1024> buffer{};
    std::uint64_t checksum = 0xcbf29ce484222325ULL;
    for (std::uint64_t i = 0; i < count; i++) {
        const std::vector<std::byte> request = make_request(i);
        switch (i % 3) {
        case 0: // copied in
            requests.send_for(request, patience);
            break;
        case 1: { // written in place
            shmring::send_grant grant = requests.reserve_for(request.size(), patience);
            std::memcpy(grant.data(), request.data(), request.size());
            grant.commit();
            break;
        }
        default: // as text (the same bytes)
            requests.send_for(
                std::string_view(reinterpret_cast<const char*>(request.data()), request.size()),
                patience);
            break;
        }

        std::span<const std::byte> reply;
        std::vector<std::byte> owned;
        if (i % 2 == 0) {
            // Into the caller's buffer: the length, or nullopt at end of file.
            const std::optional<std::size_t> n = replies.recv_for(buffer, patience);
            if (!n) {
                std::fprintf(stderr, "parent: the child hung up after %llu replies\n",
                             static_cast<unsigned long long>(i));
                return 1;
            }
            reply = std::span(buffer).first(*n);
        } else {
            // A vector of exactly the message's length.
            std::optional<std::vector<std::byte>> v = replies.recv_bytes_for(patience);
            if (!v) {
                std::fprintf(stderr, "parent: the child hung up after %llu replies\n",
                             static_cast<unsigned long long>(i));
                return 1;
            }
            owned = std::move(*v);
            reply = owned;
        }
        if (reply.size() != request.size() ||
            std::memcmp(reply.data(), request.data(), request.size()) != 0) {
            std::fprintf(stderr, "parent: reply %llu differs from its request\n",
                         static_cast<unsigned long long>(i));
            return 1;
        }
        checksum = fnv1a(checksum, reply);
    }

    // End of file for the child; it then closes its producer: ours.
    requests.close();
    if (std::optional<std::size_t> extra = replies.recv_for(buffer, patience)) {
        std::fprintf(stderr, "parent: an unexpected reply of %zu bytes\n", *extra);
        return 1;
    }

    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "parent: the child failed (status %d)\n", status);
        return 1;
    }
    std::printf("parent: %llu round trips intact, checksum %016llx\n",
                static_cast<unsigned long long>(count), static_cast<unsigned long long>(checksum));
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    const std::uint64_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000;
    const std::string prefix = "shmring-cpp-echo-" + std::to_string(getpid());
    const unlink_at_exit names{prefix + "-req", prefix + "-rep"};

    try {
        // Create both rings before forking, so that the child can open
        // them by name; the ring handles close at the end of the scope.
        shmring::spsc_options options;
        options.capacity = 1 << 16;
        options.max_message = 4096;
        (void)shmring::spsc::create(names.req, options);
        (void)shmring::spsc::create(names.rep, options);
    } catch (const shmring::exception& e) {
        std::fprintf(stderr, "create: %s\n", e.what());
        return 1;
    }

    std::fflush(stdout);
    const pid_t child = fork();
    if (child < 0) {
        std::perror("fork");
        return 1;
    }
    if (child == 0) {
        const int rc = echo(names.req, names.rep);
        std::fflush(stdout);
        std::_Exit(rc); // not exit(): the parent owns the names and unlinks them
    }

    int rc = 1;
    try {
        rc = run(names.req, names.rep, count, child);
    } catch (const shmring::exception& e) {
        // e.code() is a std::error_code of shmring::category().
        std::fprintf(stderr, "parent: %s [code %d]\n", e.what(), e.code().value());
    }
    if (rc != 0) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
    }
    return rc;
}
