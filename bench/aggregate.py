#!/usr/bin/python3
# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Bandwidth aggregation through mptcp-relayd, and the stall of a failover.

A client namespace with two links to the relay's namespace, each shaped in
both directions (tbf RATE + netem DELAY), the relay in front of a plain TCP
service on its loopback. The service sends as fast as it can for DURATION
seconds to:
  1. a plain TCP client (one link),
  2. an MPTCP client with a 'subflow' endpoint on its second link
     (2 subflows),
and the client's goodput is compared: MPTCP / TCP, target >= 1.8.
Then an MPTCP client loses the link of its first subflow mid-transfer and
the longest gap between two reads is reported as the failover stall.

Run as root from the source tree after building:  bench/aggregate.py
Options: see --help. Exit status: 0 the target was met, 1 it was not,
2 the benchmark could not run. Everything it creates (namespaces, the
daemon, threads) is removed on every exit path.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import netns  # noqa: E402

IPPROTO_MPTCP = 262
SOL_TCP = 6
TCP_IS_MPTCP = 43
BACKEND_PORT = 7000
RELAY_PORT = 8000
CHUNK = 64 * 1024


def shape(ns, dev, rate, delay):
    """tbf at rate on dev's egress, then netem delay under it. Returns
    False when the kernel has no netem (then the link is rate-limited
    only)."""
    ns.ip("link", "set", dev, "txqueuelen", "1000")
    run = ["tc", "qdisc", "add", "dev", dev]
    ns.exec(*run, "root", "handle", "1:", "tbf", "rate", rate,
            "burst", "32kbit", "latency", "100ms")
    p = ns.exec(*run, "parent", "1:1", "handle", "10:", "netem", "delay",
                delay, "limit", "10000", check=False)
    if p.returncode == 0:
        return True
    if "unknown" in p.stderr:
        return False
    raise netns.NetnsError(f"tc netem on {dev}: {p.stderr.strip()}")


class Service:
    """The plain TCP service: each connection gets data as fast as it
    takes it, until the client closes or the time is up."""

    def __init__(self, ns, seconds, host="127.0.0.1", port=BACKEND_PORT):
        self.seconds = seconds
        self.stop = threading.Event()
        with ns.entered():
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(16)
        self.sock.settimeout(1)
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        block = os.urandom(CHUNK)
        conn.settimeout(10)
        end = time.monotonic() + self.seconds
        try:
            while time.monotonic() < end and not self.stop.is_set():
                conn.sendall(block)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        self.acceptor.join(5)
        for t in self.threads:
            t.join(15)


def receive(ns, addr, mptcp, seconds, on_time=None, port=RELAY_PORT):
    """Connect from ns to addr:port, read to EOF (at most seconds + 20 s).
    Returns (bytes, seconds, longest gap between reads, gap end time,
    is_mptcp). on_time = (t, fn): fn() runs once, t seconds in."""
    with ns.entered():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM,
                          IPPROTO_MPTCP if mptcp else 0)
    s.settimeout(10)
    try:
        s.connect((addr, port))
        is_mptcp = s.getsockopt(SOL_TCP, TCP_IS_MPTCP)
        buf = bytearray(256 * 1024)
        t0 = last = time.monotonic()
        deadline = t0 + seconds + 20
        n = 0
        gap, gap_at = 0.0, None
        fired = on_time is None
        while time.monotonic() < deadline:
            k = s.recv_into(buf)
            now = time.monotonic()
            if k == 0:
                break
            if n > 0 and now - last > gap:
                gap, gap_at = now - last, now - t0
            last = now
            n += k
            if not fired and now - t0 >= on_time[0]:
                on_time[1]()
                fired = True
        return n, last - t0, gap, gap_at, is_mptcp
    finally:
        s.close()


def mbit(nbytes, secs):
    return nbytes * 8 / secs / 1e6 if secs > 0 else 0.0


def arguments(doc, duration):
    """The options both benchmarks take (aggregate.py, gateway.py)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--relayd", default=os.environ.get(
        "MPTCP_RELAYD", os.path.join(TOP, "src", "mptcp-relayd")))
    ap.add_argument("--rate", default="50mbit")
    ap.add_argument("--delay", default="10ms", help="one way, per link")
    ap.add_argument("--duration", type=float, default=duration)
    ap.add_argument("--failover-duration", type=float, default=12)
    ap.add_argument("--target", type=float, default=1.8)
    return ap


def can_run(name, relayd):
    """Root and a daemon; False after saying what is missing. From then
    on a signal ends the run through the caller's finally clauses."""
    if os.geteuid() != 0:
        print(f"{name}: needs root (network namespaces)", file=sys.stderr)
        return False
    if not os.access(relayd, os.X_OK):
        print(f"{name}: no daemon at {relayd} (build first)",
              file=sys.stderr)
        return False

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    return True


def main():
    args = arguments(__doc__, 30).parse_args()
    if not can_run("aggregate", args.relayd):
        return 2

    topo = daemon = service = None
    workdir = tempfile.mkdtemp(prefix="mptcp-relayd-bench-")
    try:
        topo = netns.Topology()
        topo.relay.mptcp_limits(2, 0)
        topo.client.mptcp_limits(2, 0)
        topo.client.mptcp_endpoint(topo.client_links[1].addr_a, "c1",
                                   "subflow")
        delayed = True
        for link in topo.client_links:
            delayed &= shape(link.a, link.dev_a, args.rate, args.delay)
            delayed &= shape(link.b, link.dev_b, args.rate, args.delay)
        service = Service(topo.relay, args.duration)
        cfg = os.path.join(workdir, "relay.ini")
        with open(cfg, "w") as f:
            f.write("[global]\nlog_level = info\nshutdown_timeout = 2s\n"
                    f"[bench]\nlisten = {topo.relay_addr}:{RELAY_PORT}\n"
                    f"upstream = 127.0.0.1:{BACKEND_PORT}\n")
        log = open(os.path.join(workdir, "relay.log"), "w+")
        daemon = subprocess.Popen(
            [*topo.relay.prefix(), args.relayd, "-c", cfg],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        netns_wait_listen(topo.relay, RELAY_PORT, daemon)

        if delayed:
            print(f"links: 2 x ({args.rate} tbf + {args.delay} netem "
                  f"delay, each direction); {args.duration:.0f} s download "
                  f"each", flush=True)
        else:
            print(f"links: 2 x ({args.rate} tbf, each direction); NO added "
                  f"delay: this kernel has no netem (CONFIG_NET_SCH_NETEM); "
                  f"{args.duration:.0f} s download each", flush=True)
        tcp = receive(topo.client, topo.relay_addr, False, args.duration)
        tcp_rate = mbit(tcp[0], tcp[1])
        print(f"plain TCP client (1 link):   {tcp_rate:7.1f} Mbit/s "
              f"({tcp[0] / 2**20:.0f} MiB in {tcp[1]:.1f} s)", flush=True)
        mp = receive(topo.client, topo.relay_addr, True, args.duration)
        mp_rate = mbit(mp[0], mp[1])
        assert mp[4] == 1, "the MPTCP client fell back to TCP"
        print(f"MPTCP client (2 subflows):   {mp_rate:7.1f} Mbit/s "
              f"({mp[0] / 2**20:.0f} MiB in {mp[1]:.1f} s)", flush=True)
        ratio = mp_rate / tcp_rate if tcp_rate else 0.0
        print(f"ratio MPTCP / TCP: {ratio:.2f} (target >= {args.target})",
              flush=True)

        service.seconds = args.failover_duration
        cut_at = args.failover_duration / 2
        fo = receive(topo.client, topo.relay_addr, True,
                     args.failover_duration,
                     on_time=(cut_at, topo.client_links[0].down))
        print(f"failover: link of the first subflow down at "
              f"{cut_at:.1f} s: longest stall {fo[2] * 1000:.0f} ms "
              f"(ending at {fo[3]:.2f} s); "
              f"{fo[0] / 2**20:.0f} MiB in {fo[1]:.1f} s", flush=True)
        log.seek(0)
        for line in log.read().splitlines():
            if " client=" in line:
                print("  relay: " + line)
        return 0 if ratio >= args.target else 1
    finally:
        stop(daemon)
        if service is not None:
            service.close()
        if topo is not None:
            topo.close()


def stop(daemon):
    """SIGTERM a daemon that runs (None: none), SIGKILL if it lingers."""
    if daemon is not None and daemon.poll() is None:
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)


def netns_wait_listen(ns, port, daemon, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if daemon.poll() is not None:
            raise SystemExit(f"aggregate: the daemon exited "
                             f"({daemon.returncode})")
        out = ns.exec("ss", "-Hltn", f"( sport = :{port} )").stdout
        out += ns.exec("ss", "-HlMn", f"( sport = :{port} )").stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise SystemExit("aggregate: the daemon is not listening")


if __name__ == "__main__":
    sys.exit(main())
