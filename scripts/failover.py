#!/usr/bin/env python3
"""Failover time of a 3-node raftkv cluster on loopback: SIGKILL the leader, then time until a
write through a surviving node is acknowledged; restart the killed node and repeat.

  python3 scripts/failover.py [--trials 20] [--binary .build/release/raftkv] [--dir /tmp/raftkv-failover]

Prints each trial, then "<median> ms median, <p99> ms p99, <max> ms max" and the election timeout
in force (the library's default: 150-300 ms, heartbeat timeout 200 ms).
"""
import argparse, json, os, shutil, signal, statistics, subprocess, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--trials", type=int, default=20)
ap.add_argument("--binary", default=".build/release/raftkv")
ap.add_argument("--dir", default="/tmp/raftkv-failover")
ap.add_argument("--raft-base", type=int, default=27800)
ap.add_argument("--http-base", type=int, default=27900)
a = ap.parse_args()
shutil.rmtree(a.dir, ignore_errors=True)
os.makedirs(a.dir)
ids = ["n1", "n2", "n3"]
raft = {n: f"127.0.0.1:{a.raft_base + i + 1}" for i, n in enumerate(ids)}
http = {n: f"127.0.0.1:{a.http_base + i + 1}" for i, n in enumerate(ids)}
procs = {}


def start(node):
    args = [a.binary, "serve", "--id", node, "--raft", raft[node], "--http", http[node],
            "--peers", ",".join(f"{n}={raft[n]}" for n in ids),
            "--peers-http", ",".join(f"{n}={http[n]}" for n in ids),
            "--data-dir", f"{a.dir}/{node}", "--log-level", "error"]
    procs[node] = subprocess.Popen(args, stdout=open(f"{a.dir}/{node}.log", "ab"), stderr=subprocess.STDOUT)


def request(node, method, path, body=None, timeout=1.0):
    req = urllib.request.Request(f"http://{http[node]}{path}", data=body, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return response.status, response.read()


def leader():
    for node in ids:
        try:
            status, body = request(node, "GET", "/status", timeout=0.5)
            state = json.loads(body)
            if state.get("role") == "leader":
                return node
        except Exception:
            pass
    return None


def put_ok(node):
    try:
        status, _ = request(node, "PUT", "/kv/failover", b"x", timeout=3.0)
        return status == 204
    except Exception:
        return False


try:
    for node in ids:
        start(node)
    times = []
    for trial in range(a.trials):
        deadline = time.time() + 30
        current = None
        while time.time() < deadline:
            current = leader()
            if current and put_ok(current):
                break
            time.sleep(0.1)
        if current is None:
            raise SystemExit("no leader within 30 s")
        survivors = [n for n in ids if n != current]
        procs[current].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        procs[current].wait()
        done = None
        while done is None and time.monotonic() - killed < 30:
            for node in survivors:
                if put_ok(node):
                    done = time.monotonic()
                    break
        if done is None:
            raise SystemExit("no write acknowledged within 30 s of the kill")
        elapsed = (done - killed) * 1000
        times.append(elapsed)
        print(f"trial {trial + 1}: killed {current}, write acknowledged after {elapsed:.0f} ms", flush=True)
        start(current)
        time.sleep(0.5)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{statistics.median(times):.0f} ms median, {p99:.0f} ms p99, {times[-1]:.0f} ms max "
          f"({len(times)} trials; election timeout 150-300 ms, heartbeat timeout 200 ms)")
finally:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(a.dir, ignore_errors=True)
