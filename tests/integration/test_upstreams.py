# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Several upstreams: balance, failover within a session, passive back-off,
active health checks and live DNS, with one loop and with workers."""

import re
import select
import signal
import socket

import pytest

from helpers import (GLOBAL_SECTION, Backend, connect,
                     connect_until_closed,
                     echo_exchange, echo_handler, free_port, wait_until)


def listener(name, listen, upstreams, extra=""):
    ups = "".join(f"upstream = {u}\n" for u in upstreams)
    return f"\n[{name}]\nlisten = {listen}\n{ups}{extra}"


def one_session(d, port, payload=b"ping", name=None):
    """One MPTCP echo through the relay; returns its session line."""
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    mark = d.mark()
    try:
        assert echo_exchange(c, payload) == payload
    finally:
        c.close()
    rec = d.wait_session(me[1], since=mark)
    if name:
        assert rec["name"] == name, rec
    return rec


def tries(rec):
    return int(rec.get("tries", "1"))


WORKERS = pytest.mark.parametrize("workers", [1, 2])


@WORKERS
def test_roundrobin_skips_a_closed_port(relayd, backend, workers):
    live = [backend(), backend()]
    dead = f"127.0.0.1:{free_port()}"
    port = free_port()
    d = relayd(GLOBAL_SECTION + f"workers = {workers}\n" + listener(
        "rr", f"127.0.0.1:{port}", [live[0].addr, dead, live[1].addr]))
    recs = [one_session(d, port) for _ in range(30)]
    assert all(r["end"] == "client_close" for r in recs), recs
    served = [r["upstream"] for r in recs]
    # Both live ones serve; the dead one never does, and after its first
    # refusal it is skipped: at most one session paid a second try.
    assert served.count(live[0].addr) >= 5 and \
        served.count(live[1].addr) >= 5, served
    assert dead not in served
    assert sum(1 for r in recs if tries(r) > 1) <= 1, recs
    assert len([ln for ln in d.lines if re.search(
        rf"upstream {re.escape(dead)} \(.*\) down: Connection refused",
        ln)]) == 1, d.text()


def test_first_fails_over_in_order(relayd, backend):
    b1, b2 = backend(), backend()
    dead = f"127.0.0.1:{free_port()}"
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "first", f"127.0.0.1:{port}", [dead, b1.addr, b2.addr],
        "balance = first\n"))
    recs = [one_session(d, port) for _ in range(6)]
    assert [r["upstream"] for r in recs] == [b1.addr] * 6, recs
    # The first session tried the dead one, then b1; the next ones skip it.
    assert tries(recs[0]) == 2 and all(tries(r) == 1 for r in recs[1:]), \
        recs
    assert len(b2.accepted) == 0


@pytest.mark.deadline(90)
@WORKERS
def test_silent_upstream_costs_one_timeout(relayd, backend, blackhole_addr,
                                           workers):
    """SYNs to the first upstream vanish: the first session pays
    connect_timeout and fails over; the next ones skip it at once."""
    b = backend()
    hole = f"{blackhole_addr}:{free_port()}"
    port = free_port()
    d = relayd(GLOBAL_SECTION + f"workers = {workers}\n" + listener(
        "hole", f"127.0.0.1:{port}", [hole, b.addr],
        "balance = first\nconnect_timeout = 1s\n"))
    first = one_session(d, port)
    assert first["upstream"] == b.addr and tries(first) == 2, first
    assert float(first["duration"].rstrip("s")) >= 0.9, first
    for _ in range(6):
        rec = one_session(d, port)
        assert rec["upstream"] == b.addr and tries(rec) == 1, rec
    assert re.search(rf"upstream {re.escape(hole)} \(.*\) down: Connection "
                     r"timed out", d.text()), d.text()


def test_all_upstreams_dead(relayd):
    dead = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("dead", f"127.0.0.1:{port}", dead))
    for _ in range(2):
        me, how = connect_until_closed("127.0.0.1", port, timeout=10)
        assert how == "reset"
        rec = d.wait_session(me[1])
        assert rec["end"] == "connect_failed" and tries(rec) == 3, rec
        assert rec["error"] == "ECONNREFUSED", rec


@WORKERS
def test_leastconn_fills_the_emptiest(relayd, backend, workers):
    bs = [backend(), backend(), backend()]
    port = free_port()
    d = relayd(GLOBAL_SECTION + f"workers = {workers}\n" + listener(
        "lc", f"127.0.0.1:{port}", [b.addr for b in bs],
        "balance = leastconn\n"))
    held = []
    try:
        for i in range(6):
            c = connect("127.0.0.1", port, mptcp=True)
            assert echo_exchange(c, b"held", shut_wr=False) == b"held"
            held.append(c)
        assert [len(b.accepted) for b in bs] == [2, 2, 2]
        # The two on the second backend end (its end reaches their
        # clients, which close): the next two go there.
        for rec in bs[1].accepted:
            rec["sock"].shutdown(socket.SHUT_RDWR)
        ended = []

        def close_ended():
            open_ = [c for c in held if c not in ended]
            for c in select.select(open_, [], [], 0.1)[0]:
                if c.recv(16) == b"":
                    ended.append(c)
                    c.close()
            return len(ended) == 2
        wait_until(close_ended, 10, what="two clients seeing their end")
        held = [c for c in held if c not in ended]
        wait_until(lambda: sum(1 for s in d.sessions()
                               if s["upstream"] == bs[1].addr) == 2, 10,
                   what="the second backend's sessions ending")
        for _ in range(2):
            c = connect("127.0.0.1", port, mptcp=True)
            assert echo_exchange(c, b"more", shut_wr=False) == b"more"
            held.append(c)
        assert [len(b.accepted) for b in bs] == [2, 4, 2]
    finally:
        for c in held:
            c.close()


@pytest.mark.deadline(90)
@WORKERS
def test_health_check_takes_a_dead_upstream_out_and_back(relayd, workers):
    a = Backend(echo_handler)
    b = Backend(echo_handler)
    b_port = b.port
    port = free_port()
    try:
        d = relayd(GLOBAL_SECTION + f"workers = {workers}\n" + listener(
            "hc", f"127.0.0.1:{port}", [a.addr, b.addr],
            "health_check_interval = 300ms\n"))
        d.wait_line(r"^notice: hc: listening", 10)
        b.close()
        # Refused, or reset when a check was in the closing queue.
        d.wait_line(rf"upstream 127\.0\.0\.1:{b_port} \(.*\) down: health "
                    r"check: Connection (refused|reset by peer)", 15)
        # No client pays for it: every session goes to a, at the first try.
        for _ in range(8):
            rec = one_session(d, port)
            assert rec["upstream"] == a.addr and tries(rec) == 1, rec
        b = Backend(echo_handler, port=b_port)
        d.wait_line(rf"upstream 127\.0\.0\.1:{b_port} \(.*\) up: health "
                    r"check passed", 15)
        served = [one_session(d, port)["upstream"] for _ in range(8)]
        assert b.addr in served and a.addr in served, served
    finally:
        a.close()
        b.close()


@pytest.fixture
def private_hosts(tmp_path):
    """(argv prefix, hosts file): the daemon runs with its own /etc/hosts,
    which the test may rewrite in place."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    script = f"mount --bind {hosts} /etc/hosts && exec \"$@\""
    return (("unshare", "--mount", "--propagation", "private",
             "sh", "-c", script, "sh"), hosts)


@pytest.mark.deadline(90)
@WORKERS
def test_live_dns_moves_new_sessions(relayd, private_hosts, workers):
    prefix, hosts = private_hosts
    p = free_port()
    old = Backend(echo_handler, host="127.0.0.1", port=p)
    new = Backend(echo_handler, host="127.0.0.2", port=p)
    try:
        hosts.write_text("127.0.0.1 localhost\n127.0.0.1 svc.test\n")
        port = free_port()
        d = relayd(GLOBAL_SECTION + f"workers = {workers}\n" + listener(
            "dns", f"127.0.0.1:{port}", [f"svc.test:{p}"],
            "resolve_interval = 500ms\n"), prefix=prefix)
        assert one_session(d, port)["upstream"] == old.addr
        held = connect("127.0.0.1", port, mptcp=True)
        assert echo_exchange(held, b"old", shut_wr=False) == b"old"
        # In place: the bind mount follows the inode.
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n127.0.0.2 svc.test\n")
        d.wait_line(rf"upstream svc\.test:{p} now also resolves to "
                    rf"127\.0\.0\.2:{p}", 20)
        d.wait_line(rf"upstream svc\.test:{p} no longer resolves to "
                    rf"127\.0\.0\.1:{p}", 20)
        for _ in range(4):
            assert one_session(d, port)["upstream"] == new.addr
        # The session to the removed address goes on.
        assert echo_exchange(held, b"still", shut_wr=False) == b"still"
        held.close()
    finally:
        old.close()
        new.close()


def test_reload_keeps_the_state_of_addresses_that_remain(relayd, backend):
    b = backend()
    dead = f"127.0.0.1:{free_port()}"
    port = free_port()
    text = GLOBAL_SECTION + listener("keep", f"127.0.0.1:{port}",
                                     [dead, b.addr], "balance = first\n"
                                     "upstream_backoff = 1h\n")
    d = relayd(text)
    assert tries(one_session(d, port)) == 2
    with open(d.config_path, "w") as f:
        f.write(text + "connect_timeout = 4s\n")
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(r"^notice: reloaded ", 10, start=mark)
    # Still backed off after the reload: no second try.
    assert tries(one_session(d, port)) == 1
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    m = d.wait_line(r"state: .*upstream " + re.escape(dead) +
                    r" down: 0 active, connects ok 0 refused 1 ", 10,
                    start=mark)
    assert m
