# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Running as a service: the test plays the service manager (sd_notify
datagrams, the watchdog, sockets passed by socket activation), reloads
under load, draining on SIGTERM and dropping privileges."""

import hashlib
import os
import grp
import pwd
import random
import re
import signal
import socket
import threading
import time

import pytest

from helpers import (KIB, Failure, Worker, check_session, connect,
                     echo_exchange, free_port, is_mptcp, recv_to_eof,
                     wait_closed, wait_until)
from service_helpers import (ServiceRun, listener, listening_socket,
                             monotonic_usec, socket_inode, socket_inodes)

GLOBAL = "[global]\nlog_level = info\nshutdown_timeout = 2s\n"


@pytest.fixture
def service(relayd_binary, tmp_path):
    run = ServiceRun(relayd_binary, tmp_path)
    yield run
    problems = run.close()
    assert not problems, "\n".join(problems)


def ready(n_listeners, n_sessions=0):
    return ("READY=1\nSTATUS=" + status_text(n_listeners, n_sessions))


def status_text(n_listeners, n_sessions):
    return (f"{n_listeners} listening socket"
            f"{'' if n_listeners == 1 else 's'}, {n_sessions} session"
            f"{'' if n_sessions == 1 else 's'}")


def serve_check(d, port, name, upstream, payload=b"ping", host="127.0.0.1"):
    """One MPTCP client through the relay: MPTCP negotiated, the echo
    intact, the session line right."""
    mark = d.mark()
    c = connect(host, port, mptcp=True, timeout=5)
    try:
        assert is_mptcp(c) == 1, "client did not negotiate MPTCP"
        me = c.getsockname()
        assert echo_exchange(c, payload, timeout=10) == payload
    finally:
        c.close()
    check_session(d.wait_session(me[1], since=mark), name=name, client=me,
                  upstream=upstream, mptcp=True, bytes_in=len(payload),
                  bytes_out=len(payload), end="client_close")


def assert_refused(port, host="127.0.0.1"):
    with pytest.raises(ConnectionRefusedError):
        c = connect(host, port, mptcp=True, timeout=3)
        c.close()


# --- sd_notify -----------------------------------------------------------

def test_ready_after_listeners_bound(service, backend):
    b = backend()
    port = free_port()
    n = service.notify_socket()
    d = service.start(GLOBAL + listener("web", f"127.0.0.1:{port}", b.addr),
                      notify=n)
    assert n.wait(0, 10) == ready(1), n.messages()
    # Connect at once: READY promises the socket is there.
    c = connect("127.0.0.1", port, mptcp=True, timeout=2)
    try:
        assert is_mptcp(c) == 1
        me = c.getsockname()
        assert echo_exchange(c, b"ready", timeout=10) == b"ready"
    finally:
        c.close()
    check_session(d.wait_session(me[1]), name="web", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=5, bytes_out=5,
                  end="client_close")
    assert n.messages(watchdog=True)[0] == ready(1), \
        "something was sent before READY=1"


def expect_reload(n, index, after_us):
    """Datagram index is RELOADING=1 with a MONOTONIC_USEC taken after
    after_us and within a second of its arrival (CLOCK_MONOTONIC)."""
    msg = n.wait(index, 5, status=False)
    arrived = int(n.timed(msg)[-1][0] * 1_000_000)
    m = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)\nSTATUS=reloading",
                     msg)
    assert m, f"datagram #{index}: {msg!r}"
    usec = int(m.group(1))
    assert after_us <= usec <= arrived, (after_us, usec, arrived)
    assert arrived - usec < 1_000_000, (usec, arrived)


def test_reload_notifications(service, backend):
    b = backend()
    port, port2 = free_port(), free_port()
    n = service.notify_socket()
    one = GLOBAL + listener("web", f"127.0.0.1:{port}", b.addr)
    d = service.start(one, notify=n)
    assert n.wait(0, 10) == ready(1)

    # Same file: RELOADING, then READY with the same counts.
    t0 = monotonic_usec()
    assert d.reload() is True
    expect_reload(n, 1, t0)
    assert n.wait(2, 5, status=False) == ready(1), n.messages()

    # An invalid file: reported with FILE:LINE:, the old config stays, and
    # the manager still hears RELOADING then READY.
    bad = one + "nodelay = maybe\n"
    bad_line = bad.splitlines().index("nodelay = maybe") + 1
    d.write_config(bad)
    t0 = monotonic_usec()
    assert d.reload() is False, d.text()
    expect_reload(n, 3, t0)
    assert n.wait(4, 5, status=False) == ready(1), n.messages()
    text = d.text()
    assert re.search(rf"(?m)^error: {re.escape(d.config_path)}:{bad_line}: ",
                     text), text
    assert "reload failed: the running configuration stays" in text, text
    serve_check(d, port, "web", b.addr, b"still")

    # A second listener: READY counts it.
    d.write_config(one + listener("more", f"127.0.0.1:{port2}", b.addr))
    t0 = monotonic_usec()
    assert d.reload() is True, d.text()
    expect_reload(n, 5, t0)
    assert n.wait(6, 5, status=False) == ready(2), n.messages()
    serve_check(d, port2, "more", b.addr, b"second")

    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(5) == 0, d.text()
    assert n.wait(7, 2, status=False) == \
        "STOPPING=1\nSTATUS=stopping: 0 sessions draining"
    time.sleep(0.2)
    # Only STATUS= updates (sessions came and went) besides those.
    assert len(n.messages(status=False)) == 8, n.messages()


def test_status_follows_sessions(service, backend):
    b = backend()
    ports = [free_port(), free_port()]
    n = service.notify_socket()
    d = service.start(GLOBAL + listener("web", f"127.0.0.1:{ports[0]}",
                                        b.addr, f"listen = 127.0.0.1:"
                                        f"{ports[1]}\n"), notify=n)
    assert n.wait(0, 10) == ready(2)
    c = connect("127.0.0.1", ports[1], mptcp=True, timeout=5)
    try:
        assert is_mptcp(c) == 1
        assert echo_exchange(c, b"open", shut_wr=False, timeout=10) == b"open"
        t_open = time.monotonic()
        i = n.wait_text("STATUS=" + status_text(2, 1), 3, start=1)
        ts = n.timed("STATUS=" + status_text(2, 1))[0][0]
        assert ts - t_open < 1.5, f"STATUS came {ts - t_open:.3f}s late"
        me = c.getsockname()
    finally:
        c.close()
    t_closed = time.monotonic()
    n.wait_text("STATUS=" + status_text(2, 0), 3, start=i + 1)
    ts = n.timed("STATUS=" + status_text(2, 0))[-1][0]
    assert ts - t_closed < 1.5, f"STATUS came {ts - t_closed:.3f}s late"
    check_session(d.wait_session(me[1]), name="web", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=4, bytes_out=4,
                  end="client_close")
    # Nothing else: no STATUS repeated while nothing changes.
    time.sleep(1.2)
    assert n.messages() == [ready(2), "STATUS=" + status_text(2, 1),
                            "STATUS=" + status_text(2, 0)], n.messages()


def test_watchdog_pings(service, backend):
    b = backend()
    n = service.notify_socket()
    service.start(GLOBAL + listener("web", f"127.0.0.1:{free_port()}",
                                    b.addr), notify=n,
                  env={"WATCHDOG_USEC": "200000"}, pid_vars=("WATCHDOG_PID",))
    assert n.wait_text(ready(1), 10) == 0
    t0 = time.monotonic()
    time.sleep(1.0)
    pings = [ts for ts, _ in n.timed("WATCHDOG=1") if ts >= t0]
    pings = [ts for ts in pings if ts < t0 + 1.0]
    # Every 100 ms (half of WatchdogSec, as sd_watchdog_enabled(3) says).
    assert 8 <= len(pings) <= 12, f"{len(pings)} pings in 1 s"
    gaps = [t1 - t0 for t0, t1 in zip(pings, pings[1:])]
    assert max(gaps) < 0.2, f"a gap of {max(gaps):.3f}s, over WATCHDOG_USEC"


def test_watchdog_for_another_pid_is_ignored(service, backend):
    """WATCHDOG_PID naming another process: the watchdog is not ours."""
    b = backend()
    n = service.notify_socket()
    service.start(GLOBAL + listener("web", f"127.0.0.1:{free_port()}",
                                    b.addr), notify=n,
                  env={"WATCHDOG_USEC": "200000",
                       "WATCHDOG_PID": str(os.getpid())})
    assert n.wait(0, 10) == ready(1)
    time.sleep(0.5)
    assert n.messages(watchdog=True) == [ready(1)]


# --- socket activation ---------------------------------------------------

def test_socket_activation_adopts_mptcp_socket(service, backend):
    b = backend()
    port = free_port()
    s = service.keep(listening_socket("127.0.0.1", port, mptcp=True))
    assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == 262
    n = service.notify_socket()
    d = service.start(GLOBAL + listener("web", f"127.0.0.1:{port}", b.addr,
                                        "protocol = mptcp\n"),
                      notify=n, listen_fds=[s])
    assert n.wait(0, 10) == ready(1), d.text()
    d.wait_line(rf"^notice: web: listening on 127\.0\.0\.1:{port} "
                r"\(mptcp, from the service manager\)", 2)
    # The daemon serves on our socket: its fd 3 is our socket's inode
    # (and with our copy holding the address it could not bind its own).
    ours = os.fstat(s.fileno()).st_ino
    assert socket_inode(f"/proc/{d.pid}/fd/3") == ours
    serve_check(d, port, "web", b.addr, os.urandom(16 * KIB))
    # A reload keeps it.
    assert d.reload() is True, d.text()
    assert "listening sockets: 1 kept, 0 opened, 0 closed" in d.text()
    assert socket_inode(f"/proc/{d.pid}/fd/3") == ours
    serve_check(d, port, "web", b.addr, b"after reload")


def test_socket_activation_rejects_tcp_socket_for_mptcp(service):
    port = free_port()
    s = service.keep(listening_socket("127.0.0.1", port, mptcp=False))
    n = service.notify_socket()
    d = service.start(GLOBAL + listener("web", f"127.0.0.1:{port}",
                                        "127.0.0.1:9", "protocol = mptcp\n"),
                      notify=n, listen_fds=[s])
    assert d.wait_exit(10) == 2, d.text()
    text = d.text()
    err = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert any("SocketProtocol=mptcp" in ln and f"127.0.0.1:{port}" in ln
               for ln in err), text
    assert n.messages(watchdog=True) == [], "notified a failed start"


def test_socket_activation_rejects_unknown_address(service):
    port, other = free_port(), free_port()
    s = service.keep(listening_socket("127.0.0.1", other, mptcp=True))
    n = service.notify_socket()
    d = service.start(GLOBAL + listener("web", f"127.0.0.1:{port}",
                                        "127.0.0.1:9"),
                      notify=n, listen_fds=[s])
    assert d.wait_exit(10) == 2, d.text()
    text = d.text()
    err = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert any("matches no 'listen' address" in ln
               and f"127.0.0.1:{other}" in ln for ln in err), text
    assert n.messages(watchdog=True) == [], "notified a failed start"


# --- reload under load ----------------------------------------------------

LOAD_MAX_CONNECTIONS = 2000
LOAD_MAX_SECONDS = 60
LOAD_THREADS = 3
LOAD_PACE = 0.01       # seconds between connection starts, per thread
RELOADS = 20
RELOAD_EVERY = 0.15
RELOAD_INVALID = 6      # this one has an invalid file, the next a valid one
RELOAD_ADD = 12         # this one adds a listener


class Load:
    """Client threads opening MPTCP connections one after the other, each
    sending a few KiB and checking the echo's SHA-256, until stopped, the
    count cap or the time cap. Every outcome is kept."""

    def __init__(self, ports):
        self.ports = list(ports)
        self.records = []   # (start, end, port, outcome)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started = 0
        self.cap_hit = None
        self.deadline = time.monotonic() + LOAD_MAX_SECONDS
        self.threads = [Worker(self.run, i, name=f"load-{i}")
                        for i in range(LOAD_THREADS)]

    def take(self):
        with self.lock:
            if self.started >= LOAD_MAX_CONNECTIONS:
                if self.cap_hit is None:
                    self.cap_hit = time.monotonic()
                return None
            self.started += 1
            return self.started

    def run(self, i):
        rng = random.Random(i)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            k = self.take()
            if k is None:
                return
            ports = self.ports  # replaced whole by the test
            port = ports[k % len(ports)]
            data = rng.randbytes(rng.randint(2 * KIB, 8 * KIB))
            t0 = time.monotonic()
            outcome = self.one(port, data, t0)
            with self.lock:
                self.records.append((t0, time.monotonic(), port, outcome))
            # Paced, so that the cap is never what ends the load.
            self.stop.wait(max(0.0, t0 + LOAD_PACE - time.monotonic()))

    @staticmethod
    def one(port, data, t0):
        try:
            c = connect("127.0.0.1", port, mptcp=True, timeout=5)
        except OSError as e:
            return f"connect: {e!r}"
        try:
            c.settimeout(10)
            if is_mptcp(c) != 1:
                return "not MPTCP"
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            n, digest = recv_to_eof(c, limit=len(data), deadline=t0 + 15)
        except (OSError, Failure) as e:
            return f"exchange: {e!r}"
        finally:
            c.close()
        if (n, digest) != (len(data), hashlib.sha256(data).hexdigest()):
            return f"echo differs: {n} of {len(data)} bytes"
        return "ok"

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.get(30)

    def count(self):
        with self.lock:
            return len(self.records)


@pytest.mark.deadline(90)
def test_reload_under_load(service, backend):
    b = backend()
    port, port2 = free_port(), free_port()
    n = service.notify_socket()

    def config(i, added):
        # Every reload changes something a live listener can take.
        extra = (f"backlog = {511 if i % 2 else 1024}\n"
                 f"idle_timeout = {'1h' if i % 2 else '30m'}\n"
                 f"connect_timeout = {'5s' if i % 2 else '4s'}\n")
        text = GLOBAL + listener("web", f"127.0.0.1:{port}", b.addr, extra)
        if added:
            text += listener("added", f"127.0.0.1:{port2}", b.addr)
        return text

    d = service.start(config(1, False), notify=n)
    assert n.wait(0, 10) == ready(1)
    # No session yet: these are the listener and the event loop's own.
    # Sockets the daemon holds for good: sd_notify opens one for each
    # message and closes it right after sending, so a snapshot taken as a
    # datagram arrives may catch it; keep what two snapshots agree on.
    idle_sockets = socket_inodes(d.pid)
    time.sleep(0.2)
    idle_sockets &= socket_inodes(d.pid)
    load = Load([port])
    load.start()
    reloads = []        # (SIGHUP time, done time, switched)
    try:
        wait_until(lambda: load.count() >= 20, 10, what="load running")
        added = False
        for i in range(RELOADS):
            if i == RELOAD_ADD:
                added = True
            if i == RELOAD_INVALID:
                d.write_config(config(i, added) + "nodelay = maybe\n")
            else:
                d.write_config(config(i, added))
            t0 = time.monotonic()
            switched = d.reload()
            reloads.append((t0, time.monotonic(), switched))
            if i == RELOAD_ADD:
                load.ports = [port, port2]
            time.sleep(max(0.0, t0 + RELOAD_EVERY - time.monotonic()))
        time.sleep(0.3)
    finally:
        load.finish()

    assert load.cap_hit is None or load.cap_hit > reloads[-1][1], \
        "the connection cap ended the load before the last reload"
    records = sorted(load.records)
    assert len(records) == load.started, "a connection went unaccounted"
    bad = [r for r in records if r[3] != "ok"]
    assert not bad, (f"{len(bad)} of {len(records)} connections failed, "
                     f"first ones: {bad[:5]}\n" + d.text()[-3000:])
    assert [r[2] for r in reloads] == \
        [i != RELOAD_INVALID for i in range(RELOADS)], d.text()
    assert re.search(rf"(?m)^error: {re.escape(d.config_path)}:\d+: ",
                     d.text()), "the invalid file's problem has no FILE:LINE"
    # The load really overlapped every reload.
    for t0, t1, _ in reloads:
        assert any(s <= t1 + RELOAD_EVERY and e >= t0
                   for s, e, _, _ in records), \
            f"no connection around the reload at {t0}"
    # Every reload kept the listening socket it had: not one was closed and
    # bound again (which a client would see only if it came in between).
    kept = re.findall(r"(?m)^notice: listening sockets: (\d+) kept, "
                      r"(\d+) opened, (\d+) closed$", d.text())
    want = [("1", "1", "0") if i == RELOAD_ADD else
            ("2" if i > RELOAD_ADD else "1", "0", "0")
            for i in range(RELOADS) if i != RELOAD_INVALID]
    assert kept == want, kept
    wait_until(lambda: idle_sockets <= socket_inodes(d.pid), 5,
               what="the listening socket of the start, after the reloads")
    on_added = sum(1 for r in records if r[2] == port2)
    assert on_added >= 10, f"only {on_added} connections to the new listener"

    # The daemon counted the same: one client_close line per connection.
    total = len(records)
    wait_until(lambda: len(d.sessions()) >= total, 10,
               what=f"{total} session lines")
    time.sleep(0.1)
    sessions = d.sessions()
    assert len(sessions) == total, (len(sessions), total)
    assert all(s["end"] == "client_close" and s["mptcp"] == "yes"
               for s in sessions), [s for s in sessions
                                    if s["end"] != "client_close"][:5]
    assert sum(1 for s in sessions if s["name"] == "added") == on_added
    assert len(b.accepted) == total
    assert re.fullmatch(r"READY=1\nSTATUS=2 listening sockets, \d+ sessions?",
                        n.messages(status=False)[-1]), n.messages()
    print(f"{total} connections ({on_added} on the added listener) over "
          f"{RELOADS} reloads in {records[-1][1] - records[0][0]:.1f}s")


def test_reload_keeps_old_settings_for_live_sessions(service, backend):
    """A session started before a reload keeps its upstream and its
    idle_timeout; sessions after it get the new ones."""
    b1, b2 = backend(), backend()
    port = free_port()
    d = service.start(GLOBAL + listener("web", f"127.0.0.1:{port}", b1.addr,
                                        "idle_timeout = 1h\n"),
                      wait_started=True)
    old = connect("127.0.0.1", port, mptcp=True, timeout=5)
    new = None
    try:
        assert is_mptcp(old) == 1
        old_me = old.getsockname()
        assert echo_exchange(old, b"one", shut_wr=False) == b"one"
        b1.wait_accepted(1)

        d.write_config(GLOBAL + listener("web", f"127.0.0.1:{port}", b2.addr,
                                         "idle_timeout = 1s\n"))
        assert d.reload() is True, d.text()
        t_reload = time.monotonic()

        new = connect("127.0.0.1", port, mptcp=True, timeout=5)
        assert is_mptcp(new) == 1
        new_me = new.getsockname()
        assert echo_exchange(new, b"two", shut_wr=False) == b"two"
        b2.wait_accepted(1)
        # The new session ends after its 1 s of silence...
        assert wait_closed(new, timeout=3) in ("eof", "reset")
        check_session(d.wait_session(new_me[1]), name="web", client=new_me,
                      upstream=b2.addr, mptcp=True, bytes_in=3, bytes_out=3,
                      end="idle_timeout")
        # ...the old one, as silent for longer, still relays to b1.
        time.sleep(max(0.0, t_reload + 1.8 - time.monotonic()))
        assert echo_exchange(old, b"three", timeout=10) == b"three"
    finally:
        old.close()
        if new is not None:
            new.close()
    check_session(d.wait_session(old_me[1]), name="web", client=old_me,
                  upstream=b1.addr, mptcp=True, bytes_in=8, bytes_out=8,
                  end="client_close")
    assert b1.wait_done(b1.accepted[0], 5) == 8
    assert len(b1.accepted) == 1 and len(b2.accepted) == 1


# --- SIGTERM ---------------------------------------------------------------

def open_session(port, payload=b"before"):
    c = connect("127.0.0.1", port, mptcp=True, timeout=5)
    assert is_mptcp(c) == 1
    assert echo_exchange(c, payload, shut_wr=False, timeout=10) == payload
    return c


def test_sigterm_drains_session_that_finishes(service, backend):
    b = backend()
    port = free_port()
    n = service.notify_socket()
    d = service.start("[global]\nshutdown_timeout = 5s\n"
                      + listener("drain", f"127.0.0.1:{port}", b.addr),
                      notify=n)
    assert n.wait(0, 10) == ready(1)
    c = open_session(port)
    try:
        me = c.getsockname()
        t_term = time.monotonic()
        d.send_signal(signal.SIGTERM)
        assert n.wait_text("STOPPING=1\nSTATUS=stopping: 1 session "
                           "draining", 3) >= 1
        time.sleep(0.3)
        assert d.running(), "exited with a session open:\n" + d.text()
        assert_refused(port)
        data = os.urandom(64 * KIB)
        assert echo_exchange(c, data, timeout=10) == data
    finally:
        c.close()
    t_end = time.monotonic()
    assert d.wait_exit(4) == 0, d.text()
    t_exit = time.monotonic()
    assert t_exit - t_end < 1.0, f"exited {t_exit - t_end:.3f}s after the end"
    assert t_exit - t_term < 3.0, f"exited {t_exit - t_term:.3f}s after TERM"
    check_session(d.wait_session(me[1], timeout=1), name="drain", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=6 + len(data),
                  bytes_out=6 + len(data), end="client_close")


def test_sigterm_closes_sessions_at_shutdown_timeout(service, backend):
    b = backend()
    port = free_port()
    n = service.notify_socket()
    d = service.start("[global]\nshutdown_timeout = 1s\n"
                      + listener("drain", f"127.0.0.1:{port}", b.addr),
                      notify=n)
    assert n.wait(0, 10) == ready(1)
    c = open_session(port)
    try:
        me = c.getsockname()
        t_term = time.monotonic()
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(3) == 0, d.text()
        elapsed = time.monotonic() - t_term
        assert 0.9 <= elapsed <= 1.6, f"exited {elapsed:.3f}s after SIGTERM"
        assert wait_closed(c, timeout=1) in ("eof", "reset")
    finally:
        c.close()
    assert "STOPPING=1\nSTATUS=stopping: 1 session draining" in \
        n.messages(), n.messages()
    check_session(d.wait_session(me[1], timeout=1), name="drain", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=6, bytes_out=6,
                  end="shutdown")


def test_second_sigterm_closes_at_once(service, backend):
    b = backend()
    port = free_port()
    n = service.notify_socket()
    d = service.start("[global]\nshutdown_timeout = 20s\n"
                      + listener("drain", f"127.0.0.1:{port}", b.addr),
                      notify=n)
    assert n.wait(0, 10) == ready(1)
    c = open_session(port)
    try:
        me = c.getsockname()
        d.send_signal(signal.SIGTERM)
        n.wait_text("STOPPING=1\nSTATUS=stopping: 1 session draining", 3)
        time.sleep(0.3)
        assert d.running(), "exited with a session open:\n" + d.text()
        t_term = time.monotonic()
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(3) == 0, d.text()
        elapsed = time.monotonic() - t_term
        assert elapsed < 0.5, f"exited {elapsed:.3f}s after the second TERM"
        assert wait_closed(c, timeout=1) in ("eof", "reset")
    finally:
        c.close()
    check_session(d.wait_session(me[1], timeout=1), name="drain", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=6, bytes_out=6,
                  end="shutdown")


# --- privileges --------------------------------------------------------------

def nobody_ids():
    try:
        pw = pwd.getpwnam("nobody")
        gr = grp.getgrnam("nogroup")
    except KeyError as e:
        raise Failure(f"the test needs user nobody and group nogroup: {e}")
    return pw.pw_uid, gr.gr_gid


def unprivileged_port_start():
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        return int(f.read())


@pytest.mark.deadline(60)
def test_user_drops_privileges(service, backend):
    assert os.geteuid() == 0, "the test must run as root"
    uid, gid = nobody_ids()
    assert unprivileged_port_start() > 80, \
        "net.ipv4.ip_unprivileged_port_start lets anyone bind port 80"
    b = backend()
    port, port2, port3 = free_port(), free_port(), free_port()
    low = 80
    head = GLOBAL + "user = nobody\ngroup = nogroup\n"
    one = head + listener("web", f"127.0.0.1:{port}", b.addr)
    n = service.notify_socket()
    d = service.start(one, notify=n, workdir=service.public_dir())
    assert n.wait(0, 10) == ready(1), d.text()
    # READY comes after the switch.
    st = d.proc_status()
    for key, want in (("Uid", uid), ("Gid", gid)):
        assert st[key].split() == [str(want)] * 4, f"{key}: {st[key]}"
    assert st["Groups"].split() == [str(gid)], st["Groups"]
    assert int(st["CapEff"], 16) == 0, st["CapEff"]
    assert int(st["CapPrm"], 16) == 0, st["CapPrm"]
    d.wait_line(r"^notice: running as user nobody ", 2)
    serve_check(d, port, "web", b.addr, b"as nobody")

    # A listener on an unprivileged port can still be added.
    two = one + listener("more", f"127.0.0.1:{port2}", b.addr)
    d.write_config(two)
    assert d.reload() is True, d.text()
    assert n.wait(2, 5, status=False) == ready(2), n.messages()
    serve_check(d, port2, "more", b.addr, b"added")

    # A privileged port cannot: the whole reload fails, nothing changes.
    start = len(d.lines)
    d.write_config(two + listener("new", f"127.0.0.1:{port3}", b.addr)
                   + listener("low", f"127.0.0.1:{low}", b.addr))
    assert d.reload() is False, d.text()
    assert n.wait(4, 5, status=False) == ready(2), n.messages()
    errors = [ln for ln in d.lines[start:] if ln.startswith("error: ")]
    assert any(f"127.0.0.1:{low}" in ln for ln in errors), d.text()
    assert any("reload failed: the running configuration stays" in ln
               for ln in errors), d.text()
    assert_refused(low)
    assert_refused(port3)
    serve_check(d, port, "web", b.addr, b"one")
    serve_check(d, port2, "more", b.addr, b"two")
    st = d.proc_status()
    assert st["Uid"].split() == [str(uid)] * 4, st["Uid"]


@pytest.mark.deadline(60)
def test_reload_never_gives_up_a_privileged_socket(service, backend):
    """As nobody, a reload that changes the protocol of the listener on
    port 80 cannot bind its new socket: it must fail whole and keep the
    old socket serving (it once closed it first and lost the port for
    good, logging success); a reload back to the running file succeeds."""
    assert os.geteuid() == 0, "the test must run as root"
    assert unprivileged_port_start() > 80, \
        "net.ipv4.ip_unprivileged_port_start lets anyone bind port 80"
    b = backend()
    low, other = 80, free_port()
    head = GLOBAL + "user = nobody\ngroup = nogroup\n"
    tcp = head + listener("web", f"127.0.0.1:{low}", b.addr,
                          "protocol = tcp\n")
    n = service.notify_socket()
    d = service.start(tcp, notify=n, workdir=service.public_dir())
    assert n.wait(0, 10) == ready(1), d.text()

    def serve_tcp(payload):
        c = connect("127.0.0.1", low, mptcp=False, timeout=5)
        try:
            assert echo_exchange(c, payload, timeout=10) == payload
        finally:
            c.close()

    serve_tcp(b"tcp before")
    start = len(d.lines)
    d.write_config(tcp.replace("protocol = tcp", "protocol = mptcp")
                   + listener("new", f"127.0.0.1:{other}", b.addr))
    assert d.reload() is False, d.text()
    errors = [ln for ln in d.lines[start:] if ln.startswith("error: ")]
    assert any(f"127.0.0.1:{low}" in ln and "CAP_NET_BIND_SERVICE" in ln
               for ln in errors), d.text()
    assert not any("no longer listening" in ln for ln in d.lines[start:]), \
        d.text()
    serve_tcp(b"tcp still")
    assert_refused(other)

    d.write_config(tcp)
    assert d.reload() is True, d.text()
    serve_tcp(b"tcp after")


def test_reload_replaces_a_socket_in_place(service, backend):
    """On a port it may bind, a reload that changes a listener's protocol
    replaces the socket; a session opened before goes on."""
    b = backend()
    port = free_port()
    tcp = GLOBAL + listener("web", f"127.0.0.1:{port}", b.addr,
                            "protocol = tcp\n")
    d = service.start(tcp, wait_started=True)
    old = connect("127.0.0.1", port, mptcp=False, timeout=5)
    assert echo_exchange(old, b"old", shut_wr=False) == b"old"
    d.write_config(tcp.replace("protocol = tcp", "protocol = mptcp"))
    assert d.reload() is True, d.text()
    serve_check(d, port, "web", b.addr, b"over mptcp now")
    assert echo_exchange(old, b"still", shut_wr=False) == b"still"
    old.close()


def test_user_that_does_not_exist(service):
    """The file is checked as -t checks it, user included: an invalid
    configuration (exit 1, which the unit does not retry), with its line."""
    n = service.notify_socket()
    d = service.start(GLOBAL + "user = no-such-user-xyz\n"
                      + listener("web", f"127.0.0.1:{free_port()}",
                                 "127.0.0.1:9"), notify=n)
    assert d.wait_exit(10) == 1, d.text()
    assert re.search(r"(?m)^error: .*:\d+: user 'no-such-user-xyz' does "
                     r"not exist", d.text()), d.text()
    assert n.messages(watchdog=True) == [], "notified a failed start"
