//! The C++ wrapper `include/shmring.hpp`: its examples
//! (`examples/cpp/*.cpp`) compiled with `c++ -std=c++20 -Wall -Wextra
//! -Wpedantic -Werror` against the library in `target/<profile>/` (rebuilt
//! first: see `support/library.rs`) and run under a deadline; a
//! translation unit instantiating every class compiled with `-std=c++20`
//! and `-std=c++23` under stricter warnings, with and without exceptions;
//! and a program checking moved-from handles, guards, grants and error
//! codes, run under AddressSanitizer and UBSan (or valgrind where the
//! sanitizers cannot link), against an in-process broker too.
//!
//! The two test programs are embedded below (`API_CPP`, `LIFETIMES_CPP`)
//! and written to the build directory. Without a C++ compiler (`$CXX`,
//! else `c++`) the tests are skipped with a message, except under CI
//! (`$CI` set), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

#[path = "support/library.rs"]
mod library;
#[path = "support/process.rs"]
mod process;

use process::{Finished, assert_ok, spawn};

/// How long a program may run before it is killed and the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Warnings every C++ compilation uses (the examples' documented line).
const STRICT: &[&str] = &["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// More warnings, for the header-only checks.
const STRICTER: &[&str] = &[
    "-Wconversion",
    "-Wsign-conversion",
    "-Wshadow",
    "-Wold-style-cast",
    "-Wnon-virtual-dtor",
    "-Wcast-qual",
];

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A name unique to this test process and call.
fn unique(tag: &str) -> String {
    process::unique("shmring-cpptest", tag)
}

/// The C++ compiler and this process's build directory, or `None` (after
/// saying so) if there is no compiler outside CI.
struct Toolchain {
    cxx: String,
    lib: PathBuf,
    dir: PathBuf,
}

fn toolchain() -> Option<&'static Toolchain> {
    static TOOLCHAIN: OnceLock<Option<Toolchain>> = OnceLock::new();
    TOOLCHAIN
        .get_or_init(|| {
            let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
            let found = Command::new(&cxx)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "no C++ compiler ({cxx}) in CI: install g++"
                );
                eprintln!("SKIPPED: no C++ compiler ({cxx}); set CXX or install g++");
                return None;
            }
            let lib = library::lib_dir().to_path_buf();
            let root = lib.join("cpp-tests");
            // Directories of earlier test processes that are gone.
            if let Ok(entries) = std::fs::read_dir(&root) {
                for e in entries.flatten() {
                    let pid = e.file_name().to_string_lossy().into_owned();
                    if !Path::new("/proc").join(&pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
            let dir = root.join(std::process::id().to_string());
            std::fs::create_dir_all(&dir).expect("create build dir");
            Some(Toolchain { cxx, lib, dir })
        })
        .as_ref()
}

impl Toolchain {
    /// Runs the compiler on `source` with `flags`; `Err(log)` if it fails.
    fn try_compile(&self, source: &Path, out: &str, flags: &[&str]) -> Result<PathBuf, String> {
        let output = self.dir.join(out);
        let mut cmd = Command::new(&self.cxx);
        cmd.args(flags)
            .arg("-I")
            .arg(crate_dir().join("include"))
            .arg(source);
        if !flags.contains(&"-c") && !flags.contains(&"-fsyntax-only") {
            cmd.arg("-L")
                .arg(&self.lib)
                .arg(format!("-Wl,-rpath,{}", self.lib.display()))
                .arg("-lshmring");
        }
        let result = cmd
            .arg("-o")
            .arg(&output)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.cxx));
        if result.status.success() {
            Ok(output)
        } else {
            Err(format!(
                "{cmd:?}\n{}{}",
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            ))
        }
    }

    /// Compiles or fails the test with the compiler's output.
    fn compile(&self, source: &Path, out: &str, flags: &[&str]) -> PathBuf {
        self.try_compile(source, out, flags)
            .unwrap_or_else(|log| panic!("compiling {out} failed:\n{log}"))
    }

    /// Writes an embedded program to the build directory.
    fn source(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write test source");
        path
    }
}

fn example(name: &str) -> PathBuf {
    crate_dir().join("examples/cpp").join(name)
}

/// `base` followed by `extra`.
fn flags<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

/// Waits for `child` until `DEADLINE`; kills and reaps it if late.
fn finish(child: Child, what: &str) -> Finished {
    process::finish_within(child, what, DEADLINE)
}

/// Names in /dev/shm starting with `prefix` (a program's leftovers).
fn leftovers(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// `examples/cpp/echo.cpp`: a forked child echoes every request through
/// two named SPSC rings; every reply must come back intact, and both names
/// must be gone afterwards.
#[test]
fn echo_example_round_trips_between_processes() {
    let Some(t) = toolchain() else { return };
    let exe = t.compile(
        &example("echo.cpp"),
        "echo",
        &flags(&["-std=c++20"], STRICT),
    );
    let child = spawn(Command::new(&exe).arg("3000"));
    let pid = child.id();
    let f = finish(child, "echo");
    let names = format!("shmring-cpp-echo-{pid}-");
    let left = leftovers(&names);
    for n in &left {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(n));
    }
    assert_ok(&f, "echo");
    assert!(
        f.stdout.contains("child: echoed 3000 messages"),
        "unexpected output: {}",
        f.stdout
    );
    assert!(
        f.stdout.contains("parent: 3000 round trips intact"),
        "unexpected output: {}",
        f.stdout
    );
    assert!(left.is_empty(), "echo left {left:?} in /dev/shm");
}

/// `examples/cpp/poll_workers.cpp`: sender threads and a receiver waiting
/// in poll(2), non-throwing API; built with exceptions and without.
#[test]
fn poll_workers_example_delivers_every_message() {
    let Some(t) = toolchain() else { return };
    for (out, extra) in [
        ("poll_workers", &[][..]),
        ("poll_workers_noexcept", &["-fno-exceptions"][..]),
    ] {
        let exe = t.compile(
            &example("poll_workers.cpp"),
            out,
            &flags(&flags(&["-std=c++20", "-pthread"], STRICT), extra),
        );
        let child = spawn(Command::new(&exe).args(["4", "5000"]));
        let pid = child.id();
        let f = finish(child, out);
        let left = leftovers(&format!("shmring-cpp-poll-{pid}"));
        for n in &left {
            let _ = std::fs::remove_file(Path::new("/dev/shm").join(n));
        }
        assert_ok(&f, out);
        assert!(
            f.stdout
                .contains("received 20000 messages from 4 senders intact"),
            "unexpected output of {out}: {}",
            f.stdout
        );
        assert!(left.is_empty(), "{out} left {left:?} in /dev/shm");
    }
}

/// Every class instantiated and every member template used, in C++20 and
/// C++23, with and without exceptions, under `-Werror` and more warnings
/// than the examples use (compile only).
#[test]
fn header_compiles_warning_free_in_cpp20_and_cpp23() {
    let Some(t) = toolchain() else { return };
    let src = t.source("api.cpp", API_CPP);
    for std in ["-std=c++20", "-std=c++23"] {
        // Code generated at -O2 (some warnings need the optimiser); without
        // exceptions, checked only (quicker on a busy machine).
        for (tag, extra) in [
            ("", &["-c", "-O2"][..]),
            ("-noexcept", &["-fsyntax-only", "-fno-exceptions"][..]),
        ] {
            let base = flags(&flags(&[std], STRICT), STRICTER);
            t.compile(&src, &format!("api{std}{tag}.o"), &flags(&base, extra));
        }
    }
}

/// Moved-from and default handles are safe to use (errors, not crashes)
/// and to destroy; destructors close, release and cancel; the documented
/// codes come back; a broker client works. Under ASan and UBSan where they
/// link, else under valgrind if present, else plain.
#[test]
fn moved_from_handles_are_safe_to_use_and_destroy() {
    let Some(t) = toolchain() else { return };
    let src = t.source("lifetimes.cpp", LIFETIMES_CPP);
    let base = flags(&["-std=c++20", "-g"], STRICT);
    let sanitized = t.try_compile(
        &src,
        "lifetimes-asan",
        &flags(
            &base,
            &[
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined",
            ],
        ),
    );
    let (exe, valgrind) = match sanitized {
        Ok(exe) => (exe, false),
        Err(log) => {
            eprintln!("sanitizers unavailable, falling back:\n{log}");
            let valgrind = Command::new("valgrind")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            (t.compile(&src, "lifetimes", &base), valgrind)
        }
    };

    let dir = std::env::temp_dir().join(unique("broker"));
    let socket = dir.join("broker.sock");
    let daemon = shmring_broker::daemon::InProcess::start(&socket, Default::default())
        .expect("start the broker");
    let prefix = unique("life");
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args(["--error-exitcode=99", "--leak-check=no", "-q"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.arg(&prefix).arg(&socket);
    let f = finish(spawn(&mut cmd), "lifetimes");
    daemon.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let left = leftovers(&prefix);
    for n in &left {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(n));
    }
    assert_ok(&f, "lifetimes");
    assert!(
        f.stdout.contains("broker checks ran") && f.stdout.contains("lifetime checks passed"),
        "unexpected output: {}",
        f.stdout
    );
    assert!(left.is_empty(), "lifetimes left {left:?} in /dev/shm");
}

/// Compile-only: every class instantiated, every member template used.
const API_CPP: &str = r##"// Compile-only: every class of shmring.hpp instantiated, every member
// template used, under the strictest warnings.
#include <shmring.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

template class shmring::result<void>;
template class shmring::result<int>;
template class shmring::result<std::size_t>;
template class shmring::result<std::string>;
template class shmring::result<std::vector<std::byte>>;
template class shmring::result<shmring::recv_guard>;
template class shmring::result<shmring::send_grant>;
template class shmring::result<shmring::spsc>;
template class shmring::result<shmring::mpmc>;
template class shmring::result<shmring::pubsub>;
template class shmring::result<shmring::client>;
template class shmring::result<shmring::producer>;
template class shmring::result<shmring::consumer>;
template class shmring::result<shmring::sender>;
template class shmring::result<shmring::receiver>;
template class shmring::result<shmring::publisher>;
template class shmring::result<shmring::subscriber>;
template class shmring::result<shmring::spsc_stats>;
template class shmring::result<shmring::mpmc_stats>;
template class shmring::result<shmring::pubsub_stats>;
template class shmring::result<shmring::segment_info>;
template class shmring::impl::basic_sender<shmring::impl::producer_api>;
template class shmring::impl::basic_sender<shmring::impl::sender_api>;
template class shmring::impl::basic_sender<shmring::impl::publisher_api>;
template class shmring::impl::basic_receiver<shmring::impl::consumer_api>;
template class shmring::impl::basic_receiver<shmring::impl::receiver_api>;
template class shmring::impl::basic_receiver<shmring::impl::subscriber_api>;

// Handles: move-only, nothrow-movable.
template <class H>
constexpr bool move_only = std::is_nothrow_move_constructible_v<H> &&
                           std::is_nothrow_move_assignable_v<H> &&
                           !std::is_copy_constructible_v<H> && !std::is_copy_assignable_v<H> &&
                           std::is_nothrow_default_constructible_v<H> &&
                           std::is_nothrow_destructible_v<H>;
static_assert(move_only<shmring::spsc> && move_only<shmring::mpmc> && move_only<shmring::pubsub>);
static_assert(move_only<shmring::client> && move_only<shmring::producer> &&
              move_only<shmring::consumer>);
static_assert(move_only<shmring::sender> && move_only<shmring::receiver> &&
              move_only<shmring::publisher> && move_only<shmring::subscriber>);
static_assert(move_only<shmring::recv_guard> && move_only<shmring::send_grant>);
static_assert(std::is_nothrow_copy_constructible_v<shmring::error>);
static_assert(std::is_base_of_v<std::system_error, shmring::exception>);
static_assert(shmring::impl::to_ms(std::chrono::microseconds(1)) == 1);
static_assert(shmring::impl::to_ms(std::chrono::seconds(-1)) == 0);
static_assert(shmring::impl::to_ms(std::chrono::nanoseconds(1500000)) == 2);
static_assert(shmring::impl::to_ms(shmring::forever) == SHMRING_INFINITE);
static_assert(shmring::impl::to_ms(std::chrono::hours::max()) == SHMRING_INFINITE);
static_assert(shmring::impl::to_ms(std::chrono::duration<double>(0.25)) == 250);

template <class S>
void use_sender(S& s)
{
    using namespace std::chrono_literals;
    const std::byte b[1]{};
    s.send(b);
    s.send("text");
    s.send_for(b, 1s);
    s.send_for("text", 10ms);
    (void)s.try_send_for(b, 1.5s);
    (void)s.try_send_for("text", std::chrono::nanoseconds(5));
    shmring::send_grant g = s.reserve_for(1, 1min);
    (void)s.try_reserve_for(1, 0ms);
    (void)s.fd();
}

template <class R>
void use_receiver(R& r)
{
    using namespace std::chrono_literals;
    std::byte b[8];
    (void)r.recv_for(b, 1s);
    (void)r.recv_bytes_for(1s);
    (void)r.recv_string_for(1s);
    (void)r.peek_for(1s);
    (void)r.try_recv_for(b, 1ms);
    (void)r.try_recv_bytes_for(shmring::forever);
    (void)r.try_recv_string_for(2h);
    (void)r.try_peek_for(0s);
}

void use_everything(shmring::producer& p, shmring::sender& s, shmring::publisher& pub,
                    shmring::consumer& c, shmring::receiver& r, shmring::subscriber& sub)
{
    use_sender(p);
    use_sender(s);
    use_sender(pub);
    use_receiver(c);
    use_receiver(r);
    use_receiver(sub);
    (void)shmring::result<int>(3).value_or(4);
    (void)shmring::result<std::string>(std::string("x")).value_or("y");
}

int main() { return 0; }
"##;

/// Run: moved-from objects, RAII, error codes, broker client.
const LIFETIMES_CPP: &str = r##"// Handles, guards and grants of shmring.hpp: moved-from and empty objects
// are safe to use and destroy, destructors close/release/cancel, errors
// carry the documented codes. Run under -fsanitize=address,undefined.
//   lifetimes PREFIX [BROKER_SOCKET]
#include <shmring.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

using namespace std::chrono_literals;

static int failures = 0;
#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                \
        }                                                                              \
    } while (0)

template <class R>
static bool is(const R& r, shmring::errc code)
{
    return !r.has_value() && r.error() == code;
}

template <class R>
static bool is_not_open(const R& r)
{
    return is(r, shmring::errc::bad_handle) || is(r, shmring::errc::invalid);
}

static void empty_handles()
{
    std::byte buf[8];
    shmring::spsc ring;
    shmring::mpmc queue;
    shmring::pubsub ps;
    shmring::client client;
    shmring::producer producer;
    shmring::consumer consumer;
    shmring::sender sender;
    shmring::receiver receiver;
    shmring::publisher publisher;
    shmring::subscriber subscriber;
    shmring::recv_guard guard;
    shmring::send_grant grant;
    CHECK(!ring && !queue && !ps && !client && !producer && !consumer && !sender && !receiver &&
          !publisher && !subscriber && !guard && !grant);
    CHECK(is_not_open(ring.try_open_producer()));
    CHECK(is_not_open(ring.try_stat()));
    CHECK(is_not_open(queue.try_open_sender()));
    CHECK(is_not_open(ps.try_open_subscriber()));
    CHECK(is_not_open(client.try_stat("x")));
    CHECK(is_not_open(producer.try_send("x")));
    CHECK(is_not_open(producer.try_reserve(4)));
    CHECK(is_not_open(consumer.try_recv(buf)));
    CHECK(is_not_open(consumer.try_peek()));
    CHECK(is_not_open(consumer.try_recv_string()));
    CHECK(is_not_open(sender.try_fd()));
    CHECK(is_not_open(receiver.try_recv_for(buf, 1ms)));
    CHECK(is_not_open(publisher.try_send_for("x", 1ms)));
    CHECK(is_not_open(subscriber.try_missed()));
    CHECK(guard.try_release().has_value()); // nothing held: nothing to do
    CHECK(grant.try_cancel().has_value());
    CHECK(is(grant.try_commit(), shmring::errc::state));
    CHECK(producer.try_close().has_value()); // closing nothing is a no-op
    try {
        consumer.recv(buf);
        CHECK(false);
    } catch (const shmring::exception& e) {
        CHECK(e.error() == shmring::errc::bad_handle || e.error() == shmring::errc::invalid);
    }
}

static void spsc_lifetimes(const std::string& name)
{
    shmring::spsc_options options;
    options.capacity = 4096;
    shmring::spsc ring = shmring::spsc::create(name, options);
    CHECK(is(shmring::spsc::try_create(name, options), shmring::errc::exists));
    shmring::producer p1 = ring.open_producer();
    CHECK(is(ring.try_open_producer(), shmring::errc::busy));

    // Move construction: the source is empty, usable (errors) and
    // destroyable; the role stays taken by the destination.
    shmring::producer p2 = std::move(p1);
    CHECK(!p1 && p2);
    CHECK(is_not_open(p1.try_send("x")));
    CHECK(is(ring.try_open_producer(), shmring::errc::busy));
    { shmring::producer gone = std::move(p1); } // destroying an empty handle
    // Move assignment over an open handle closes that handle.
    p2 = shmring::producer{};
    CHECK(!p2);
    shmring::producer producer = ring.open_producer(); // the role is free again
    shmring::consumer consumer = ring.open_consumer();
    ring.close(); // endpoints keep the ring mapped
    CHECK(!ring);

    std::byte buf[256];
    CHECK(is(consumer.try_recv(buf), shmring::errc::empty));
    CHECK(is(consumer.try_recv_for(buf, 0ms), shmring::errc::timeout));
    CHECK(is(consumer.try_recv_for(buf, 1us), shmring::errc::timeout));
    CHECK(is(consumer.try_recv_bytes(), shmring::errc::empty));
    CHECK(is(consumer.try_recv_bytes_for(0ms), shmring::errc::timeout));
    CHECK(is(consumer.try_peek_for(2ms), shmring::errc::timeout));
    CHECK(is(producer.try_send(std::span<const std::byte>{}), shmring::errc::invalid));
    CHECK(is(producer.try_send(std::string(2000, 'x')), shmring::errc::too_large));

    // Too small a buffer: the length needed, and the message is kept.
    producer.send(std::string(100, 'a'));
    const auto small = consumer.try_recv(std::span(buf).first(10));
    CHECK(is(small, shmring::errc::buffer_too_small));
    CHECK(!small && small.error().needed() == 100);
    CHECK(consumer.recv(buf).value_or(0) == 100);

    // A guard holds the message; other receives fail meanwhile.
    producer.send("hello");
    producer.send("world");
    {
        shmring::recv_guard g = consumer.peek_for(1s).value();
        CHECK(g && g.text() == "hello" && g.size() == 5);
        CHECK(is(consumer.try_recv(buf), shmring::errc::state));
        shmring::recv_guard moved = std::move(g);
        CHECK(!g && moved && moved.text() == "hello");
    } // released here
    CHECK(consumer.recv_string_for(1s).value_or("") == "world");

    // A grant not committed is cancelled; commit(0) keeps it open.
    {
        shmring::send_grant g = producer.reserve_for(16, 1s);
        CHECK(g.size() == 16);
        CHECK(is(producer.try_send("x"), shmring::errc::state));
        shmring::send_grant moved = std::move(g);
        CHECK(!g && moved);
    }
    CHECK(is(consumer.try_recv(buf), shmring::errc::empty));
    {
        shmring::send_grant g = producer.try_reserve(8).value();
        std::memcpy(g.data(), "grant!!!", 8);
        CHECK(is(g.try_commit(0), shmring::errc::invalid));
        CHECK(g);
        g.commit(6);
        CHECK(!g);
    }
    CHECK(consumer.try_recv_string().value_or("") == "grant!");

    // A guard that outlives its endpoint: releasing fails harmlessly.
    producer.send("late");
    shmring::recv_guard late = consumer.try_peek_for(1s).value();
    shmring::consumer moved_consumer = std::move(consumer); // the guard survives a move
    CHECK(late.text() == "late");
    moved_consumer.close();
    CHECK(is(late.try_release(), shmring::errc::bad_handle));
    CHECK(!late);

    // Closing the consumer: the producer's sends are disconnected.
    try {
        producer.send_for("x", 1s);
        CHECK(false);
    } catch (const shmring::exception& e) {
        CHECK(e.code() == shmring::errc::disconnected);
        CHECK(std::strstr(e.what(), "send") != nullptr);
    }
    producer.close();
    CHECK(shmring::try_unlink(name).has_value());
    CHECK(is(shmring::try_unlink(name), shmring::errc::not_found));
}

static void end_of_file(const std::string& name)
{
    shmring::spsc ring = shmring::spsc::create(name);
    shmring::consumer consumer = ring.open_consumer();
    {
        shmring::producer producer = ring.open_producer();
        producer.send("last");
    } // closed: end of file after "last"
    std::byte buf[16];
    CHECK(consumer.recv(buf).value_or(0) == 4);
    CHECK(!consumer.recv(buf).has_value());
    CHECK(!consumer.recv_string().has_value());
    CHECK(!consumer.peek().has_value());
    CHECK(is(consumer.try_recv(buf), shmring::errc::disconnected));
    (void)shmring::try_unlink(name);
}

static void errors(const std::string& name)
{
    const auto missing = shmring::spsc::try_open(name + "-missing");
    CHECK(is(missing, shmring::errc::not_found));
    CHECK(*missing.error().detail() != '\0');
    CHECK(missing.error().message().find("spsc open") != std::string::npos);
    CHECK(missing.error().error_code() == std::errc::no_such_file_or_directory);
    try {
        (void)shmring::spsc::open(name + "-missing");
        CHECK(false);
    } catch (const std::system_error& e) {
        CHECK(e.code() == shmring::errc::not_found);
        CHECK(e.code().category() == shmring::category());
        CHECK(std::string(e.code().category().name()) == "shmring");
    }
    CHECK(is(shmring::spsc::try_open(std::string("nul\0name", 8)), shmring::errc::bad_name));
    CHECK(is(shmring::spsc::try_open(std::string(300, 'n')), shmring::errc::bad_name));
    CHECK(is(shmring::spsc::try_open("a/b"), shmring::errc::bad_name));
    shmring::spsc_options bad;
    bad.capacity = 1000; // not a power of two
    CHECK(is(shmring::spsc::try_create(name + "-bad", bad), shmring::errc::bad_config));
    shmring::result<int> r = shmring::error(shmring::errc::empty);
    CHECK(r.value_or(7) == 7);
    CHECK(r.error().would_block() && r.error().is_flow());
    try {
        (void)r.value();
        CHECK(false);
    } catch (const shmring::exception& e) {
        CHECK(e.error() == shmring::errc::empty);
    }
    std::error_code ec = shmring::errc::timeout;
    CHECK(ec == std::errc::timed_out);
}

static void mpmc_and_pubsub(const std::string& name)
{
    shmring::mpmc_options mo;
    mo.slots = 8;
    mo.slot_size = 32;
    mo.priorities = 2;
    shmring::mpmc queue = shmring::mpmc::create(name + "-q", mo);
    shmring::sender low = queue.open_sender(0);
    shmring::sender high = queue.open_sender(1);
    shmring::receiver receiver = queue.open_receiver();
    low.send("low");
    high.send("high");
    CHECK(queue.stat().messages_in_flight == 2);
    CHECK(receiver.recv_string_for(1s).value_or("") == "high");
    CHECK(receiver.recv_string_for(1s).value_or("") == "low");
    {
        shmring::send_grant g = low.reserve(4);
    } // cancelled: a skipped slot
    CHECK(is(receiver.try_recv_bytes(), shmring::errc::empty));
    low = shmring::sender{};
    high.close();
    CHECK(!receiver.recv_bytes().has_value()); // every sender gone
    (void)shmring::try_unlink(name + "-q");

    shmring::pubsub_options po;
    po.slots = 4;
    po.slot_size = 32;
    po.subscribers = 2;
    po.delivery = shmring::delivery::lossy;
    shmring::pubsub ring = shmring::pubsub::create(name + "-ps", po);
    shmring::publisher publisher = ring.open_publisher();
    shmring::subscriber a = ring.open_subscriber();
    shmring::subscriber b = ring.open_subscriber(shmring::join::oldest);
    CHECK(is(ring.try_open_subscriber(), shmring::errc::limit));
    for (int i = 0; i < 10; i++) {
        publisher.send(std::to_string(i));
    }
    CHECK(a.lag() == 10);
    CHECK(is(a.try_recv_string(), shmring::errc::lagged));
    CHECK(a.missed() > 0);
    const std::uint64_t position = a.position();
    const std::string next = a.recv_string_for(1s).value_or("");
    CHECK(next == std::to_string(position));
    publisher.close();
    std::uint64_t got = 0;
    for (;;) {
        auto m = b.try_recv_string();
        if (m) {
            got++;
        } else if (m.error() == shmring::errc::disconnected) {
            break;
        } else if (m.error() != shmring::errc::lagged) {
            CHECK(false);
            break;
        }
    }
    CHECK(got + b.missed() == 10);
    (void)shmring::try_unlink(name + "-ps");
}

static void broker(const std::string& name, const char* socket)
{
    CHECK(is(shmring::client::try_connect("/nonexistent/shmring.sock"),
             shmring::errc::no_broker));
    if (socket == nullptr) {
        return;
    }
    shmring::client client = shmring::client::connect(socket);
    shmring::spsc_options o;
    o.broker = &client;
    o.capacity = 1024;
    shmring::spsc ring = shmring::spsc::create(name + "-b", o);
    shmring::producer p = ring.open_producer();
    shmring::consumer c = ring.open_consumer();
    p.send("via broker");
    CHECK(c.recv_string().value_or("") == "via broker");
    const shmring::segment_info info = client.stat(name + "-b");
    CHECK(info.kind == SHMRING_KIND_SPSC && info.capacity == 1024);
    client.unlink(name + "-b");
    CHECK(is(client.try_stat(name + "-b"), shmring::errc::not_found));
    client.close();
    CHECK(!client);
    p.send("still mapped");
    CHECK(c.recv_string().value_or("") == "still mapped");
    std::printf("broker checks ran\n");
}

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: lifetimes PREFIX [SOCKET]\n");
        return 2;
    }
    const std::string prefix = argv[1];
    try {
        empty_handles();
        spsc_lifetimes(prefix + "-life");
        end_of_file(prefix + "-eof");
        errors(prefix + "-err");
        mpmc_and_pubsub(prefix);
        broker(prefix, argc > 2 ? argv[2] : nullptr);
    } catch (const shmring::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failures++;
    }
    if (failures != 0) {
        std::fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    std::printf("lifetime checks passed\n");
    return 0;
}
"##;
