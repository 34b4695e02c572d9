# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Relaying data: MPTCP and TCP clients, TCP and MPTCP upstreams, both
directions, half-close, many sessions, IPv6 and dual-stack listeners."""

import errno
import os
import random
import selectors
import socket
import subprocess
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, MIB, Failure, Worker,
                     check_session, connect, echo_exchange, free_port,
                     is_mptcp, mptcp_additional_subflows, recv_to_eof,
                     send_stream, stream_socket, wait_until)


def listener(name, listen, upstream, extra=""):
    """The INI text of one listener section."""
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


@pytest.mark.deadline(240)
def test_mptcp_client_64mib_both_directions(relayd, backend):
    size = 64 * MIB

    def handler(conn, rec):
        # The backend sends its stream while reading the client's.
        sender = Worker(send_stream, conn, 2, size, name="backend-send")
        sender.start()
        received = recv_to_eof(conn, limit=size)
        return received, sender.get(180)

    b = backend(handler)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "bulk", f"127.0.0.1:{port}", b.addr, "protocol = mptcp\n"))

    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1, "client did not negotiate MPTCP with the relay"
    me = c.getsockname()
    sender = Worker(send_stream, c, 1, size, name="client-send")
    sender.start()
    client_got = recv_to_eof(c, limit=size)
    client_sent = sender.get(180)
    c.close()

    rec = b.wait_accepted()
    assert rec["is_mptcp"] == 0, "upstream leg should be plain TCP"
    backend_got, backend_sent = b.wait_done(rec, 60)
    assert backend_got == (size, client_sent), "client->backend data differs"
    assert client_got == (size, backend_sent), "backend->client data differs"
    assert len(b.accepted) == 1

    check_session(d.wait_session(me[1]), name="bulk", client=me,
                  upstream=b.addr, mptcp=True, subflows=1,
                  bytes_in=size, bytes_out=size,
                  end=("client_close", "upstream_close"))


def test_plain_tcp_client_through_mptcp_listener(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "web", f"127.0.0.1:{port}", b.addr, "protocol = mptcp\n"))

    data = random.Random(5).randbytes(1 * MIB)
    c = connect("127.0.0.1", port, mptcp=False)
    assert is_mptcp(c) == 0
    me = c.getsockname()
    assert echo_exchange(c, data) == data
    c.close()

    assert b.wait_accepted()["is_mptcp"] == 0
    check_session(d.wait_session(me[1]), name="web", client=me,
                  upstream=b.addr, mptcp=False, bytes_in=len(data),
                  bytes_out=len(data), end="client_close")


@pytest.mark.parametrize("backend_mptcp", [True, False],
                         ids=["mptcp_backend", "tcp_backend"])
def test_upstream_protocol_mptcp(relayd, backend, backend_mptcp):
    b = backend(mptcp=backend_mptcp)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "up", f"127.0.0.1:{port}", b.addr, "upstream_protocol = mptcp\n"))

    data = random.Random(6).randbytes(256 * KIB)
    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    assert echo_exchange(c, data) == data
    c.close()

    # An MPTCP backend sees an MPTCP connection from the relay; a TCP-only
    # one sees plain TCP (the relay's MPTCP connect fell back).
    assert b.wait_accepted()["is_mptcp"] == (1 if backend_mptcp else 0)
    check_session(d.wait_session(me[1]), name="up", client=me,
                  upstream=b.addr, mptcp=True, subflows=1,
                  upstream_mptcp=backend_mptcp, bytes_in=len(data),
                  bytes_out=len(data), end="client_close")


def test_half_close_client_first(relayd, backend):
    """The backend answers only after reading the request to EOF, so the
    reply arrives only if the relay turned the client's FIN into a FIN
    towards the backend and kept the other direction open."""
    req_size, reply_size = 1 * MIB, 3 * MIB

    def handler(conn, rec):
        got = recv_to_eof(conn, limit=req_size)
        sent = send_stream(conn, 4, reply_size)
        return got, sent

    b = backend(handler)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("hc", f"127.0.0.1:{port}", b.addr))

    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    req = send_stream(c, 3, req_size)  # ends with shutdown(SHUT_WR)
    reply = recv_to_eof(c, limit=reply_size)
    c.close()

    got, sent = b.wait_done(b.wait_accepted(), 30)
    assert got == (req_size, req)
    assert reply == (reply_size, sent)
    check_session(d.wait_session(me[1]), name="hc", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=req_size,
                  bytes_out=reply_size, end="client_close")


def test_half_close_upstream_first(relayd, backend):
    """The backend sends a greeting and shuts its side first; the client
    then still uploads through the relay: end=upstream_close."""
    greet_size, upload_size = 512 * KIB, 2 * MIB

    def handler(conn, rec):
        sent = send_stream(conn, 11, greet_size)
        return sent, recv_to_eof(conn, limit=upload_size)

    b = backend(handler)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("uf", f"127.0.0.1:{port}", b.addr))

    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    greeting = recv_to_eof(c, limit=greet_size)
    upload = send_stream(c, 12, upload_size)
    # The relay has nothing more to send and must close its side.
    c.settimeout(10)
    assert c.recv(1) == b""
    c.close()

    sent, got = b.wait_done(b.wait_accepted(), 30)
    assert greeting == (greet_size, sent)
    assert got == (upload_size, upload)
    check_session(d.wait_session(me[1]), name="uf", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=upload_size,
                  bytes_out=greet_size, end="upstream_close")


@pytest.mark.deadline(180)
def test_500_concurrent_sessions(relayd, backend):
    nclients, size = 500, 64 * KIB
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("many", f"127.0.0.1:{port}", b.addr))

    rng = random.Random(7)
    sel = selectors.DefaultSelector()
    clients = []
    deadline = time.monotonic() + 120
    try:
        # All connect at once, non-blocking, MPTCP.
        for i in range(nclients):
            s = stream_socket(socket.AF_INET, mptcp=True)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            assert err in (0, errno.EINPROGRESS), os.strerror(err)
            st = {"i": i, "sock": s, "data": rng.randbytes(size), "sent": 0,
                  "got": bytearray(), "eof": False, "mptcp": None,
                  "port": None}
            clients.append(st)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)

        open_count = nclients
        while open_count:
            if time.monotonic() > deadline:
                pending = [st["i"] for st in clients if not st["eof"]]
                raise Failure(f"{len(pending)} sessions unfinished: "
                                f"{pending[:20]}")
            for key, events in sel.select(timeout=1.0):
                st = key.data
                s = st["sock"]
                if st["port"] is None:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, f"client {st['i']}: {os.strerror(err)}"
                    st["port"] = s.getsockname()[1]
                    st["mptcp"] = is_mptcp(s)
                if events & selectors.EVENT_WRITE:
                    try:
                        n = s.send(st["data"][st["sent"]:st["sent"] + 64 * KIB])
                    except BlockingIOError:
                        n = 0
                    st["sent"] += n
                    if st["sent"] == size:
                        s.shutdown(socket.SHUT_WR)
                        sel.modify(s, selectors.EVENT_READ, st)
                if events & selectors.EVENT_READ:
                    try:
                        chunk = s.recv(64 * KIB)
                    except BlockingIOError:
                        continue
                    if chunk:
                        st["got"] += chunk
                        assert len(st["got"]) <= size, f"client {st['i']}"
                    else:
                        assert st["sent"] == size, \
                            f"client {st['i']}: EOF before sending all"
                        st["eof"] = True
                        sel.unregister(s)
                        open_count -= 1
    finally:
        sel.close()
        for st in clients:
            st["sock"].close()

    bad = [st["i"] for st in clients if bytes(st["got"]) != st["data"]]
    assert not bad, f"{len(bad)} clients got a wrong echo: {bad[:20]}"
    assert all(st["mptcp"] == 1 for st in clients), "some clients not MPTCP"
    assert not b.errors

    ports = {st["port"] for st in clients}
    wait_until(lambda: len([s for s in d.sessions()
                            if int(s["client"].rsplit(":", 1)[1]) in ports])
               >= nclients, 30, what="500 session lines")
    lines = [s for s in d.sessions()
             if int(s["client"].rsplit(":", 1)[1]) in ports]
    assert len(lines) == nclients
    for st in clients:
        rec = next(s for s in lines
                   if int(s["client"].rsplit(":", 1)[1]) == st["port"])
        check_session(rec, name="many", client=("127.0.0.1", st["port"]),
                      upstream=b.addr, mptcp=True, bytes_in=size,
                      bytes_out=size, end="client_close")


def test_ipv6_listener_and_upstream(relayd, backend):
    b = backend(host="::1")
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("v6", f"[::1]:{port}", b.addr))
    assert b.addr == f"[::1]:{b.port}"

    data = random.Random(8).randbytes(256 * KIB)
    c = connect("::1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()[:2]
    assert echo_exchange(c, data) == data
    c.close()

    rec = d.wait_session(me[1])
    assert rec["client"] == f"[::1]:{me[1]}"
    check_session(rec, name="v6", client=me, upstream=b.addr, mptcp=True,
                  bytes_in=len(data), bytes_out=len(data), end="client_close")


def test_dual_stack_listener(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("dual", f"*:{port}", b.addr))

    for i, host in enumerate(("127.0.0.1", "::1")):
        data = random.Random(20 + i).randbytes(128 * KIB)
        c = connect(host, port, mptcp=True)
        assert is_mptcp(c) == 1, f"no MPTCP for {host} client"
        me = c.getsockname()[:2]
        assert echo_exchange(c, data) == data
        c.close()
        check_session(d.wait_session(me[1]), name="dual", client=me,
                      upstream=b.addr, mptcp=True, bytes_in=len(data),
                      bytes_out=len(data), end="client_close")


@pytest.fixture
def client_subflow_endpoint():
    """An MPTCP 'subflow' endpoint 198.18.0.1 on lo: MPTCP clients in the
    namespace open a second subflow from it. Removed afterwards, as are the
    limits it needs."""
    def ip(*args):
        subprocess.run(["ip", *args], check=True, timeout=10)

    limits = subprocess.run(["ip", "mptcp", "limits", "show"], check=True,
                            capture_output=True, text=True,
                            timeout=10).stdout.split()
    ip("addr", "add", "198.18.0.1/32", "dev", "lo")
    try:
        ip("mptcp", "endpoint", "add", "198.18.0.1", "dev", "lo", "subflow")
        try:
            ip("mptcp", "limits", "set", "subflow", "2",
               "add_addr_accepted", "2")
            yield "198.18.0.1"
        finally:
            ip("mptcp", "endpoint", "flush")
            # "add_addr_accepted N subflows M" back as it was.
            old = dict(zip(limits[::2], limits[1::2]))
            ip("mptcp", "limits", "set",
               "subflow", old.get("subflows", "2"),
               "add_addr_accepted", old.get("add_addr_accepted", "0"))
    finally:
        ip("addr", "del", "198.18.0.1/32", "dev", "lo")


def test_subflows_counted(relayd, backend, client_subflow_endpoint):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("sf", f"127.0.0.1:{port}", b.addr))

    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    total = 0
    deadline = time.monotonic() + 10
    while mptcp_additional_subflows(c) < 1:
        assert time.monotonic() < deadline, "second subflow never came up"
        assert echo_exchange(c, b"ping", shut_wr=False) == b"ping"
        total += 4
        time.sleep(0.05)
    # Keep the session busy with both subflows up for a while: a daemon
    # need not ask the kernel about subflows on every read.
    busy_until = time.monotonic() + 2.5
    while time.monotonic() < busy_until:
        assert echo_exchange(c, b"data" * 256, shut_wr=False) == b"data" * 256
        total += 1024
        time.sleep(0.05)
    assert mptcp_additional_subflows(c) >= 1
    data = random.Random(9).randbytes(1 * MIB)
    assert echo_exchange(c, data) == data
    total += len(data)
    c.close()

    check_session(d.wait_session(me[1]), name="sf", client=me,
                  upstream=b.addr, mptcp=True, subflows=2, bytes_in=total,
                  bytes_out=total, end="client_close")
