/*
 * shmring.hpp: a header-only C++20 wrapper over the shmring C API
 * (shmring.h). See docs/cpp.md.
 *
 *   c++ -std=c++20 app.cpp -I bindings/c/include -L target/release \
 *       -lshmring -Wl,-rpath,$PWD/target/release -o app
 *
 * What it adds to the C API, and what it does not:
 *  - RAII: every C handle has a move-only owner class whose destructor
 *    calls the matching shmring_*_close. Zero-copy reservations
 *    (send_grant) and peeked messages (recv_guard) are objects too: a
 *    grant not committed is cancelled, a guard releases its message.
 *  - std::span<const std::byte> / std::string_view in,
 *    std::span<std::byte>, std::vector<std::byte> or std::string out;
 *    std::chrono durations for timeouts.
 *  - Two error styles, both complete (every operation has both):
 *      * throwing: the plain names (send, recv, open, ...) throw
 *        shmring::exception (a std::system_error) on failure; the only
 *        outcome a throwing receive reports without throwing is end of
 *        file, as an empty std::optional;
 *      * non-throwing: the try_* names return shmring::result<T>, a value
 *        or a shmring::error; "full", "empty", "timed out",
 *        "disconnected" are ordinary values there (compare
 *        result.error() == shmring::errc::empty). They never throw
 *        (except std::bad_alloc from the containers some of them return).
 *    Built with -fno-exceptions, the throwing functions print the error
 *    and call std::abort() instead of throwing; use the try_* API there.
 *  - No state, no lock, no thread of its own: each call is one C call,
 *    and the thread rules are exactly those of shmring.h.
 *
 * Everything is in namespace shmring; names in shmring::impl are not
 * part of the interface.
 */

#ifndef SHMRING_HPP
#define SHMRING_HPP

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "shmring.hpp needs C++20 (-std=c++20 or later); C programs use shmring.h"
#endif

#include "shmring.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if !defined(__cpp_exceptions)
#include <cstdio>
#include <cstdlib>
#endif

namespace shmring {

// ---------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------

/// The C API's status codes (`shmring_error`) as a scoped enum; each has
/// the value of its `SHMRING_E_*` constant and the meaning documented
/// there. `std::error_code`s of `shmring::category()` hold these values.
enum class errc : int {
    /// `SHMRING_E_INVALID`: a NULL pointer, a zero size, a value out of range.
    invalid = SHMRING_E_INVALID,
    /// `SHMRING_E_BAD_HANDLE`: the handle is not open (closed, moved from).
    bad_handle = SHMRING_E_BAD_HANDLE,
    /// `SHMRING_E_BUSY`: the role is held by a live process, or the
    /// exclusive handle was caught in use by another thread.
    busy = SHMRING_E_BUSY,
    /// `SHMRING_E_STATE`: not allowed now (e.g. a receive while a message
    /// is peeked, a send while a reservation is open).
    state = SHMRING_E_STATE,
    /// `SHMRING_E_FULL`: no room now (non-waiting send or reserve).
    full = SHMRING_E_FULL,
    /// `SHMRING_E_EMPTY`: no message now (non-waiting receive or peek).
    empty = SHMRING_E_EMPTY,
    /// `SHMRING_E_TIMEOUT`: the timeout expired.
    timeout = SHMRING_E_TIMEOUT,
    /// `SHMRING_E_DISCONNECTED`: the other side is gone (receiving: end of
    /// file, every message was received).
    disconnected = SHMRING_E_DISCONNECTED,
    /// `SHMRING_E_TOO_LARGE`: longer than the ring's maximum message.
    too_large = SHMRING_E_TOO_LARGE,
    /// `SHMRING_E_BUFFER_TOO_SMALL`: the caller's buffer is shorter than the
    /// message; `error::needed()` is its length. The message is kept.
    buffer_too_small = SHMRING_E_BUFFER_TOO_SMALL,
    /// `SHMRING_E_NOT_FOUND`: no segment has this name.
    not_found = SHMRING_E_NOT_FOUND,
    /// `SHMRING_E_EXISTS`: a segment with this name exists already.
    exists = SHMRING_E_EXISTS,
    /// `SHMRING_E_PERMISSION`: owner and mode do not allow it, or the
    /// broker is not trusted.
    permission = SHMRING_E_PERMISSION,
    /// `SHMRING_E_BAD_NAME`: not a valid segment name (1 to 250 bytes, no
    /// '/' except one leading, UTF-8, no NUL).
    bad_name = SHMRING_E_BAD_NAME,
    /// `SHMRING_E_BAD_CONFIG`: the ring geometry is not allowed.
    bad_config = SHMRING_E_BAD_CONFIG,
    /// `SHMRING_E_INCOMPATIBLE`: another ring kind, layout or protocol.
    incompatible = SHMRING_E_INCOMPATIBLE,
    /// `SHMRING_E_CORRUPT`: the ring's shared memory is not valid.
    corrupt = SHMRING_E_CORRUPT,
    /// `SHMRING_E_LIMIT`: a limit was reached (space, endpoints, handles).
    limit = SHMRING_E_LIMIT,
    /// `SHMRING_E_NO_BROKER`: no broker listens at the socket path.
    no_broker = SHMRING_E_NO_BROKER,
    /// `SHMRING_E_BROKER`: the broker refused the request.
    broker = SHMRING_E_BROKER,
    /// `SHMRING_E_IO`: another operating-system error.
    io = SHMRING_E_IO,
    /// `SHMRING_E_INTERNAL`: a bug in shmring (a caught Rust panic).
    internal = SHMRING_E_INTERNAL,
    /// `SHMRING_E_LAGGED`: a lossy publisher overwrote messages this
    /// subscriber had not read; the next receive goes on.
    lagged = SHMRING_E_LAGGED,
};

namespace impl {

/// The error category behind `shmring::category()`.
class category_impl final : public std::error_category {
public:
    /// "shmring".
    const char* name() const noexcept override { return "shmring"; }

    /// `shmring_strerror(code)`.
    std::string message(int code) const override { return shmring_strerror(code); }

    /// Maps the codes that have an exact portable meaning to `std::errc`
    /// (so `code == std::errc::timed_out` works); others stay shmring's.
    std::error_condition default_error_condition(int code) const noexcept override
    {
        switch (static_cast<errc>(code)) {
        case errc::invalid:
            return std::errc::invalid_argument;
        case errc::timeout:
            return std::errc::timed_out;
        case errc::not_found:
            return std::errc::no_such_file_or_directory;
        case errc::exists:
            return std::errc::file_exists;
        case errc::permission:
            return std::errc::permission_denied;
        case errc::too_large:
            return std::errc::message_size;
        default:
            return {code, *this};
        }
    }
};

} // namespace impl

/// The `std::error_category` of shmring's codes (name "shmring", messages
/// from `shmring_strerror`). One object per program.
inline const std::error_category& category() noexcept
{
    static const impl::category_impl instance;
    return instance;
}

/// Makes a `std::error_code` of `shmring::category()`; found by ADL, so
/// `std::error_code ec = shmring::errc::timeout;` works.
inline std::error_code make_error_code(errc code) noexcept
{
    return {static_cast<int>(code), category()};
}

} // namespace shmring

/// `shmring::errc` converts to `std::error_code` implicitly.
template <>
struct std::is_error_code_enum<shmring::errc> : std::true_type {};

namespace shmring {

// ---------------------------------------------------------------------
// error, exception, result
// ---------------------------------------------------------------------

/// One failed call: its code, the operation ("consumer recv"), the C
/// library's detail message (from `shmring_last_error()`, copied at the
/// time of the failure) and, for `errc::buffer_too_small`, the length the
/// message needs.
///
/// Outcomes that are part of normal flow (`full`, `empty`, `timeout`,
/// `disconnected`, `buffer_too_small`, `lagged`) carry no detail: copying
/// it would cost an allocation on every empty poll. Copying an `error`
/// never throws (the detail is shared).
class error {
public:
    /// An error with `code`, raised by `operation` (a string literal, or
    /// any string that outlives the error), without detail.
    explicit error(errc code, const char* operation = "", std::size_t needed = 0) noexcept
        : code_(code), needed_(needed), operation_(operation != nullptr ? operation : "")
    {
    }

    /// The error for C status `rc` just returned by `operation`, with the
    /// calling thread's `shmring_last_error()` as detail (unless the code
    /// is a flow outcome, see the class). Call it right after the failing
    /// C call, on the same thread.
    static error from_last(int rc, const char* operation, std::size_t needed = 0) noexcept
    {
        error e(static_cast<errc>(rc), operation, needed);
        if (!e.is_flow()) {
#if defined(__cpp_exceptions)
            try {
                e.detail_ = std::make_shared<const std::string>(shmring_last_error());
            } catch (...) {
                // Out of memory: the error goes without its detail.
            }
#else
            e.detail_ = std::make_shared<const std::string>(shmring_last_error());
#endif
        }
        return e;
    }

    /// The code.
    errc code() const noexcept { return code_; }

    /// The code as the C API's `int` (`SHMRING_E_*`).
    int value() const noexcept { return static_cast<int>(code_); }

    /// The code as a `std::error_code` of `shmring::category()`.
    std::error_code error_code() const noexcept { return make_error_code(code_); }

    /// What was being done, e.g. "consumer recv" ("" if not known).
    const char* operation() const noexcept { return operation_; }

    /// The C library's detail message ("" if none was kept), e.g.
    /// `open "orders": no shared-memory segment with this name`.
    const char* detail() const noexcept { return detail_ ? detail_->c_str() : ""; }

    /// For `errc::buffer_too_small`: the length of the message that did
    /// not fit (a buffer this long receives it). 0 otherwise.
    std::size_t needed() const noexcept { return needed_; }

    /// Whether the code is a "not now" answer of a call that does not
    /// wait: `errc::full` or `errc::empty`.
    bool would_block() const noexcept { return code_ == errc::full || code_ == errc::empty; }

    /// Whether the code is an outcome of normal flow rather than a fault:
    /// `full`, `empty`, `timeout`, `disconnected`, `buffer_too_small`,
    /// `lagged`.
    bool is_flow() const noexcept
    {
        switch (code_) {
        case errc::full:
        case errc::empty:
        case errc::timeout:
        case errc::disconnected:
        case errc::buffer_too_small:
        case errc::lagged:
            return true;
        default:
            return false;
        }
    }

    /// "operation: description (detail)", e.g. "consumer recv: the other
    /// side is gone", for logs.
    std::string message() const
    {
        std::string s = operation_;
        if (!s.empty()) {
            s += ": ";
        }
        s += shmring_strerror(value());
        if (detail_ && !detail_->empty()) {
            s += " (";
            s += *detail_;
            s += ')';
        }
        return s;
    }

    /// `e == shmring::errc::empty` (and the reverse) compares the code.
    friend bool operator==(const error& e, errc code) noexcept { return e.code_ == code; }

private:
    errc code_;
    std::size_t needed_;
    const char* operation_;
    std::shared_ptr<const std::string> detail_;
};

/// What the throwing API throws: a `std::system_error` whose `code()` is
/// the `shmring::errc` (so `e.code() == shmring::errc::timeout` works, and
/// `catch (const std::system_error&)` catches it), whose `what()` says the
/// operation, the detail and the description, and which carries the
/// `shmring::error` itself.
class exception : public std::system_error {
public:
    /// The exception for `e`.
    explicit exception(const shmring::error& e)
        : std::system_error(e.error_code(), what_arg(e)), error_(e)
    {
    }

    /// The error, with `needed()` and `detail()`.
    const shmring::error& error() const noexcept { return error_; }

private:
    static std::string what_arg(const shmring::error& e)
    {
        std::string s = "shmring";
        if (*e.operation() != '\0') {
            s += ' ';
            s += e.operation();
        }
        if (*e.detail() != '\0') {
            s += " (";
            s += e.detail();
            s += ')';
        }
        return s;
    }

    shmring::error error_;
};

namespace impl {

/// Throws `exception(e)`; without exception support, prints `e` and
/// aborts.
[[noreturn]] inline void raise(const error& e)
{
#if defined(__cpp_exceptions)
    throw exception(e);
#else
    std::fprintf(stderr, "shmring: %s\n", e.message().c_str());
    std::abort();
#endif
}

} // namespace impl

/// A value of type `T` or a `shmring::error`: what the non-throwing
/// `try_*` functions return. A small subset of C++23's `std::expected`:
///
/// ```cpp
/// shmring::result<std::size_t> r = consumer.try_recv(buf);
/// if (r) use(buf.first(*r));
/// else if (r.error() == shmring::errc::empty) wait();
/// else if (r.error() == shmring::errc::disconnected) done();
/// else log(r.error().message());
/// ```
///
/// `value()` checks (throws `shmring::exception` holding the error),
/// `operator*` and `operator->` do not (a value must be there). Marked
/// `[[nodiscard]]`: ignoring a result ignores an error.
template <class T>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, shmring::error>,
                  "result<T>: T is an object type other than error");

public:
    /// The value type.
    using value_type = T;

    /// A result holding `value`.
    result(const T& value) requires std::is_copy_constructible_v<T>
        : v_(std::in_place_index<0>, value)
    {
    }

    /// A result holding `value` (moved in).
    result(T&& value) noexcept(std::is_nothrow_move_constructible_v<T>)
        : v_(std::in_place_index<0>, std::move(value))
    {
    }

    /// A result holding error `e`.
    result(shmring::error e) noexcept : v_(std::in_place_index<1>, std::move(e)) {}

    /// Whether a value is there.
    bool has_value() const noexcept { return v_.index() == 0; }

    /// Whether a value is there.
    explicit operator bool() const noexcept { return has_value(); }

    /// The value; throws `shmring::exception` with the error if there is
    /// none.
    T& value() &
    {
        if (T* v = std::get_if<0>(&v_)) {
            return *v;
        }
        impl::raise(std::get<1>(v_));
    }

    /// The value; throws `shmring::exception` with the error if there is
    /// none.
    const T& value() const&
    {
        if (const T* v = std::get_if<0>(&v_)) {
            return *v;
        }
        impl::raise(std::get<1>(v_));
    }

    /// The value, moved out; throws `shmring::exception` with the error if
    /// there is none.
    T&& value() &&
    {
        if (T* v = std::get_if<0>(&v_)) {
            return std::move(*v);
        }
        impl::raise(std::get<1>(v_));
    }

    /// The value, or `alternative` if there is none.
    template <class U>
    T value_or(U&& alternative) const&
    {
        return has_value() ? *std::get_if<0>(&v_) : static_cast<T>(std::forward<U>(alternative));
    }

    /// The value (moved out), or `alternative` if there is none.
    template <class U>
    T value_or(U&& alternative) &&
    {
        return has_value() ? std::move(*std::get_if<0>(&v_))
                           : static_cast<T>(std::forward<U>(alternative));
    }

    /// The value, unchecked: there must be one.
    T& operator*() & noexcept { return *std::get_if<0>(&v_); }

    /// The value, unchecked: there must be one.
    const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }

    /// The value moved out, unchecked: there must be one.
    T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }

    /// The value's members, unchecked: there must be one.
    T* operator->() noexcept { return std::get_if<0>(&v_); }

    /// The value's members, unchecked: there must be one.
    const T* operator->() const noexcept { return std::get_if<0>(&v_); }

    /// The error; there must be one (`std::bad_variant_access` otherwise).
    const shmring::error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, shmring::error> v_;
};

/// A result without a value: success, or a `shmring::error`.
template <>
class [[nodiscard]] result<void> {
public:
    /// The value type.
    using value_type = void;

    /// Success.
    result() noexcept = default;

    /// A failure with error `e`.
    result(shmring::error e) noexcept : e_(std::move(e)) {}

    /// Whether the call succeeded.
    bool has_value() const noexcept { return !e_.has_value(); }

    /// Whether the call succeeded.
    explicit operator bool() const noexcept { return has_value(); }

    /// Nothing if the call succeeded; throws `shmring::exception` with the
    /// error otherwise.
    void value() const
    {
        if (e_) {
            impl::raise(*e_);
        }
    }

    /// The error; there must be one (`std::bad_optional_access` otherwise).
    const shmring::error& error() const { return e_.value(); }

private:
    std::optional<shmring::error> e_;
};

// ---------------------------------------------------------------------
// Timeouts, names, options
// ---------------------------------------------------------------------

/// A timeout meaning "wait as long as it takes" (`SHMRING_INFINITE`).
/// Any duration of about 30 000 years or more means the same.
inline constexpr std::chrono::milliseconds forever = std::chrono::milliseconds::max();

namespace impl {

/// A duration as the C API's milliseconds: rounded up (a 1 µs timeout
/// waits 1 ms rather than not at all), negative as 0, huge as
/// `SHMRING_INFINITE`.
template <class Rep, class Period>
constexpr std::uint64_t to_ms(std::chrono::duration<Rep, Period> d) noexcept
{
    if (d <= d.zero()) {
        return 0;
    }
    const std::chrono::duration<double, std::milli> ms = d;
    if (ms.count() >= 1.0e15) {
        return SHMRING_INFINITE;
    }
    return static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

/// A NUL-terminated copy of a name on the stack (no allocation). A
/// name too long for any shmring name, or holding a NUL, is not copied
/// (`ok()` false).
class c_name {
public:
    /// Copies `s` if it fits.
    explicit c_name(std::string_view s) noexcept
    {
        ok_ = s.size() < sizeof buf_ && s.find('\0') == std::string_view::npos;
        if (ok_) {
            s.copy(buf_, s.size());
            buf_[s.size()] = '\0';
        }
    }

    /// Whether the name was copied.
    bool ok() const noexcept { return ok_; }

    /// The copy.
    const char* get() const noexcept { return buf_; }

private:
    char buf_[256] = {};
    bool ok_ = false;
};

/// `result<void>` of a C status.
inline result<void> check(int rc, const char* operation) noexcept
{
    if (rc == SHMRING_OK) {
        return {};
    }
    return error::from_last(rc, operation);
}

/// Owns one C handle: `Close` is called on it once, by `reset()` or the
/// destructor. Move-only; a moved-from owner holds nothing.
template <class Native, int (*Close)(Native*)>
class owner {
public:
    owner() noexcept = default;

    explicit owner(Native* p) noexcept : p_(p) {}

    owner(owner&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}

    owner& operator=(owner&& other) noexcept
    {
        if (this != &other) {
            reset();
            p_ = std::exchange(other.p_, nullptr);
        }
        return *this;
    }

    owner(const owner&) = delete;
    owner& operator=(const owner&) = delete;

    ~owner() { reset(); }

    Native* get() const noexcept { return p_; }

    Native* release() noexcept { return std::exchange(p_, nullptr); }

    /// Closes, ignoring errors (the handle is given up either way).
    void reset() noexcept
    {
        if (p_ != nullptr) {
            (void)Close(std::exchange(p_, nullptr));
        }
    }

    /// Closes, reporting errors. `errc::busy` (another thread is inside a
    /// call on it) leaves the handle open, to be closed again later.
    result<void> close(const char* operation) noexcept
    {
        if (p_ == nullptr) {
            return {};
        }
        const int rc = Close(p_);
        if (rc != SHMRING_E_BUSY) {
            p_ = nullptr;
        }
        return check(rc, operation);
    }

private:
    Native* p_ = nullptr;
};

/// Flags for the C options: create or open, ephemeral, wait policy.
inline std::uint32_t flags(bool create, bool ephemeral, std::uint32_t wait) noexcept
{
    return (create ? std::uint32_t{SHMRING_CREATE} : 0U) |
           (ephemeral ? std::uint32_t{SHMRING_EPHEMERAL} : 0U) | wait;
}

} // namespace impl

/// How blocking calls on a ring's endpoints wait (`flags`
/// `SHMRING_WAIT_SPIN` / `SHMRING_WAIT_PARK`).
enum class wait_policy : std::uint32_t {
    /// Spin about 50 µs, then sleep on a futex (the default).
    adaptive = 0,
    /// Busy-spin: lowest latency, burns a core while waiting.
    spin = SHMRING_WAIT_SPIN,
    /// Sleep on the futex at once.
    park = SHMRING_WAIT_PARK,
};

/// Delivery of a publish/subscribe ring (`SHMRING_LOSSLESS`,
/// `SHMRING_LOSSY`).
enum class delivery : std::uint32_t {
    /// The publisher waits for the slowest live subscriber.
    lossless = SHMRING_LOSSLESS,
    /// The publisher never waits; a subscriber a ring behind loses the
    /// oldest messages (`errc::lagged`).
    lossy = SHMRING_LOSSY,
};

/// Where a new subscriber starts (`SHMRING_JOIN_NEXT`,
/// `SHMRING_JOIN_OLDEST`).
enum class join : std::uint32_t {
    /// At the next message published.
    next = SHMRING_JOIN_NEXT,
    /// At the oldest message the ring still holds.
    oldest = SHMRING_JOIN_OLDEST,
};

/// Geometry and statistics reported by the C API, used as they are.
using spsc_stats = ::shmring_spsc_stats;
/// See `shmring_mpmc_stats` in shmring.h.
using mpmc_stats = ::shmring_mpmc_stats;
/// See `shmring_pubsub_stats` in shmring.h.
using pubsub_stats = ::shmring_pubsub_stats;
/// See `shmring_segment_info` in shmring.h.
using segment_info = ::shmring_segment_info;

class client;

/// How to create or open an SPSC ring. Zero fields mean the C API's
/// defaults; the shape (`capacity`, `max_message`, `mode`) is used only
/// when creating.
struct spsc_options {
    /// Data-area bytes: a power of two, 64 B to 1 TiB (0: 65536).
    std::uint64_t capacity = 0;
    /// Largest message, at most `capacity / 4` (0: `capacity / 4`).
    std::uint64_t max_message = 0;
    /// Permission bits of a new segment (0: 0600).
    std::uint32_t mode = 0;
    /// How the endpoints' blocking calls wait.
    wait_policy wait = wait_policy::adaptive;
    /// Broker only: forgotten once no connection that made or opened it
    /// remains.
    bool ephemeral = false;
    /// nullptr: a named segment in /dev/shm. Otherwise the broker
    /// connection to go through (an exclusive handle: no other thread may
    /// use it during the call).
    client* broker = nullptr;
};

/// How to create or open an MPMC queue (zero fields: the defaults; the
/// shape is used only when creating).
struct mpmc_options {
    /// Slots per priority level: a power of two, 2 to 16 Mi (0: 1024).
    std::uint64_t slots = 0;
    /// Largest message in bytes, up to 16 MiB (0: 256).
    std::uint64_t slot_size = 0;
    /// Priority levels, 1 to 8 (0: 1).
    std::uint32_t priorities = 0;
    /// Permission bits of a new segment (0: 0600).
    std::uint32_t mode = 0;
    /// How the endpoints' blocking calls wait.
    wait_policy wait = wait_policy::adaptive;
    /// Broker only: see `spsc_options::ephemeral`.
    bool ephemeral = false;
    /// nullptr: /dev/shm; otherwise the broker connection.
    client* broker = nullptr;
};

/// How to create or open a publish/subscribe ring (zero fields: the
/// defaults; the shape is used only when creating).
struct pubsub_options {
    /// Slots (messages the ring holds): a power of two, 2 to 16 Mi
    /// (0: 1024).
    std::uint64_t slots = 0;
    /// Largest message in bytes, up to 16 MiB (0: 256).
    std::uint64_t slot_size = 0;
    /// Subscribers the ring holds at once, 1 to 1024 (0: 64).
    std::uint32_t subscribers = 0;
    /// Lossless (the default) or lossy.
    shmring::delivery delivery = shmring::delivery::lossless;
    /// Permission bits of a new segment (0: 0600).
    std::uint32_t mode = 0;
    /// How the endpoints' blocking calls wait.
    wait_policy wait = wait_policy::adaptive;
    /// Broker only: see `spsc_options::ephemeral`.
    bool ephemeral = false;
    /// nullptr: /dev/shm; otherwise the broker connection.
    client* broker = nullptr;
};

// ---------------------------------------------------------------------
// Zero-copy: recv_guard and send_grant
// ---------------------------------------------------------------------

/// A message peeked in place (`peek`, `try_peek`): its bytes stay valid
/// and unchanged while the guard holds it; the destructor (or
/// `release()`) gives the message back to the ring. Move-only.
///
/// Lifetime rules:
///  - the bytes (`bytes()`, `text()`) are valid until the guard releases
///    them (destructor, `release()`, or being assigned to); keep no span
///    or string_view into them past that;
///  - while a guard holds a message, the endpoint's other receives fail
///    with `errc::state`: release before receiving again;
///  - the guard must not outlive its endpoint (closing the endpoint drops
///    the message; the guard's release then fails harmlessly with
///    `errc::bad_handle`, but its bytes are gone). Moving the endpoint
///    object is fine: the guard refers to the C handle, not to it.
///  - an exclusive endpoint (consumer, receiver, subscriber) and its
///    guard are used by one thread at a time, as the endpoint alone.
class recv_guard {
public:
    /// Holds nothing.
    recv_guard() noexcept = default;

    /// Takes over `other`'s message; `other` holds nothing afterwards.
    recv_guard(recv_guard&& other) noexcept
        : endpoint_(std::exchange(other.endpoint_, nullptr)),
          release_(std::exchange(other.release_, nullptr)),
          data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0))
    {
    }

    /// Releases the message held, then takes over `other`'s.
    recv_guard& operator=(recv_guard&& other) noexcept
    {
        if (this != &other) {
            reset();
            endpoint_ = std::exchange(other.endpoint_, nullptr);
            release_ = std::exchange(other.release_, nullptr);
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    recv_guard(const recv_guard&) = delete;
    recv_guard& operator=(const recv_guard&) = delete;

    /// Releases the message, if one is held (errors are ignored).
    ~recv_guard() { reset(); }

    /// Whether a message is held (it may be 0 bytes long: Rust senders
    /// may send empty messages).
    explicit operator bool() const noexcept { return endpoint_ != nullptr; }

    /// The message's bytes (empty if none is held).
    std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

    /// The message's bytes as characters.
    std::string_view text() const noexcept
    {
        return {reinterpret_cast<const char*>(data_), size_};
    }

    /// The first byte (nullptr if none is held).
    const std::byte* data() const noexcept { return data_; }

    /// The message's length in bytes.
    std::size_t size() const noexcept { return size_; }

    /// Releases the message now; throws `shmring::exception` on failure
    /// (the guard holds nothing afterwards either way).
    void release() { try_release().value(); }

    /// Releases the message now (nothing to do if none is held).
    result<void> try_release() noexcept
    {
        if (endpoint_ == nullptr) {
            return {};
        }
        const int rc = release_(std::exchange(endpoint_, nullptr));
        data_ = nullptr;
        size_ = 0;
        return impl::check(rc, "release");
    }

    /// For the endpoints: a guard over a message just peeked.
    recv_guard(void* endpoint, int (*release_fn)(void*), const void* data, std::size_t size) noexcept
        : endpoint_(endpoint), release_(release_fn), data_(static_cast<const std::byte*>(data)),
          size_(size)
    {
    }

private:
    void reset() noexcept
    {
        if (endpoint_ != nullptr) {
            (void)release_(std::exchange(endpoint_, nullptr));
            data_ = nullptr;
            size_ = 0;
        }
    }

    void* endpoint_ = nullptr;
    int (*release_)(void*) = nullptr;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Room reserved in a ring for one message written in place (`reserve`,
/// `try_reserve`): write into `bytes()`, then `commit(n)` publishes the
/// first `n` bytes. A grant neither committed nor cancelled is cancelled
/// by its destructor (for an MPMC sender the slot is published as skipped,
/// which receivers pass over). Move-only.
///
/// Lifetime rules: `bytes()` is valid until commit, cancel or
/// destruction; while a grant is open, its endpoint's sends fail with
/// `errc::state`; the grant must not outlive its endpoint (it then fails
/// harmlessly with `errc::bad_handle`). Moving the endpoint object is
/// fine.
class send_grant {
public:
    /// Holds nothing.
    send_grant() noexcept = default;

    /// Takes over `other`'s reservation.
    send_grant(send_grant&& other) noexcept
        : endpoint_(std::exchange(other.endpoint_, nullptr)),
          commit_(std::exchange(other.commit_, nullptr)),
          cancel_(std::exchange(other.cancel_, nullptr)),
          data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0))
    {
    }

    /// Cancels the reservation held, then takes over `other`'s.
    send_grant& operator=(send_grant&& other) noexcept
    {
        if (this != &other) {
            reset();
            endpoint_ = std::exchange(other.endpoint_, nullptr);
            commit_ = std::exchange(other.commit_, nullptr);
            cancel_ = std::exchange(other.cancel_, nullptr);
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    send_grant(const send_grant&) = delete;
    send_grant& operator=(const send_grant&) = delete;

    /// Cancels the reservation if it is still open (errors are ignored).
    ~send_grant() { reset(); }

    /// Whether a reservation is open.
    explicit operator bool() const noexcept { return endpoint_ != nullptr; }

    /// The reserved bytes, to be written (empty once committed or
    /// cancelled).
    std::span<std::byte> bytes() const noexcept { return {data_, size_}; }

    /// The first reserved byte.
    std::byte* data() const noexcept { return data_; }

    /// The reserved length.
    std::size_t size() const noexcept { return size_; }

    /// Publishes all reserved bytes; throws `shmring::exception` on
    /// failure.
    void commit() { try_commit(size_).value(); }

    /// Publishes the first `n` bytes (1 to `size()`); throws
    /// `shmring::exception` on failure. After `errc::invalid` (a bad `n`)
    /// the reservation stays open.
    void commit(std::size_t n) { try_commit(n).value(); }

    /// Publishes the first `n` bytes (1 to `size()`). After `errc::invalid`
    /// (a bad `n`) the reservation stays open; after any other outcome the
    /// grant holds nothing. `errc::state` if nothing is reserved.
    result<void> try_commit(std::size_t n) noexcept
    {
        if (endpoint_ == nullptr) {
            return error(errc::state, "commit");
        }
        const int rc = commit_(endpoint_, n);
        if (rc != SHMRING_E_INVALID) {
            endpoint_ = nullptr;
            data_ = nullptr;
            size_ = 0;
        }
        return impl::check(rc, "commit");
    }

    /// Publishes all reserved bytes.
    result<void> try_commit() noexcept { return try_commit(size_); }

    /// Drops the reservation without publishing; throws on failure.
    void cancel() { try_cancel().value(); }

    /// Drops the reservation without publishing (nothing to do if none
    /// is open).
    result<void> try_cancel() noexcept
    {
        if (endpoint_ == nullptr) {
            return {};
        }
        const int rc = cancel_(std::exchange(endpoint_, nullptr));
        data_ = nullptr;
        size_ = 0;
        return impl::check(rc, "cancel");
    }

    /// For the endpoints: a grant over a reservation just made.
    send_grant(void* endpoint, int (*commit_fn)(void*, std::size_t), int (*cancel_fn)(void*),
               void* data, std::size_t size) noexcept
        : endpoint_(endpoint), commit_(commit_fn), cancel_(cancel_fn),
          data_(static_cast<std::byte*>(data)), size_(size)
    {
    }

private:
    void reset() noexcept
    {
        if (endpoint_ != nullptr) {
            (void)cancel_(std::exchange(endpoint_, nullptr));
            data_ = nullptr;
            size_ = 0;
        }
    }

    void* endpoint_ = nullptr;
    int (*commit_)(void*, std::size_t) = nullptr;
    int (*cancel_)(void*) = nullptr;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

// ---------------------------------------------------------------------
// Endpoint templates (one implementation for every kind)
// ---------------------------------------------------------------------

namespace impl {

/// The C functions of one sending endpoint kind.
struct producer_api {
    using native = ::shmring_producer;
    static constexpr auto close = &::shmring_producer_close;
    static constexpr auto send = &::shmring_producer_send;
    static constexpr auto try_send = &::shmring_producer_try_send;
    static constexpr auto send_timeout = &::shmring_producer_send_timeout;
    static constexpr auto reserve = &::shmring_producer_reserve;
    static constexpr auto commit = &::shmring_producer_commit;
    static constexpr auto cancel = &::shmring_producer_cancel;
    static constexpr auto fd = &::shmring_producer_fd;
};

/// The C functions of the MPMC sender.
struct sender_api {
    using native = ::shmring_sender;
    static constexpr auto close = &::shmring_sender_close;
    static constexpr auto send = &::shmring_sender_send;
    static constexpr auto try_send = &::shmring_sender_try_send;
    static constexpr auto send_timeout = &::shmring_sender_send_timeout;
    static constexpr auto reserve = &::shmring_sender_reserve;
    static constexpr auto commit = &::shmring_sender_commit;
    static constexpr auto cancel = &::shmring_sender_cancel;
    static constexpr auto fd = &::shmring_sender_fd;
};

/// The C functions of the publisher.
struct publisher_api {
    using native = ::shmring_publisher;
    static constexpr auto close = &::shmring_publisher_close;
    static constexpr auto send = &::shmring_publisher_send;
    static constexpr auto try_send = &::shmring_publisher_try_send;
    static constexpr auto send_timeout = &::shmring_publisher_send_timeout;
    static constexpr auto reserve = &::shmring_publisher_reserve;
    static constexpr auto commit = &::shmring_publisher_commit;
    static constexpr auto cancel = &::shmring_publisher_cancel;
    static constexpr auto fd = &::shmring_publisher_fd;
};

/// The C functions of the SPSC consumer.
struct consumer_api {
    using native = ::shmring_consumer;
    static constexpr auto close = &::shmring_consumer_close;
    static constexpr auto recv = &::shmring_consumer_recv;
    static constexpr auto try_recv = &::shmring_consumer_try_recv;
    static constexpr auto recv_timeout = &::shmring_consumer_recv_timeout;
    static constexpr auto peek = &::shmring_consumer_peek;
    static constexpr auto release = &::shmring_consumer_release;
    static constexpr auto fd = &::shmring_consumer_fd;
};

/// The C functions of the MPMC receiver.
struct receiver_api {
    using native = ::shmring_receiver;
    static constexpr auto close = &::shmring_receiver_close;
    static constexpr auto recv = &::shmring_receiver_recv;
    static constexpr auto try_recv = &::shmring_receiver_try_recv;
    static constexpr auto recv_timeout = &::shmring_receiver_recv_timeout;
    static constexpr auto peek = &::shmring_receiver_peek;
    static constexpr auto release = &::shmring_receiver_release;
    static constexpr auto fd = &::shmring_receiver_fd;
};

/// The C functions of the subscriber.
struct subscriber_api {
    using native = ::shmring_subscriber;
    static constexpr auto close = &::shmring_subscriber_close;
    static constexpr auto recv = &::shmring_subscriber_recv;
    static constexpr auto try_recv = &::shmring_subscriber_try_recv;
    static constexpr auto recv_timeout = &::shmring_subscriber_recv_timeout;
    static constexpr auto peek = &::shmring_subscriber_peek;
    static constexpr auto release = &::shmring_subscriber_release;
    static constexpr auto fd = &::shmring_subscriber_fd;
};

/// `s` as bytes.
inline std::span<const std::byte> as_bytes(std::string_view s) noexcept
{
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// The sending half of every sending endpoint; `producer`, `sender` and
/// `publisher` are this with their C functions (`Api`).
template <class Api>
class basic_sender {
public:
    /// The C handle type.
    using native_type = typename Api::native;

    /// An empty endpoint (every call fails with `errc::bad_handle` or
    /// `errc::invalid`); assign an opened one to it.
    basic_sender() noexcept = default;

    /// Takes ownership of a C handle (closed by the destructor).
    explicit basic_sender(native_type* native) noexcept : h_(native) {}

    /// Whether a handle is held (false once moved from or closed).
    explicit operator bool() const noexcept { return h_.get() != nullptr; }

    /// The C handle, still owned by this object.
    native_type* native_handle() const noexcept { return h_.get(); }

    /// Gives up ownership of the C handle and returns it.
    [[nodiscard]] native_type* release() noexcept { return h_.release(); }

    /// Closes now; throws on failure. Closing an empty endpoint does
    /// nothing.
    void close() { try_close().value(); }

    /// Closes now (`errc::busy`: another thread is inside a call on it;
    /// the handle stays open then).
    result<void> try_close() noexcept { return h_.close("close"); }

    // -- throwing -------------------------------------------------------

    /// Sends `message`, waiting for room as long as it takes. Throws
    /// `shmring::exception` on failure (`errc::disconnected` when no
    /// receiver will ever read it; never for a publisher).
    void send(std::span<const std::byte> message) { try_send_for(message, forever).value(); }

    /// Sends the characters of `message` (no terminating NUL).
    void send(std::string_view message) { send(impl::as_bytes(message)); }

    /// Sends, waiting at most `timeout` for room; throws
    /// `shmring::exception` with `errc::timeout` when the time is up (the
    /// message is not sent), and on every other failure.
    template <class Rep, class Period>
    void send_for(std::span<const std::byte> message, std::chrono::duration<Rep, Period> timeout)
    {
        try_send_for(message, timeout).value();
    }

    /// Sends the characters of `message`, waiting at most `timeout`.
    template <class Rep, class Period>
    void send_for(std::string_view message, std::chrono::duration<Rep, Period> timeout)
    {
        try_send_for(impl::as_bytes(message), timeout).value();
    }

    /// Reserves `size` bytes to write in place, waiting for room as long
    /// as it takes. Throws on failure.
    send_grant reserve(std::size_t size) { return try_reserve_for(size, forever).value(); }

    /// Reserves `size` bytes, waiting at most `timeout`; throws with
    /// `errc::timeout` when the time is up.
    template <class Rep, class Period>
    send_grant reserve_for(std::size_t size, std::chrono::duration<Rep, Period> timeout)
    {
        return try_reserve_for(size, timeout).value();
    }

    /// The readiness descriptor for poll/epoll (owned by the endpoint:
    /// never close it). Read shmring.h (`shmring_producer_fd`) for the
    /// arm-check-wait rule: send with `try_send` until `errc::full`, then
    /// poll for POLLOUT. Throws on failure.
    int fd() { return try_fd().value(); }

    // -- non-throwing ---------------------------------------------------

    /// Sends if there is room now: `errc::full` otherwise (a lossy
    /// publisher always has room). Other errors: `disconnected`,
    /// `too_large`, `state` (a grant is open), `invalid` (empty message),
    /// `bad_handle`, `busy`, `corrupt`.
    result<void> try_send(std::span<const std::byte> message) noexcept
    {
        return impl::check(Api::try_send(h_.get(), message.data(), message.size()), "send");
    }

    /// `try_send` of the characters of `message`.
    result<void> try_send(std::string_view message) noexcept
    {
        return try_send(impl::as_bytes(message));
    }

    /// Sends, waiting at most `timeout` for room (`forever`: no limit;
    /// zero: no wait). `errc::timeout` when the time is up; other errors as
    /// for `try_send`.
    template <class Rep, class Period>
    result<void> try_send_for(std::span<const std::byte> message,
                              std::chrono::duration<Rep, Period> timeout) noexcept
    {
        const std::uint64_t ms = impl::to_ms(timeout);
        const int rc = ms == SHMRING_INFINITE
                           ? Api::send(h_.get(), message.data(), message.size())
                           : Api::send_timeout(h_.get(), message.data(), message.size(), ms);
        return impl::check(rc, "send");
    }

    /// `try_send_for` of the characters of `message`.
    template <class Rep, class Period>
    result<void> try_send_for(std::string_view message,
                              std::chrono::duration<Rep, Period> timeout) noexcept
    {
        return try_send_for(impl::as_bytes(message), timeout);
    }

    /// Reserves `size` bytes if there is room now (`errc::full`
    /// otherwise). Other errors: `state` (a grant is open), `too_large`,
    /// `disconnected`, `invalid` (size 0).
    result<send_grant> try_reserve(std::size_t size) noexcept
    {
        return reserve_ms(size, 0, errc::full);
    }

    /// Reserves `size` bytes, waiting at most `timeout` (`errc::timeout`
    /// when the time is up, a zero timeout included).
    template <class Rep, class Period>
    result<send_grant> try_reserve_for(std::size_t size,
                                       std::chrono::duration<Rep, Period> timeout) noexcept
    {
        return reserve_ms(size, impl::to_ms(timeout), errc::timeout);
    }

    /// The readiness descriptor (see `fd()`).
    result<int> try_fd() noexcept
    {
        const int fd = Api::fd(h_.get());
        if (fd >= 0) {
            return fd;
        }
        return error::from_last(fd, "fd");
    }

private:
    static int commit_thunk(void* endpoint, std::size_t n) noexcept
    {
        return Api::commit(static_cast<native_type*>(endpoint), n);
    }

    static int cancel_thunk(void* endpoint) noexcept
    {
        return Api::cancel(static_cast<native_type*>(endpoint));
    }

    result<send_grant> reserve_ms(std::size_t size, std::uint64_t ms, errc no_room) noexcept
    {
        void* buf = nullptr;
        int rc = Api::reserve(h_.get(), size, ms, &buf);
        if (rc == SHMRING_OK) {
            return send_grant(h_.get(), &commit_thunk, &cancel_thunk, buf, size);
        }
        // A zero timeout answers "full"; report what the caller asked.
        if (rc == SHMRING_E_FULL || rc == SHMRING_E_TIMEOUT) {
            rc = static_cast<int>(no_room);
        }
        return error::from_last(rc, "reserve");
    }

protected:
    /// The owned C handle.
    owner<native_type, Api::close> h_;
};

/// The receiving half of every receiving endpoint; `consumer`,
/// `receiver` and `subscriber` are this with their C functions (`Api`).
template <class Api>
class basic_receiver {
public:
    /// The C handle type.
    using native_type = typename Api::native;

    /// An empty endpoint (every call fails with `errc::bad_handle` or
    /// `errc::invalid`); assign an opened one to it.
    basic_receiver() noexcept = default;

    /// Takes ownership of a C handle (closed by the destructor).
    explicit basic_receiver(native_type* native) noexcept : h_(native) {}

    /// Whether a handle is held (false once moved from or closed).
    explicit operator bool() const noexcept { return h_.get() != nullptr; }

    /// The C handle, still owned by this object.
    native_type* native_handle() const noexcept { return h_.get(); }

    /// Gives up ownership of the C handle and returns it.
    [[nodiscard]] native_type* release() noexcept { return h_.release(); }

    /// Closes now; throws on failure. Closing an empty endpoint does
    /// nothing.
    void close() { try_close().value(); }

    /// Closes now (`errc::busy`: another thread is inside a call on it;
    /// the handle stays open then).
    result<void> try_close() noexcept { return h_.close("close"); }

    // -- throwing -------------------------------------------------------

    /// Waits as long as it takes for the next message and copies it into
    /// `buffer`; returns its length, or `std::nullopt` at end of file
    /// (every sender gone and every message received). Throws
    /// `shmring::exception` on failure: `errc::buffer_too_small` (the
    /// message is kept for the next receive; `error().needed()` is its
    /// length), `errc::lagged` (a lossy subscriber; the next receive goes
    /// on), and faults. A `char` buffer: `std::as_writable_bytes(std::span(buf))`.
    std::optional<std::size_t> recv(std::span<std::byte> buffer)
    {
        return eof_or_value(try_recv_for(buffer, forever));
    }

    /// Like `recv`, waiting at most `timeout`; throws with `errc::timeout`
    /// when the time is up.
    template <class Rep, class Period>
    std::optional<std::size_t> recv_for(std::span<std::byte> buffer,
                                        std::chrono::duration<Rep, Period> timeout)
    {
        return eof_or_value(try_recv_for(buffer, timeout));
    }

    /// Waits as long as it takes for the next message and returns a copy
    /// of it, whatever its length; `std::nullopt` at end of file. Throws
    /// as `recv` (never `buffer_too_small`).
    std::optional<std::vector<std::byte>> recv_bytes()
    {
        return eof_or_value(try_recv_bytes_for(forever));
    }

    /// Like `recv_bytes`, waiting at most `timeout` (throws with
    /// `errc::timeout` when the time is up).
    template <class Rep, class Period>
    std::optional<std::vector<std::byte>> recv_bytes_for(std::chrono::duration<Rep, Period> timeout)
    {
        return eof_or_value(try_recv_bytes_for(timeout));
    }

    /// Like `recv_bytes`, as a `std::string`.
    std::optional<std::string> recv_string() { return eof_or_value(try_recv_string_for(forever)); }

    /// Like `recv_bytes_for`, as a `std::string`.
    template <class Rep, class Period>
    std::optional<std::string> recv_string_for(std::chrono::duration<Rep, Period> timeout)
    {
        return eof_or_value(try_recv_string_for(timeout));
    }

    /// Zero-copy receive: waits as long as it takes for the next message
    /// and returns a guard over it in place (see `recv_guard` for how long
    /// its bytes live); `std::nullopt` at end of file. Throws as `recv`.
    std::optional<recv_guard> peek() { return eof_or_value(try_peek_for(forever)); }

    /// Like `peek`, waiting at most `timeout` (throws with `errc::timeout`
    /// when the time is up).
    template <class Rep, class Period>
    std::optional<recv_guard> peek_for(std::chrono::duration<Rep, Period> timeout)
    {
        return eof_or_value(try_peek_for(timeout));
    }

    /// The readiness descriptor for poll/epoll (owned by the endpoint:
    /// never close it). Read shmring.h (`shmring_consumer_fd`) for the
    /// arm-check-wait rule: receive with `try_recv` (or `try_peek`) until
    /// `errc::empty`, then poll for POLLIN. Throws on failure.
    int fd() { return try_fd().value(); }

    // -- non-throwing ---------------------------------------------------

    /// Copies the next message into `buffer` if one is there now and
    /// returns its length. Errors: `empty` (none now), `disconnected` (end
    /// of file), `buffer_too_small` (kept for the next receive;
    /// `error().needed()` is its length), `lagged` (lossy subscriber;
    /// the next receive goes on), `state` (a message is peeked), faults.
    result<std::size_t> try_recv(std::span<std::byte> buffer) noexcept
    {
        std::size_t len = 0;
        const int rc = Api::try_recv(h_.get(), buffer.data(), buffer.size(), &len);
        return finish_recv(rc, len);
    }

    /// Like `try_recv`, waiting at most `timeout` (`forever`: no limit) for
    /// a message; `errc::timeout` when the time is up (a zero timeout
    /// included: it waits not at all).
    template <class Rep, class Period>
    result<std::size_t> try_recv_for(std::span<std::byte> buffer,
                                     std::chrono::duration<Rep, Period> timeout) noexcept
    {
        const std::uint64_t ms = impl::to_ms(timeout);
        std::size_t len = 0;
        const int rc =
            ms == SHMRING_INFINITE
                ? Api::recv(h_.get(), buffer.data(), buffer.size(), &len)
                : Api::recv_timeout(h_.get(), buffer.data(), buffer.size(), &len, ms);
        return finish_recv(rc, len);
    }

    /// A copy of the next message if one is there now, whatever its
    /// length. Errors as for `try_recv` (never `buffer_too_small`). Throws
    /// nothing but `std::bad_alloc` (the message is then consumed and
    /// lost: it is copied out of a zero-copy peek).
    result<std::vector<std::byte>> try_recv_bytes() { return copy_out<std::vector<std::byte>>(0); }

    /// Like `try_recv_bytes`, waiting at most `timeout`.
    template <class Rep, class Period>
    result<std::vector<std::byte>> try_recv_bytes_for(std::chrono::duration<Rep, Period> timeout)
    {
        return copy_out<std::vector<std::byte>>(for_ms(timeout));
    }

    /// Like `try_recv_bytes`, as a `std::string`.
    result<std::string> try_recv_string() { return copy_out<std::string>(0); }

    /// Like `try_recv_bytes_for`, as a `std::string`.
    template <class Rep, class Period>
    result<std::string> try_recv_string_for(std::chrono::duration<Rep, Period> timeout)
    {
        return copy_out<std::string>(for_ms(timeout));
    }

    /// Zero-copy receive of the next message if one is there now (see
    /// `recv_guard`). Errors as for `try_recv`.
    result<recv_guard> try_peek() noexcept { return peek_ms(0); }

    /// Like `try_peek`, waiting at most `timeout` (`errc::timeout` when the
    /// time is up).
    template <class Rep, class Period>
    result<recv_guard> try_peek_for(std::chrono::duration<Rep, Period> timeout) noexcept
    {
        return peek_ms(for_ms(timeout));
    }

    /// The readiness descriptor (see `fd()`).
    result<int> try_fd() noexcept
    {
        const int fd = Api::fd(h_.get());
        if (fd >= 0) {
            return fd;
        }
        return error::from_last(fd, "fd");
    }

private:
    /// A timeout for peek: "0" there means "do not wait" and answers
    /// `empty`; the `_for` forms want `timeout`, so a zero duration
    /// becomes the shortest wait that reports it (peek_ms maps it back).
    template <class Rep, class Period>
    static std::uint64_t for_ms(std::chrono::duration<Rep, Period> timeout) noexcept
    {
        const std::uint64_t ms = impl::to_ms(timeout);
        return ms == 0 ? zero_wait : ms;
    }

    /// Marks a `_for` call with a zero timeout (never a real timeout:
    /// `SHMRING_INFINITE - 1` ms is 585 million years).
    static constexpr std::uint64_t zero_wait = SHMRING_INFINITE - 1;

    static int release_thunk(void* endpoint) noexcept
    {
        return Api::release(static_cast<native_type*>(endpoint));
    }

    static result<std::size_t> finish_recv(int rc, std::size_t len) noexcept
    {
        if (rc == SHMRING_OK) {
            return len;
        }
        return error::from_last(rc, "recv", rc == SHMRING_E_BUFFER_TOO_SMALL ? len : 0);
    }

    result<recv_guard> peek_ms(std::uint64_t ms) noexcept
    {
        const void* data = nullptr;
        std::size_t len = 0;
        int rc = Api::peek(h_.get(), ms == zero_wait ? 0 : ms, &data, &len);
        if (rc == SHMRING_OK) {
            return recv_guard(h_.get(), &release_thunk, data, len);
        }
        if (ms == zero_wait && rc == SHMRING_E_EMPTY) {
            rc = SHMRING_E_TIMEOUT;
        }
        return error::from_last(rc, "recv");
    }

    template <class Container>
    result<Container> copy_out(std::uint64_t ms)
    {
        result<recv_guard> guard = peek_ms(ms);
        if (!guard) {
            return guard.error();
        }
        // If the copy throws (std::bad_alloc), the guard releases the
        // message: it is consumed and lost.
        const auto* first = reinterpret_cast<const typename Container::value_type*>(guard->data());
        Container copy(first, first + guard->size());
        const result<void> released = guard->try_release();
        if (!released) {
            return released.error();
        }
        return copy;
    }

    template <class T>
    static std::optional<T> eof_or_value(result<T>&& r)
    {
        if (!r && r.error() == errc::disconnected) {
            return std::nullopt;
        }
        return std::optional<T>(std::move(r).value());
    }

protected:
    /// The owned C handle.
    owner<native_type, Api::close> h_;
};

} // namespace impl

// ---------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------

/// The sending end of an SPSC ring (`shmring_producer`), from
/// `spsc::open_producer`. One per ring at a time; closing it (the
/// destructor) is the consumer's end of file. Thread rules: an exclusive
/// handle, used by one thread at a time (its grant included), movable
/// between threads. Every operation is in `impl::basic_sender`:
/// `send`, `send_for`, `reserve`, `reserve_for`, `fd` (throwing) and
/// `try_send`, `try_send_for`, `try_reserve`, `try_reserve_for`,
/// `try_fd` (non-throwing).
class producer : public impl::basic_sender<impl::producer_api> {
public:
    using basic_sender::basic_sender;
};

/// A sending end of an MPMC queue (`shmring_sender`), from
/// `mpmc::open_sender`. Any number per queue. Thread rules: may be used by
/// several threads at once (one open grant per handle at a time: use a
/// sender per thread for concurrent zero-copy sends). Operations as for
/// `producer`.
class sender : public impl::basic_sender<impl::sender_api> {
public:
    using basic_sender::basic_sender;
};

/// The publishing end of a publish/subscribe ring (`shmring_publisher`),
/// from `pubsub::open_publisher`. One per ring at a time; closing it is
/// the subscribers' end of file. Never `errc::disconnected`: publishing
/// without subscribers succeeds. Thread rules and operations as for
/// `producer`.
class publisher : public impl::basic_sender<impl::publisher_api> {
public:
    using basic_sender::basic_sender;
};

/// The receiving end of an SPSC ring (`shmring_consumer`), from
/// `spsc::open_consumer`. One per ring at a time; closing it makes the
/// producer's sends fail with `errc::disconnected`. Thread rules: an
/// exclusive handle, used by one thread at a time (its guard included).
/// Every operation is in `impl::basic_receiver`: `recv`, `recv_for`,
/// `recv_bytes[_for]`, `recv_string[_for]`, `peek[_for]`, `fd`
/// (throwing; `std::nullopt` at end of file) and `try_recv[_for]`,
/// `try_recv_bytes[_for]`, `try_recv_string[_for]`, `try_peek[_for]`,
/// `try_fd` (non-throwing).
class consumer : public impl::basic_receiver<impl::consumer_api> {
public:
    using basic_receiver::basic_receiver;
};

/// A receiving end of an MPMC queue (`shmring_receiver`), from
/// `mpmc::open_receiver`; each message goes to exactly one receiver.
/// Thread rules: exclusive, one per receiving thread. Operations as for
/// `consumer`. A message too long for the buffer is kept by this receiver
/// (not by the queue): closing it drops such a message.
class receiver : public impl::basic_receiver<impl::receiver_api> {
public:
    using basic_receiver::basic_receiver;
};

/// One subscriber of a publish/subscribe ring (`shmring_subscriber`),
/// from `pubsub::open_subscriber`; it receives every message published
/// after it joined (lossy rings: `errc::lagged` when it fell a ring
/// behind; the next receive goes on with the oldest message left).
/// Thread rules: exclusive, one per receiving thread. Operations as for
/// `consumer`, and:
class subscriber : public impl::basic_receiver<impl::subscriber_api> {
public:
    using basic_receiver::basic_receiver;

    /// Messages lost to a lossy publisher since joining (0 when lossless).
    /// Throws on failure.
    std::uint64_t missed() { return try_missed().value(); }

    /// The sequence number of the next message this subscriber reads
    /// (messages are numbered from 0). Throws on failure.
    std::uint64_t position() { return try_position().value(); }

    /// Messages published that this subscriber has not read yet. Throws
    /// on failure.
    std::uint64_t lag() { return try_lag().value(); }

    /// `missed()`, not throwing.
    result<std::uint64_t> try_missed() noexcept { return get(&::shmring_subscriber_missed, "missed"); }

    /// `position()`, not throwing.
    result<std::uint64_t> try_position() noexcept
    {
        return get(&::shmring_subscriber_position, "position");
    }

    /// `lag()`, not throwing.
    result<std::uint64_t> try_lag() noexcept { return get(&::shmring_subscriber_lag, "lag"); }

private:
    result<std::uint64_t> get(int (*fn)(::shmring_subscriber*, std::uint64_t*),
                              const char* operation) noexcept
    {
        std::uint64_t v = 0;
        const int rc = fn(h_.get(), &v);
        if (rc == SHMRING_OK) {
            return v;
        }
        return error::from_last(rc, operation);
    }
};

// ---------------------------------------------------------------------
// Broker client
// ---------------------------------------------------------------------

/// A connection to the broker, shmringd (`shmring_client`). Rings made or
/// opened through it (`*_options::broker`) stay valid after it closes.
/// Thread rules: an exclusive handle, used by one thread at a time (a
/// ring open through it included), movable between threads.
class client {
public:
    /// No connection (calls fail with `errc::bad_handle`).
    client() noexcept = default;

    /// Takes ownership of a C handle.
    explicit client(::shmring_client* native) noexcept : h_(native) {}

    /// Connects at the default socket path (`$SHMRING_SOCKET`, else
    /// `$XDG_RUNTIME_DIR/shmring/broker.sock`, else
    /// `/tmp/shmring-$UID/broker.sock`). Throws on failure
    /// (`errc::no_broker`, `errc::permission`, ...).
    static client connect() { return try_connect().value(); }

    /// Connects at `socket_path` (empty: the default path). Throws on
    /// failure.
    static client connect(std::string_view socket_path) { return try_connect(socket_path).value(); }

    /// Connects at `socket_path` (empty: the default path).
    static result<client> try_connect(std::string_view socket_path = {}) noexcept
    {
        const impl::c_name path(socket_path);
        if (!path.ok()) {
            return error(errc::invalid, "connect");
        }
        ::shmring_client* out = nullptr;
        const int rc = ::shmring_client_connect(socket_path.empty() ? nullptr : path.get(), &out);
        if (rc != SHMRING_OK) {
            return error::from_last(rc, "connect");
        }
        return client(out);
    }

    /// Describes the broker segment `name`. Throws on failure.
    segment_info stat(std::string_view name) { return try_stat(name).value(); }

    /// Describes the broker segment `name`.
    result<segment_info> try_stat(std::string_view name) noexcept
    {
        const impl::c_name n(name);
        if (!n.ok()) {
            return error(errc::bad_name, "client stat");
        }
        segment_info info{};
        const int rc = ::shmring_client_stat(h_.get(), n.get(), &info);
        if (rc != SHMRING_OK) {
            return error::from_last(rc, "client stat");
        }
        return info;
    }

    /// Removes the broker segment `name` (owner only); processes that
    /// mapped it keep using it. Throws on failure.
    void unlink(std::string_view name) { try_unlink(name).value(); }

    /// Removes the broker segment `name`.
    result<void> try_unlink(std::string_view name) noexcept
    {
        const impl::c_name n(name);
        if (!n.ok()) {
            return error(errc::bad_name, "client unlink");
        }
        return impl::check(::shmring_client_unlink(h_.get(), n.get()), "client unlink");
    }

    /// Whether a connection is held.
    explicit operator bool() const noexcept { return h_.get() != nullptr; }

    /// The C handle, still owned by this object.
    ::shmring_client* native_handle() const noexcept { return h_.get(); }

    /// Gives up ownership of the C handle and returns it.
    [[nodiscard]] ::shmring_client* release() noexcept { return h_.release(); }

    /// Closes now; throws on failure.
    void close() { try_close().value(); }

    /// Closes now.
    result<void> try_close() noexcept { return h_.close("client close"); }

private:
    impl::owner<::shmring_client, &::shmring_client_close> h_;
};

// ---------------------------------------------------------------------
// Rings
// ---------------------------------------------------------------------

namespace impl {

/// The C client handle of an options struct.
inline ::shmring_client* native_client(const client* c) noexcept
{
    return c != nullptr ? c->native_handle() : nullptr;
}

/// Opens a ring of any kind from its C options (the name checked and
/// copied first).
template <class Ring, class COptions, class Native>
result<Ring> open_ring(int (*open)(const COptions*, Native**), COptions options,
                       std::string_view name, const char* operation) noexcept
{
    const impl::c_name n(name);
    if (!n.ok()) {
        return error(errc::bad_name, operation);
    }
    options.name = n.get();
    Native* out = nullptr;
    const int rc = open(&options, &out);
    if (rc != SHMRING_OK) {
        return error::from_last(rc, operation);
    }
    return Ring(out);
}

/// Opens an endpoint: `open(&out)` calls the C open function.
template <class Endpoint, class Native, class Open>
result<Endpoint> open_endpoint(Open open, const char* operation) noexcept
{
    Native* out = nullptr;
    const int rc = open(&out);
    if (rc != SHMRING_OK) {
        return error::from_last(rc, operation);
    }
    return Endpoint(out);
}

/// Stats of a ring with `stat(ring, &out)`.
template <class Stats, class Ring>
result<Stats> stat_ring(int (*stat)(Ring*, Stats*), Ring* ring) noexcept
{
    Stats out{};
    const int rc = stat(ring, &out);
    if (rc != SHMRING_OK) {
        return error::from_last(rc, "stat");
    }
    return out;
}

} // namespace impl

/// An open SPSC ring (`shmring_spsc`): hands out its one producer and one
/// consumer and reports stats. Endpoints stay usable after the ring
/// object closes (they keep the mapping). Thread rules: the ring may be
/// used by several threads at once (its member functions are const).
class spsc {
public:
    /// No ring (calls fail with `errc::bad_handle`).
    spsc() noexcept = default;

    /// Takes ownership of a C handle.
    explicit spsc(::shmring_spsc* native) noexcept : h_(native) {}

    /// Creates the ring `name` (`errc::exists` if taken). Throws on
    /// failure.
    static spsc create(std::string_view name, const spsc_options& options = {})
    {
        return try_create(name, options).value();
    }

    /// Opens the existing ring `name` (its shape is the ring's). Throws on
    /// failure (`errc::not_found`, `errc::incompatible`, ...).
    static spsc open(std::string_view name, const spsc_options& options = {})
    {
        return try_open(name, options).value();
    }

    /// `create`, not throwing.
    static result<spsc> try_create(std::string_view name, const spsc_options& options = {}) noexcept
    {
        return impl::open_ring<spsc>(&::shmring_spsc_open, native_options(options, true), name,
                                     "spsc create");
    }

    /// `open`, not throwing.
    static result<spsc> try_open(std::string_view name, const spsc_options& options = {}) noexcept
    {
        return impl::open_ring<spsc>(&::shmring_spsc_open, native_options(options, false), name,
                                     "spsc open");
    }

    /// Creates or opens from the C options as they are (`name` and every
    /// field, flags included).
    static result<spsc> try_open(const ::shmring_spsc_options& options) noexcept
    {
        ::shmring_spsc* out = nullptr;
        const int rc = ::shmring_spsc_open(&options, &out);
        if (rc != SHMRING_OK) {
            return error::from_last(rc, "spsc open");
        }
        return spsc(out);
    }

    /// Takes the producer role (`errc::busy` if a live process holds it).
    /// Throws on failure.
    producer open_producer() const { return try_open_producer().value(); }

    /// Takes the consumer role. Throws on failure.
    consumer open_consumer() const { return try_open_consumer().value(); }

    /// `open_producer`, not throwing.
    result<producer> try_open_producer() const noexcept
    {
        return impl::open_endpoint<producer, ::shmring_producer>(
            [this](::shmring_producer** out) { return ::shmring_producer_open(h_.get(), out); },
            "open producer");
    }

    /// `open_consumer`, not throwing.
    result<consumer> try_open_consumer() const noexcept
    {
        return impl::open_endpoint<consumer, ::shmring_consumer>(
            [this](::shmring_consumer** out) { return ::shmring_consumer_open(h_.get(), out); },
            "open consumer");
    }

    /// Geometry and fill level (reads /proc: not for hot loops). Throws on
    /// failure.
    spsc_stats stat() const { return try_stat().value(); }

    /// `stat`, not throwing.
    result<spsc_stats> try_stat() const noexcept
    {
        return impl::stat_ring(&::shmring_spsc_stat, h_.get());
    }

    /// Whether a ring handle is held.
    explicit operator bool() const noexcept { return h_.get() != nullptr; }

    /// The C handle, still owned by this object.
    ::shmring_spsc* native_handle() const noexcept { return h_.get(); }

    /// Gives up ownership of the C handle and returns it.
    [[nodiscard]] ::shmring_spsc* release() noexcept { return h_.release(); }

    /// Closes the ring handle now (endpoints stay open); throws on failure.
    void close() { try_close().value(); }

    /// Closes the ring handle now.
    result<void> try_close() noexcept { return h_.close("spsc close"); }

private:
    static ::shmring_spsc_options native_options(const spsc_options& o, bool create) noexcept
    {
        ::shmring_spsc_options c{};
        c.client = impl::native_client(o.broker);
        c.flags = impl::flags(create, o.ephemeral, static_cast<std::uint32_t>(o.wait));
        c.mode = o.mode;
        c.capacity = o.capacity;
        c.max_message = o.max_message;
        return c;
    }

    impl::owner<::shmring_spsc, &::shmring_spsc_close> h_;
};

/// An open MPMC queue (`shmring_mpmc`): hands out senders and receivers
/// (up to 32 of each per queue) and reports stats. Same rules as `spsc`.
class mpmc {
public:
    /// No queue (calls fail with `errc::bad_handle`).
    mpmc() noexcept = default;

    /// Takes ownership of a C handle.
    explicit mpmc(::shmring_mpmc* native) noexcept : h_(native) {}

    /// Creates the queue `name`. Throws on failure.
    static mpmc create(std::string_view name, const mpmc_options& options = {})
    {
        return try_create(name, options).value();
    }

    /// Opens the existing queue `name`. Throws on failure.
    static mpmc open(std::string_view name, const mpmc_options& options = {})
    {
        return try_open(name, options).value();
    }

    /// `create`, not throwing.
    static result<mpmc> try_create(std::string_view name, const mpmc_options& options = {}) noexcept
    {
        return impl::open_ring<mpmc>(&::shmring_mpmc_open, native_options(options, true), name,
                                     "mpmc create");
    }

    /// `open`, not throwing.
    static result<mpmc> try_open(std::string_view name, const mpmc_options& options = {}) noexcept
    {
        return impl::open_ring<mpmc>(&::shmring_mpmc_open, native_options(options, false), name,
                                     "mpmc open");
    }

    /// Creates or opens from the C options as they are.
    static result<mpmc> try_open(const ::shmring_mpmc_options& options) noexcept
    {
        ::shmring_mpmc* out = nullptr;
        const int rc = ::shmring_mpmc_open(&options, &out);
        if (rc != SHMRING_OK) {
            return error::from_last(rc, "mpmc open");
        }
        return mpmc(out);
    }

    /// Opens a sender sending at `priority` (0 = lowest; clamped to the
    /// highest level). Throws on failure (`errc::limit`: 32 senders).
    sender open_sender(std::uint32_t priority = 0) const
    {
        return try_open_sender(priority).value();
    }

    /// Opens a receiver. Throws on failure.
    receiver open_receiver() const { return try_open_receiver().value(); }

    /// `open_sender`, not throwing.
    result<sender> try_open_sender(std::uint32_t priority = 0) const noexcept
    {
        return impl::open_endpoint<sender, ::shmring_sender>(
            [this, priority](::shmring_sender** out) {
                return ::shmring_sender_open(h_.get(), priority, out);
            },
            "open sender");
    }

    /// `open_receiver`, not throwing.
    result<receiver> try_open_receiver() const noexcept
    {
        return impl::open_endpoint<receiver, ::shmring_receiver>(
            [this](::shmring_receiver** out) { return ::shmring_receiver_open(h_.get(), out); },
            "open receiver");
    }

    /// Geometry, fill level, live endpoints, crash-recovery counters.
    /// Throws on failure.
    mpmc_stats stat() const { return try_stat().value(); }

    /// `stat`, not throwing.
    result<mpmc_stats> try_stat() const noexcept
    {
        return impl::stat_ring(&::shmring_mpmc_stat, h_.get());
    }

    /// Whether a queue handle is held.
    explicit operator bool() const noexcept { return h_.get() != nullptr; }

    /// The C handle, still owned by this object.
    ::shmring_mpmc* native_handle() const noexcept { return h_.get(); }

    /// Gives up ownership of the C handle and returns it.
    [[nodiscard]] ::shmring_mpmc* release() noexcept { return h_.release(); }

    /// Closes the queue handle now (endpoints stay open); throws on
    /// failure.
    void close() { try_close().value(); }

    /// Closes the queue handle now.
    result<void> try_close() noexcept { return h_.close("mpmc close"); }

private:
    static ::shmring_mpmc_options native_options(const mpmc_options& o, bool create) noexcept
    {
        ::shmring_mpmc_options c{};
        c.client = impl::native_client(o.broker);
        c.flags = impl::flags(create, o.ephemeral, static_cast<std::uint32_t>(o.wait));
        c.mode = o.mode;
        c.slots = o.slots;
        c.slot_size = o.slot_size;
        c.priorities = o.priorities;
        return c;
    }

    impl::owner<::shmring_mpmc, &::shmring_mpmc_close> h_;
};

/// An open publish/subscribe ring (`shmring_pubsub`): hands out its one
/// publisher and up to `subscribers` subscribers and reports stats. Same
/// rules as `spsc`.
class pubsub {
public:
    /// No ring (calls fail with `errc::bad_handle`).
    pubsub() noexcept = default;

    /// Takes ownership of a C handle.
    explicit pubsub(::shmring_pubsub* native) noexcept : h_(native) {}

    /// Creates the ring `name`. Throws on failure.
    static pubsub create(std::string_view name, const pubsub_options& options = {})
    {
        return try_create(name, options).value();
    }

    /// Opens the existing ring `name`. Throws on failure.
    static pubsub open(std::string_view name, const pubsub_options& options = {})
    {
        return try_open(name, options).value();
    }

    /// `create`, not throwing.
    static result<pubsub> try_create(std::string_view name,
                                     const pubsub_options& options = {}) noexcept
    {
        return impl::open_ring<pubsub>(&::shmring_pubsub_open, native_options(options, true), name,
                                       "pubsub create");
    }

    /// `open`, not throwing.
    static result<pubsub> try_open(std::string_view name,
                                   const pubsub_options& options = {}) noexcept
    {
        return impl::open_ring<pubsub>(&::shmring_pubsub_open, native_options(options, false),
                                       name, "pubsub open");
    }

    /// Creates or opens from the C options as they are.
    static result<pubsub> try_open(const ::shmring_pubsub_options& options) noexcept
    {
        ::shmring_pubsub* out = nullptr;
        const int rc = ::shmring_pubsub_open(&options, &out);
        if (rc != SHMRING_OK) {
            return error::from_last(rc, "pubsub open");
        }
        return pubsub(out);
    }

    /// Takes the publisher role (`errc::busy` if a live process holds
    /// it). Throws on failure.
    publisher open_publisher() const { return try_open_publisher().value(); }

    /// Joins as a subscriber starting at `at`. Throws on failure
    /// (`errc::limit`: every subscriber entry is taken).
    subscriber open_subscriber(join at = join::next) const
    {
        return try_open_subscriber(at).value();
    }

    /// `open_publisher`, not throwing.
    result<publisher> try_open_publisher() const noexcept
    {
        return impl::open_endpoint<publisher, ::shmring_publisher>(
            [this](::shmring_publisher** out) { return ::shmring_publisher_open(h_.get(), out); },
            "open publisher");
    }

    /// `open_subscriber`, not throwing.
    result<subscriber> try_open_subscriber(join at = join::next) const noexcept
    {
        return impl::open_endpoint<subscriber, ::shmring_subscriber>(
            [this, at](::shmring_subscriber** out) {
                return ::shmring_subscriber_open(h_.get(), static_cast<std::uint32_t>(at), out);
            },
            "open subscriber");
    }

    /// Geometry, messages published, the slowest subscriber's lag, who is
    /// attached (takes a lock probe: not for hot loops). Throws on
    /// failure.
    pubsub_stats stat() const { return try_stat().value(); }

    /// `stat`, not throwing.
    result<pubsub_stats> try_stat() const noexcept
    {
        return impl::stat_ring(&::shmring_pubsub_stat, h_.get());
    }

    /// Whether a ring handle is held.
    explicit operator bool() const noexcept { return h_.get() != nullptr; }

    /// The C handle, still owned by this object.
    ::shmring_pubsub* native_handle() const noexcept { return h_.get(); }

    /// Gives up ownership of the C handle and returns it.
    [[nodiscard]] ::shmring_pubsub* release() noexcept { return h_.release(); }

    /// Closes the ring handle now (endpoints stay open); throws on
    /// failure.
    void close() { try_close().value(); }

    /// Closes the ring handle now.
    result<void> try_close() noexcept { return h_.close("pubsub close"); }

private:
    static ::shmring_pubsub_options native_options(const pubsub_options& o, bool create) noexcept
    {
        ::shmring_pubsub_options c{};
        c.client = impl::native_client(o.broker);
        c.flags = impl::flags(create, o.ephemeral, static_cast<std::uint32_t>(o.wait));
        c.mode = o.mode;
        c.slots = o.slots;
        c.slot_size = o.slot_size;
        c.subscribers = o.subscribers;
        c.delivery = static_cast<std::uint32_t>(o.delivery);
        return c;
    }

    impl::owner<::shmring_pubsub, &::shmring_pubsub_close> h_;
};

// ---------------------------------------------------------------------
// Free functions
// ---------------------------------------------------------------------

/// Removes the named segment `name` from /dev/shm (direct mode; through
/// the broker use `client::unlink`). Processes that mapped it keep using
/// it. Throws on failure (`errc::not_found`, `errc::permission`, ...).
inline void unlink(std::string_view name);

/// `unlink`, not throwing.
inline result<void> try_unlink(std::string_view name) noexcept
{
    const impl::c_name n(name);
    if (!n.ok()) {
        return error(errc::bad_name, "unlink");
    }
    return impl::check(::shmring_unlink(n.get()), "unlink");
}

inline void unlink(std::string_view name) { try_unlink(name).value(); }

} // namespace shmring

#endif // SHMRING_HPP
