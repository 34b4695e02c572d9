# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""The metrics endpoint (stats_listen): exact values after known traffic,
checked by Debian's promtool and scraped by a real Prometheus server; the
HTTP edges; scrapes while 2,000 sessions are open; a reload that moves it;
and the per-path debug lines at a session's end.

Values that belong to the whole network namespace (the kernel's MPTCP
counters) or to the moment (the process's CPU and memory) are checked
against what /proc says just before and after the scrape; everything the
daemon counts itself must be exact."""

import http.client
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from helpers import (GLOBAL_SECTION, KIB, Failure, Worker, connect,
                     echo_exchange, free_port, need_program, recv_exactly,
                     wait_port, wait_until)

SCRAPE_TIMEOUT = 30  # generous: a sanitizer build on a busy machine
ENDS = ["client_close", "upstream_close", "client_reset", "upstream_reset",
        "connect_failed", "connect_timeout", "idle_timeout", "shutdown",
        "no_memory"]
RESULTS = ["ok", "refused", "timeout", "error"]
REASONS = ["acl", "proxy_header"]
BUCKETS = ["1", "2", "3", "4", "8", "+Inf"]
BACKOFF_S = 10  # upstream_up's backoff until upstream_backoff exists


# --- the endpoint as a client sees it --------------------------------------

def request(port, method="GET", path="/metrics", headers=None, body=None):
    """One request on a connection of its own: (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def scrape(port):
    status, headers, body = request(port)
    assert status == 200, (status, body)
    assert headers["Content-Type"] == \
        "text/plain; version=0.0.4; charset=utf-8", headers
    return body.decode("utf-8")


SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), v)


def parse(text):
    """{(name, ((label, value), ...)): value} of every sample, labels
    sorted; fails on a line that is not a comment or a sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = []
        if m.group(2):
            pos = 0
            while pos < len(m.group(2)):
                lm = LABEL_RE.match(m.group(2), pos)
                assert lm, f"bad labels: {line!r}"
                labels.append((lm.group(1), unescape(lm.group(2))))
                pos = lm.end()
        key = (m.group(1), tuple(sorted(labels)))
        assert key not in samples, f"duplicate sample: {line!r}"
        samples[key] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {key}"
    return samples[key]


def need_tool(name):
    """Debian's prometheus package provides promtool and prometheus;
    missing, the test fails in CI and skips (saying why) elsewhere."""
    path = shutil.which(name) or f"/usr/bin/{name}"
    return need_program(path, "prometheus")


def promtool_check(text):
    """promtool check metrics: its complaints (empty when none)."""
    p = subprocess.run([need_tool("promtool"), "check", "metrics"],
                       input=text.encode(), capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
    assert p.returncode == 0 or out, "promtool failed without saying why"
    return out


def kernel_counters():
    """The MPTcpExt counters of this namespace, as /proc says now."""
    with open("/proc/net/netstat") as f:
        lines = [ln.split() for ln in f if ln.startswith("MPTcpExt:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def start_time(pid):
    """process_start_time_seconds, computed as client libraries do."""
    with open("/proc/stat") as f:
        btime = next(int(ln.split()[1]) for ln in f
                     if ln.startswith("btime "))
    return btime + int(proc_stat(pid)[19]) / os.sysconf("SC_CLK_TCK")


def max_fds(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise Failure("no open files limit")


def stats_config(stats_port, body, extra_global=""):
    return (GLOBAL_SECTION + f"stats_listen = 127.0.0.1:{stats_port}\n" +
            extra_global + body)


def wait_metric(port, check, timeout=30, what="metrics"):
    """Scrape until check(samples) is true (the session line is written a
    moment before its counts); return those samples."""
    last = {}

    def ready():
        last["s"] = parse(scrape(port))
        return check(last["s"])
    wait_until(ready, timeout, interval=0.1, what=what)
    return last["s"]


# --- traffic -----------------------------------------------------------------

def echo_once(port, size, mptcp, source=None):
    """One session of size bytes echoed; returns the client's port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM,
                      262 if mptcp else 0)
    s.settimeout(30)
    try:
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        data = os.urandom(size)
        assert echo_exchange(s, data) == data
        return s.getsockname()[1]
    finally:
        s.close()


def refused(port, payload=None, source=None):
    """A client the relay closes before relaying: an ACL or a bad PROXY
    header (payload)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        if source:
            s.bind((source, 0))
        try:
            s.connect(("127.0.0.1", port))
            if payload:
                s.sendall(payload)
            while s.recv(4096):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass
    finally:
        s.close()


def dead_port():
    """A port with nothing listening: connects are refused."""
    return free_port()


# --- exact values --------------------------------------------------------------

@pytest.mark.deadline(180)
def test_exact_values_with_workers(relayd, backend, tmp_path):
    """Known traffic through two listeners, spread over two loops: MPTCP
    and plain clients, one refused by allow, one with a bad PROXY header,
    and one relayed to an upstream that refuses connects."""
    b = backend()
    sport, mport, dport, nothing = (free_port(), free_port(), free_port(),
                                    dead_port())
    d = relayd(stats_config(sport, (
        f"\n[mp]\nlisten = 127.0.0.1:{mport}\nupstream = {b.addr}\n"
        "allow = 127.0.0.1/32\nmax_connections = 100\n"
        f"\n[dead]\nlisten = 127.0.0.1:{dport}\nprotocol = tcp\n"
        f"upstream = 127.0.0.1:{nothing}\naccept_proxy = yes\n"),
        "workers = 2\n"))
    sizes = {True: [1000, 20 * KIB, 300 * KIB], False: [5000, 7]}
    for mptcp, these in sizes.items():
        for size in these:
            echo_once(mport, size, mptcp)
    refused(mport, source="127.0.0.2")                  # acl
    refused(dport, payload=b"GARBAGE\r\n")              # proxy_header
    t_fail = time.monotonic()
    refused(dport, payload=b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\n"
            b"hello")                                   # connect refused
    wait_until(lambda: len(d.sessions()) == 6, 30, what="6 session lines")
    lines = d.sessions()

    samples = wait_metric(sport, lambda s: sum(
        v for k, v in s.items() if k[0] == "mptcp_relayd_session_ends_total")
        == 6, what="6 ended sessions counted")
    before = kernel_counters()
    text = scrape(sport)
    after = kernel_counters()
    t_scrape = time.monotonic()
    assert promtool_check(text) == "", promtool_check(text)
    s = parse(text)
    # Nothing the daemon counts moved since (the moment's values aside).
    moving = ("process_", "mptcp_relayd_kernel", "mptcp_relayd_upstream_up")
    assert {k: v for k, v in s.items() if not k[0].startswith(moving)} == \
        {k: v for k, v in samples.items() if not k[0].startswith(moving)}

    def of(name):
        return [r for r in lines if r["name"] == name]
    for name in ("mp", "dead"):
        recs = of(name)
        assert value(s, "mptcp_relayd_sessions_total", listener=name,
                     mptcp="yes") == sum(r["mptcp"] == "yes" for r in recs)
        assert value(s, "mptcp_relayd_sessions_total", listener=name,
                     mptcp="no") == sum(r["mptcp"] == "no" for r in recs)
        assert value(s, "mptcp_relayd_sessions_active", listener=name) == 0
        for end in ENDS:
            assert value(s, "mptcp_relayd_session_ends_total", listener=name,
                         end=end) == sum(r["end"] == end for r in recs)
        for direction in ("in", "out"):
            assert value(s, "mptcp_relayd_bytes_total", listener=name,
                         direction=direction) == \
                sum(int(r[f"bytes_{direction}"]) for r in recs)
        most = [int(r["subflows"]) for r in recs if r["mptcp"] == "yes"]
        for le in BUCKETS:
            want = sum(le == "+Inf" or n <= int(le) for n in most)
            assert value(s, "mptcp_relayd_session_subflows_bucket",
                         listener=name, le=le) == want, le
        assert value(s, "mptcp_relayd_session_subflows_count",
                     listener=name) == len(most)
        assert value(s, "mptcp_relayd_session_subflows_sum",
                     listener=name) == sum(most)
    # What the test sent, as the log lines say it.
    assert value(s, "mptcp_relayd_sessions_total", listener="mp",
                 mptcp="yes") == 3
    assert value(s, "mptcp_relayd_sessions_total", listener="mp",
                 mptcp="no") == 2
    assert value(s, "mptcp_relayd_bytes_total", listener="mp",
                 direction="in") == sum(sum(v) for v in sizes.values())
    assert value(s, "mptcp_relayd_session_ends_total", listener="dead",
                 end="connect_failed") == 1
    for name, reason, n in (("mp", "acl", 1), ("mp", "proxy_header", 0),
                            ("dead", "acl", 0), ("dead", "proxy_header", 1)):
        assert value(s, "mptcp_relayd_refused_total", listener=name,
                     reason=reason) == n
    for name, up, counts in (("mp", b.addr, {"ok": 5}),
                             ("dead", f"127.0.0.1:{nothing}",
                              {"refused": 1})):
        for result in RESULTS:
            assert value(s, "mptcp_relayd_upstream_connects_total",
                         listener=name, upstream=up,
                         result=result) == counts.get(result, 0)
    assert value(s, "mptcp_relayd_upstream_up", listener="mp",
                 upstream=b.addr) == 1
    # Backed off for 10 s after its failed connect (no timing asserted:
    # only a scrape that came sooner must say 0).
    if t_scrape - t_fail < BACKOFF_S:
        assert value(s, "mptcp_relayd_upstream_up", listener="dead",
                     upstream=f"127.0.0.1:{nothing}") == 0
    assert value(s, "mptcp_relayd_max_connections", listener="mp") == 100
    assert value(s, "mptcp_relayd_max_connections", listener="dead") == 0
    assert value(s, "mptcp_relayd_mptcp_ready") == 1

    # The namespace's MPTcpExt counters, each between two reads of /proc.
    kernel = {dict(k[1])["counter"]: v for k, v in s.items()
              if k[0] == "mptcp_relayd_kernel_mptcp_total"}
    assert set(kernel) == set(after), set(kernel) ^ set(after)
    for name, v in kernel.items():
        assert before[name] <= v <= after[name], name
    assert kernel["MPCapableSYNRX"] >= 3

    assert value(s, "process_start_time_seconds") == \
        pytest.approx(start_time(d.pid), abs=0.01)
    assert value(s, "process_max_fds") == max_fds(d.pid)
    assert 0 < value(s, "process_open_fds") <= d.open_fds() + 5
    assert 0 < value(s, "process_cpu_seconds_total") <= d.cpu_seconds() + 0.1
    assert value(s, "process_resident_memory_bytes") > 0
    assert value(s, "process_virtual_memory_bytes") >= \
        value(s, "process_resident_memory_bytes")


@pytest.mark.deadline(180)
def test_prometheus_server_scrapes_the_relayed_bytes(relayd, backend, peers,
                                                     tmp_path):
    """A real Prometheus server (Debian's package) scrapes the daemon; its
    HTTP API then answers the relayed byte count of the log lines."""
    prometheus = need_tool("prometheus")
    b = backend()
    sport, mport, pport = free_port(), free_port(), free_port()
    d = relayd(stats_config(sport, f"\n[web]\nlisten = 127.0.0.1:{mport}\n"
                            f"upstream = {b.addr}\n"))
    for size, mptcp in ((12345, True), (54321, False), (1, True)):
        echo_once(mport, size, mptcp)
    wait_until(lambda: len(d.sessions()) == 3, 30, what="3 session lines")
    relayed = sum(int(r["bytes_in"]) for r in d.sessions())
    wait_metric(sport, lambda s: value(
        s, "mptcp_relayd_bytes_total", listener="web", direction="in")
        == relayed)

    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                   "scrape_configs:\n  - job_name: mptcp-relayd\n"
                   "    static_configs:\n"
                   f"      - targets: ['127.0.0.1:{sport}']\n")
    (tmp_path / "tsdb").mkdir()
    peers([prometheus, f"--config.file={cfg}",
           f"--storage.tsdb.path={tmp_path / 'tsdb'}",
           f"--web.listen-address=127.0.0.1:{pport}"],
          tmp_path / "prometheus.log")
    wait_port(pport, timeout=60)

    def api(path, **params):
        """The data of an API answer; None while the server starts."""
        url = f"/api/v1/{path}?" + urllib.parse.urlencode(params)
        c = http.client.HTTPConnection("127.0.0.1", pport, timeout=10)
        try:
            c.request("GET", url)
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        if r.status != 200:
            return None
        body = json.loads(raw)
        assert body["status"] == "success", body
        return body["data"]

    def target_up():
        data = api("targets")
        return data and data["activeTargets"] and all(
            t["health"] == "up" for t in data["activeTargets"])
    wait_until(target_up, 60, interval=0.5, what="the target up")

    def relayed_seen():
        data = api("query", query='sum(mptcp_relayd_bytes_total'
                   '{job="mptcp-relayd",direction="in"})')
        return data and data["result"] and \
            float(data["result"][0]["value"][1]) == relayed
    wait_until(relayed_seen, 60, interval=0.5,
               what=f"Prometheus to report {relayed} bytes")
    up = api("query", query='mptcp_relayd_sessions_total{mptcp="yes"}')
    assert [float(r["value"][1]) for r in up["result"]] == [2.0]


# --- the HTTP edges ------------------------------------------------------------

def test_http_requests_as_a_web_server_answers(relayd, backend):
    b = backend()
    sport, mport = free_port(), free_port()
    relayd(stats_config(sport, f"\n[web]\nlisten = 127.0.0.1:{mport}\n"
                        f"upstream = {b.addr}\n"))
    get = scrape(sport)
    assert get.startswith("# HELP mptcp_relayd_sessions_total ")

    status, headers, body = request(sport, "HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    # The length GET would have (the CPU time may differ by a digit).
    assert abs(int(headers["Content-Length"]) - len(get)) < 32

    status, headers, body = request(sport, path="/")
    assert status == 200, status
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<a href="/metrics">' in body
    status, headers, body = request(sport, "HEAD", path="/")
    assert status == 200 and body == b""

    status, _, _ = request(sport, path="/metrics?name[]=x")
    assert status == 200
    for path in ("/nope", "/metrics/", "/metricsx", "/index.html"):
        status, _, _ = request(sport, path=path)
        assert status == 404, path
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT",
                   "PATCH"):
        status, headers, _ = request(sport, method)
        assert status == 405, method
        assert headers.get("Allow") == "GET, HEAD", headers
    # CONNECT names a host and port, not a path: 405 all the same.
    status, headers, _ = request(sport, "CONNECT", path=f"127.0.0.1:{sport}")
    assert status == 405 and headers.get("Allow") == "GET, HEAD", headers
    # A body is never taken, however announced.
    status, _, _ = request(sport, "POST", body=b"x" * 4096)
    assert status in (405, 413), status

    # Request headers past 8 KiB: refused with 400 (or a reset, should the
    # refusal outrun the bytes still coming), never served.
    for pad in (9000, 100000):
        reply = b""
        with socket.create_connection(("127.0.0.1", sport), timeout=30) as s:
            try:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" +
                          b"X-Pad: " + b"p" * pad + b"\r\n\r\n")
                while chunk := s.recv(65536):
                    reply += chunk
            except (ConnectionResetError, BrokenPipeError):
                pass
        assert reply == b"" or reply.startswith(b"HTTP/1.1 400 "), \
            reply[:100]
    assert scrape(sport)    # still serving


def established_by(pid, port):
    """Connections to port that process pid has accepted (queued ones belong
    to no process yet)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          f"( sport = :{port} )"], capture_output=True,
                         text=True, timeout=30).stdout
    return sum(f"pid={pid}," in line for line in out.splitlines())


@pytest.mark.deadline(120)
def test_connections_capped(relayd, backend):
    """At most 16 connections are served at once; the others wait in the
    listen queue and are served once there is room."""
    b = backend()
    sport, mport = free_port(), free_port()
    d = relayd(stats_config(sport, f"\n[web]\nlisten = 127.0.0.1:{mport}\n"
                            f"upstream = {b.addr}\n"))
    idle = []
    try:
        for _ in range(24):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", sport))
            idle.append(s)
        wait_until(lambda: established_by(d.pid, sport) == 16, 30,
                   what="16 connections accepted")
        time.sleep(0.5)     # nothing more is accepted meanwhile
        assert established_by(d.pid, sport) == 16
    finally:
        for s in idle:
            s.close()
    assert scrape(sport)
    wait_until(lambda: established_by(d.pid, sport) == 0, 30,
               what="the idle connections gone")


# --- 2,000 sessions open --------------------------------------------------------

class EchoServer:
    """An echo backend for many connections in one thread (selectors)."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.2):
                if key.fileobj is self.sock:
                    try:
                        c, _ = self.sock.accept()
                    except BlockingIOError:
                        continue
                    c.setblocking(True)
                    c.settimeout(5)
                    self.sel.register(c, selectors.EVENT_READ)
                    continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                    if data:
                        c.sendall(data)
                        continue
                except OSError:
                    pass
                self.sel.unregister(c)
                c.close()

    def close(self):
        self.stop = True
        self.thread.join(10)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


@pytest.mark.deadline(300)
def test_scrapes_while_2000_sessions_open_with_workers(relayd):
    """20 scrapes while 2,000 sessions are open and some of them carry
    traffic: each scrape answers, sessions_active is exactly 2,000, and the
    relaying completes."""
    echo = EchoServer()
    sport, mport = free_port(), free_port()
    clients = []
    try:
        relayd(stats_config(sport, f"\n[web]\nlisten = 127.0.0.1:{mport}"
                                f"\nupstream = 127.0.0.1:{echo.port}\n",
                                "workers = 2\n"))
        for i in range(2000):
            clients.append(connect("127.0.0.1", mport, mptcp=i % 2 == 0))
        for c in clients:     # each relayed once: the session is up
            c.sendall(b"!")
        for c in clients:
            assert recv_exactly(c, 1) == b"!"

        def ping_pong(socks, rounds):
            for n in range(rounds):
                for s in socks:
                    msg = f"{n:08d}".encode() * 64
                    s.sendall(msg)
                    assert recv_exactly(s, len(msg)) == msg
            return rounds
        busy = Worker(ping_pong, clients[:40], 50, name="ping-pong")
        busy.start()
        for _ in range(20):
            s = parse(scrape(sport))
            assert value(s, "mptcp_relayd_sessions_active",
                         listener="web") == 2000
            assert value(s, "mptcp_relayd_sessions_total", listener="web",
                         mptcp="yes") + value(
                s, "mptcp_relayd_sessions_total", listener="web",
                mptcp="no") <= 2000
        assert busy.get(240) == 50
        for c in clients:
            c.close()
        clients = []
        s = wait_metric(sport, lambda s: value(
            s, "mptcp_relayd_sessions_active", listener="web") == 0,
            timeout=120, what="every session ended")
        assert value(s, "mptcp_relayd_sessions_total", listener="web",
                     mptcp="yes") == 1000
        assert value(s, "mptcp_relayd_sessions_total", listener="web",
                     mptcp="no") == 1000
    finally:
        for c in clients:
            c.close()
        echo.close()


# --- reload --------------------------------------------------------------------

def refused_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.deadline(120)
def test_reload_moves_stats_listen(relayd, backend):
    b = backend()
    first, second, mport = free_port(), free_port(), free_port()
    body = f"\n[web]\nlisten = 127.0.0.1:{mport}\nupstream = {b.addr}\n"
    d = relayd(stats_config(first, body))
    echo_once(mport, 777, True)
    wait_until(lambda: d.sessions(), 30, what="the session line")
    counted = wait_metric(first, lambda s: value(
        s, "mptcp_relayd_bytes_total", listener="web", direction="in") == 777)

    with open(d.config_path, "w") as f:
        f.write(stats_config(second, body))
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(rf"^notice: metrics endpoint moved from 127\.0\.0\.1:{first} "
                rf"to 127\.0\.0\.1:{second}$", 30, start=mark)
    d.wait_line(r"^notice: reloaded ", 30, start=mark)
    moved = parse(scrape(second))
    assert refused_connect(first)
    # The counters go on where they were.
    assert value(moved, "mptcp_relayd_bytes_total", listener="web",
                 direction="in") == value(counted, "mptcp_relayd_bytes_total",
                                          listener="web", direction="in")

    # An address taken by someone else: the reload fails, nothing moves.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with open(d.config_path, "w") as f:
            f.write(stats_config(taken.getsockname()[1], body))
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        d.wait_line(r"^error: metrics endpoint: cannot listen on "
                    r"127\.0\.0\.1:\d+ \(stats_listen\): bind: ", 30,
                    start=mark)
        d.wait_line(r"^error: reload failed: the running configuration "
                    r"stays$", 30, start=mark)
    finally:
        taken.close()
    assert scrape(second)

    # No stats_listen any more: the endpoint closes.
    with open(d.config_path, "w") as f:
        f.write(GLOBAL_SECTION + body)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(rf"^notice: metrics endpoint on 127\.0\.0\.1:{second} "
                r"closed", 30, start=mark)
    assert refused_connect(second)


# --- per-path detail -------------------------------------------------------------

def test_debug_lines_per_subflow_at_session_end(relayd, backend):
    b = backend()
    mport = free_port()
    d = relayd(GLOBAL_SECTION.replace("log_level = info",
                                      "log_level = debug") +
               f"\n[web]\nlisten = 127.0.0.1:{mport}\nupstream = {b.addr}\n")
    mptcp_port = echo_once(mport, 4096, True)
    tcp_port = echo_once(mport, 4096, False)
    rec = d.wait_session(mptcp_port, 30)
    d.wait_session(tcp_port, 30)
    rx = re.compile(r"^debug: web: session \d+: client side: subflow "
                    r"(\d+)/(\d+): local=127\.0\.0\.1:(\d+) "
                    rf"remote=127\.0\.0\.1:{mptcp_port} bytes_sent=(\d+) "
                    r"bytes_received=(\d+) backup=(yes|no)$")
    found = [m for m in map(rx.match, d.text().splitlines()) if m]
    assert len(found) == 1, d.text()
    m = found[0]
    assert (m.group(1), m.group(2), int(m.group(3))) == ("1", "1", mport)
    # The subflow's own counts: at least the session's bytes.
    assert int(m.group(4)) >= int(rec["bytes_out"])
    assert int(m.group(5)) >= int(rec["bytes_in"])
    assert m.group(6) == "no"   # root here: the kernel tells
    # A plain-TCP client has no subflows to tell of.
    assert not re.search(rf"remote=127\.0\.0\.1:{tcp_port} ", d.text())
