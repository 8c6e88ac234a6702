#!/usr/bin/env bash
# Load run of `earshot serve` on loopback with wrk (Debian package `wrk`): search by library item
# id and search by upload, each for a bounded time. Prints wrk's summary (requests/s, latency
# percentiles including p99) for each; docs/performance.md records the numbers.
# Usage: tools/load_serve.sh EARSHOT_BIN DB QUERY_AUDIO [SECONDS=20] [CONNECTIONS=4]
# Only 127.0.0.1 is ever targeted; the server is stopped at the end.
set -euo pipefail
bin=$1 db=$2 query=$3 seconds=${4:-20} conns=${5:-4}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin" serve --db "$db" --host 127.0.0.1 --port 0 >"$tmp/log" 2>&1 &
pid=$!
url=""
for _ in $(seq 1 200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/log" | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { cat "$tmp/log"; exit 1; }
case "$url" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback $url"; exit 1 ;; esac

# Ids of the library (the first 1000) for search-by-id requests.
ids=$(curl -s "$url/api/items?limit=1000" | python3 -c 'import json,sys; print(",".join(str(i["id"]) for i in json.load(sys.stdin)["items"]))')
cat >"$tmp/by_id.lua" <<LUA
local ids = {$ids}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  return wrk.format(nil, "/api/search", nil, "k=10&id=" .. ids[math.random(#ids)])
end
LUA
cat >"$tmp/upload.lua" <<LUA
local f = assert(io.open("$query", "rb"))
local data = f:read("*all")
f:close()
local b = "earshotloadboundary"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
wrk.body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n10\r\n" ..
  "--" .. b .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"query\"\r\n" ..
  "Content-Type: application/octet-stream\r\n\r\n" .. data .. "\r\n--" .. b .. "--\r\n"
LUA
# Warm-up: load the model and the search cache once.
curl -s -o /dev/null -F file=@"$query" "$url/api/search"
echo "== search by id: $seconds s, $conns connections, 2 threads"
wrk -t2 -c"$conns" -d"${seconds}s" --timeout 30s --latency -s "$tmp/by_id.lua" "$url/api/search"
echo "== search by upload ($(stat -c %s "$query") bytes): $seconds s, $conns connections, 2 threads"
wrk -t2 -c"$conns" -d"${seconds}s" --timeout 30s --latency -s "$tmp/upload.lua" "$url/api/search"
