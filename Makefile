# mailferry: see README.md. `make`, `make check`, `make demo`.

VERSION    = 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
PLUGINDIR ?= $(LIBDIR)/mailferry
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INCLUDEDIR?= $(PREFIX)/include
DATADIR   ?= $(PREFIX)/share/mailferry
EXAMPLESDIR ?= $(DATADIR)/examples
MANDIR    ?= $(PREFIX)/share/man
SYSTEMDUSERDIR ?= $(PREFIX)/lib/systemd/user
SYSTEMDSYSTEMDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
UNITS      = mailferry.service mailferry-oneshot.service mailferry.timer
SYSTEM_UNITS = mailferry@.service
DESTDIR   ?=

CC        ?= cc
CFLAGS    ?= -O2 -g
# As distributions build it: ignored results of write() and the like are
# errors here too, not only in the package build.
CPPFLAGS  ?= -D_FORTIFY_SOURCE=2
PYTHON    ?= /usr/bin/python3
PKGS       = openssl libconfig libpcre2-8

# SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer, in a build
# directory of its own so the two builds never mix objects.
ifeq ($(SANITIZE),1)
BUILD     ?= build-sanitize
SANFLAGS   = -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
# ASan's shadow memory: the strict memory bounds are the plain build's.
export MAILFERRY_TEST_RSS_LIMIT_MB = 64
# A leak inside libconfig itself (tests/sanitizer/lsan.supp says which).
export LSAN_OPTIONS = suppressions=$(abspath tests/sanitizer/lsan.supp):print_suppressions=0
else
BUILD     ?= build
SANFLAGS   =
endif

WARNINGS   = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
             -Wstrict-prototypes -Wpointer-arith -Wno-format-nonliteral
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) \
             $(PKG_CFLAGS) -D_GNU_SOURCE -Icore -Iplugins -MMD -MP \
             -DMAILFERRY_VERSION='"$(VERSION)"' \
             -DPLUGIN_DIR='"$(PLUGINDIR)"' \
             -DEXAMPLES_DIR='"$(EXAMPLESDIR)"'
ALL_LDFLAGS= $(LDFLAGS) $(SANFLAGS)
LDLIBS     = $(PKG_LIBS) -ldl -pthread

CORE_SRCS  = $(wildcard core/*.c)
CORE_OBJS  = $(patsubst core/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
LIB_OBJS   = $(filter-out $(BUILD)/core/main.o,$(CORE_OBJS))

PLUGIN_SRCS= $(wildcard plugins/*.c)
PLUGINS    = $(patsubst plugins/%.c,$(BUILD)/plugins/%.so,$(PLUGIN_SRCS))
# Plugins see only the public header, as a plugin built elsewhere would.
PLUGIN_CFLAGS = -std=c11 $(WARNINGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) \
             -D_GNU_SOURCE -fPIC -Iplugins -MMD -MP
PLUGIN_LIBS_dedup = -lcrypto

FUZZERS    = pop3 header encoders imap uidstore dedup dotlock config smtp \
             sasl fetchmailrc mpoprc listing command
FUZZ_CC   ?= clang
FUZZ_SECONDS ?= 60
REPLAYS    = $(patsubst %,$(BUILD)/tests/replay-%,$(FUZZERS))

UNIT_SRCS  = $(wildcard tests/unit/test-*.c)
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# Drives the IMAP layer against a real server for the integration tests.
IMAP_PROBE = $(BUILD)/tests/imap-probe

# Quiet by default; V=1 shows the commands.
ifneq ($(V),1)
Q = @
quiet = @printf '  %-6s %s\n' $(1) $(2);
endif

.PHONY: all check unit integration demo deps clean install uninstall fuzz \
	valgrind crashtest bench deps-bench deb coverage
all: $(BUILD)/mailferry $(PLUGINS) $(BUILD)/mailferry-plugin.pc

$(BUILD)/core/%.o: core/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libmailferry.a: $(LIB_OBJS)
	$(Q)rm -f $@
	$(call quiet,AR,$@)ar rcs $@ $^

$(BUILD)/mailferry: $(BUILD)/core/main.o $(BUILD)/libmailferry.a
	$(call quiet,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/plugins/%.so: plugins/%.c plugins/mailferry/plugin.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(PLUGIN_CFLAGS) $(ALL_LDFLAGS) -shared \
	    -o $@ $< $(PLUGIN_LIBS_$*)

# The paths and version compiled in: anything using them is rebuilt when
# they change (make, then make install PREFIX=/opt/x).
PATHS_NOW = $(VERSION) $(PREFIX) $(BINDIR) $(PLUGINDIR) $(INCLUDEDIR) \
            $(DATADIR) $(EXAMPLESDIR) $(SYSTEMDUSERDIR) $(SYSTEMDSYSTEMDIR)
$(BUILD)/paths.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PATHS_NOW)' | cmp -s - $@ || echo '$(PATHS_NOW)' > $@
$(BUILD)/core/config.o $(BUILD)/core/main.o $(BUILD)/core/received.o \
    $(BUILD)/core/version.o: $(BUILD)/paths.stamp
.PHONY: FORCE
FORCE:

$(BUILD)/mailferry-plugin.pc: plugins/mailferry-plugin.pc.in Makefile \
    $(BUILD)/paths.stamp
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@PLUGINDIR@|$(PLUGINDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    $< > $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmailferry.a
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libmailferry.a \
	    $(LDLIBS) -lcmocka

$(IMAP_PROBE): tests/unit/imap-probe.c $(BUILD)/libmailferry.a
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    $(BUILD)/libmailferry.a $(LDLIBS)

# A fuzz harness replayed over its corpus and past crashes, with the
# normal compiler: part of `make check`.
$(BUILD)/tests/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c \
    $(BUILD)/libmailferry.a
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    tests/fuzz/replay.c $(BUILD)/libmailferry.a $(LDLIBS)

# libFuzzer with clang: each harness for FUZZ_SECONDS, new inputs kept in
# build-fuzz/corpus; add crashers to tests/fuzz/regress/NAME/ once fixed.
fuzz:
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	    CFLAGS="-g -O1" \
	    SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	    build-fuzz/libmailferry.a
	@set -e; for f in $(FUZZERS); do \
	    $(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	        -D_GNU_SOURCE -Icore -Iplugins -o build-fuzz/fuzz-$$f \
	        tests/fuzz/fuzz-$$f.c build-fuzz/libmailferry.a $(LDLIBS); \
	    mkdir -p build-fuzz/corpus/$$f tests/fuzz/regress/$$f; \
	    echo "fuzzing $$f for $(FUZZ_SECONDS) s"; \
	    rc=0; build-fuzz/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) \
	        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/crash-$$f- \
	        build-fuzz/corpus/$$f tests/fuzz/corpus/$$f \
	        tests/fuzz/regress/$$f >build-fuzz/fuzz-$$f.log 2>&1 || rc=$$?; \
	    grep -E "^(#|stat::|==|SUMMARY|Done)" build-fuzz/fuzz-$$f.log | tail -8; \
	    if [ $$rc -ne 0 ]; then tail -60 build-fuzz/fuzz-$$f.log; \
	        echo "fuzz-$$f found a crash (exit $$rc): build-fuzz/crash-$$f-*"; \
	        exit 1; fi; \
	done

# Installs what is missing (as root, with apt-get), then checks it is there.
deps:
	@sh tests/deps.sh check

unit: all $(UNIT_BINS) $(REPLAYS)
	@set -e; for t in $(UNIT_BINS); do $$t; done
	@set -e; for f in $(FUZZERS); do \
	    $(BUILD)/tests/replay-$$f $$(find tests/fuzz/corpus/$$f \
	        tests/fuzz/regress/$$f -type f 2>/dev/null); done

integration: all $(IMAP_PROBE)
	cd tests/integration && MAILFERRY_BIN=$(abspath $(BUILD)/mailferry) \
	    IMAP_PROBE_BIN=$(abspath $(IMAP_PROBE)) $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The integration tests with mailferry under valgrind (slow: a subset by
# default; VALGRIND_TESTS="..." picks others).
VALGRIND_TESTS ?= test_fetch.py test_rules.py test_plugins.py test_deliver.py
valgrind: all
	@mkdir -p $(BUILD)/valgrind
	@ln -sf $(abspath tests/valgrind.sh) $(BUILD)/valgrind/mailferry
	@ln -sfn $(abspath $(BUILD)/plugins) $(BUILD)/valgrind/plugins
	cd tests/integration && \
	    MAILFERRY_BIN=$(abspath $(BUILD)/valgrind/mailferry) \
	    MAILFERRY_REAL_BIN=$(abspath $(BUILD)/mailferry) \
	    MAILFERRY_NO_JIT=1 $(PYTHON) -m pytest -q -p no:cacheprovider $(VALGRIND_TESTS)

# Line coverage of core/ by `make unit` and the integration tests, from
# a build instrumented for gcov in build-coverage/ (not part of `make
# check`). The table is also written to build-coverage/coverage.txt.
COVERAGE_MAKE = $(MAKE) --no-print-directory BUILD=build-coverage \
	CFLAGS="-O0 -g --coverage -DMF_COVERAGE" CPPFLAGS= \
	LDFLAGS="--coverage"
coverage: deps
	@mkdir -p build-coverage
	@find build-coverage -name '*.gcda' -delete
	@$(COVERAGE_MAKE) unit
	@status=0; $(COVERAGE_MAKE) integration || status=$$?; \
	    gcovr --root . --filter 'core/' --object-directory build-coverage \
	        --gcov-ignore-parse-errors -j 2 --sort-percentage \
	        --txt build-coverage/coverage.txt build-coverage && \
	    cat build-coverage/coverage.txt && exit $$status

# The crash-safety test with many more kill points than make check's 50.
CRASH_KILLS ?= 300
crashtest: all
	cd tests/integration && MAILFERRY_CRASH_KILLS=$(CRASH_KILLS) \
	    MAILFERRY_CRASH_COMMIT_KILLS=$(CRASH_KILLS) \
	    MAILFERRY_BIN=$(abspath $(BUILD)/mailferry) \
	    $(PYTHON) -m pytest -q -s -p no:cacheprovider test_crash.py

# mailferry against mpop, fdm, fetchmail and getmail on one mailbox (as
# root; BENCH_ARGS=--quick for a five-minute version). Not a test.
deps-bench:
	@sh tests/deps.sh bench
bench: deps-bench all
	$(PYTHON) bench/run.py --mailferry $(BUILD)/mailferry $(BENCH_ARGS)

check: deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

demo: deps
	@$(MAKE) --no-print-directory all
	@MAILFERRY_BIN=$(abspath $(BUILD)/mailferry) $(PYTHON) tests/demo.py

# Installed files name the directories they are installed in. Their
# sources say /usr/local (the default PREFIX), except the example
# configuration, which names the source tree's plugins and rules relative
# to itself so that it also works where it stands.
FIXPATHS = sed -e 's|/usr/local/lib/mailferry|$(PLUGINDIR)|g' \
	-e 's|/usr/local/share/mailferry/examples|$(EXAMPLESDIR)|g' \
	-e 's|/usr/local/share/mailferry|$(DATADIR)|g' \
	-e 's|/usr/local/lib/systemd/user|$(SYSTEMDUSERDIR)|g' \
	-e 's|/usr/local/lib/systemd/system|$(SYSTEMDSYSTEMDIR)|g' \
	-e 's|/usr/local/bin|$(BINDIR)|g' \
	-e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|^plugin_dir = "\.\./build/plugins";|plugin_dir = "$(PLUGINDIR)";|' \
	-e 's|@include "\.\./rules/|@include "$(DATADIR)/rules/|g'
MANPAGES   = man/mailferry.1 man/mailferry-plugin.3 man/mailferry.conf.5
RULES      = $(wildcard rules/*.rules)
FIXED      = $(patsubst %,$(BUILD)/fixed/%,$(MANPAGES) $(RULES) \
             etc/mailferry.conf $(addprefix etc/,$(UNITS) $(SYSTEM_UNITS)))

$(BUILD)/fixed/%: % Makefile $(BUILD)/paths.stamp
	@mkdir -p $(dir $@)
	$(Q)$(FIXPATHS) $< > $@

install: all $(FIXED)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/mailferry $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(DATADIR)/rules $(DESTDIR)$(EXAMPLESDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSTEMDUSERDIR) \
	    $(DESTDIR)$(SYSTEMDSYSTEMDIR) $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(BUILD)/mailferry $(DESTDIR)$(BINDIR)/mailferry
	install -m 755 $(PLUGINS) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 plugins/mailferry/plugin.h \
	    $(DESTDIR)$(INCLUDEDIR)/mailferry/plugin.h
	install -m 644 $(BUILD)/mailferry-plugin.pc \
	    $(DESTDIR)$(PKGCONFIGDIR)/mailferry-plugin.pc
	install -m 644 $(patsubst %,$(BUILD)/fixed/%,$(RULES)) \
	    $(DESTDIR)$(DATADIR)/rules/
	install -m 644 $(BUILD)/fixed/etc/mailferry.conf $(DESTDIR)$(EXAMPLESDIR)/
	install -m 644 $(patsubst %,$(BUILD)/fixed/etc/%,$(UNITS)) \
	    $(DESTDIR)$(SYSTEMDUSERDIR)/
	install -m 644 $(patsubst %,$(BUILD)/fixed/etc/%,$(SYSTEM_UNITS)) \
	    $(DESTDIR)$(SYSTEMDSYSTEMDIR)/
	install -m 644 $(BUILD)/fixed/man/mailferry.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(BUILD)/fixed/man/mailferry-plugin.3 \
	    $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(BUILD)/fixed/man/mailferry.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/
	install -m 644 completion/mailferry.bash \
	    $(DESTDIR)$(BASHCOMPDIR)/mailferry
	install -m 644 completion/_mailferry $(DESTDIR)$(ZSHCOMPDIR)/_mailferry

# Removes what install put there, and the directories that only it uses
# once they are empty.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mailferry \
	    $(patsubst $(BUILD)/plugins/%,$(DESTDIR)$(PLUGINDIR)/%,$(PLUGINS)) \
	    $(DESTDIR)$(INCLUDEDIR)/mailferry/plugin.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/mailferry-plugin.pc \
	    $(patsubst %,$(DESTDIR)$(DATADIR)/%,$(RULES)) \
	    $(DESTDIR)$(EXAMPLESDIR)/mailferry.conf \
	    $(DESTDIR)$(MANDIR)/man1/mailferry.1 \
	    $(DESTDIR)$(MANDIR)/man3/mailferry-plugin.3 \
	    $(DESTDIR)$(MANDIR)/man5/mailferry.conf.5 \
	    $(patsubst %,$(DESTDIR)$(SYSTEMDUSERDIR)/%,$(UNITS)) \
	    $(patsubst %,$(DESTDIR)$(SYSTEMDSYSTEMDIR)/%,$(SYSTEM_UNITS)) \
	    $(DESTDIR)$(BASHCOMPDIR)/mailferry $(DESTDIR)$(ZSHCOMPDIR)/_mailferry
	@for d in $(DESTDIR)$(EXAMPLESDIR) $(DESTDIR)$(DATADIR)/rules \
	    $(DESTDIR)$(DATADIR) $(DESTDIR)$(PLUGINDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/mailferry; do \
	    if [ -d $$d ]; then rmdir $$d 2>/dev/null || \
	        echo "uninstall: $$d is not empty, left in place"; fi; done

# The Debian packages, into build/deb/. They are built from a copy of the
# tree: the package build starts with `make clean`, which would remove
# build/ and everything in it. Without this make's flags, debhelper
# builds in parallel.
DEBDIR     = build/deb
DEBSRC     = $(DEBDIR)/mailferry-$(VERSION)
deb:
	rm -rf $(DEBDIR)
	mkdir -p $(DEBSRC)
	tar -cf - --exclude=./build --exclude=./build-sanitize \
	    --exclude=./build-fuzz --exclude=./.git --exclude=__pycache__ \
	    --exclude=.pytest_cache . | tar -xf - -C $(DEBSRC)
	cd $(DEBSRC) && env -u MAKEFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b
	rm -rf $(DEBSRC)

clean:
	rm -rf build build-sanitize build-fuzz build-coverage

-include $(CORE_OBJS:.o=.d) $(PLUGINS:.so=.d) $(UNIT_BINS:=.d)
