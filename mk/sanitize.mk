# mk/sanitize.mk — the C ABI under AddressSanitizer + LeakSanitizer (part of `make test`).
#
#   make test-sanitize   tests/c/abi_test.c (every entry point) and tests/c/hostile_test.c (every
#                        hostile fixture: trap, loop, memory, stack, output, garbage, exit), both
#                        built with -fsanitize=address against the static library and run with
#                        leak detection. Any invalid access, double free or leak fails the run.
#
# What is checked: the C side is instrumented; the Rust library is not (it is the ordinary
# release build that kube-apiserver links), but with KUBEWASM_ALLOCATOR=system (src/allocator.rs:
# the library's heap is the C library's malloc instead of mimalloc) every allocation and free in it
# goes through ASan's malloc interceptors, so leaks (buffers, errors, handles never freed, by the library or
# the caller), double or mismatched frees and overflows in memcpy/memmove-family calls are
# caught. The fully instrumented library (every Rust crate built with -Zsanitizer=address) is
# what the cargo-fuzz targets run (mk/fuzz.mk).
#
# Why not valgrind: wasmtime's pooling allocator reserves its whole pool up front, 1000 slots x
# (4 GiB memory + guard regions), several TiB of PROT_NONE address space, more than valgrind's
# address-space manager accepts. Tried with Debian's valgrind 3.19: every kubewasm_init fails
# with "cannot create the wasmtime engine: failed to create memory pool mapping". ASan does not
# shadow plain mmap reservations, so the pool is harmless to it.
#
# ASAN_OPTIONS, each needed with wasmtime:
#   allow_user_segv_handler=1  wasmtime installs its own SIGSEGV/SIGBUS/SIGILL/SIGFPE handlers
#                              (wasm traps: out-of-bounds accesses hit guard pages, stack overflow,
#                              unreachable); ASan must let it replace ASan's handler. wasmtime keeps
#                              the previous (ASan's) handler and forwards every fault that is not
#                              in wasm code to it, so a real crash in host code is still reported.
#   handle_segv=1              ...which is why ASan still installs its handler first.
#   use_sigaltstack=1          handlers run on an alternate stack: a wasm stack overflow happens on
#                              the thread's own stack (hostile-stack tests exactly that).
#   detect_leaks=1             LeakSanitizer at exit. The engine and its epoch thread live in a
#                              process-wide static (reachable), so no suppression is needed.
#   halt_on_error=1, exitcode=23  the first report fails the run with a recognisable status.
# LSAN_OPTIONS=report_objects=1 lists the leaked objects' addresses when something leaks.

SAN_CC ?= $(CC)
SAN_CFLAGS := -fsanitize=address -fno-omit-frame-pointer -g -O1 -Wall -Wextra -Werror -std=c11
SAN_ASAN_OPTIONS := allow_user_segv_handler=1:handle_segv=1:use_sigaltstack=1:detect_leaks=1:halt_on_error=1:exitcode=23
SAN_LSAN_OPTIONS := report_objects=1
SAN_BINS := $(BUILD)/abi_test-asan $(BUILD)/hostile_test-asan

.PHONY: test-sanitize
test: test-sanitize

$(BUILD)/%_test-asan: tests/c/%_test.c include/kubewasm.h $(LIB_A)
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -Iinclude -o $@ $< $(LIB_A) -lm -ldl -lpthread

test-sanitize: $(SAN_BINS) fixtures
	@for t in $(SAN_BINS); do \
		echo "ASan: $$t"; \
		KUBEWASM_ALLOCATOR=system ASAN_OPTIONS=$(SAN_ASAN_OPTIONS) LSAN_OPTIONS=$(SAN_LSAN_OPTIONS) $$t $(BUILD)/modules || exit 1; \
	done
