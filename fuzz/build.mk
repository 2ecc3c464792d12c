# fuzz/build.mk - build the libFuzzer targets into build/fuzz/ (run by scripts/fuzz).
#
#   make -f fuzz/build.mk [TARGETS="fuzz_influx ..."]
#
# src/**/*.c except src/main.c are compiled once with coverage instrumentation
# (fuzzer-no-link) and ASan+UBSan; each fuzz/fuzz_<name>.c links against them.
# UBSan findings abort (-fno-sanitize-recover) so that libFuzzer records them.
# FUZZ_DEFS=-DFUZZ_NO_WORKAROUNDS turns off the targets' guards around known bugs
# (build those elsewhere, e.g. B=build/fuzz/strict, so the normal binaries stay).

FUZZ_CC  ?= clang
PKGS     := libmicrohttpd jansson libfyaml libpcre2-8 zlib libxxhash libprotobuf-c snappy libcurl sqlite3 \
            libzstd
B        ?= build/fuzz
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS   := -g -O1 -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Wshadow \
            -Wno-unused-parameter -pthread -Isrc -I$(B)/gen $(shell pkg-config --cflags $(PKGS))
LDLIBS   := $(shell pkg-config --libs $(PKGS)) -ldouble-conversion -lstdc++ -lm -pthread

# src/agent/lean/ is saba-agent's (its own client_new and main): not fuzzed
LIB_SRC  := $(filter-out src/main.c,$(shell find src -name '*.c' -not -path 'src/agent/lean/*' | sort))
PROTO    := $(shell find src -name '*.proto' | sort)
GEN_SRC  := $(patsubst %.proto,$(B)/gen/%.pb-c.c,$(notdir $(PROTO)))
CXX_SRC  := $(shell find src -name '*.cc' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o) $(CXX_SRC:%.cc=$(B)/obj/%.o) $(GEN_SRC:%.c=%.o)
TARGETS  ?= $(patsubst fuzz/%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))

.PHONY: all
all: $(TARGETS:%=$(B)/%)
	@:

# keep the objects: they are shared by every target, not intermediates
.SECONDARY: $(LIB_OBJ)

$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: src/ingest/%.proto
	@mkdir -p $(dir $@)
	@protoc-c --proto_path=$(dir $<) --c_out=$(B)/gen $<

$(B)/gen/%.pb-c.o: $(B)/gen/%.pb-c.c
	@$(FUZZ_CC) $(CFLAGS) $(SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(LIB_SRC:%.c=$(B)/obj/%.o): | $(GEN_SRC:.c=.h)

$(B)/obj/%.o: %.cc fuzz/build.mk
	@mkdir -p $(dir $@)
	@$(FUZZ_CC)++ -g -O1 -std=c++17 -Isrc $(SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/obj/%.o: %.c fuzz/build.mk
	@mkdir -p $(dir $@)
	@echo "CC [fuzz] $<"
	@$(FUZZ_CC) $(CFLAGS) $(SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(B)/fuzz_%: fuzz/fuzz_%.c $(LIB_OBJ) fuzz/build.mk
	@mkdir -p $(dir $@)
	@echo "LD [fuzz] $@"
	@$(FUZZ_CC) $(CFLAGS) $(FUZZ_DEFS) -Werror $(SAN) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@ $< \
	  $(LIB_OBJ) $(LDLIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
