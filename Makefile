# evfleet — one Makefile builds everything.
#   make                      programs into bin/, objects into build/
#   make test                 unit + integration tests (starts local Kafka + Redis if needed)
#   make WERROR=1             warnings are errors (CI)
#   make SANITIZE=address,undefined test   sanitizer build in build/san-*/ (programs there too)
#   make up|down|status       local Kafka + Redis (KAFKA_PORT=9092 REDIS_PORT=6379)
#   make deps                 Debian packages;  make demo;  make bench [QUICK=1];  make clean
#   make test-containers      the image, compose file and k8s manifests tested with real containers (podman)
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS=…]   libFuzzer targets (clang, ASan+UBSan)
#   make test-valgrind        worker/produce/dlq end to end under valgrind memcheck (plain build)
#   make test-fault           zero loss / zero duplicate effects under injected faults (own Kafka + Redis)

CC       ?= cc
PKGS     := rdkafka hiredis libprotobuf-c libmicrohttpd jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN     := -Wall -Wextra -Wstrict-prototypes -Wshadow -Wpointer-arith -Wformat=2 \
            -Wno-missing-field-initializers -Wno-format-truncation
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS = -std=gnu11 -pthread -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -Icommon -Iproducers \
             -Iconsumer -Idlq -I$(GEN) $(PKG_CFLAGS)
LDFLAGS  ?=
LIBS     := $(PKG_LIBS) -ldl -lm -pthread

ifeq ($(WERROR),1)
  WARN += -Werror
endif

comma := ,

# Each build variant gets its own object tree, so a sanitizer build never mixes with a plain one.
ifneq ($(SANITIZE),)
  VARIANT := san-$(subst $(comma),-,$(SANITIZE))
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=$(SANITIZE)
  OPT := -O1
  BUILD := build/$(VARIANT)
  BIN   := $(BUILD)/bin
else
  BUILD := build/default
  BIN   := bin
endif
GEN   := build/gen

PROTO_SRC := proto/evfleet/v1/event.proto
PROTO_C   := $(GEN)/evfleet/v1/event.pb-c.c
PROTO_H   := $(GEN)/evfleet/v1/event.pb-c.h

# Any <dir>/*_main.c is a program's main; every other .c in the dir goes into that dir's library.
lib_srcs = $(filter-out %_main.c,$(wildcard $(1)/*.c))
objs     = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_OBJS := $(call objs,$(call lib_srcs,common)) $(BUILD)/gen/event.pb-c.o
PROD_OBJS   := $(call objs,$(call lib_srcs,producers))
WORKER_OBJS := $(call objs,$(call lib_srcs,consumer))
DLQ_OBJS    := $(call objs,$(call lib_srcs,dlq))
TESTLIB_OBJS:= $(call objs,$(call lib_srcs,tests/lib))

LIB_COMMON := $(BUILD)/libevfcommon.a
LIB_PROD   := $(BUILD)/libevfprod.a
LIB_WORKER := $(BUILD)/libevfworker.a
LIB_DLQ    := $(BUILD)/libevfdlq.a
LIB_TEST   := $(BUILD)/libevftest.a
ALL_LIBS   := $(LIB_WORKER) $(LIB_DLQ) $(LIB_PROD) $(LIB_COMMON)

main_of   = $(if $(findstring worker,$(1)),consumer/worker_main.c,$(if $(findstring produce,$(1)),producers/produce_main.c,dlq/dlq_main.c))
PROGRAMS := $(foreach p,$(BIN)/evfleet-worker $(BIN)/evfleet-produce $(BIN)/evfleet-dlq,$(if $(wildcard $(call main_of,$(p))),$(p)))

PLUGINS  := $(patsubst examples/%.c,$(BUILD)/plugins/%.so,$(wildcard examples/*.c))

UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(wildcard tests/integration/test_*.c))
BENCH_PROGS := $(patsubst tests/bench/%_main.c,$(BUILD)/bench/%,$(wildcard tests/bench/*_main.c))
FAULT_PROGS := $(patsubst tests/fault/%_main.c,$(BUILD)/fault/%,$(wildcard tests/fault/*_main.c))

.PHONY: all programs plugins tests test test-unit test-integration up down status deps demo bench \
        clean format format-check fetch readme-config test-containers fuzz test-valgrind test-fault
all: programs plugins

programs: $(PROGRAMS)
plugins: $(PLUGINS)
tests: $(UNIT_TESTS) $(INTEG_TESTS) $(BENCH_PROGS) $(FAULT_PROGS)

$(PROTO_C) $(PROTO_H): $(PROTO_SRC)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $(PROTO_SRC)

$(BUILD)/gen/event.pb-c.o: $(PROTO_C) $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -w -c $< -o $@

$(BUILD)/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB_COMMON): $(COMMON_OBJS)
$(LIB_PROD):   $(PROD_OBJS)
$(LIB_WORKER): $(WORKER_OBJS)
$(LIB_DLQ):    $(DLQ_OBJS)
$(LIB_TEST):   $(TESTLIB_OBJS)
# Every library holds an empty object too, so a directory without sources yet still links.
$(BUILD)/%.a: $(BUILD)/empty.o
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int evf_empty_unit_t;' | $(CC) -x c -c - -o $@

$(BIN)/evfleet-worker: $(BUILD)/consumer/worker_main.o $(ALL_LIBS)
$(BIN)/evfleet-produce: $(BUILD)/producers/produce_main.o $(ALL_LIBS)
$(BIN)/evfleet-dlq: $(BUILD)/dlq/dlq_main.o $(ALL_LIBS)
$(PROGRAMS):
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $^ $(LDFLAGS) $(LIBS)

$(BUILD)/plugins/%.so: examples/%.c include/evfleet/processor.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $< $(LDFLAGS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB_TEST) $(ALL_LIBS)
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $^ $(LDFLAGS) $(CHECK_LIBS) $(LIBS)
$(BUILD)/tests/%.o: tests/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/lib -MMD -MP -c $< -o $@

$(BUILD)/bench/%: $(BUILD)/tests/bench/%_main.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LIBS)

$(BUILD)/fault/%: $(BUILD)/tests/fault/%_main.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LIBS)

# The test runner needs the programs and plugins too (integration tests exec them).
test: all tests
	@EVF_BIN=$(BIN) EVF_BUILD=$(BUILD) bash tests/run.sh all
test-unit: all tests
	@EVF_BIN=$(BIN) EVF_BUILD=$(BUILD) bash tests/run.sh unit
test-integration: all tests
	@EVF_BIN=$(BIN) EVF_BUILD=$(BUILD) bash tests/run.sh integration
# The fault suite stops and starts its brokers: it runs its own Kafka + Redis (FAULT_KAFKA_PORT,
# FAULT_REDIS_PORT), never the ones of `make up`. FAULT_EVENTS, FAULT_SEED (or SEED), … : tests/fault/README.md
FAULT_KAFKA_PORT ?= 19092
FAULT_REDIS_PORT ?= 16379
test-fault: all tests
	@EVF_BIN=$(BIN) EVF_BUILD=$(BUILD) KAFKA_PORT=$(FAULT_KAFKA_PORT) REDIS_PORT=$(FAULT_REDIS_PORT) \
	    bash tests/fault/run.sh

KAFKA_PORT ?= 9092
REDIS_PORT ?= 6379
export KAFKA_PORT REDIS_PORT
up:
	@bash deploy/local/services.sh up
down:
	@bash deploy/local/services.sh down
status:
	@bash deploy/local/services.sh status
fetch:
	@bash deploy/local/services.sh fetch

deps:
	@bash deploy/local/deps.sh

# The demo installs what is missing first, so it works on a fresh machine.
demo:
	@bash deploy/local/deps.sh
	@$(MAKE) --no-print-directory all
	@EVF_BIN=$(BIN) bash deploy/local/demo.sh

test-containers:
	@bash tests/containers/run.sh

FUZZ_SECONDS ?= 60
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

test-valgrind: programs
	@EVF_BIN=$(BIN) bash tests/valgrind/run.sh

bench: all tests
	@EVF_BIN=$(BIN) EVF_BUILD=$(BUILD) QUICK=$(QUICK) N=$(N) PARTITIONS=$(PARTITIONS) bash tests/bench/run.sh

readme-config: programs
	@EVF_BIN=$(BIN) bash deploy/local/readme-config.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
