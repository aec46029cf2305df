#!/bin/sh
# Copies a staged install tree into place and keeps a manifest of what it
# put there, so that the uninstall removes exactly that (the Makefile's
# install/uninstall targets use it; see docs/c-api.md and README.md).
#
#   install-tree.sh install STAGE DESTDIR MANIFEST
#   install-tree.sh uninstall DESTDIR MANIFEST
#
# STAGE holds the files under their final absolute paths
# (STAGE/usr/local/bin/shmring, ...). Each file or symbolic link goes to
# DESTDIR + its path; directories are made as needed. MANIFEST is the
# manifest's own final path (DESTDIR is prepended); it lists one entry a
# line, "f PATH" for a file or link and "d PATH" for a directory the
# install made, and lists itself. Installing again keeps the entries of
# the earlier manifest that still exist (an older version's files), so
# one uninstall removes everything. Uninstalling removes the files and the
# manifest, then the directories the install made if they are empty (one
# that is not goes to the other manifests beside this one).
set -eu

usage() {
    echo "usage: $0 install STAGE DESTDIR MANIFEST | uninstall DESTDIR MANIFEST" >&2
    exit 2
}

[ $# -ge 1 ] || usage
mode=$1
shift

case $mode in
install)
    [ $# -eq 3 ] || usage
    stage=$1 destdir=$2 manifest=$3
    [ -d "$stage" ] || { echo "$0: no staged tree at $stage" >&2; exit 1; }
    new=$(mktemp)
    trap 'rm -f "$new"' EXIT
    # Earlier entries that are still there.
    if [ -f "$destdir$manifest" ]; then
        while read -r kind path; do
            if [ -e "$destdir$path" ] || [ -L "$destdir$path" ]; then
                printf '%s %s\n' "$kind" "$path" >>"$new"
            fi
        done <"$destdir$manifest"
    fi
    # Makes the directory DESTDIR$1 and its missing parents, recording
    # the ones made.
    makedir() {
        [ -d "$destdir$1" ] && return 0
        makedir "$(dirname "$1")"
        mkdir -m 0755 "$destdir$1"
        printf 'd %s\n' "$1" >>"$new"
    }
    makedir "$(dirname "$manifest")"
    # Files and links, in a stable order.
    (cd "$stage" && find . \( -type f -o -type l \) | sort) | while read -r entry; do
        path=${entry#.}
        makedir "$(dirname "$path")"
        if [ -L "$stage$path" ]; then
            ln -sfn "$(readlink "$stage$path")" "$destdir$path"
        else
            # Executables 0755, everything else 0644, whatever the umask.
            if [ -x "$stage$path" ]; then perm=0755; else perm=0644; fi
            # Through a temporary name: a running program keeps the old file.
            install -m "$perm" "$stage$path" "$destdir$path.new.$$"
            mv -f "$destdir$path.new.$$" "$destdir$path"
        fi
        printf 'f %s\n' "$path" >>"$new"
        echo "installed $destdir$path"
    done
    printf 'f %s\n' "$manifest" >>"$new"
    sort -u "$new" >"$destdir$manifest"
    chmod 0644 "$destdir$manifest"
    echo "manifest $destdir$manifest"
    ;;
uninstall)
    [ $# -eq 2 ] || usage
    destdir=$1 manifest=$2
    if [ ! -f "$destdir$manifest" ]; then
        echo "$0: nothing to uninstall: no $destdir$manifest"
        exit 0
    fi
    # Files first (the manifest last), then directories, deepest first.
    grep '^f ' "$destdir$manifest" | cut -c3- | grep -vxF "$manifest" | while read -r path; do
        rm -f "$destdir$path"
        echo "removed $destdir$path"
    done
    dirs=$(mktemp)
    trap 'rm -f "$dirs"' EXIT
    grep '^d ' "$destdir$manifest" | cut -c3- | sort -r >"$dirs" || true
    rm -f "$destdir$manifest"
    echo "removed $destdir$manifest"
    # A directory still holding files of the other install (install and
    # install-c share a prefix) is handed over to that install's manifest,
    # which removes it in turn.
    while read -r path; do
        if rmdir "$destdir$path" 2>/dev/null; then
            echo "removed $destdir$path/"
        elif [ -d "$destdir$path" ]; then
            for other in "$destdir$(dirname "$manifest")"/*.manifest; do
                [ -f "$other" ] || continue
                grep -qxF "d $path" "$other" || printf 'd %s\n' "$path" >>"$other"
            done
        fi
    done <"$dirs"
    ;;
*)
    usage
    ;;
esac
