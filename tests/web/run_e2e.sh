#!/usr/bin/env bash
# Browser tests (CTest label e2e): indexes a small subset of ../shared/datasets/gm_fluidr3 into a
# catalog in the build tree (once per build of the binary), starts `earshot serve` on a free
# loopback port, and runs e2e.test.mjs (node's test runner + playwright-core + /usr/bin/chromium).
# Usage: run_e2e.sh EARSHOT_BIN SHARED_DIR WORK_DIR [SCREENSHOT.png]
# Exit 77 (CTest: skipped) only when node or chromium is missing.
set -euo pipefail
bin=$1 shared=$2 work=$3 screenshot=${4:-}
if [ -n "$screenshot" ]; then screenshot=$(realpath -m "$screenshot"); fi
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node/npm not installed (scripts/setup.sh installs nodejs and npm)"; exit 77
fi
if [ ! -x "$chromium" ]; then
  echo "SKIP: $chromium not installed (scripts/setup.sh installs Debian's chromium)"; exit 77
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "==> npm ci in $here"
  (cd "$here" && npm ci --no-audit --no-fund)
fi

gm="$shared/datasets/gm_fluidr3"
[ -d "$gm" ] || { echo "FAIL: $gm not found (set EARSHOT_SHARED_DIR)"; exit 1; }
mkdir -p "$work"
db="$work/web_e2e.earshot"
# A few files from each of four folders: enough for folders on the map and 10 results.
mapfile -t files < <(for d in 00_piano 03_guitar 04_bass 07_brass; do
  find "$gm/$d" -maxdepth 1 -name '*.flac' | sort | sed -n 1,8p; done)  # sed, not head: no SIGPIPE
[ ${#files[@]} -eq 32 ] || { echo "FAIL: expected 32 files under $gm, found ${#files[@]}"; exit 1; }
if [ ! -f "$db" ] || [ "$bin" -nt "$db" ] || ! printf '%s\n' "${files[@]}" | cmp -s - "$db.files"; then
  rm -f "$db" "$db-wal" "$db-shm"
  echo "==> indexing ${#files[@]} files into $db"
  "$bin" index "${files[@]}" --db "$db" -q >/dev/null
  printf '%s\n' "${files[@]}" >"$db.files"
fi

log="$work/web_e2e_server.log"
"$bin" serve --db "$db" --host 127.0.0.1 --port 0 >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: earshot serve exited:"; cat "$log"; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { echo "FAIL: earshot serve did not start"; cat "$log"; exit 1; }
echo "==> $url"

# A second server on the same catalog that needs a token (the page must ask for it once).
token=web-e2e-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
tlog="$work/web_e2e_token_server.log"
EARSHOT_TOKEN=$token "$bin" serve --db "$db" --host 127.0.0.1 --port 0 >"$tlog" 2>&1 &
token_pid=$!
trap 'kill "$server_pid" "$token_pid" 2>/dev/null || true; wait "$server_pid" "$token_pid" 2>/dev/null || true' EXIT
token_url=""
for _ in $(seq 1 200); do
  token_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tlog" | head -n 1 || true)
  [ -n "$token_url" ] && break
  kill -0 "$token_pid" 2>/dev/null || { echo "FAIL: earshot serve (token) exited:"; cat "$tlog"; exit 1; }
  sleep 0.05
done
[ -n "$token_url" ] || { echo "FAIL: earshot serve (token) did not start"; cat "$tlog"; exit 1; }

# The query: a guitar note that is not in the catalog subset (files 9+ of the folder).
query=$(find "$gm/03_guitar" -maxdepth 1 -name '*.flac' | sort | sed -n 12p)
# The same recording as a library file: files[0] re-encoded (44.1 kHz stereo WAV, -6 dB).
same_query=""
if command -v ffmpeg >/dev/null; then
  same_query="$work/same_recording_query.wav"
  ffmpeg -nostdin -loglevel error -y -i "${files[0]}" -af volume=-6dB -ar 44100 -ac 2 "$same_query"
fi
cd "$here"
EARSHOT_SAME_QUERY=$same_query EARSHOT_SAME_SOURCE=${files[0]} EARSHOT_URL=$url EARSHOT_TOKEN_URL=$token_url EARSHOT_TOKEN=$token EARSHOT_QUERY=$query EARSHOT_SCREENSHOT=$screenshot CHROMIUM=$chromium \
  node --test --test-reporter=spec e2e.test.mjs
