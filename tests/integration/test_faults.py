# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Fault injection: descriptors running out under a storm, an upstream
killed mid-transfer or never reading, trickling and tiny-window clients, a
storm of reloads (some broken, some removing a listener) during transfers,
and a stop under load. Each asserts what the clients and the log see, and
that the daemon serves afterwards."""

import hashlib
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, MIB, Worker, check_session,
                     connect, echo_exchange, free_port, recv_to_eof,
                     send_stream, stream_digest, wait_closed, wait_until)


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


def serves(d, port, name, upstream):
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    mark = d.mark()
    assert echo_exchange(c, b"still serving") == b"still serving"
    c.close()
    check_session(d.wait_session(me[1], since=mark), name=name, client=me,
                  upstream=upstream, mptcp=True, bytes_in=13, bytes_out=13,
                  end="client_close")


# --- descriptors ---------------------------------------------------------------

@pytest.mark.deadline(240)
def test_fd_storm(relayd, backend):
    """ulimit -n 256, 5 x 256 clients at once pushing 64 KiB each, splice on,
    two workers: nobody accepted and dropped, no spinning while full, and
    every client is served in the end."""
    b = backend(backlog=2048)
    port = free_port()
    d = relayd(GLOBAL_SECTION + "workers = 2\n"
               + listener("storm", f"127.0.0.1:{port}", b.addr,
                          "backlog = 2048\n"),
               prefix=("prlimit", "--nofile=256:256", "--"))
    n, size = 5 * 256, 64 * KIB
    payload = random.Random(1).randbytes(size)
    want = hashlib.sha256(payload).hexdigest()
    results = []
    lock = threading.Lock()
    go = threading.Event()

    def client():
        c = connect("127.0.0.1", port, mptcp=True, timeout=60)
        try:
            c.settimeout(180)
            go.wait(120)
            got = echo_exchange(c, payload, timeout=180)
            with lock:
                results.append(hashlib.sha256(got).hexdigest())
        finally:
            c.close()

    threads = [Worker(client) for _ in range(n)]
    for t in threads:
        t.start()
    # Full, with every session admitted idle and the rest queued: the
    # daemon must sleep, not spin on its listening socket.
    d.wait_line(r"fill the open files limit", 60)
    time.sleep(1)
    cpu0 = d.cpu_seconds()
    time.sleep(2)
    busy = d.cpu_seconds() - cpu0
    go.set()
    for t in threads:
        t.get(200)
    assert results.count(want) == n, f"{results.count(want)} of {n} intact"
    assert busy < 0.3, f"{busy:.2f}s of CPU in 2s while full and idle"
    wait_until(lambda: len(d.sessions()) == n, 30, what=f"{n} lines")
    assert all(s["end"] == "client_close" for s in d.sessions())
    assert not any("EMFILE" in ln or "ENFILE" in ln for ln in d.lines)
    serves(d, port, "storm", b.addr)


# --- the upstream fails ----------------------------------------------------------

ECHO_PROCESS = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
"""


def test_upstream_killed_mid_transfer(relayd, backend):
    """An upstream process killed with SIGKILL in the middle of a transfer:
    the client gets a reset, promptly, and the daemon serves the next one."""
    up = free_port()
    p = subprocess.Popen([sys.executable, "-c", ECHO_PROCESS, str(up)],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert p.stdout.readline().strip() == b"ready"
        port = free_port()
        d = relayd(GLOBAL_SECTION + listener("kill", f"127.0.0.1:{port}",
                                             f"127.0.0.1:{up}"))
        c = connect("127.0.0.1", port, mptcp=True)
        me = c.getsockname()
        c.sendall(b"x" * MIB)
        got = 0
        while got < MIB // 2:
            got += len(c.recv(256 * KIB))
        p.kill()
        p.wait(10)
        c.settimeout(30)
        how = "eof"
        try:
            while True:
                c.sendall(b"y" * 64 * KIB)
        except (ConnectionResetError, BrokenPipeError):
            how = "reset"
        c.close()
        assert how == "reset"
        rec = d.wait_session(me[1], timeout=30)
        assert rec["end"] == "upstream_reset", rec
        b = backend(port=up)
        serves(d, port, "kill", b.addr)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def never_read(conn, rec):
    rec["hold"] = threading.Event()
    rec["hold"].wait(60)
    return 0


@pytest.mark.deadline(60)
def test_upstream_that_never_reads(relayd, backend):
    """The client pushes into an upstream that accepts and never reads: the
    daemon's memory stays bounded, idle_timeout ends the session, and the
    client sees a reset, not a clean end."""
    b = backend(never_read)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("stuck", f"127.0.0.1:{port}", b.addr,
                                         "idle_timeout = 2s\n"))
    rss0 = d.rss_kib()
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 20
    # Push until nothing moves for a while (every buffer on the way full).
    while time.monotonic() < deadline:
        _, w, _ = select.select([], [c], [], 0.5)
        if not w:
            break
        try:
            sent += c.send(b"z" * 256 * KIB)
        except BlockingIOError:
            pass
    assert d.rss_kib() - rss0 < 16 * 1024, "relay memory grew with the load"
    c.setblocking(True)
    assert wait_closed(c, timeout=30) == "reset"
    c.close()
    rec = d.wait_session(me[1])
    assert rec["end"] == "idle_timeout", rec
    assert 0 < int(rec["bytes_in"]) <= sent, rec
    for r in b.accepted:
        r["hold"].set()


# --- unusual clients ------------------------------------------------------------

def test_trickling_writer_and_reader(relayd, backend):
    """One byte per write, one byte per read, both ways: every byte in
    order."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("drip", f"127.0.0.1:{port}", b.addr))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    data = bytes(range(256)) * 4
    got = bytearray()

    def reader():
        while len(got) < len(data):
            ch = c.recv(1)
            if not ch:
                break
            got.extend(ch)

    r = Worker(reader)
    r.start()
    for i in range(len(data)):
        c.send(data[i:i + 1])
    r.get(60)
    c.shutdown(socket.SHUT_WR)
    assert c.recv(1) == b""
    c.close()
    assert bytes(got) == data
    check_session(d.wait_session(me[1]), name="drip", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=len(data),
                  bytes_out=len(data), end="client_close")


@pytest.mark.deadline(180)
def test_client_with_a_tiny_receive_buffer(relayd, backend):
    """A client whose receive buffer is 4 KiB takes 2 MiB slowly and whole:
    the relay waits on it, never drops or reorders."""
    def flood(conn, rec):
        return send_stream(conn, 7, 2 * MIB)

    b = backend(flood)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("tiny", f"127.0.0.1:{port}", b.addr))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", port))
    me = s.getsockname()
    n, digest = recv_to_eof(s, deadline=time.monotonic() + 120)
    s.close()
    assert n == 2 * MIB and digest == stream_digest(7, 2 * MIB)
    check_session(d.wait_session(me[1]), name="tiny", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=0,
                  bytes_out=2 * MIB, end=("upstream_close", "client_close"))


# --- reloads under load ----------------------------------------------------------

def sha_echo(conn, rec):
    """Reads the client's stream to its end while sending its own (seed
    and size first, 4 bytes each): both hashes end up in the record."""
    head = conn.recv(8, socket.MSG_WAITALL)
    seed, size = int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")
    sender = Worker(send_stream, conn, seed + 1, size, True)
    sender.start()
    rec["got"] = recv_to_eof(conn, deadline=time.monotonic() + 170)
    rec["sent"] = sender.get(170)
    return rec["got"][0]


@pytest.mark.deadline(240)
def test_reload_storm_during_transfers(relayd, backend):
    """100 SIGHUPs in about 5 s while 20 transfers of 40 MiB run both
    ways; a quarter of the files are broken, a quarter remove the other
    listener: every byte arrives (sha256), the daemon never stops serving,
    and its descriptors come back to their count before."""
    b = backend(sha_echo)
    port, port2 = free_port(), free_port()
    good = GLOBAL_SECTION + listener("main", f"127.0.0.1:{port}", b.addr) \
        + listener("extra", f"127.0.0.1:{port2}", b.addr)
    removed = GLOBAL_SECTION + listener("main", f"127.0.0.1:{port}", b.addr)
    broken = good + "\nworkers = banana\n"
    d = relayd(good)
    fds0 = d.open_fds()

    def transfer(i, size=40 * MIB, to=port):
        c = connect("127.0.0.1", to, mptcp=True, timeout=30)
        try:
            c.settimeout(170)
            c.sendall((1000 + i).to_bytes(4, "big") + size.to_bytes(4, "big"))
            sender = Worker(send_stream, c, 1000 + i, size, True)
            sender.start()
            got = recv_to_eof(c, deadline=time.monotonic() + 170)
            sent = sender.get(170)
            return sent, got
        finally:
            c.close()

    threads = [Worker(transfer, i) for i in range(20)]
    for t in threads:
        t.start()
    files = [good, broken, removed, good]
    for i in range(100):
        with open(d.config_path, "w") as f:
            f.write(files[i % 4])
        d.send_signal(signal.SIGHUP)
        time.sleep(0.05)
    results = [t.get(200) for t in threads]
    for i, (sent, got) in enumerate(results):
        assert got == (40 * MIB, stream_digest(1001 + i, 40 * MIB)), i
    recs = list(b.accepted)
    assert len(recs) == 20
    wanted = {stream_digest(1000 + i, 40 * MIB) for i in range(20)}
    assert {r["got"][1] for r in recs} == wanted
    assert any("reload failed" in ln for ln in d.lines)
    # Back to the good file: both listeners serve.
    with open(d.config_path, "w") as f:
        f.write(good)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(r"^notice: reloaded .*: 2 listeners", 30, start=mark)
    for to in (port, port2):
        assert transfer(77, 64 * KIB, to)[1] == \
            (64 * KIB, stream_digest(1078, 64 * KIB))
    wait_until(lambda: d.open_fds() <= fds0, 30,
               what=f"descriptors back to {fds0}")


# --- a stop under load ------------------------------------------------------------

@pytest.mark.deadline(120)
def test_sigterm_under_load(relayd, backend):
    """SIGTERM while 50 sessions stream: new connections are refused at
    once, the sessions that end in time end cleanly, the others are reset
    at shutdown_timeout, and the exit status is 0."""
    def slow_echo(conn, rec):
        n = 0
        while True:
            d = conn.recv(4096)
            if not d:
                break
            conn.sendall(d)
            n += len(d)
            time.sleep(0.01)
        conn.shutdown(socket.SHUT_WR)
        return n

    b = backend(slow_echo)
    port = free_port()
    d = relayd("[global]\nlog_level = info\nshutdown_timeout = 3s\n"
               + listener("stop", f"127.0.0.1:{port}", b.addr))
    clients = [connect("127.0.0.1", port, mptcp=True) for _ in range(50)]
    for c in clients:
        c.sendall(b"w" * 1024)
    wait_until(lambda: len(b.accepted) == 50, 30, what="50 sessions")
    # Ten finish their exchange early: they must end cleanly.
    for c in clients[:10]:
        c.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    d.wait_line(r"SIGTERM: stopping", 10)
    with pytest.raises(ConnectionRefusedError):
        connect("127.0.0.1", port, mptcp=True, timeout=5).close()
    ends = {"eof": 0, "reset": 0}
    for c in clients[10:]:
        c.settimeout(30)
        try:
            while c.recv(65536):
                pass
            ends["eof"] += 1
        except ConnectionResetError:
            ends["reset"] += 1
        c.close()
    for c in clients[:10]:
        c.close()
    assert d.wait_exit(30) == 0
    assert time.monotonic() - t0 >= 2.5
    recs = d.sessions()
    assert len(recs) == 50
    by_end = {}
    for r in recs:
        by_end[r["end"]] = by_end.get(r["end"], 0) + 1
    assert by_end.get("shutdown", 0) == 40, by_end
    assert ends == {"eof": 0, "reset": 40}, ends
