# Installs shmring: the command-line tools, and the C libraries.
#
#   sudo make install        shmring, shmringd, their man pages, shell
#                            completions and systemd units
#   sudo make install-c      libshmring (.so, .a, shmring.h, shmring.pc),
#                            libshmring-mq (.so, shmring-mq.h, shmring-mq.pc)
#                            and the CMake package (find_package(shmring))
#   sudo make uninstall      removes what `install` put there
#   sudo make uninstall-c    removes what `install-c` put there
#   make                     builds and stages both without installing:
#                            then `sudo make install` / `install-c` only
#                            copy (for a sudo whose PATH has no cargo)
#
# PREFIX (default /usr/local) and DESTDIR (a staging root for packagers)
# as usual; the directories below can be set one by one. Each install
# keeps a manifest of the files and directories it made
# (DATADIR/shmring/*.manifest), which its uninstall removes, nothing else.
# The C library is built and laid out by cargo-c (`cargo cinstall`, see
# docs/c-api.md); cargo comes from PATH, CARGO_TARGET_DIR is honoured.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
CMAKEDIR ?= $(LIBDIR)/cmake/shmring

CARGO ?= cargo
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
STAGE := $(TARGET_DIR)/install-stage
MANIFEST := $(DATADIR)/shmring/install.manifest
MANIFEST_C := $(DATADIR)/shmring/install-c.manifest
INSTALL_TREE := $(CURDIR)/packaging/install-tree.sh

export CARGO_TARGET_DIR := $(TARGET_DIR)

# What a staged tree was made for: installing it elsewhere needs a new one.
DIRS_BIN := $(BINDIR) $(MANDIR) $(BASHCOMPDIR) $(ZSHCOMPDIR) $(FISHCOMPDIR) $(SYSTEMDUNITDIR)
DIRS_C := $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(CMAKEDIR)
HAVE_CARGO := $(shell command -v $(CARGO) 2>/dev/null)

.PHONY: all stage-bin stage-c install install-c uninstall uninstall-c

all: stage-bin stage-c

# The binaries, with what is generated from their command lines
# (packaging/dist) and the systemd units (packaging/systemd). The service's
# ExecStart names $(BINDIR)/shmringd instead of /usr/bin/shmringd.
stage-bin:
	@test -f packaging/systemd/shmringd.service && test -f packaging/systemd/shmringd.socket \
	    || { echo "packaging/systemd/shmringd.{service,socket} missing" >&2; exit 1; }
	$(CARGO) build --release -p shmring-broker --bin shmring --bin shmringd -p shmring-dist
	rm -rf $(STAGE)/bin $(STAGE)/bin.dirs $(STAGE)/gen
	$(CARGO) run --release -p shmring-dist -- man $(STAGE)/gen/man
	$(CARGO) run --release -p shmring-dist -- completions $(STAGE)/gen/completions
	mkdir -p $(STAGE)/bin$(BINDIR) $(STAGE)/bin$(MANDIR)/man1 \
	    $(STAGE)/bin$(BASHCOMPDIR) $(STAGE)/bin$(ZSHCOMPDIR) $(STAGE)/bin$(FISHCOMPDIR) \
	    $(STAGE)/bin$(SYSTEMDUNITDIR)
	cp $(TARGET_DIR)/release/shmring $(TARGET_DIR)/release/shmringd $(STAGE)/bin$(BINDIR)/
	cp $(STAGE)/gen/man/*.1 $(STAGE)/bin$(MANDIR)/man1/
	cp $(STAGE)/gen/completions/bash/* $(STAGE)/bin$(BASHCOMPDIR)/
	cp $(STAGE)/gen/completions/zsh/* $(STAGE)/bin$(ZSHCOMPDIR)/
	cp $(STAGE)/gen/completions/fish/* $(STAGE)/bin$(FISHCOMPDIR)/
	sed 's|^\(ExecStart=[-@:+!]*\)/usr/bin/shmringd|\1$(BINDIR)/shmringd|' \
	    packaging/systemd/shmringd.service >$(STAGE)/bin$(SYSTEMDUNITDIR)/shmringd.service
	cp packaging/systemd/shmringd.socket $(STAGE)/bin$(SYSTEMDUNITDIR)/
	echo '$(DIRS_BIN)' >$(STAGE)/bin.dirs

# Builds (when cargo is there), then copies the staged tree.
install:
ifneq ($(HAVE_CARGO),)
	$(MAKE) --no-print-directory stage-bin
endif
	@test "$$(cat $(STAGE)/bin.dirs 2>/dev/null)" = '$(DIRS_BIN)' \
	    || { echo "no $(CARGO) in PATH and nothing staged for these directories: run make first" >&2; exit 1; }
	$(INSTALL_TREE) install $(STAGE)/bin "$(DESTDIR)" $(MANIFEST)

# libshmring and libshmring-mq through cargo-c (SONAME, versioned names,
# shmring.pc and shmring-mq.pc without an rpath, the headers), then the
# CMake package, its paths and versions taken from what cargo-c made.
# libshmring-mq is shared only: a program links at most one Rust static
# library (libshmring.a).
stage-c:
	rm -rf $(STAGE)/c $(STAGE)/c.dirs
	$(CARGO) cinstall --release -p shmring-c --destdir=$(STAGE)/c \
	    --prefix=$(PREFIX) --libdir=$(LIBDIR) --includedir=$(INCLUDEDIR)
	$(CARGO) cinstall --release -p shmring-mq --library-type cdylib --destdir=$(STAGE)/c \
	    --prefix=$(PREFIX) --libdir=$(LIBDIR) --includedir=$(INCLUDEDIR)
	mkdir -p $(STAGE)/c$(CMAKEDIR)
	set -e; \
	pc=$(STAGE)/c$(LIBDIR)/pkgconfig/shmring.pc; \
	version=$$(sed -n 's/^Version: *//p' $$pc); \
	sover=$$(readelf -d $(STAGE)/c$(LIBDIR)/libshmring.so \
	    | sed -n 's/.*(SONAME).*\[libshmring\.so\.\(.*\)\]/\1/p'); \
	static=$$(sed -n 's/^Libs.private: *//p' $$pc | tr -s ' ' ';'); \
	include=$$(realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR)); \
	test -n "$$version" && test -n "$$sover" || { echo "no version or SONAME in the staged library" >&2; exit 1; }; \
	sed -e "s|@INCLUDEDIR_FROM_CONFIG@|$$include|" -e "s|@SOVER@|$$sover|g" -e "s|@STATIC_LIBS@|$$static|" \
	    packaging/cmake/shmringConfig.cmake.in >$(STAGE)/c$(CMAKEDIR)/shmringConfig.cmake; \
	sed -e "s|@VERSION@|$$version|" \
	    packaging/cmake/shmringConfigVersion.cmake.in >$(STAGE)/c$(CMAKEDIR)/shmringConfigVersion.cmake
	echo '$(DIRS_C)' >$(STAGE)/c.dirs

install-c:
ifneq ($(HAVE_CARGO),)
	$(MAKE) --no-print-directory stage-c
endif
	@test "$$(cat $(STAGE)/c.dirs 2>/dev/null)" = '$(DIRS_C)' \
	    || { echo "no $(CARGO) in PATH and nothing staged for these directories: run make first" >&2; exit 1; }
	$(INSTALL_TREE) install $(STAGE)/c "$(DESTDIR)" $(MANIFEST_C)
	@echo "libraries in $(DESTDIR)$(LIBDIR); run ldconfig if that is a system directory"

uninstall:
	$(INSTALL_TREE) uninstall "$(DESTDIR)" $(MANIFEST)

uninstall-c:
	$(INSTALL_TREE) uninstall "$(DESTDIR)" $(MANIFEST_C)
