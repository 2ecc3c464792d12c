# saba - build, test, run. See README.md.
#
#   make            build ./saba (optimized)
#   make run        install missing packages, build, start the server on 127.0.0.1
#   make test       every test: lint, unit (cmocka), system (pytest), all again under ASan+UBSan
#   make fuzz       run every fuzz target for FUZZ_SECONDS (default 60) each
#   make bench      the side-by-side benchmark against VictoriaMetrics, Prometheus, InfluxDB

PKGS     := libmicrohttpd jansson libfyaml libpcre2-8 zlib libxxhash libcurl libzstd
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
CC       ?= cc
CSTD     := -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

MODE ?= release
ifeq ($(MODE),asan)
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
  OPT := -O2 -g
endif
BUILD ?= build/$(MODE)

CFLAGS  := $(CSTD) $(WARN) $(OPT) -pthread -Isrc -DSABA_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit-build lint format fuzz bench clean deps check-deps
all: saba

# The first build on a fresh machine installs what is missing.
deps:
	@scripts/bootstrap --check >/dev/null 2>&1 || scripts/bootstrap

saba: deps
	@$(MAKE) --no-print-directory MODE=release build/release/saba
	@cp build/release/saba .saba.tmp && mv -f .saba.tmp saba

$(BUILD)/saba: $(LIB_OBJ) $(BUILD)/obj/src/main.o
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC [$(MODE)] $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "LD [$(MODE)] $@"
	@$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LDLIBS) $(shell pkg-config --libs cmocka)

unit-build: $(BUILD)/saba $(UNIT_BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

run: saba
	./saba server --data ./data --listen 127.0.0.1:9650

test: deps
	@$(MAKE) --no-print-directory MODE=release unit-build
	@cp build/release/saba .saba.tmp && mv -f .saba.tmp saba
	@$(MAKE) --no-print-directory MODE=asan unit-build
	@$(MAKE) --no-print-directory lint
	@scripts/run-tests

lint:
	@echo "lint: clang-format"
	@clang-format --dry-run -Werror $(shell find src tests/unit fuzz -name '*.[ch]')
	@echo "lint: cppcheck"
	@cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -Isrc src

format:
	clang-format -i $(shell find src tests/unit fuzz -name '*.[ch]')

FUZZ_SECONDS ?= 60
fuzz: deps
	@scripts/fuzz $(FUZZ_SECONDS)

bench: saba
	@cd bench && ./run.sh

clean:
	rm -rf build saba
