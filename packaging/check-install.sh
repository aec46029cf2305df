#!/usr/bin/env bash
# Checks the install routes end to end, into scratch prefixes (CI runs it
# from .ci/run; it runs by hand the same way, from any directory):
#
#   packaging/check-install.sh          # the C library, then the binaries
#   packaging/check-install.sh c        # only the C library
#   packaging/check-install.sh bin      # only the binaries
#
# C library: `make install-c PREFIX=$tmp`; the installed libshmring.so and
# libshmring-mq.so have their versioned SONAMEs, shmring.pc and
# shmring-mq.pc carry no rpath; bindings/c/examples/cmake is built with
# CMake (find_package(shmring)) and once with pkg-config's flags, and both
# programs run (version check and a round trip through a ring); then
# `make uninstall-c PREFIX=$tmp` leaves no file behind.
# Binaries: `make install PREFIX=$tmp`; `shmring --version`, the man pages,
# completions and units are there, the service's ExecStart names the
# prefix; `make uninstall` leaves no file behind.
#
# Needs cargo-c (cargo cinstall), cmake, pkg-config, readelf, cc, man.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fail() {
    echo "check-install: $*" >&2
    exit 1
}

# No file or link is left under $1 (empty directories may stay only if
# the install did not make them: it makes and removes its own).
assert_empty() {
    local left
    left=$(find "$1" -mindepth 1 | head -n 20)
    [ -z "$left" ] || fail "left behind in $1:"$'\n'"$left"
}

check_c() {
    local prefix=$scratch/c
    mkdir -p "$prefix"
    echo "--- make install-c PREFIX=$prefix"
    make --no-print-directory install-c PREFIX="$prefix"

    local lib=$prefix/lib
    for name in libshmring libshmring-mq; do
        local soname
        soname=$(readelf -d "$lib/$name.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
        echo "$name.so: SONAME $soname"
        [[ $soname =~ ^$name\.so\.[0-9]+(\.[0-9]+)*$ ]] || fail "$name.so: SONAME '$soname' is not versioned"
        [ -L "$lib/$soname" ] && [ -e "$lib/$soname" ] || fail "$lib/$soname: no link to the library"
        [ "$(readlink -f "$lib/$name.so")" = "$(readlink -f "$lib/$soname")" ] \
            || fail "$name.so and $soname are different files"
        if readelf -d "$lib/$name.so" | grep -Eq '\((RPATH|RUNPATH)\)'; then
            fail "$name.so has an rpath"
        fi
    done
    [ -f "$lib/libshmring.a" ] || fail "no libshmring.a"
    [ -f "$prefix/include/shmring.h" ] && [ -f "$prefix/include/shmring-mq.h" ] || fail "headers missing"
    cmp bindings/c/include/shmring.h "$prefix/include/shmring.h" || fail "installed shmring.h differs"
    for pc in shmring shmring-mq; do
        [ -f "$lib/pkgconfig/$pc.pc" ] || fail "no $pc.pc"
        if grep -Eiq 'rpath|runpath' "$lib/pkgconfig/$pc.pc"; then
            fail "$pc.pc has an rpath:"$'\n'"$(cat "$lib/pkgconfig/$pc.pc")"
        fi
    done
    echo "pkg-config shmring $(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --modversion shmring):" \
        "$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags --libs shmring)"
    echo "pkg-config shmring-mq: $(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags --libs shmring-mq)"

    echo "--- CMake: find_package(shmring) with CMAKE_PREFIX_PATH=$prefix"
    local build=$scratch/cmake-build
    cmake -S bindings/c/examples/cmake -B "$build" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=Release >"$scratch/cmake.log" 2>&1 || { cat "$scratch/cmake.log"; fail "cmake configure"; }
    cmake --build "$build" >>"$scratch/cmake.log" 2>&1 || { cat "$scratch/cmake.log"; fail "cmake build"; }
    "$build/installed" || fail "the CMake-built program failed"
    # CMake's build tree rpath found the library; without it, the
    # system's search path would (LD_LIBRARY_PATH here).
    readelf -d "$build/installed" | grep -q "NEEDED.*\[libshmring\.so\.[0-9]" \
        || fail "the CMake-built program does not need the SONAME"

    echo "--- pkg-config: cc \$(pkg-config --cflags --libs shmring)"
    local flags
    flags=$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags --libs shmring)
    # shellcheck disable=SC2086 # the flags are words
    cc -Wall -Wextra -Werror bindings/c/examples/cmake/installed.c $flags -o "$scratch/installed-pc"
    if readelf -d "$scratch/installed-pc" | grep -Eq '\((RPATH|RUNPATH)\)'; then
        fail "pkg-config's flags gave the program an rpath"
    fi
    LD_LIBRARY_PATH=$lib "$scratch/installed-pc" || fail "the pkg-config-built program failed"

    echo "--- pkg-config, static: libshmring.a and Libs.private"
    local static_flags
    static_flags=$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --libs-only-l --static shmring | sed 's/-lshmring\b//')
    # shellcheck disable=SC2086
    cc bindings/c/examples/cmake/installed.c $(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags shmring) \
        "$lib/libshmring.a" $static_flags -o "$scratch/installed-static"
    "$scratch/installed-static" || fail "the statically linked program failed"

    echo "--- make uninstall-c PREFIX=$prefix"
    make --no-print-directory uninstall-c PREFIX="$prefix" >"$scratch/uninstall.log" \
        || { cat "$scratch/uninstall.log"; fail "make uninstall-c"; }
    assert_empty "$prefix"
    echo "C library: ok"
}

check_bin() {
    local prefix=$scratch/bin
    mkdir -p "$prefix"
    echo "--- make install PREFIX=$prefix"
    make --no-print-directory install PREFIX="$prefix"
    "$prefix/bin/shmring" --version || fail "shmring --version"
    "$prefix/bin/shmringd" --version || fail "shmringd --version"
    local page
    for page in shmring shmringd; do
        [ -f "$prefix/share/man/man1/$page.1" ] || fail "no man page $page.1"
        if command -v man >/dev/null 2>&1; then
            MANWIDTH=80 man -l "$prefix/share/man/man1/$page.1" 2>/dev/null | head -n 4 | grep -q . \
                || fail "man -l $page.1 renders nothing"
        fi
        [ -f "$prefix/share/bash-completion/completions/$page" ] || fail "no bash completion for $page"
        [ -f "$prefix/share/zsh/site-functions/_$page" ] || fail "no zsh completion for $page"
        [ -f "$prefix/share/fish/vendor_completions.d/$page.fish" ] || fail "no fish completion for $page"
    done
    local units=$prefix/lib/systemd/system
    [ -f "$units/shmringd.service" ] && [ -f "$units/shmringd.socket" ] || fail "systemd units missing"
    grep -q "^ExecStart=.*$prefix/bin/shmringd" "$units/shmringd.service" \
        || fail "shmringd.service does not start $prefix/bin/shmringd:"$'\n'"$(grep ExecStart "$units/shmringd.service")"
    echo "--- make uninstall PREFIX=$prefix"
    make --no-print-directory uninstall PREFIX="$prefix" >"$scratch/uninstall.log" \
        || { cat "$scratch/uninstall.log"; fail "make uninstall"; }
    assert_empty "$prefix"
    echo "binaries: ok"
}

case $what in
c) check_c ;;
bin) check_bin ;;
all)
    check_c
    check_bin
    ;;
*) fail "usage: $0 [c|bin|all]" ;;
esac
