#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer smoke test (CI, after the ThreadSanitizer smoke;
# docs/reliability.md, "ASan/UBSan in CI"). Builds the `asan-clang` preset (clang RelWithDebInfo,
# -fsanitize=address,undefined, any UBSan finding fatal) for the torch-free test executables
# (core, audio, fingerprint, features and its golden parity tests, index, catalog) and runs their tests (label torchfree, not
# slow). The `asan` preset (GCC Debug) checks the same code but takes 29-45 min on 2 cores; this
# one is optimised like the release build, so it fits beside the release workflow in CI.
# IVF-PQ tests are left out, as in the TSan smoke test: most of their time is faiss's own code,
# which is not instrumented. An ASan, LeakSanitizer or UBSan report fails the test.
#   tests/asan_smoke.sh            (build dir build/asan-smoke)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/asan-smoke
jobs="${ASAN_JOBS:-2}"
cmake --preset asan-clang -B "$dir" >/dev/null
cmake --build "$dir" -j"$jobs" --target earshot_torchfree_tests
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  ctest --test-dir "$dir" -L torchfree -LE slow -E 'IVF|IvfPq' -j"$jobs" --timeout 900 \
  --output-on-failure --no-tests=error
