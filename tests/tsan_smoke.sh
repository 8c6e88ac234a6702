#!/usr/bin/env bash
# ThreadSanitizer smoke test (CI, after the fuzz smoke; docs/reliability.md, "ThreadSanitizer
# test preset"). Builds the `tsan` preset (clang, -fsanitize=thread) for the torch-free modules
# whose own code runs on several threads: core (the thread pool), index (multi-threaded HNSW
# builds with the reachability repair, concurrent searches, the filtered walk's steering copy
# built by the first of several concurrent searches) and catalog (SQLite readers beside a writer).
# Then runs their tests under TSan with the test preset's suppressions (tests/tsan.supp; label
# torchfree, not slow). IVF-PQ tests are left out: their threads are faiss's OpenMP and OpenBLAS
# workers, which are not instrumented (their reports are suppressed anyway), and under TSan they
# take most of the time. A TSan report fails the test (exit code 66).
#   tests/tsan_smoke.sh            (build dir build/tsan-smoke)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/tsan-smoke
jobs="${TSAN_JOBS:-2}"
cmake --preset tsan -B "$dir" >/dev/null
cmake --build "$dir" -j"$jobs" --target earshot_torchfree_tests
TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp second_deadlock_stack=1" \
  ctest --test-dir "$dir" -L torchfree -LE slow -E 'IVF|IvfPq' -j"$jobs" --timeout 900 \
  --output-on-failure --no-tests=error
