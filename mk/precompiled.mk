# mk/precompiled.mk — precompiled modules (.cwasm); included by the top Makefile.
#
#   make bench-precompiled   start-up time and resident memory of a configuration of
#                            BENCH_MODULES (default 50) distinct modules, compiled and from .cwasm
#                            (benches/precompiled.rs; about a minute, not part of `make bench`)

BENCH_MODULES ?= 50

.PHONY: bench-precompiled
bench-precompiled: lib fixtures
	$(CARGO) bench --locked --bench precompiled -- $(BENCH_MODULES)
