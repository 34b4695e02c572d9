# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Multipath for real: a client namespace with two links to the relay's
namespace (netns.py), subflows seen by the relay and by ss, failover while
256 MiB flow each way, plain-TCP clients, MPTCP on the upstream leg, a
relay host with MPTCP off, and mptcp-relayd -D against known settings.

Every client and backend socket is made inside its namespace (a thread
enters it with setns) and lives there; the daemon runs in the relay
namespace through `ip netns exec`.
"""

import hashlib
import random
import re
import socket
import threading
import time

import pytest

import netns
from helpers import (GLOBAL_SECTION, MIB, Worker, check_session, connect,
                     free_port, is_mptcp, wait_until)

# A 1 MiB block; chunk i of a stream is the block with i in its first
# 8 bytes, so that a lost, doubled or misplaced chunk changes the hash.
BLOCK = random.Random(3).randbytes(MIB)
# Generous: after a cut, MPTCP can recover what the dead subflow held a
# chunk per retransmission timeout; 2 x 256 MiB took 31-35 s in 3 of 30
# failover runs on a 2-CPU machine (2.6-4 s in most).
TRANSFER_TIMEOUT = 150
SUBFLOW_WAIT = 10
MAX_STALL = 5.0        # seconds without data after losing a link
SAMPLE_INTERVAL = 1.2   # the relay's subflow sampling period (1 s), and some
GAP_KEPT = 0.05         # Receiver keeps every gap this long or longer


class MultipathFailure(AssertionError):
    pass


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


@pytest.fixture
def topology():
    """Factory of netns.Topology; every one is torn down after the test
    (list this fixture before relayd, so that daemons stop first)."""
    made = []

    def make(**kw):
        t = netns.Topology(**kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def start_backend(make, ns, handler, host="127.0.0.1", mptcp=False,
                  port=None):
    """A backend (from the conftest factory make, which closes it after the
    test) whose listening socket lives in namespace ns."""
    with ns.entered():
        return make(handler, host=host, port=port or free_port(),
                    mptcp=mptcp)


def connect_in(ns, host, port, mptcp=True):
    with ns.entered():
        return connect(host, port, mptcp=mptcp, timeout=10)


# --- streams -----------------------------------------------------------------

def send_blocks(sock, total, shut_wr=True, hold=None, gate=None, held=None):
    """Send total bytes (whole MiB) of numbered blocks; return the sha256.
    With hold (an Event), the last MiB waits until it is set (and held, a
    list, gets when that wait began and ended); with gate, the first
    one."""
    buf = bytearray(BLOCK)
    h = hashlib.sha256()
    if gate is not None and not gate.wait(TRANSFER_TIMEOUT):
        raise MultipathFailure("send_blocks: never started")
    for i in range(total // MIB):
        if hold is not None and i == total // MIB - 1:
            if held is not None:
                held.append(time.monotonic())
            if not hold.wait(TRANSFER_TIMEOUT):
                raise MultipathFailure("send_blocks: never released")
            if held is not None:
                held.append(time.monotonic())
        buf[0:8] = i.to_bytes(8, "little")
        sock.sendall(buf)
        h.update(buf)
    if shut_wr:
        sock.shutdown(socket.SHUT_WR)
    return h.hexdigest()


def describe_mismatch(base, got, want):
    """Where block got (at stream offset base) first differs from want,
    and where its bytes there come from: a stream that lost, repeated or
    moved bytes shows them at another offset of a block."""
    k = 0
    while got[k:k + 4096] == want[k:k + 4096]:
        k += 4096
    while got[k] == want[k]:
        k += 1
    end = k
    while end < len(got) and got[end:end + 64] != want[end:end + 64]:
        end += 64
    probe = got[k:k + 32]
    src = BLOCK.find(probe, 8) if len(probe) == 32 else -1
    where = (f"its bytes are a block's bytes at +{src} (moved by "
             f"{src - k} within a block, or from another block)"
             if src >= 0 else "its bytes are in no block (changed)")
    return (f"first difference at stream offset {base + k} (block "
            f"{base // MIB}, +{k}), about {end - k} bytes long; {where}; "
            f"its first 8 bytes {got[k:k + 8].hex()} instead of "
            f"{want[k:k + 8].hex()}")


class Receiver:
    """Reads a socket to EOF, hashing, and keeps the longest gap between
    two reads that returned data (the stall a reader sees), and every gap
    of GAP_KEPT or more, as (start, end). It checks the
    numbered blocks of send_blocks() as they complete and keeps, in
    first_bad, where the first one differs: a hash alone says only that
    something did."""

    def __init__(self, sock, limit):
        self.sock = sock
        self.limit = limit
        self.count = 0
        self.max_gap = 0.0
        self.max_gap_at = None
        self.gaps = []
        self.pending = bytearray()
        self.verified = 0
        self.first_bad = None

    def verify(self, data):
        self.pending += data
        while len(self.pending) >= MIB and self.first_bad is None:
            want = (self.verified // MIB).to_bytes(8, "little") + BLOCK[8:]
            got = bytes(self.pending[:MIB])
            if got != want:
                self.first_bad = describe_mismatch(self.verified, got, want)
            del self.pending[:MIB]
            self.verified += MIB

    def __call__(self):
        h = hashlib.sha256()
        buf = bytearray(MIB)
        mv = memoryview(buf)
        deadline = time.monotonic() + TRANSFER_TIMEOUT
        last = None
        while True:
            if time.monotonic() > deadline:
                raise MultipathFailure(f"receive: deadline passed after "
                                f"{self.count} bytes")
            n = self.sock.recv_into(mv)
            if n == 0:
                return self.count, h.hexdigest()
            now = time.monotonic()
            if last is not None and now - last > self.max_gap:
                self.max_gap, self.max_gap_at = now - last, now
            if last is not None and now - last >= GAP_KEPT:
                self.gaps.append((last, now))
            last = now
            h.update(mv[:n])
            if self.first_bad is None:
                self.verify(mv[:n])
            self.count += n
            if self.count > self.limit:
                raise MultipathFailure(
                    f"receive: more than {self.limit} bytes")

    def longest_gap(self, held=()):
        """(seconds, when it ended) of the longest gap, less any part of
        it while the sender held its data back on purpose (held: the
        (began, ended) of send_blocks(), or empty): a reader that has
        everything sent so far waits for the sender, not for the path."""
        best = (0.0, None)
        for start, end in self.gaps:
            gap = end - start
            if len(held) == 2:
                gap -= max(0.0, min(end, held[1]) - max(start, held[0]))
            best = max(best, (gap, end), key=lambda g: g[0])
        return best


def bulk_handler(size):
    """Backend handler: send size bytes while reading the client's to EOF;
    the reader (and its stall) is kept in rec["receiver"]."""
    def handler(conn, rec):
        sender = Worker(send_blocks, conn, size, name="backend-send")
        sender.start()
        rec["receiver"] = Receiver(conn, size)
        got = rec["receiver"]()
        return got, sender.get(TRANSFER_TIMEOUT)
    return handler


def upload_handler(size):
    """Backend handler: read the client's size bytes to EOF, then send
    size bytes back (the client's session stays open, and its path
    manager free to add a subflow, for as long as it sends)."""
    def handler(conn, rec):
        rec["receiver"] = Receiver(conn, size)
        got = rec["receiver"]()
        return got, send_blocks(conn, size)
    return handler


class Transfer:
    """size bytes each way between a connected client socket and a
    bulk_handler backend, concurrently; the caller acts in between. With
    hold, the client's last MiB (and so the end of the session) waits for
    release(); with gated, its first one waits for start().

    A test whose subject is not the moment a subflow joins starts the
    client's upload once the subflows it waits for are up (gated):
    Linux 6.18 was seen to put some of the first bytes a joining subflow
    carries at the wrong place, for any reader (bench/README, "A kernel
    that misplaces a joining subflow's first bytes")."""

    def __init__(self, sock, size, hold=False, gated=False):
        self.sock = sock
        self.size = size
        self.hold = threading.Event() if hold else None
        self.gate = threading.Event() if gated else None
        self.held = []          # when the client's last MiB began waiting
        self.receiver = Receiver(sock, size)
        self.sender = Worker(send_blocks, sock, size, True, self.hold,
                             self.gate, self.held, name="client-send")
        self.reader = Worker(self.receiver, name="client-recv")
        self.t0 = time.monotonic()
        self.sender.start()
        self.reader.start()

    def start(self):
        self.gate.set()

    def release(self):
        self.hold.set()

    def wait_received(self, n, timeout=TRANSFER_TIMEOUT):
        wait_until(lambda: self.receiver.count >= n or
                   not self.reader.is_alive(), timeout, interval=0.005,
                   what=f"{n} bytes received")

    def finish(self, backend, n=1):
        """Wait for both directions; check both hashes (the backend's nth
        connection is the other end). Returns seconds."""
        for ev in (self.gate, self.hold):
            if ev is not None:
                ev.set()
        sent = self.sender.get(TRANSFER_TIMEOUT)
        got = self.reader.get(TRANSFER_TIMEOUT)
        self.elapsed = time.monotonic() - self.t0
        rec = backend.wait_accepted(n)
        backend_got, backend_sent = backend.wait_done(rec, TRANSFER_TIMEOUT)
        self.backend_receiver = rec["receiver"]
        assert backend_got == (self.size, sent), \
            ("client->backend: data lost or changed: "
             f"{self.backend_receiver.first_bad}")
        assert got == (self.size, backend_sent), \
            f"backend->client: data lost or changed: {self.receiver.first_bad}"
        return self.elapsed


def wait_subflows(ns, port, n, timeout=SUBFLOW_WAIT):
    """Wait until ss in ns shows n established subflows on port; return
    them as (local, remote) pairs."""
    def check():
        flows = netns.tcp_subflows(ns, port)
        return flows if len(flows) == n else None
    try:
        return wait_until(check, timeout, interval=0.05,
                          what=f"{n} subflows on port {port}")
    except AssertionError as e:
        flows = netns.tcp_subflows(ns, port)
        raise MultipathFailure(f"{e}; ss shows {flows}") from None


def outlast_sampling(xfer):
    """The relay samples subflows on traffic, at most once a second: let
    the session's last bytes flow more than a second after it began, while
    all its subflows are still up, so that one sample sees them."""
    left = SAMPLE_INTERVAL - (time.monotonic() - xfer.t0)
    if left > 0:
        time.sleep(left)
    xfer.release()


def ip_of(addr):
    return re.sub(r"(%\w+)?:\d+$", "", addr)


def report(capsys, text):
    with capsys.disabled():
        print(f"\n    {text}", flush=True)


# --- two subflows ------------------------------------------------------------

@pytest.mark.deadline(180)
def test_client_subflow_endpoint_gives_two_subflows(topology, backend,
                                                    relayd):
    """The client announces nothing: it opens a second subflow from its
    second link ('subflow' endpoint). The relay's log and ss agree: 2."""
    t = topology()
    t.relay.mptcp_limits(2, 0)
    t.client.mptcp_limits(2, 0)
    t.client.mptcp_endpoint(t.client_links[1].addr_a, "c1", "subflow")
    size = 32 * MIB
    b = start_backend(backend, t.relay, bulk_handler(size))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "mp", f"{t.relay_addr}:{port}", b.addr), prefix=t.relay.prefix())

    c = connect_in(t.client, t.relay_addr, port)
    assert is_mptcp(c) == 1, "client did not negotiate MPTCP"
    me = c.getsockname()
    assert me[0] == t.client_links[0].addr_a
    xfer = Transfer(c, size, hold=True, gated=True)
    # While the backend's data flows: the relay's host sees two subflows
    # of this connection, one from each of the client's links, and one
    # MPTCP socket that counts them. Then the client uploads.
    flows = wait_subflows(t.relay, port, 2)
    xfer.start()
    assert sorted(ip_of(r) for _, r in flows) == \
        sorted(link.addr_a for link in t.client_links), flows
    assert netns.msk_subflows(t.relay, port) == [2]
    outlast_sampling(xfer)
    xfer.finish(b)
    c.close()

    rec = check_session(d.wait_session(me[1]), name="mp", client=me,
                        upstream=b.addr, mptcp=True, subflows=2,
                        bytes_in=size, bytes_out=size,
                        end=("client_close", "upstream_close"))
    assert rec["subflows"] == "2"
    # Both links carried data.
    for link in t.client_links:
        rx, tx = t.client.counters(link.dev_a)
        assert tx > MIB, f"{link.dev_a} sent only {tx} bytes"


@pytest.mark.deadline(180)
def test_relay_signal_endpoint_gives_two_subflows(topology, backend,
                                                   relayd):
    """The relay announces its second address ('signal' endpoint); the
    client has no endpoint and opens the second subflow towards it. The
    listener is on the wildcard: joins arrive at the announced address."""
    t = topology()
    t.relay.mptcp_limits(2, 0)
    t.relay.mptcp_endpoint(t.client_links[1].addr_b, "r1", "signal")
    t.client.mptcp_limits(2, 2)
    size = 8 * MIB
    b = start_backend(backend, t.relay, bulk_handler(size))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("sig", f"0.0.0.0:{port}", b.addr),
               prefix=t.relay.prefix())

    c = connect_in(t.client, t.relay_addr, port)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    xfer = Transfer(c, size, hold=True, gated=True)
    flows = wait_subflows(t.relay, port, 2)
    xfer.start()
    assert sorted(ip_of(loc) for loc, _ in flows) == \
        sorted(link.addr_b for link in t.client_links), flows
    assert netns.msk_subflows(t.relay, port) == [2]
    outlast_sampling(xfer)
    xfer.finish(b)
    c.close()
    check_session(d.wait_session(me[1]), name="sig", client=me,
                  upstream=b.addr, mptcp=True, subflows=2, bytes_in=size,
                  bytes_out=size, end=("client_close", "upstream_close"))


# --- failover ----------------------------------------------------------------

@pytest.mark.deadline(330)
@pytest.mark.parametrize("down", [0, 1], ids=["initial_link", "second_link"])
def test_failover_256mib_each_way(topology, backend, relayd, capsys, down):
    """256 MiB each way at once; mid-transfer the client loses one link
    (first the initial subflow's, then, in the second case, the other).
    Everything arrives, in order; the longest stall is reported."""
    size = 256 * MIB
    t = topology()
    t.relay.mptcp_limits(2, 0)
    t.client.mptcp_limits(2, 0)
    t.client.mptcp_endpoint(t.client_links[1].addr_a, "c1", "subflow")
    b = start_backend(backend, t.relay, bulk_handler(size))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "fo", f"{t.relay_addr}:{port}", b.addr), prefix=t.relay.prefix())

    c = connect_in(t.client, t.relay_addr, port)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    assert me[0] == t.client_links[0].addr_a, "initial subflow not on link 0"
    wait_subflows(t.relay, port, 2)
    xfer = Transfer(c, size, hold=True)
    xfer.wait_received(size // 4)
    dead, alive = t.client_links[down], t.client_links[1 - down]
    before = t.client.counters(alive.dev_a)
    got_at_down = xfer.receiver.count
    t_down = time.monotonic()
    dead.down()
    assert got_at_down < size, "transfer ended before the link went down"
    outlast_sampling(xfer)
    elapsed = xfer.finish(b)
    c.close()

    after = t.client.counters(alive.dev_a)
    # What was left after the cut went over the surviving link.
    left = size - got_at_down
    assert after[0] - before[0] > left // 2, (before, after)
    check_session(d.wait_session(me[1]), name="fo", client=me,
                  upstream=b.addr, mptcp=True, subflows=2, bytes_in=size,
                  bytes_out=size, end=("client_close", "upstream_close"))
    # Losing a path costs a few round trips of retransmission timeouts,
    # not a stall an application would time out on. The client holds its
    # last MiB until after the cut: when its upload is ahead, the backend
    # waits for that, which is no stall of the path.
    down_gap, down_at = xfer.receiver.longest_gap()
    up_gap, up_at = xfer.backend_receiver.longest_gap(xfer.held)
    assert max(down_gap, up_gap) < MAX_STALL, (down_gap, up_gap, xfer.held)

    def ended(at):
        return "none" if at is None else \
            f"ended {(at - t_down) * 1000:+.0f} ms from the cut"
    report(capsys, f"failover ({dead.dev_a} down after "
           f"{got_at_down // MIB} MiB): 2 x {size // MIB} MiB in "
           f"{elapsed:.2f}s; longest stall: to the client "
           f"{down_gap * 1000:.0f} ms ({ended(down_at)}), to the backend "
           f"{up_gap * 1000:.0f} ms ({ended(up_at)})")


# --- plain TCP client --------------------------------------------------------

def test_plain_tcp_client_from_namespace(topology, backend, relayd):
    t = topology()
    b = start_backend(backend, t.relay, bulk_handler(4 * MIB))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "fb", f"{t.relay_addr}:{port}", b.addr), prefix=t.relay.prefix())
    c = connect_in(t.client, t.relay_addr, port, mptcp=False)
    assert is_mptcp(c) == 0
    me = c.getsockname()
    Transfer(c, 4 * MIB).finish(b)
    c.close()
    assert netns.msk_subflows(t.relay, port) == []
    check_session(d.wait_session(me[1]), name="fb", client=me,
                  upstream=b.addr, mptcp=False, bytes_in=4 * MIB,
                  bytes_out=4 * MIB, end=("client_close", "upstream_close"))


# --- MPTCP on the upstream leg -----------------------------------------------

@pytest.mark.deadline(330)
def test_upstream_leg_two_subflows_survives_link_loss(topology, backend,
                                                      relayd, capsys):
    """upstream_protocol = mptcp to an MPTCP backend on a third host with
    two links to the relay; it announces its second address. The upstream
    leg gets 2 subflows and survives losing the initial one's link."""
    size = 128 * MIB
    t = topology(client_links=1, upstream_links=2)
    t.upstream.mptcp_limits(2, 0)
    t.upstream.mptcp_endpoint(t.upstream_links[1].addr_b, "uu1", "signal")
    t.relay.mptcp_limits(2, 2)
    up_port = free_port()
    b = start_backend(backend, t.upstream, bulk_handler(size),
                      host="0.0.0.0", mptcp=True, port=up_port)
    upstream = f"{t.upstream_addr}:{up_port}"
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "up", f"{t.relay_addr}:{port}", upstream,
        "upstream_protocol = mptcp\n"), prefix=t.relay.prefix())

    c = connect_in(t.client, t.relay_addr, port)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    xfer = Transfer(c, size, hold=True, gated=True)
    rec = b.wait_accepted()
    assert rec["is_mptcp"] == 1, "upstream leg did not negotiate MPTCP"
    # The backend's host sees both subflows, one per relay link; then the
    # client uploads (the relay's data joins the upstream leg's subflows
    # once they are up).
    flows = wait_subflows(t.upstream, up_port, 2)
    xfer.start()
    assert sorted(ip_of(r) for _, r in flows) == \
        sorted(link.addr_a for link in t.upstream_links), flows
    assert netns.msk_subflows(t.upstream, up_port) == [2]
    xfer.wait_received(size // 4)
    got_at_down = xfer.receiver.count
    t.upstream_links[0].down()          # the relay loses its first link
    outlast_sampling(xfer)
    elapsed = xfer.finish(b)
    c.close()
    assert got_at_down < size

    line = d.wait_session(me[1])
    stall = max(xfer.receiver.max_gap, xfer.backend_receiver.max_gap)
    report(capsys, f"upstream leg: 2 x {size // MIB} MiB in {elapsed:.2f}s, "
           f"ru0 down after {got_at_down // MIB} MiB, longest stall "
           f"{stall * 1000:.0f} ms; session line: "
           + " ".join(f"{k}={line[k]}" for k in line["keys"]))
    assert line["upstream_mptcp"] == "yes", line
    assert line.get("upstream_subflows") == "2", \
        f"session line lacks upstream_subflows=2: {line}"
    assert line["mptcp"] == "yes" and line["bytes_in"] == str(size), line


# --- a relay host without MPTCP ----------------------------------------------

def test_mptcp_disabled_exits_2_naming_sysctl(topology, relayd):
    t = topology(client_links=1, relay_mptcp=False)
    assert t.relay.read_sysctl("net.mptcp.enabled") == "0"
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "off", f"{t.relay_addr}:{port}", "127.0.0.1:9",
        "protocol = mptcp\n"), prefix=t.relay.prefix(), wait_started=False)
    assert d.wait_exit(15) == 2, d.text()
    assert "net.mptcp.enabled" in d.text(), d.text()


def test_mptcp_disabled_fallback_serves_tcp(topology, backend, relayd):
    t = topology(client_links=1, relay_mptcp=False)
    b = start_backend(backend, t.relay, bulk_handler(2 * MIB))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "fb", f"{t.relay_addr}:{port}", b.addr,
        "protocol = mptcp\nmptcp_fallback = yes\n"),
        prefix=t.relay.prefix())
    warn = d.wait_line(r"^warning: .*", 1)
    assert "net.mptcp.enabled" in warn.group(0), warn.group(0)
    assert "TCP" in warn.group(0), warn.group(0)
    # An MPTCP client (its own host has MPTCP) falls back to TCP.
    c = connect_in(t.client, t.relay_addr, port, mptcp=True)
    assert is_mptcp(c) == 0
    me = c.getsockname()
    Transfer(c, 2 * MIB).finish(b)
    c.close()
    check_session(d.wait_session(me[1]), name="fb", client=me,
                  upstream=b.addr, mptcp=False, bytes_in=2 * MIB,
                  bytes_out=2 * MIB, end=("client_close", "upstream_close"))


# --- mptcp-relayd -D ---------------------------------------------------------

def diagnose(relayd_binary, ns, config_path):
    p = ns.exec(relayd_binary, "-D", "-c", str(config_path), check=False,
                timeout=20)
    return p.returncode, p.stdout + p.stderr


def test_diagnose_mptcp_disabled(topology, relayd_binary, tmp_path):
    t = topology(client_links=1, relay_mptcp=False)
    cfg = tmp_path / "d.ini"
    cfg.write_text(GLOBAL_SECTION + listener(
        "web", f"{t.relay_addr}:443", "127.0.0.1:80"))
    status, out = diagnose(relayd_binary, t.relay, cfg)
    assert status == 1, out
    assert re.search(r"net\.mptcp\.enabled:\s+0\n", out), out
    assert "warning: MPTCP is disabled: net.mptcp.enabled = 0" in out, out
    assert "MPTCP is NOT usable" in out, out


def test_diagnose_endpoints_limits_and_warnings(topology, relayd_binary,
                                               tmp_path):
    t = topology()
    r = t.relay
    r.mptcp_limits(3, 1)
    r.mptcp_endpoint(t.client_links[1].addr_b, "r1", "signal")
    r.mptcp_endpoint(t.client_links[0].addr_b, "r0", "subflow", "backup")
    cfg = tmp_path / "d.ini"
    cfg.write_text(GLOBAL_SECTION + listener(
        "web", f"{t.relay_addr}:443", "127.0.0.1:80")
        + listener("any", "*:8443", "127.0.0.1:80"))
    status, out = diagnose(relayd_binary, r, cfg)
    assert status == 0, out
    assert re.search(r"net\.mptcp\.enabled:\s+1\n", out), out
    assert re.search(r"path manager:\s+kernel\n", out), out
    assert re.search(r"scheduler:\s+\S+", out), out
    assert re.search(r"limits:\s+subflows 3 add_addr_accepted 1\n", out), out
    # The same endpoints as `ip mptcp endpoint show`, read by netlink.
    shown = r.ip("mptcp", "endpoint", "show")
    for m in re.finditer(r"^(\S+) id (\d+) (.*?) ?dev (\S+)", shown, re.M):
        addr, eid, flags, dev = m.groups()
        want = f"{addr} id {eid} {','.join(flags.split())} dev {dev}\n"
        assert want in out, f"{want!r} not in:\n{out}"
    assert f"{t.client_links[1].addr_b} id 1 signal dev r1\n" in out, out
    assert f"{t.client_links[0].addr_b} id 2 subflow,backup dev r0\n" in out
    assert "warning:" not in out, out
    assert "MPTCP is usable." in out

    # Now a host that announces nothing, allows no extra subflow, and a
    # listener on an address that is not its own.
    r.ip("mptcp", "endpoint", "flush")
    r.mptcp_limits(0, 0)
    cfg.write_text(GLOBAL_SECTION + listener(
        "far", "198.18.77.7:443", "127.0.0.1:80"))
    status, out = diagnose(relayd_binary, r, cfg)
    assert status == 0, out      # usable, with warnings
    assert "warning: the subflow limit is 0" in out, out
    assert "warning: no 'signal' endpoint" in out, out
    assert ("warning: listener 'far': 198.18.77.7:443 is not an address "
            "of this host") in out, out
