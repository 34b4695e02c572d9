# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""[global] workers = N: the daemon's loop runs sessions and hands every
other client to N - 1 threads. The relay must stay exact, every loop must
really carry sessions, a reload must reach the threads' new sessions, and
a stop must drain all loops."""

import os
import random
import signal
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, Worker, connect, echo_exchange,
                     free_port, is_mptcp, recv_exactly, wait_until)


def config(workers, listeners):
    return (GLOBAL_SECTION + f"workers = {workers}\n" + "".join(
        f"\n[{name}]\nlisten = 127.0.0.1:{port}\nupstream = {up}\n"
        for name, port, up in listeners))


def task_cpu_ticks(pid):
    """utime + stime, in clock ticks, of every thread of pid."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


def one_echo(port, data):
    s = connect("127.0.0.1", port, mptcp=True)
    try:
        assert is_mptcp(s), "MPTCP was not negotiated"
        return echo_exchange(s, data) == data
    finally:
        s.close()


@pytest.mark.deadline(240)
@pytest.mark.parametrize("workers", [2, 3])
def test_workers_relay_exactly_in_every_loop(relayd, backend, workers):
    b = backend()
    port = free_port()
    d = relayd(config(workers, [("w", port, b.addr)]))
    # The daemon's own thread plus workers - 1 (a sanitizer may add one
    # of its own: ours are the main thread and those named "worker N").
    names = {}
    for tid in os.listdir(f"/proc/{d.pid}/task"):
        with open(f"/proc/{d.pid}/task/{tid}/comm") as f:
            names[tid] = f.read().strip()
    loops = [tid for tid, n in names.items()
             if tid == str(d.pid) or n.startswith("worker ")]
    assert sorted(names[t] for t in loops if t != str(d.pid)) == \
        [f"worker {i}" for i in range(1, workers)], names

    before = task_cpu_ticks(d.pid)
    rng = random.Random(workers)
    nclients, size = 120, 1024 * KIB
    datas = [rng.randbytes(size) for _ in range(8)]
    ok = 0
    for start in range(0, nclients, 40):  # 40 at a time, bounded
        threads = [Worker(one_echo, port, datas[i % len(datas)])
                   for i in range(start, start + 40)]
        for t in threads:
            t.start()
        ok += sum(1 for t in threads if t.get(120))
    assert ok == nclients, f"{nclients - ok} echoes differ"

    # Every loop carried sessions: each thread spent CPU on the relay.
    after = task_cpu_ticks(d.pid)
    idle = [tid for tid in loops if after[tid] - before.get(tid, 0) == 0]
    assert not idle, f"threads that relayed nothing: {idle} of {after}"
    wait_until(lambda: len(d.sessions()) == nclients, 10,
               what="a session line per client")
    assert all(r["mptcp"] == "yes" and r["end"] == "client_close"
               for r in d.sessions()), d.text()


@pytest.mark.deadline(120)
def test_workers_reload_and_drain(relayd, backend):
    b = backend()
    port, port2 = free_port(), free_port()
    d = relayd(config(2, [("a", port, b.addr)]))

    # Idle sessions spread over both loops, each proven relayed first.
    idle = []
    for i in range(6):
        s = connect("127.0.0.1", port, mptcp=True)
        s.sendall(b"ping%d" % i)
        assert recv_exactly(s, 5) == b"ping%d" % i
        idle.append(s)

    # A reload adds a listener; new clients of it are served by both loops.
    with open(d.config_path, "w") as f:
        f.write(config(2, [("a", port, b.addr), ("b", port2, b.addr)]))
    d.send_signal(signal.SIGHUP)
    d.wait_line(r"reloaded .*2 listeners", 10)
    assert all(one_echo(port2, b"x" * (64 * KIB)) for _ in range(4))

    # SIGTERM: shutdown_timeout is 2 s; the idle sessions of both loops
    # are closed then, and the daemon exits 0.
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(10) == 0
    took = time.monotonic() - t0
    assert 1.5 <= took <= 6, f"stopped after {took:.1f}s"
    ends = [r["end"] for r in d.sessions() if r["name"] == "a"]
    assert ends.count("shutdown") == 6, d.text()
    for s in idle:
        s.close()


@pytest.mark.deadline(120)
def test_reload_storm_while_workers_close_sessions(relayd, backend):
    """50 reloads that switch the log level back and forth while three
    loops open and close sessions: every session is relayed, and (under
    ThreadSanitizer, in CI) no data race between a reload and a session
    that logs its end."""
    b = backend()
    port = free_port()
    text = config(3, [("storm", port, b.addr)])
    d = relayd(text)
    stop = False
    served = []

    def clients():
        while not stop and len(served) < 2000:
            served.append(one_echo(port, b"storm"))

    threads = [Worker(clients) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(50):
            level = "debug" if i % 2 == 0 else "info"
            with open(d.config_path, "w") as f:
                f.write(text.replace("log_level = info",
                                     f"log_level = {level}"))
            mark = d.mark()
            d.send_signal(signal.SIGHUP)
            d.wait_line(r"^notice: reloaded |reload failed", 20, start=mark)
    finally:
        stop = True
        for t in threads:
            t.get(60)
    assert served and all(served), f"{served.count(False)} echoes failed"
    assert not any("reload failed" in ln for ln in d.lines), d.text()
