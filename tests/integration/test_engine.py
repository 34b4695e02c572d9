# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""The session engine under attack: each test here reproduces a defect the
relay once had (a wall-clock step, descriptors running out, a cut stream
delivered as complete, a signal that killed it, a reload waiting for a name
server, a cap polled for) and asserts what must happen instead."""

import os
import re
import signal
import socket
import threading
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, MIB, check_session, connect,
                     connect_until_closed, duration_of, echo_exchange, Failure,
                     free_port, wait_closed, wait_until)


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


def recv_until_closed(sock, timeout):
    """Read what the peer sends until it ends the stream: returns (bytes
    read, 'eof' or 'reset')."""
    n = 0
    sock.settimeout(timeout)
    while True:
        try:
            chunk = sock.recv(256 * KIB)
        except ConnectionResetError:
            return n, "reset"
        if not chunk:
            return n, "eof"
        n += len(chunk)


def never_reading_handler(release):
    """A backend that accepts and reads nothing until release is set, then
    reads to the end and returns the byte count."""
    def handler(conn, rec):
        if not release.wait(120):
            raise Failure("never released")
        n = 0
        while True:
            data = conn.recv(256 * KIB)
            if not data:
                break
            n += len(data)
        conn.shutdown(socket.SHUT_WR)
        return n
    return handler


def flooding_handler(total):
    """A backend that sends total bytes at once and then waits for EOF."""
    def handler(conn, rec):
        try:
            conn.sendall(b"x" * total)
            while conn.recv(64 * KIB):
                pass
        except OSError:
            pass
        return total
    return handler


# --- 1: the wall clock --------------------------------------------------------

@pytest.mark.deadline(90)
def test_wall_clock_step_moves_no_timeout(relayd, backend, tmp_path):
    """Stepping the wall clock back 30 s must neither fire the idle timeout
    early nor make a duration negative: timeouts follow the monotonic
    clock."""
    so = os.environ.get("CLOCKSTEP_SO")
    assert so and os.path.exists(so), f"CLOCKSTEP_SO not built: {so!r}"
    step = tmp_path / "step-now"
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("clock", f"127.0.0.1:{port}", b.addr,
                                         "idle_timeout = 8s\n"),
               env={"LD_PRELOAD": so, "CLOCKSTEP_FILE": str(step),
                    "CLOCKSTEP_SECONDS": "-30",
                    # A sanitizer runtime wants to come first.
                    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")
                    + ":verify_asan_link_order=0"})
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    assert echo_exchange(c, b"ping", shut_wr=False) == b"ping"
    last = time.monotonic()
    time.sleep(1)
    step.touch()
    how = wait_closed(c, timeout=60)
    silent = time.monotonic() - last
    c.close()
    assert silent >= 7.5, \
        f"closed after {silent:.1f}s of silence, idle_timeout is 8s"
    assert how == "reset", how
    rec = check_session(d.wait_session(me[1]), name="clock", client=me,
                        upstream=b.addr, mptcp=True, bytes_in=4,
                        bytes_out=4, end="idle_timeout")
    assert 7.5 <= duration_of(rec) < 300, rec


# --- 2: descriptors ----------------------------------------------------------

def room_for_sessions(d):
    m = d.wait_line(r"open files limit \d+: room for (\d+) session", 10)
    return int(m.group(1))


@pytest.mark.deadline(180)
@pytest.mark.parametrize("nofile,workers,nclients,size", [
    (40, 1, 12, 16 * MIB),      # more than the socket buffers: pipes stay full
    (256, 2, 300, 512 * KIB)])
def test_no_client_accepted_then_dropped(relayd, backend, nofile, workers,
                                         nclients, size):
    """Clients pushing bulk data into an upstream that does not read yet
    hold every descriptor a session can (sockets and splice pipes): the
    clients the descriptors do not cover must wait in the listen queue, and
    none may be accepted and then dropped (end=connect_failed
    error=EMFILE). Once the upstream reads, every byte arrives."""
    release = threading.Event()
    b = backend(never_reading_handler(release), backlog=1024)
    port = free_port()
    d = relayd(GLOBAL_SECTION + f"workers = {workers}\n"
               + listener("fd", f"127.0.0.1:{port}", b.addr, "backlog = 1024\n"),
               prefix=("prlimit", f"--nofile={nofile}:{nofile}", "--"))
    room = room_for_sessions(d)
    assert room < nclients, f"room for {room}: the test needs fewer"
    results = {}

    def client(i):
        c = connect("127.0.0.1", port, mptcp=True, timeout=30)
        try:
            c.settimeout(120)
            c.sendall(bytes([i % 251]) * size)
            c.shutdown(socket.SHUT_WR)
            results[i] = recv_until_closed(c, 120)
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(nclients)]
    try:
        for t in threads:
            t.start()
        # The sessions that fit are open and blocked on the upstream.
        wait_until(lambda: len(b.accepted) >= room, 60,
                   what=f"{room} sessions reaching the upstream")
    finally:
        release.set()
    for t in threads:
        t.join(150)
    assert len(results) == nclients, f"{len(results)} of {nclients} ended"
    assert all(r == (0, "eof") for r in results.values()), results
    wait_until(lambda: len(d.sessions()) >= nclients, 30,
               what=f"{nclients} session lines")
    lines = d.sessions()
    bad = [s for s in lines if s["end"] != "client_close"
           or int(s["bytes_in"]) != size]
    assert not bad, "sessions cut:\n" + "\n".join(map(str, bad))
    assert not any("EMFILE" in ln for ln in d.lines), d.text()


# --- 3: cut streams ------------------------------------------------------------

@pytest.mark.deadline(60)
def test_idle_timeout_resets_a_side_still_owed_bytes(relayd, backend):
    """The upstream sent 4 MiB the client has not read when the idle timeout
    ends the session: the client must read what arrived and then a reset,
    never a clean end of a cut stream."""
    b = backend(flooding_handler(4 * MIB))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("cut", f"127.0.0.1:{port}", b.addr,
                                         "idle_timeout = 2s\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    check_session(d.wait_session(me[1], timeout=30), name="cut", client=me,
                  upstream=b.addr, mptcp=True, end="idle_timeout")
    got, how = recv_until_closed(c, 30)
    c.close()
    assert got < 4 * MIB, f"got all {got} bytes"
    assert how == "reset", f"the cut stream ended with {how} after {got} bytes"


@pytest.mark.deadline(60)
def test_shutdown_timeout_resets_open_sessions(relayd, backend):
    """A stop that outlasts shutdown_timeout resets the sessions still open;
    a session whose one direction was complete gets its end on that side."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("stop", f"127.0.0.1:{port}", b.addr))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    assert echo_exchange(c, b"ping", shut_wr=False) == b"ping"
    d.send_signal(signal.SIGTERM)
    assert wait_closed(c, timeout=30) == "reset"
    c.close()
    check_session(d.wait_session(me[1]), name="stop", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=4, bytes_out=4,
                  end="shutdown")
    assert d.wait_exit(30) == 0


def test_connect_failure_resets_the_client(relayd):
    port, dead = free_port(), free_port()
    d = relayd(GLOBAL_SECTION + listener("dead", f"127.0.0.1:{port}",
                                         f"127.0.0.1:{dead}"))
    # Nothing sent: the reset is the relay's choice, not the kernel's
    # answer to unread bytes.
    me, how = connect_until_closed("127.0.0.1", port, timeout=10)
    assert how == "reset"
    check_session(d.wait_session(me[1]), name="dead", client=me,
                  upstream=f"127.0.0.1:{dead}", mptcp=True, bytes_in=0,
                  bytes_out=0, end="connect_failed")


# --- 6: signals ---------------------------------------------------------------

# Signals with an action of their own; the fault signals and the others are
# each sent once below.
FAULT_SIGNALS = ["SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP",
                 "SIGABRT", "SIGSYS"]
QUIET_SIGNALS = ["SIGPIPE", "SIGXFSZ", "SIGCHLD", "SIGCONT", "SIGURG",
                 "SIGWINCH"]
STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT"]


def catchable_signals():
    """Every signal a process can catch, by number."""
    sigs = set(range(1, signal.SIGRTMAX + 1))
    sigs -= {signal.SIGKILL, signal.SIGSTOP}
    # glibc keeps these two for its threads; no program sees them.
    sigs -= {32, 33}
    return sorted(sigs)


def serve_once(d, port, name, upstream, payload):
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    mark = d.mark()
    assert echo_exchange(c, payload) == payload
    c.close()
    check_session(d.wait_session(me[1], since=mark), name=name, client=me,
                  upstream=upstream, mptcp=True, bytes_in=len(payload),
                  bytes_out=len(payload), end="client_close")


@pytest.mark.deadline(120)
def test_every_signal_is_handled_or_ignored(relayd, backend):
    """SIGUSR1 logs the state; no catchable signal but the stop signals
    ends the daemon, and each one it does not use is said in the log."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("sig", f"127.0.0.1:{port}", b.addr))
    held = connect("127.0.0.1", port, mptcp=True)
    assert echo_exchange(held, b"hold", shut_wr=False) == b"hold"

    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    m = d.wait_line(r"^notice: state: 1 session, 1 listening socket.*; "
                    r"sig: 1 session, mptcp \d+ of \d+.*upstream "
                    + re.escape(b.addr) + r" up: 1 active, connects ok 1 ",
                    10, start=mark)
    assert m, d.text()

    stop = {getattr(signal, s) for s in STOP_SIGNALS}
    quiet = {getattr(signal, s) for s in QUIET_SIGNALS}
    for num in catchable_signals():
        if num in stop:
            continue
        try:
            name = signal.Signals(num).name
        except ValueError:
            name = f"signal {num}"
        mark = d.mark()
        os.kill(d.pid, num)
        if num == signal.SIGHUP:
            d.wait_line(r"^notice: reloaded ", 10, start=mark)
        elif num == signal.SIGUSR2:
            d.wait_line(r"^notice: SIGUSR2: log level", 10, start=mark)
        elif num == signal.SIGUSR1:
            d.wait_line(r"^notice: state: ", 10, start=mark)
        elif num not in quiet:
            # Announced: logged by name (realtime signals by number).
            d.wait_line(r"(SIG\S+|signal \d+): ignored|"
                        r"sent by process \d+: ignored", 10, start=mark)
        assert d.running(), f"{name} ended the daemon:\n" + d.text()
        serve_once(d, port, "sig", b.addr, f"after {name}".encode())
    # SIGUSR2 was sent once (debug on): the session held still works.
    assert echo_exchange(held, b"still", shut_wr=False) == b"still"
    held.close()
    for s in FAULT_SIGNALS:
        assert re.search(rf"{s} sent by process \d+: ignored", d.text()), s
    d.send_signal(signal.SIGQUIT)
    assert d.wait_exit(30) == 0
    assert re.search(r"SIGQUIT: stopping", d.text()), d.text()


# --- 7: a reload never waits for a name server on a relaying loop ---------------

@pytest.fixture
def private_resolver(tmp_path, blackhole_addr):
    """An argv prefix that runs the daemon in a mount namespace of its own
    whose /etc/hosts names 'upstream-a' (127.0.0.1) and whose name server
    never answers (its queries go to the test's black hole)."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 upstream-a\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {blackhole_addr}\n"
                      "options timeout:25 attempts:1\n")
    script = (f"mount --bind {hosts} /etc/hosts && "
              f"mount --bind {resolv} /etc/resolv.conf && exec \"$@\"")
    return ("unshare", "--mount", "--propagation", "private",
            "sh", "-c", script, "sh")


@pytest.mark.deadline(120)
def test_reload_resolves_names_off_the_relaying_loop(relayd, backend,
                                                     private_resolver):
    """While a reload waits for a name server that does not answer, the
    daemon goes on relaying and accepting; the reload then fails whole."""
    b = backend()
    port = free_port()
    base = GLOBAL_SECTION
    d = relayd(base + listener("dns", f"127.0.0.1:{port}",
                               f"upstream-a:{b.port}"),
               prefix=private_resolver)
    held = connect("127.0.0.1", port, mptcp=True)
    assert echo_exchange(held, b"before", shut_wr=False) == b"before"

    with open(d.config_path, "w") as f:
        f.write(base + listener("dns", f"127.0.0.1:{port}",
                                f"upstream-b.invalid:{b.port}"))
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(r"SIGHUP: reloading", 10, start=mark)
    # The name server takes 25 s to give up: meanwhile both the open
    # session and a new client are served, before the reload has ended.
    t0 = time.monotonic()
    held.settimeout(20)
    assert echo_exchange(held, b"during", shut_wr=False) == b"during"
    serve_once(d, port, "dns", f"127.0.0.1:{b.port}", b"new during reload")
    print(f"served during the reload in {time.monotonic() - t0:.2f}s")
    assert not any("reload failed" in ln for ln in d.lines[mark:]), \
        "the clients were served only after the reload:\n" + d.text()
    d.wait_line(r"upstream-b\.invalid", 60, start=mark)
    d.wait_line(r"reload failed: the running configuration stays", 60,
                start=mark)
    assert echo_exchange(held, b"after", shut_wr=False) == b"after"
    held.close()


# --- 8: no polling at the cap ----------------------------------------------------

def voluntary_switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


@pytest.mark.deadline(90)
def test_full_budget_waits_without_polling(relayd, backend):
    """At the descriptor limit the daemon sleeps until a session ends (no
    timer polling for room), then takes the waiting client at once."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("cap", f"127.0.0.1:{port}", b.addr),
               prefix=("prlimit", "--nofile=64:64", "--"))
    room = room_for_sessions(d)
    held = []
    try:
        for i in range(room):
            c = connect("127.0.0.1", port, mptcp=True)
            assert echo_exchange(c, b"x", shut_wr=False) == b"x"
            held.append(c)
        late = connect("127.0.0.1", port, mptcp=True)
        late.sendall(b"late")
        d.wait_line(r"fill the open files limit", 10)
        before = voluntary_switches(d.pid)
        time.sleep(2)
        woke = voluntary_switches(d.pid) - before
        # A 50 ms polling timer wakes it about 40 times in 2 s; the pipe
        # and buffer trim timers, at most a few.
        assert woke < 10, f"woke {woke} times in 2 s while waiting for room"
        held.pop().close()
        late.settimeout(10)
        assert late.recv(4) == b"late"
        late.close()
    finally:
        for c in held:
            c.close()
    # Once well below the limit, it says so, once.
    d.wait_line(r"accepting again", 10)
