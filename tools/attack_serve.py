#!/usr/bin/env python3
"""Bounded, loopback-only attack runs against `earshot serve` (issue 12; docs/reliability.md).

Starts the given binary on 127.0.0.1 with a free port over DB, runs each scenario for a bounded
time, prints one JSON line per scenario, and stops the server. Python standard library only.

  upload   POST one long audio file (e.g. 10 hours of Opus) to /api/search: status, seconds to
           answer, the server's RSS before / peak (VmHWM) / after, and search-by-id latency
           measured meanwhile.
  slow     100 sockets send an unfinished request header and one more line every second;
           meanwhile /health and a search by id are timed (2 s client timeout).
  keepalive 32 keep-alive clients request /health in a loop; count of timeouts and p99.
  flood    20 clients POST the long file at once: statuses, peak RSS, id searches meanwhile.
  range    GET audio with Range: bytes=0-18446744073709551615.

Usage: tools/attack_serve.py EARSHOT_BIN DB LONG_AUDIO [--seconds 10] [--extra-args "..."]
"""
import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request


UPLOAD_CAP_S = 240  # an upload scenario ends after this, answered or not


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def start(binary, db, extra):
    log = open(os.path.join(os.path.dirname(os.path.abspath(db)), "attack_serve.log"), "w+")
    proc = subprocess.Popen([binary, "serve", "--db", db, "--host", "127.0.0.1", "--port", "0"]
                            + extra, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(400):
        log.seek(0)
        m = re.search(r"http://127\.0\.0\.1:(\d+)", log.read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    log.seek(0)
    sys.exit("server did not start: " + log.read())


def timed_get(port, path, timeout=2.0, method="GET", body=None, headers=None):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status, time.monotonic() - t0
    except Exception:
        return None, time.monotonic() - t0


def first_id(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items?limit=1", timeout=10) as r:
        return json.load(r)["items"][0]["id"]


def search_id(port, item, timeout=2.0):
    return timed_get(port, "/api/search", timeout, "POST", json.dumps({"id": str(item)}),
                     {"Content-Type": "application/json"})


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p / 100.0 * len(v)))] * 1000, 1)


def scenario_flood(proc, port, audio, n=20):
    """n clients upload the long file at once; statuses, peak RSS, id searches meanwhile."""
    item = first_id(port)
    base = rss_kb(proc.pid, "VmRSS")
    with open(audio, "rb") as f:
        data = f.read()
    boundary = "earshotflood"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.flac\""
            f"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    statuses = []
    lock = threading.Lock()

    def one():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=UPLOAD_CAP_S)
            c.request("POST", "/api/search", body=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            r = c.getresponse()
            r.read()
            st = r.status
        except Exception:  # noqa: BLE001
            st = None
        with lock:
            statuses.append(st)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    lat, fails = [], 0
    cap = time.monotonic() + UPLOAD_CAP_S
    while any(t.is_alive() for t in threads) and time.monotonic() < cap:
        st, dt = search_id(port, item)
        if st == 200:
            lat.append(dt)
        else:
            fails += 1
        time.sleep(0.05)
    counts = {}
    for st in statuses:
        counts[str(st)] = counts.get(str(st), 0) + 1
    return {"scenario": "flood", "uploads": n, "file": os.path.basename(audio),
            "statuses": counts, "all_answered_s": round(time.monotonic() - t0, 2),
            "rss_before_mb": round(base / 1024, 1),
            "rss_peak_mb": round(rss_kb(proc.pid, "VmHWM") / 1024, 1),
            "id_searches_meanwhile": len(lat) + fails, "id_search_failures": fails,
            "id_search_p50_ms": pct(lat, 50), "id_search_max_ms": pct(lat, 100)}


def scenario_upload(proc, port, audio, seconds):
    item = first_id(port)
    base = rss_kb(proc.pid, "VmRSS")
    with open(audio, "rb") as f:
        data = f.read()
    boundary = "earshotattack"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
            f"{os.path.basename(audio)}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    result = {}

    def upload():
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=UPLOAD_CAP_S)
            c.request("POST", "/api/search", body=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            r = c.getresponse()
            result["status"] = r.status
            result["body"] = r.read()[:300].decode(errors="replace")
        except Exception as e:  # noqa: BLE001
            result["status"] = None
            result["body"] = repr(e)
        result["answer_s"] = round(time.monotonic() - t0, 2)

    t = threading.Thread(target=upload, daemon=True)
    t.start()
    lat, fails = [], 0
    cap = time.monotonic() + UPLOAD_CAP_S
    while t.is_alive() and time.monotonic() < cap:
        st, dt = search_id(port, item)
        if st == 200:
            lat.append(dt)
        else:
            fails += 1
        time.sleep(0.05)
    if t.is_alive():
        result.setdefault("body", f"no answer within {UPLOAD_CAP_S} s")
    time.sleep(0.5)
    return {"scenario": "upload", "file": os.path.basename(audio), "bytes": len(data),
            "status": result.get("status"), "answer_s": result.get("answer_s"),
            "message": result.get("body"), "rss_before_mb": round(base / 1024, 1),
            "rss_peak_mb": round(rss_kb(proc.pid, "VmHWM") / 1024, 1),
            "rss_after_mb": round(rss_kb(proc.pid, "VmRSS") / 1024, 1),
            "id_searches_meanwhile": len(lat) + fails, "id_search_failures": fails,
            "id_search_p50_ms": pct(lat, 50), "id_search_max_ms": pct(lat, 100)}


def scenario_slow(port, seconds, n=100):
    item = first_id(port)
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    lat, fails, dropped = [], 0, 0
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        rounds += 1
        for s in socks:
            try:
                s.sendall(b"X-Slow: %d\r\n" % rounds)
            except OSError:
                pass
        for _ in range(5):
            for st, dt in (timed_get(port, "/health"), search_id(port, item)):
                if st == 200:
                    lat.append(dt)
                else:
                    fails += 1
        time.sleep(max(0.0, 1.0 - 0.01))
    for s in socks:
        try:
            s.settimeout(0.01)
            if s.recv(1) == b"":
                dropped += 1
        except socket.timeout:
            pass
        except OSError:
            dropped += 1
        s.close()
    return {"scenario": "slow", "sockets": n, "seconds": seconds, "requests": len(lat) + fails,
            "timeouts_or_errors": fails, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "max_ms": pct(lat, 100), "slow_sockets_closed_by_server": dropped}


def scenario_keepalive(port, seconds, n=32):
    lat, fails = [], [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                c.request("GET", "/health")
                c.getresponse().read()
                with lock:
                    lat.append(time.monotonic() - t0)
            except Exception:  # noqa: BLE001
                with lock:
                    fails[0] += 1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            time.sleep(0.02)
        c.close()

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"scenario": "keepalive", "clients": n, "seconds": seconds,
            "requests": len(lat) + fails[0], "timeouts_or_errors": fails[0],
            "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


def scenario_range(port):
    item = first_id(port)
    st, _ = timed_get(port, f"/api/items/{item}/audio", 5,
                      headers={"Range": "bytes=0-18446744073709551615"})
    return {"scenario": "range", "status": st}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("db")
    ap.add_argument("long_audio")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--extra-args", default="")
    ap.add_argument("--only", default="upload,flood,slow,keepalive,range")
    a = ap.parse_args()
    only = a.only.split(",")
    for name in only:
        proc, port = start(a.binary, a.db, a.extra_args.split())
        try:
            if name == "upload":
                out = scenario_upload(proc, port, a.long_audio, a.seconds)
            elif name == "flood":
                out = scenario_flood(proc, port, a.long_audio)
            elif name == "slow":
                out = scenario_slow(port, a.seconds)
            elif name == "keepalive":
                out = scenario_keepalive(port, a.seconds)
            else:
                out = scenario_range(port)
            print(json.dumps(out), flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
