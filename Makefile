# saba - build, test, run. See README.md.
#
#   make            build ./saba and ./saba-agent (optimized)
#   make install    install both into $(DESTDIR)$(PREFIX)/bin (default /usr/local)
#   make run        install missing packages, build, start the server on 127.0.0.1
#   make test       every test: lint, unit (cmocka), system (pytest), all again under ASan+UBSan
#   make fuzz       run every fuzz target for FUZZ_SECONDS (default 60) each
#   make bench      the side-by-side benchmark against VictoriaMetrics, Prometheus, InfluxDB
#   make bench-analysis  speed and quality of the analysis engine (bench/analysis/)

PKGS     := libmicrohttpd jansson libfyaml libpcre2-8 zlib libxxhash libprotobuf-c snappy libcurl sqlite3 \
            libzstd
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
CC       ?= cc
CSTD     := -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(AGENT_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# saba-agent, the agent alone for monitored hosts, links only these (and
# loads libcurl with dlopen for https:// servers): see src/agent/client.h
AGENT_PKGS := jansson libfyaml libpcre2-8 zlib libevent_core libevent_extra
AGENT_LIBS  = $(shell pkg-config --libs $(AGENT_PKGS) 2>/dev/null)

MODE ?= release
ifeq ($(MODE),asan)
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
  OPT := -O2 -g
endif
BUILD ?= build/$(MODE)

CFLAGS  := $(CSTD) $(WARN) $(OPT) -pthread -Isrc -I$(BUILD)/gen -DSABA_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
# double-conversion (C++, no pkg-config file) formats query results: see src/base/dtoa.h
CXX     ?= g++
CXXFLAGS := -std=c++17 -Wall -Wextra -Werror $(OPT) -Isrc
LDLIBS  := $(PKG_LIBS) -ldouble-conversion -lstdc++ -lm -pthread

# src/agent/lean/ is saba-agent's own (main, evhttp transport, dlopen'ed libcurl)
LEAN_SRC := $(sort $(wildcard src/agent/lean/*.c))
SRC      := $(filter-out $(LEAN_SRC),$(shell find src -name '*.c' | sort))
LIB_SRC  := $(filter-out src/main.c,$(SRC))
CXX_SRC  := $(shell find src -name '*.cc' | sort)
# protobuf-c code generated from the .proto files (remote write)
PROTO    := $(shell find src -name '*.proto' | sort)
GEN_SRC  := $(patsubst %.proto,$(BUILD)/gen/%.pb-c.c,$(notdir $(PROTO)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CXX_SRC:%.cc=$(BUILD)/obj/%.o) $(GEN_SRC:%.c=%.o)
# saba-agent: the agent's files but the linked-libcurl client_new, what they use
# of base/ and storage/labels, and its own src/agent/lean/
AGENT_OBJ := $(filter-out $(BUILD)/obj/src/agent/client_linked.o,$(filter $(BUILD)/obj/src/agent/%,$(LIB_OBJ))) \
             $(patsubst %,$(BUILD)/obj/src/base/%.o,alloc buf dtoa err log num timeutil) \
             $(BUILD)/obj/src/storage/labels.o
LEAN_OBJ  := $(LEAN_SRC:%.c=$(BUILD)/obj/%.o)
# double-conversion and the little of libstdc++ it uses are linked statically:
# the shared libstdc++ alone would add ~1 MiB of RSS to every agent
LEAN_LDLIBS = $(AGENT_LIBS) -Wl,-Bstatic -ldouble-conversion -lstdc++ -Wl,-Bdynamic -lm -pthread -ldl
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# unit tests of saba-agent's own files link against its objects, not saba's
LEAN_UNIT := $(BUILD)/tests/test_agent_transport

.PHONY: all run test unit-build lint format fuzz bench bench-analysis clean deps check-deps install
all: saba saba-agent

# The first build on a fresh machine installs what is missing.
deps:
	@scripts/bootstrap --check >/dev/null 2>&1 || scripts/bootstrap

saba: deps
	@$(MAKE) --no-print-directory MODE=release build/release/saba
	@cp build/release/saba .saba.tmp && mv -f .saba.tmp saba

saba-agent: deps
	@$(MAKE) --no-print-directory MODE=release build/release/saba-agent
	@cp build/release/saba-agent .saba-agent.tmp && mv -f .saba-agent.tmp saba-agent

$(BUILD)/saba: $(LIB_OBJ) $(BUILD)/obj/src/main.o
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/saba-agent: $(AGENT_OBJ) $(LEAN_OBJ)
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LEAN_LDLIBS)

PREFIX ?= /usr/local
install: saba saba-agent
	install -D -m 0755 saba $(DESTDIR)$(PREFIX)/bin/saba
	install -D -m 0755 saba-agent $(DESTDIR)$(PREFIX)/bin/saba-agent

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: src/ingest/%.proto
	@mkdir -p $(dir $@)
	@echo "PROTOC $<"
	@protoc-c --proto_path=$(dir $<) --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	@echo "CC [$(MODE)] $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

# sources include the generated headers: generate them first
$(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(LEAN_OBJ): | $(GEN_SRC:.c=.h)

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "CXX [$(MODE)] $<"
	@$(CXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC [$(MODE)] $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LEAN_UNIT): $(BUILD)/tests/%: tests/unit/%.c $(AGENT_OBJ) $(filter-out %/main.o,$(LEAN_OBJ))
	@mkdir -p $(dir $@)
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -Itests/unit -o $@ $^ $(LEAN_LDLIBS) $(shell pkg-config --libs cmocka)

$(filter-out $(LEAN_UNIT),$(UNIT_BIN)): $(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LDLIBS) $(shell pkg-config --libs cmocka)

unit-build: $(BUILD)/saba $(BUILD)/saba-agent $(UNIT_BIN)

# The version (git describe) is compiled into the files that name
# SABA_VERSION: rebuild them when it changes, not only when they do.
VERSION_STAMP := $(BUILD)/version
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = "$(VERSION)" ] || echo "$(VERSION)" > $@
$(patsubst %.c,$(BUILD)/obj/%.o,$(shell grep -rl --include='*.c' SABA_VERSION src)): $(VERSION_STAMP)
FORCE:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

run: saba
	./saba server --data ./data --listen 127.0.0.1:9650

test: deps
	@$(MAKE) --no-print-directory MODE=release unit-build
	@cp build/release/saba .saba.tmp && mv -f .saba.tmp saba
	@cp build/release/saba-agent .saba-agent.tmp && mv -f .saba-agent.tmp saba-agent
	@$(MAKE) --no-print-directory MODE=asan unit-build
	@$(MAKE) --no-print-directory lint
	@scripts/run-tests

lint:
	@echo "lint: clang-format"
	@clang-format --dry-run -Werror $(shell find src tests/unit fuzz -name '*.[ch]' -o -name '*.cc')
	@echo "lint: cppcheck"
	@cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -Isrc src

format:
	clang-format -i $(shell find src tests/unit fuzz -name '*.[ch]' -o -name '*.cc')

FUZZ_SECONDS ?= 60
fuzz: deps
	@scripts/fuzz $(FUZZ_SECONDS)

bench: saba
	@cd bench && ./run.sh
bench-promql: saba ; @bench/promql/run.sh $(ARGS)

$(BUILD)/bench/analysis_speed: bench/analysis/speed.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

bench-analysis: saba
	@$(MAKE) --no-print-directory MODE=release build/release/bench/analysis_speed
	build/release/bench/analysis_speed
	/usr/bin/python3 bench/analysis/quality.py --saba ./saba

clean:
	rm -rf build saba saba-agent
