#!/usr/bin/env bash
# Fuzz smoke test (CI, after the README's test command): configure and build the `fuzz` preset
# (clang, libFuzzer + ASan/UBSan, torch-free modules only), generate the seed corpora, then run
# every target for FUZZ_SECONDS (default 60) s. Exit 1 if a target crashes, leaks, times out or
# runs out of memory; its reproducer is left in build/fuzz/artifacts/<target>/.
#   fuzz/run_smoke.sh [target...]       (default: all targets)
#   FUZZ_SECONDS=600 FUZZ_JOBS=1 fuzz/run_smoke.sh fuzz_safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_safetensors fuzz_http_params fuzz_import_parse fuzz_import fuzz_index_file
           fuzz_catalog_open fuzz_audio_decode)
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"${FUZZ_BUILD_JOBS:-2}"
build=build/fuzz
rm -rf "$build/seeds"
"$build/fuzz/make_seeds" "$build/seeds"

failed=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  echo "==> $t: ${seconds}s"
  # -rss_limit_mb: the importers and the decoder may allocate what a header claims, within
  # limits; -timeout: one input taking > 10 s is a hang.
  if ! "$build/fuzz/$t" "$corpus" "$build/seeds/$t" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts" 2>"$build/$t.log"; then
    failed+=("$t")
    tail -40 "$build/$t.log"
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$t.log" | sed "s/^/   /" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: FAILED: ${failed[*]} (reproducers in $build/artifacts/)"
  echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
echo "fuzz smoke: all ${#targets[@]} target(s) ran ${seconds}s without a finding"
echo "fuzz: ${#targets[@]} passed, 0 failed"
