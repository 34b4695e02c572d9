# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""The legacy service still knows its clients: the PROXY protocol sent
(v1, v2 with the MPTCP TLV) and accepted (v1, v2, LOCAL, chained), strict
and bounded; allow and deny; max_connections per listener and in [global].

The headers the relay sends are read here by a parser of the test's own,
written from the specification, not by the relay's."""

import hashlib
import os
import re
import socket
import struct
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, check_session, connect,
                     echo_exchange, echo_handler, free_port, is_mptcp,
                     need_program, recv_exactly, recv_to_eof, start_nginx,
                     wait_closed, wait_port, wait_until)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
TLV_MPTCP = 0xE7


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


# --- the test's own reading of a header -----------------------------------

def read_header(sock):
    """Read one PROXY header (v1 or v2) off sock; returns a dict: version,
    local, src (ip, port), dst (ip, port), family ('TCP4'/'TCP6'), tlvs."""
    first = recv_exactly(sock, 12)
    if first == V2_SIG:
        ver_cmd, fam, length = struct.unpack("!BBH", recv_exactly(sock, 4))
        body = recv_exactly(sock, length)
        h = {"version": 2, "local": ver_cmd == 0x20, "tlvs": {}}
        assert ver_cmd in (0x20, 0x21), hex(ver_cmd)
        if fam == 0x11:
            src, dst, sp, dp = struct.unpack("!4s4sHH", body[:12])
            h.update(family="TCP4", src=(socket.inet_ntop(socket.AF_INET,
                     src), sp), dst=(socket.inet_ntop(socket.AF_INET, dst),
                     dp))
            rest = body[12:]
        elif fam == 0x21:
            src, dst, sp, dp = struct.unpack("!16s16sHH", body[:36])
            h.update(family="TCP6", src=(socket.inet_ntop(socket.AF_INET6,
                     src), sp), dst=(socket.inet_ntop(socket.AF_INET6, dst),
                     dp))
            rest = body[36:]
        else:
            assert fam == 0x00, hex(fam)
            h.update(family="UNSPEC")
            rest = body
        while rest:
            t, n = struct.unpack("!BH", rest[:3])
            h["tlvs"][t] = rest[3:3 + n]
            rest = rest[3 + n:]
        return h
    line = bytearray(first)
    while not line.endswith(b"\r\n"):
        assert len(line) < 107, line
        line += recv_exactly(sock, 1)
    parts = line[:-2].decode().split(" ")
    assert parts[0] == "PROXY", line
    if parts[1] == "UNKNOWN":
        return {"version": 1, "local": True, "family": "UNKNOWN"}
    assert len(parts) == 6, line
    return {"version": 1, "local": False, "family": parts[1],
            "src": (parts[2], int(parts[4])),
            "dst": (parts[3], int(parts[5])), "tlvs": {}}


def header_then_echo(headers):
    """A backend that reads the header, stores it, then echoes to EOF."""
    def handler(conn, rec):
        headers.append(read_header(conn))
        return echo_handler(conn, rec)
    return handler


def v1_header(src, dst):
    fam = "TCP6" if ":" in src[0] else "TCP4"
    return f"PROXY {fam} {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


def v2_header(src, dst, local=False, tlvs=b""):
    if local:
        return V2_SIG + struct.pack("!BBH", 0x20, 0x00, len(tlvs)) + tlvs
    if ":" in src[0]:
        body = (socket.inet_pton(socket.AF_INET6, src[0])
                + socket.inet_pton(socket.AF_INET6, dst[0])
                + struct.pack("!HH", src[1], dst[1]))
        fam = 0x21
    else:
        body = (socket.inet_pton(socket.AF_INET, src[0])
                + socket.inet_pton(socket.AF_INET, dst[0])
                + struct.pack("!HH", src[1], dst[1]))
        fam = 0x11
    body += tlvs
    return V2_SIG + struct.pack("!BBH", 0x21, fam, len(body)) + body


def tlv(t, value):
    return struct.pack("!BH", t, len(value)) + value


# --- sending ----------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v2"])
def test_header_sent_names_client_and_listener(relayd, backend, version):
    headers = []
    b = backend(header_then_echo(headers))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("pp", f"127.0.0.1:{port}", b.addr,
                                         f"proxy_protocol = {version}\n"))
    for mptcp in (True, False):
        c = connect("127.0.0.1", port, mptcp=mptcp)
        me = c.getsockname()
        payload = os.urandom(100 * KIB)
        assert echo_exchange(c, payload) == payload
        c.close()
        check_session(d.wait_session(me[1]), name="pp", client=me,
                      upstream=b.addr, mptcp=mptcp, bytes_in=len(payload),
                      bytes_out=len(payload), end="client_close")
        h = headers[-1]
        assert h["version"] == int(version[1]), h
        assert h["family"] == "TCP4", h
        assert h["src"] == me, h
        assert h["dst"] == ("127.0.0.1", port), h
        if version == "v2":
            assert h["tlvs"].get(TLV_MPTCP) == bytes([1, int(mptcp)]), h
    assert len(headers) == 2


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_dual_stack_listener_sends_ipv4_clients_as_ipv4(relayd, backend,
                                                        version):
    headers = []
    b = backend(header_then_echo(headers))
    port = free_port()
    relayd(GLOBAL_SECTION + listener("ds", f"*:{port}", b.addr,
                                     f"proxy_protocol = {version}\n"))
    c4 = connect("127.0.0.1", port, mptcp=True)
    me4 = c4.getsockname()
    assert echo_exchange(c4, b"four") == b"four"
    c4.close()
    c6 = connect("::1", port, mptcp=True)
    me6 = c6.getsockname()[:2]
    assert echo_exchange(c6, b"six") == b"six"
    c6.close()
    wait_until(lambda: len(headers) == 2, 10, what="two headers")
    assert headers[0]["family"] == "TCP4", headers[0]
    assert headers[0]["src"] == me4 and headers[0]["dst"] == \
        ("127.0.0.1", port), headers[0]
    assert headers[1]["family"] == "TCP6", headers[1]
    assert headers[1]["src"] == me6 and headers[1]["dst"] == ("::1", port), \
        headers[1]


def test_header_goes_out_before_client_bytes_sent_during_connect(relayd,
                                                                 backend):
    """A client that talks first: its bytes follow the header, none lost,
    none before it (the splice path then carries the bulk)."""
    headers = []
    b = backend(header_then_echo(headers))
    port = free_port()
    relayd(GLOBAL_SECTION + listener("early", f"127.0.0.1:{port}", b.addr,
                                     "proxy_protocol = v2\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    payload = os.urandom(8 * 1024 * KIB)
    assert echo_exchange(c, payload, timeout=60) == payload
    c.close()
    assert len(headers) == 1 and headers[0]["src"] == me, headers


# --- accepting ------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v2"])
def test_accept_proxy_uses_the_header_address(relayd, backend, version):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("ap", f"127.0.0.1:{port}", b.addr,
                                         "accept_proxy = yes\n"))
    real = ("198.18.9.7", 40123)
    hdr = (v1_header if version == "v1" else v2_header)(
        real, ("198.18.9.1", 443))
    c = connect("127.0.0.1", port, mptcp=True)
    mark = d.mark()
    payload = os.urandom(30 * KIB)
    # The header and the first data in one segment.
    c.sendall(hdr + payload[:100])
    c.sendall(payload[100:])
    c.shutdown(socket.SHUT_WR)
    assert recv_to_eof(c)[1] == hashlib.sha256(payload).hexdigest()
    c.close()
    rec = d.wait_session(real[1], since=mark)
    check_session(rec, name="ap", client=real, upstream=b.addr, mptcp=True,
                  bytes_in=len(payload), bytes_out=len(payload),
                  end="client_close")


def test_accept_proxy_chains_into_proxy_protocol(relayd, backend):
    """The header received names the client in the header sent, with the
    MPTCP flag of the TLV received; v2 LOCAL goes on with the socket's own
    addresses."""
    headers = []
    b = backend(header_then_echo(headers))
    port = free_port()
    relayd(GLOBAL_SECTION + listener("chain", f"127.0.0.1:{port}", b.addr,
                                     "accept_proxy = yes\n"
                                     "proxy_protocol = v2\n"))
    real, dst = ("2001:db8::7", 5555), ("2001:db8::1", 443)
    c = connect("127.0.0.1", port, mptcp=False)
    c.sendall(v2_header(real, dst, tlvs=tlv(TLV_MPTCP, bytes([1, 1]))))
    assert echo_exchange(c, b"chained") == b"chained"
    c.close()
    # LOCAL: a balancer's health check.
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.sendall(v2_header(None, None, local=True))
    assert echo_exchange(c, b"local") == b"local"
    c.close()
    wait_until(lambda: len(headers) == 2, 10, what="two headers")
    h = headers[0]
    assert (h["family"], h["src"], h["dst"]) == ("TCP6", real, dst), h
    assert h["tlvs"][TLV_MPTCP] == bytes([1, 1]), h
    h = headers[1]
    assert (h["src"], h["dst"]) == (me, ("127.0.0.1", port)), h
    assert h["tlvs"][TLV_MPTCP] == bytes([1, 1]), h


BAD_HEADERS = [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not a PROXY protocol header"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "v1"),
    (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "v1"),
    (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "v1"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2" + b" " * 80 + b"\r\n", "v1"),
    (V2_SIG + bytes([0x31, 0x11, 0, 12]) + bytes(12), "v2"),
    (V2_SIG + bytes([0x21, 0x11, 0, 4]) + bytes(4), "v2"),
    (V2_SIG + bytes([0x21, 0x11, 0xff, 0xff]), "v2"),
]


@pytest.mark.parametrize("raw,why", BAD_HEADERS,
                         ids=[f"bad{i}" for i in range(len(BAD_HEADERS))])
def test_bad_header_refused_before_any_connect(relayd, backend, raw, why):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("strict", f"127.0.0.1:{port}",
                                         b.addr, "accept_proxy = yes\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.sendall(raw)
    assert wait_closed(c, timeout=10) == "reset"
    c.close()
    m = d.wait_line(rf"^info: strict: refused 127\.0\.0\.1:{me[1]}: "
                    rf"proxy_header: .*{re.escape(why)}", 10)
    assert m
    assert b.accepted == [], "the upstream was connected"
    assert d.sessions() == [], "a refused client logged as a session"


def test_missing_header_times_out(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("slow", f"127.0.0.1:{port}",
                                         b.addr, "accept_proxy = yes\n"
                                         "handshake_timeout = 1s\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.sendall(b"PROXY TCP4 ")
    t0 = time.monotonic()
    assert wait_closed(c, timeout=30) == "reset"
    assert time.monotonic() - t0 >= 0.9
    c.close()
    d.wait_line(rf"refused 127\.0\.0\.1:{me[1]}: proxy_header: no complete "
                r"header within handshake_timeout \(11 bytes received\)", 10)
    assert b.accepted == []


def test_slow_header_within_the_timeout_is_served(relayd, backend):
    """One byte every 100 ms: accepted while handshake_timeout lasts."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("drip", f"127.0.0.1:{port}",
                                         b.addr, "accept_proxy = yes\n"
                                         "handshake_timeout = 30s\n"))
    real = ("198.18.3.3", 3333)
    c = connect("127.0.0.1", port, mptcp=True)
    mark = d.mark()
    for byte in v1_header(real, ("198.18.3.1", 80)):
        c.sendall(bytes([byte]))
        time.sleep(0.1)
    assert echo_exchange(c, b"dripped") == b"dripped"
    c.close()
    check_session(d.wait_session(real[1], since=mark), name="drip",
                  client=real, upstream=b.addr, mptcp=True, bytes_in=7,
                  bytes_out=7, end="client_close")


@pytest.mark.deadline(90)
def test_clients_without_header_do_not_stop_a_good_one(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("flood", f"127.0.0.1:{port}",
                                         b.addr, "accept_proxy = yes\n"
                                         "handshake_timeout = 20s\n"))
    silent = [connect("127.0.0.1", port, mptcp=True) for _ in range(300)]
    try:
        real = ("198.18.4.4", 4444)
        c = connect("127.0.0.1", port, mptcp=True)
        mark = d.mark()
        c.sendall(v2_header(real, ("198.18.4.1", 80)))
        assert echo_exchange(c, b"good", timeout=10) == b"good"
        c.close()
        check_session(d.wait_session(real[1], since=mark), name="flood",
                      client=real, upstream=b.addr, mptcp=True, bytes_in=4,
                      bytes_out=4, end="client_close")
    finally:
        for s in silent:
            s.close()


# --- allow, deny, accept_proxy_from --------------------------------------------

def refused_at_once(source, dest):
    """Connect from source to dest: the relay resets the connection (it may
    do so before connect() has even returned). True when it did."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.bind(source)
        try:
            s.connect(dest)
        except ConnectionResetError:
            return True
        return wait_closed(s, timeout=10) == "reset"
    finally:
        s.close()


def test_allow_and_deny(relayd, backend):
    """deny wins; with an allow list the rest is refused; an IPv4 client of
    a dual-stack listener matches IPv4 rules; refusals never reach the
    upstream, and a flood of them is logged a few lines a second."""
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "acl", f"*:{port}", b.addr,
        "allow = 127.0.0.0/8\nallow = ::1/128\ndeny = 127.0.0.2\n"))
    for host in ("127.0.0.1", "::1"):
        c = connect(host, port, mptcp=True)
        assert echo_exchange(c, b"ok") == b"ok"
        c.close()
    # 127.0.0.2 is denied, through the dual-stack listener.
    for _ in range(60):
        assert refused_at_once(("127.0.0.2", 0), ("127.0.0.1", port))
    def accounted():
        lines = [ln for ln in d.lines if re.search(
            r"^info: acl: refused 127\.0\.0\.2:\d+: acl: in deny", ln)]
        held = sum(int(n) for ln in d.lines for n in re.findall(
            r"(\d+) more refused clients? not logged", ln))
        return len(lines), held
    # Every refusal is said: a line each, or counted in a later line.
    wait_until(lambda: sum(accounted()) == 60, 15,
               what="60 refusals accounted for")
    nlines, held = accounted()
    assert nlines < 60 and held > 0, (nlines, held)
    assert len(b.accepted) == 2
    assert len(d.sessions()) == 2


def test_allow_applies_to_the_header_address_and_proxy_from_to_the_balancer(
        relayd, backend):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "lb", f"127.0.0.1:{port}", b.addr,
        "accept_proxy = yes\naccept_proxy_from = 127.0.0.1\n"
        "allow = 198.18.0.0/15\n"))
    # Allowed: balancer 127.0.0.1, client in 198.18/15.
    c = connect("127.0.0.1", port, mptcp=True)
    c.sendall(v1_header(("198.18.5.5", 5000), ("198.18.5.1", 80)))
    assert echo_exchange(c, b"in") == b"in"
    c.close()
    # Refused: the client the header names is outside allow.
    c = connect("127.0.0.1", port, mptcp=True)
    c.sendall(v1_header(("192.0.2.9", 5001), ("198.18.5.1", 80)))
    assert wait_closed(c, timeout=10) == "reset"
    c.close()
    d.wait_line(r"refused 192\.0\.2\.9:5001: acl: not in allow", 10)
    # Refused: a balancer outside accept_proxy_from, header or not.
    assert refused_at_once(("127.0.0.3", 0), ("127.0.0.1", port))
    d.wait_line(r"refused 127\.0\.0\.3:\d+: acl: not in accept_proxy_from",
                10)
    assert len(b.accepted) == 1


# --- max_connections --------------------------------------------------------

@pytest.mark.deadline(90)
@pytest.mark.parametrize("where,workers", [("listener", 1), ("listener", 2),
                                           ("global", 2)])
def test_max_connections_waits_in_the_listen_queue(relayd, backend, where,
                                                   workers):
    b = backend()
    port = free_port()
    cap = "max_connections = 5\n"
    d = relayd(GLOBAL_SECTION + f"workers = {workers}\n"
               + (cap if where == "global" else "")
               + listener("cap", f"127.0.0.1:{port}", b.addr,
                          cap if where == "listener" else ""))
    held = []
    try:
        for i in range(5):
            c = connect("127.0.0.1", port, mptcp=True)
            assert echo_exchange(c, b"x", shut_wr=False) == b"x"
            held.append(c)
        waiting = [connect("127.0.0.1", port, mptcp=True) for _ in range(3)]
        for w in waiting:
            w.sendall(b"wait")
        d.wait_line(r"max_connections \(5\)( of \[global\])? reached", 10)
        # Each session that ends lets a waiting client in.
        for i, w in enumerate(waiting):
            held.pop(0).close()
            w.settimeout(10)
            assert recv_exactly(w, 4) == b"wait"
            held.append(w)
        wait_until(lambda: len(b.accepted) == 8, 10, what="8 upstreams")
        assert all(not r["end"].startswith("connect") for r in d.sessions())
    finally:
        for c in held:
            c.close()
    wait_until(lambda: len(d.sessions()) == 8, 10, what="8 sessions")


# --- real peers: Debian's haproxy and nginx ---------------------------------

HAPROXY_DEFAULTS = """global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
"""


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_haproxy_upstream_sees_the_real_client(relayd, backend, peers,
                                               tmp_path, version):
    """Debian's haproxy with accept-proxy, as the legacy service's front:
    its log names the relay's MPTCP client, not the relay."""
    haproxy = need_program("/usr/sbin/haproxy", "haproxy")
    b = backend()
    hport, port = free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_DEFAULTS + f"""
    log-format "seen client=%ci:%cp to=%fi:%fp"
listen legacy
    bind 127.0.0.1:{hport} accept-proxy
    server s1 {b.addr}
""")
    hp = peers([haproxy, "-db", "-f", str(cfg)], tmp_path / "haproxy.log")
    wait_port(hport)
    relayd(GLOBAL_SECTION + listener("hp", f"127.0.0.1:{port}",
                                     f"127.0.0.1:{hport}",
                                     f"proxy_protocol = {version}\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    assert is_mptcp(c)
    assert echo_exchange(c, b"through haproxy") == b"through haproxy"
    c.close()
    hp.wait_text(rf"seen client=127\.0\.0\.1:{me[1]} to=127\.0\.0\.1:{port}",
                 15)


def test_haproxy_front_with_send_proxy_v2(relayd, backend, peers, tmp_path):
    """Debian's haproxy as the load balancer in front (send-proxy-v2),
    the relay with accept_proxy: the relay's line names the real client."""
    haproxy = need_program("/usr/sbin/haproxy", "haproxy")
    b = backend()
    hport, port = free_port(), free_port()
    d = relayd(GLOBAL_SECTION + listener("behind", f"127.0.0.1:{port}",
                                         b.addr, "accept_proxy = yes\n"
                                         "accept_proxy_from = 127.0.0.1\n"))
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_DEFAULTS + f"""
listen front
    bind 127.0.0.1:{hport}
    server relay 127.0.0.1:{port} send-proxy-v2
""")
    peers([haproxy, "-db", "-f", str(cfg)], tmp_path / "haproxy.log")
    wait_port(hport)
    for _ in range(2):      # the first may be haproxy's own check: none set
        c = connect("127.0.0.1", hport, mptcp=False)
        me = c.getsockname()
        mark = d.mark()
        assert echo_exchange(c, b"balanced") == b"balanced"
        c.close()
        check_session(d.wait_session(me[1], since=mark), name="behind",
                      client=me, upstream=b.addr, mptcp=False, bytes_in=8,
                      bytes_out=8, end=("client_close", "upstream_close"))


def test_nginx_legacy_service_sees_client_ips(relayd, peers, tmp_path):
    """The README's example: nginx from Debian, unmodified but for
    'listen ... proxy_protocol', logs $proxy_protocol_addr: the MPTCP
    client's address, not 127.0.0.1 of the relay."""
    nport, port = free_port(), free_port()
    access = tmp_path / "access.log"
    start_nginx(peers, tmp_path, nport, f"""
    log_format pp 'client=$proxy_protocol_addr:$proxy_protocol_port '
                  'peer=$remote_addr "$request" $status';
    access_log {access} pp;
    server {{
        listen 127.0.0.1:{nport} proxy_protocol;
        location / {{ return 200 "hello from nginx\\n"; }}
    }}""")
    d = relayd(GLOBAL_SECTION + listener("web", f"[::1]:{port}",
                                         f"127.0.0.1:{nport}",
                                         "proxy_protocol = v1\n"))
    c = connect("::1", port, mptcp=True)
    me = c.getsockname()[:2]
    assert is_mptcp(c)
    c.sendall(b"GET /hello HTTP/1.0\r\nHost: x\r\n\r\n")
    reply = bytearray()
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        reply += chunk
    c.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert reply.endswith(b"hello from nginx\n"), reply
    wait_until(lambda: access.exists() and access.read_text(), 10,
               what="nginx's access log")
    line = access.read_text().strip()
    assert line == f'client=::1:{me[1]} peer=127.0.0.1 "GET /hello ' \
        'HTTP/1.0" 200', line
    rec = d.wait_session(me[1])
    assert rec["mptcp"] == "yes", rec
