// poll_workers.cpp: several sending threads and one receiving thread on a
// named MPMC queue, waiting in poll(2) on the endpoints' readiness
// descriptors, with the non-throwing API of shmring.hpp (it builds with
// -fno-exceptions too).
//
//   poll_workers [THREADS [COUNT]]     (default 3 threads, 20000 each)
//
// The queue "shmring-cpp-poll-<pid>" is small (16 slots), so the senders
// often find it full: each one sends with try_send() until errc::full,
// then polls its descriptor for POLLOUT (the arm-check-wait rule of
// shmring.h). The receiver does the same with try_recv() until
// errc::empty and POLLIN. When every sender has closed, the receiver gets
// errc::disconnected: end of file. Every message carries its sender and
// sequence number and a pattern; the receiver checks each one and that
// every message of every sender arrived exactly once.
//
// Output: "received N messages from T senders intact". Exit status 0 only
// if all arrived intact. The name is unlinked at the end.
//
// Build (one line):
//   c++ -std=c++20 -Wall -Wextra -Wpedantic -Werror -pthread
//       -I bindings/c/include poll_workers.cpp -L target/release -lshmring
//       -Wl,-rpath,$PWD/target/release -o poll_workers
#include <shmring.hpp>

#include <poll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

// The longest any poll() waits before the program gives up.
constexpr int patience_ms = 10000;

// Message (t, i): t (1 byte), i (4 bytes, little endian), then
// 3 + (i % 50) bytes (t * 31 + i + j) & 0xff.
std::size_t make_message(std::uint32_t t, std::uint32_t i, std::span<std::byte, 64> out)
{
    const std::size_t len = 5 + 3 + i % 50;
    out[0] = static_cast<std::byte>(t);
    for (std::size_t b = 0; b < 4; b++) {
        out[1 + b] = static_cast<std::byte>((i >> (8 * b)) & 0xff);
    }
    for (std::size_t j = 5; j < len; j++) {
        out[j] = static_cast<std::byte>((t * 31 + i + j) & 0xff);
    }
    return len;
}

void report(const char* who, const shmring::error& e)
{
    std::fprintf(stderr, "%s: %s\n", who, e.message().c_str());
}

// Waits until `fd` shows `events` (or an error/hang-up); false on timeout.
bool wait_for(int fd, short events)
{
    pollfd p{fd, events, 0};
    return poll(&p, 1, patience_ms) > 0;
}

// One sending thread: its own sender, closed when it returns (the last
// one closed is the receiver's end of file).
bool send_all(shmring::sender sender, std::uint32_t t, std::uint32_t count)
{
    const shmring::result<int> fd = sender.try_fd(); // descriptor mode from here on
    if (!fd) {
        report("sender fd", fd.error());
        return false;
    }
    std::array<std::byte, 64> buf{};
    for (std::uint32_t i = 0; i < count;) {
        const std::size_t len = make_message(t, i, buf);
        const shmring::result<void> sent = sender.try_send(std::span(buf).first(len));
        if (sent) {
            i++;
        } else if (sent.error() == shmring::errc::full) {
            // That "full" armed the descriptor: wait for room.
            if (!wait_for(*fd, POLLOUT)) {
                std::fprintf(stderr, "sender %u: no room for %d ms\n", t, patience_ms);
                return false;
            }
        } else {
            report("send", sent.error());
            return false;
        }
    }
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    const std::uint32_t threads =
        argc > 1 ? static_cast<std::uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 3;
    const std::uint32_t count =
        argc > 2 ? static_cast<std::uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 20000;
    if (threads == 0 || threads > 32 || count == 0) {
        std::fprintf(stderr, "usage: poll_workers [THREADS (1 to 32) [COUNT]]\n");
        return 2;
    }
    const std::string name = "shmring-cpp-poll-" + std::to_string(getpid());

    shmring::mpmc_options options;
    options.slots = 16;
    options.slot_size = 64;
    shmring::result<shmring::mpmc> queue = shmring::mpmc::try_create(name, options);
    if (!queue) {
        report("create", queue.error());
        return 1;
    }
    // The queue exists in /dev/shm from here on: unlink it on every path.
    const int rc = [&] {
        shmring::result<shmring::receiver> opened = queue->try_open_receiver();
        if (!opened) {
            report("open receiver", opened.error());
            return 1;
        }
        shmring::receiver receiver = std::move(*opened);
        const shmring::result<int> fd = receiver.try_fd();
        if (!fd) {
            report("receiver fd", fd.error());
            return 1;
        }

        // Every sender is opened before any thread starts: the receiver's
        // end of file comes when all that attached are gone, so one that
        // finished early must not look like the last.
        std::vector<shmring::sender> senders;
        for (std::uint32_t t = 0; t < threads; t++) {
            shmring::result<shmring::sender> sender = queue->try_open_sender();
            if (!sender) {
                report("open sender", sender.error());
                return 1;
            }
            senders.push_back(std::move(*sender));
        }
        std::atomic<bool> senders_ok{true};
        std::vector<std::thread> workers;
        for (std::uint32_t t = 0; t < threads; t++) {
            // Each thread gets its sender moved in (handles move freely).
            workers.emplace_back([&senders_ok, t, count, s = std::move(senders[t])]() mutable {
                if (!send_all(std::move(s), t, count)) {
                    senders_ok = false;
                }
            });
        }

        std::vector<std::uint32_t> next(threads, 0); // per sender: messages seen
        std::vector<bool> seen(std::size_t{threads} * count, false);
        std::uint64_t received = 0;
        bool ok = true;
        std::array<std::byte, 64> buf{};
        std::array<std::byte, 64> expected{};
        for (;;) {
            const shmring::result<std::size_t> r = receiver.try_recv(buf);
            if (!r) {
                if (r.error() == shmring::errc::empty) {
                    // Armed: wait for a message or for every sender to go.
                    if (!wait_for(*fd, POLLIN)) {
                        std::fprintf(stderr, "receiver: nothing for %d ms\n", patience_ms);
                        ok = false;
                        break;
                    }
                    continue;
                }
                if (r.error() != shmring::errc::disconnected) {
                    report("recv", r.error());
                    ok = false;
                }
                break; // disconnected: every sender closed and all is received
            }
            const std::span<const std::byte> m = std::span(buf).first(*r);
            if (m.size() < 5) {
                std::fprintf(stderr, "receiver: a %zu-byte message\n", m.size());
                ok = false;
                break;
            }
            const auto t = static_cast<std::uint32_t>(m[0]);
            std::uint32_t i = 0;
            for (std::size_t b = 0; b < 4; b++) {
                i |= static_cast<std::uint32_t>(m[1 + b]) << (8 * b);
            }
            if (t >= threads || i >= count || seen[std::size_t{t} * count + i]) {
                std::fprintf(stderr, "receiver: unexpected message (%u, %u)\n", t, i);
                ok = false;
                break;
            }
            const std::size_t len = make_message(t, i, expected);
            if (len != m.size() || std::memcmp(expected.data(), m.data(), len) != 0) {
                std::fprintf(stderr, "receiver: message (%u, %u) is damaged\n", t, i);
                ok = false;
                break;
            }
            seen[std::size_t{t} * count + i] = true;
            next[t]++;
            received++;
        }
        if (!ok) {
            // Let blocked senders fail fast: closing the only receiver
            // makes their sends report errc::disconnected.
            (void)receiver.try_close();
        }
        for (std::thread& w : workers) {
            w.join();
        }
        for (std::uint32_t t = 0; t < threads; t++) {
            if (next[t] != count) {
                std::fprintf(stderr, "receiver: %u of %u messages from sender %u\n", next[t], count,
                             t);
                ok = false;
            }
        }
        if (!ok || !senders_ok) {
            return 1;
        }
        std::printf("received %llu messages from %u senders intact\n",
                    static_cast<unsigned long long>(received), threads);
        return 0;
    }();

    if (const shmring::result<void> u = shmring::try_unlink(name); !u) {
        report("unlink", u.error());
        return 1;
    }
    return rc;
}
