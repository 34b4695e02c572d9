# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Sessions that end badly: an upstream that refuses or never answers,
resets on either side, idle sessions."""

import random
import socket
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, MIB, check_session, connect,
                     connect_until_closed, duration_of, echo_exchange,
                     free_port, is_mptcp, recv_exactly, set_linger_reset,
                     stream_chunks, wait_closed)


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


def test_upstream_refused(relayd, backend):
    up_port = free_port()  # nothing listens there
    upstream = f"127.0.0.1:{up_port}"
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "refused", f"127.0.0.1:{port}", upstream, "connect_timeout = 3s\n"))

    # Refused at once: the relay may reset the client before its connect()
    # has returned.
    me, how = connect_until_closed("127.0.0.1", port, timeout=3 + 1)
    assert how == "reset"
    check_session(d.wait_session(me[1]), name="refused", client=me,
                  upstream=upstream, mptcp=True, bytes_in=0, bytes_out=0,
                  end="connect_failed")

    # The same listener serves the next client once the upstream is up.
    backend(port=up_port)
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    assert echo_exchange(c, b"hello") == b"hello"
    c.close()
    check_session(d.wait_session(me[1]), name="refused", client=me,
                  upstream=upstream, mptcp=True, bytes_in=5, bytes_out=5,
                  end="client_close")


@pytest.mark.deadline(90)
def test_upstream_blackholed(relayd, backend, blackhole_addr):
    """SYNs to the upstream vanish: the relay gives up after connect_timeout
    (not before), closes the client, and goes on serving."""
    upstream = f"{blackhole_addr}:{free_port()}"
    b = backend()
    hole_port, ok_port = free_port(), free_port()
    d = relayd(GLOBAL_SECTION
               + listener("hole", f"127.0.0.1:{hole_port}", upstream,
                          "connect_timeout = 1s\n")
               + listener("ok", f"127.0.0.1:{ok_port}", b.addr))

    for _ in range(2):
        c = connect("127.0.0.1", hole_port, mptcp=True)
        assert is_mptcp(c) == 1
        me = c.getsockname()
        t0 = time.monotonic()
        wait_closed(c, timeout=2.0)
        elapsed = time.monotonic() - t0
        c.close()
        assert elapsed >= 0.9, f"closed after {elapsed:.3f}s, before the 1s " \
            "connect_timeout"
        rec = check_session(d.wait_session(me[1]), name="hole", client=me,
                            upstream=upstream, mptcp=True, bytes_in=0,
                            bytes_out=0, end="connect_timeout")
        assert 0.9 <= duration_of(rec) <= 2.0, rec

        c = connect("127.0.0.1", ok_port, mptcp=True)
        me = c.getsockname()
        assert echo_exchange(c, b"still here") == b"still here"
        c.close()
        check_session(d.wait_session(me[1]), name="ok", client=me,
                      upstream=b.addr, mptcp=True, bytes_in=10, bytes_out=10,
                      end="client_close")


@pytest.mark.parametrize("client_mptcp", [True, False], ids=["mptcp", "tcp"])
def test_client_reset_resets_upstream(relayd, backend, client_mptcp):
    """The client aborts mid-upload: the backend, which is reading, must see
    the connection reset, not a clean EOF."""

    def handler(conn, rec):
        n = 0
        try:
            while True:
                chunk = conn.recv(256 * KIB)
                if not chunk:
                    return "eof", n
                n += len(chunk)
        except ConnectionResetError:
            return "reset", n

    b = backend(handler)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("rst", f"127.0.0.1:{port}", b.addr))

    c = connect("127.0.0.1", port, mptcp=client_mptcp)
    assert is_mptcp(c) == (1 if client_mptcp else 0)
    me = c.getsockname()
    sent = 0
    for chunk in stream_chunks(13, 4 * MIB, chunk=256 * KIB):
        c.sendall(chunk)
        sent += len(chunk)
    set_linger_reset(c)
    c.close()

    how, received = b.wait_done(b.wait_accepted(), 10)
    assert how == "reset", f"backend saw {how} after {received} bytes"
    rec = check_session(d.wait_session(me[1]), name="rst", client=me,
                        upstream=b.addr, mptcp=client_mptcp, bytes_out=0,
                        end="client_reset")
    assert received <= int(rec["bytes_in"]) <= sent, rec


@pytest.mark.parametrize("client_mptcp", [True, False], ids=["mptcp", "tcp"])
def test_upstream_reset_resets_client(relayd, backend, client_mptcp):
    size = 1 * MIB

    def handler(conn, rec):
        for chunk in stream_chunks(14, size):
            conn.sendall(chunk)
        assert recv_exactly(conn, 2) == b"ok"
        set_linger_reset(conn)
        # Backend.close()s the socket when the handler returns: a reset.

    b = backend(handler)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("urst", f"127.0.0.1:{port}", b.addr))

    c = connect("127.0.0.1", port, mptcp=client_mptcp)
    assert is_mptcp(c) == (1 if client_mptcp else 0)
    me = c.getsockname()
    assert recv_exactly(c, size) == b"".join(stream_chunks(14, size))
    c.sendall(b"ok")
    b.wait_done(b.wait_accepted(), 10)
    assert wait_closed(c, timeout=5) == "reset"
    c.close()
    check_session(d.wait_session(me[1]), name="urst", client=me,
                  upstream=b.addr, mptcp=client_mptcp, bytes_in=2,
                  bytes_out=size, end="upstream_reset")


def test_idle_timeout(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("idle", f"127.0.0.1:{port}", b.addr,
                                         "idle_timeout = 1s\n"))

    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    # Traffic every 0.5 s for 2 s keeps the session alive past 1 s: the
    # timer measures silence, not age.
    for _ in range(5):
        assert echo_exchange(c, b"ping", shut_wr=False) == b"ping"
        time.sleep(0.5)
    assert echo_exchange(c, b"ping", shut_wr=False) == b"ping"
    t0 = time.monotonic()
    wait_closed(c, timeout=3)
    elapsed = time.monotonic() - t0
    c.close()
    assert 0.9 <= elapsed <= 2.5, f"idle session closed after {elapsed:.3f}s"
    rec = check_session(d.wait_session(me[1]), name="idle", client=me,
                        upstream=b.addr, mptcp=True, bytes_in=24,
                        bytes_out=24, end="idle_timeout")
    assert duration_of(rec) >= 3.0, rec


def test_client_data_during_connect_is_relayed(relayd, backend):
    """Bytes a client sends before the upstream connection is up are not
    lost (an HTTP client talks first)."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("early", f"127.0.0.1:{port}",
                                         b.addr))
    data = random.Random(15).randbytes(64 * KIB)
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        chunk = c.recv(64 * KIB)
        if not chunk:
            break
        got += chunk
    c.close()
    assert bytes(got) == data
    check_session(d.wait_session(me[1]), name="early", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=len(data),
                  bytes_out=len(data), end="client_close")
