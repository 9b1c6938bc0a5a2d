# posbench build. `make` builds $(BUILD)/posbench; `make run` and `make test`
# first install missing Debian packages (scripts/install-deps.sh).
BUILD   ?= build
CC      ?= cc
# PORTABLE=1: no -march=native (the compiler's baseline for the architecture):
# a binary built on a cluster's login node that runs on older compute nodes
# (docs/sweeps.md). OpenBLAS picks its kernels at run time either way.
ifeq ($(PORTABLE),1)
OPT     ?= -O3 -mtune=generic
else
OPT     ?= -O3 -march=native
endif
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp \
           $(shell pkg-config --cflags lua5.4 2>/dev/null) \
           -I/usr/include/x86_64-linux-gnu/openblas-pthread \
           -DPB_SOURCE_ROOT='"$(CURDIR)"'
LDLIBS  += $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4) \
           $(shell gsl-config --libs-without-cblas 2>/dev/null || echo -lgsl -lm) \
           -lopenblas -lm
LDFLAGS += -fopenmp

LIB_SRC  := $(filter-out harness/cli/main.c,$(wildcard harness/*/*.c)) $(wildcard encodings/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS  := $(wildcard harness/*/*.h encodings/*.h tests/*.h)

.PHONY: all deps run test unit bench bench-gemm bench-gemm-libs sanitize fuzz clean

all: $(BUILD)/posbench $(TEST_BIN)

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@


$(BUILD)/libposbench.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/posbench: $(BUILD)/obj/harness/cli/main.o $(BUILD)/libposbench.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libposbench.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libposbench.a $(LDFLAGS) $(LDLIBS) -o $@

deps:
	@scripts/install-deps.sh

# The article as a sweep over all cores (resumable: rerunning `make run`
# skips the finished runs of the same settings), adding seeds (5, then 10)
# only to the runs behind claims still undecided (docs/sweeps.md).
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/posbench sweep experiments/article.lua --local $$(nproc) --until-decided --max-seeds 10

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

# C unit tests only (no Lua scripts, no PyTorch): what `sanitize` runs.
unit: all
	@BUILD=$(BUILD) tests/run.sh --unit

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench.sh

# OpenBLAS against the kernel set's own GEMM at the model's shapes (one
# thread; docs/model.md, Speed).
bench-gemm: $(BUILD)/bench/gemm_shapes
	@$(BUILD)/bench/gemm_shapes

$(BUILD)/bench/gemm_shapes: tests/bench/gemm_shapes.c $(BUILD)/libposbench.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libposbench.a $(LDFLAGS) $(LDLIBS) -o $@

# The same shapes against oneDNN's matmul, libxsmm and BLIS (docs/model.md,
# Speed). These libraries are not project dependencies: install them by hand.
# OpenBLAS links before BLIS, which exports the same BLAS symbols.
GEMM_LIBS_PKG := libxsmm-dev:/usr/include/libxsmm.h libdnnl-dev:/usr/include/oneapi/dnnl/dnnl.h \
                 libblis-dev:/usr/include/x86_64-linux-gnu/blis-openmp/blis.h
bench-gemm-libs:
	@missing=; for p in $(GEMM_LIBS_PKG); do [ -f $${p#*:} ] || missing="$$missing $${p%%:*}"; done; \
	 if [ -n "$$missing" ]; then echo "bench-gemm-libs needs: apt-get install$$missing" >&2; exit 1; fi
	@$(MAKE) --no-print-directory $(BUILD)/bench/gemm_libs
	@OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 $(BUILD)/bench/gemm_libs

$(BUILD)/bench/gemm_libs: tests/bench/gemm_libs.c $(BUILD)/libposbench.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -isystem /usr/include/x86_64-linux-gnu/blis-openmp $< $(BUILD)/libposbench.a $(LDFLAGS) \
	    $(LDLIBS) -ldnnl -lxsmm -lpthread -lrt -ldl -lblis -o $@

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
# float-cast-overflow is not part of GCC's "undefined" group: a float
# outside the range of the integer it is converted to (NaN included) is UB.
SAN := address,undefined,float-cast-overflow
sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-sanitize \
	  OPT="-O1 -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fopenmp -fsanitize=$(SAN)" all
	@BUILD=build-sanitize ASAN_OPTIONS=detect_leaks=1 tests/run.sh --sanitize

# libFuzzer targets (tests/fuzz/) built with clang in build-fuzz, each run
# for FUZZ_SECONDS seconds; `make test` runs them for a few seconds each.
FUZZ_SECONDS ?= 60
fuzz:
	@tests/fuzz/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-*
