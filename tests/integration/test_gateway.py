# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""MPTCP for a whole network: a gateway converts every TCP connection of
a LAN to MPTCP through a concentrator, with standard protocols only.

Four namespaces (netns.GatewayTopology): a LAN client, the gateway with two
uplinks, the concentrator with two addresses, and a destination host
running Debian's nginx, plain TCP and unmodified. nftables in the
gateway's namespace diverts the LAN's TCP connections to the gateway's
listener (TPROXY, or REDIRECT), which relays each over MPTCP, TLS with a
client certificate and a PROXY v2 header to the concentrator, which
connects to the original destination. A plain curl in the LAN downloads
and uploads through it, also while an uplink is cut; refused destinations,
clients without a certificate, loops and MPTCP clients under REDIRECT are
refused with their reason. Every namespace has MPTCP's blackhole detection
off, and the session lines say that MPTCP was negotiated on each leg.
"""

import hashlib
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

import netns
from helpers import (GLOBAL_SECTION, MIB, PKI, Failure, check_session,
                     connect, need_program, recv_to_eof, split_addr,
                     start_nginx, stream_socket, wait_closed, wait_until)

GW_PORT = 15001          # the TPROXY listener
REDIRECT_TCP_PORT = 15002
REDIRECT_MPTCP_PORT = 15003
CONC_PORT = 4433
STATS_PORT = 9470
CONC_NAME = "concentrator.test"
CURL_TIMEOUT = 90
LINE_TIMEOUT = 20

DST = netns.GatewayTopology.DESTINATION
LAN = netns.GatewayTopology.LAN_CLIENT


def tproxy_rules(port):
    """The gateway's TPROXY rules: the shipped etc/gateway.nft, for the
    gateway's LAN interface (gl) and the listener on port."""
    path = os.path.join(os.environ.get("TOP_SRCDIR", os.path.join(
        os.path.dirname(__file__), "..", "..")), "etc", "gateway.nft")
    with open(path) as f:
        text = f.read()
    for old, new in (('define LAN = "lan0"', 'define LAN = "gl"'),
                     ("define GATEWAY_PORT = 15001",
                      f"define GATEWAY_PORT = {port}")):
        assert old in text, f"{path} has no line {old!r}"
        text = text.replace(old, new)
    return text


def redirect_rules():
    """REDIRECT (NAT): port 80 to the plain-TCP listener, 8080 to the
    MPTCP one."""
    return f"""
table ip mptcp_gateway_nat {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname != "gl" return
        fib daddr type local return
        tcp dport 80 redirect to :{REDIRECT_TCP_PORT}
        tcp dport 8080 redirect to :{REDIRECT_MPTCP_PORT}
    }}
}}
"""


def to_concentrator(pki, t):
    """The upstream lines of a gateway listener: MPTCP, TLS with the
    gateway's certificate, and a PROXY v2 header."""
    return (f"upstream = {t.conc_addr}:{CONC_PORT}\n"
            "upstream_protocol = mptcp\n"
            "proxy_protocol = v2\n"
            "upstream_tls = yes\n"
            f"upstream_tls_ca = {pki.ca}\n"
            f"upstream_tls_sni = {CONC_NAME}\n"
            f"upstream_tls_cert = {pki.gw_cert[0]}\n"
            f"upstream_tls_key = {pki.gw_cert[1]}\n")


class Site:
    """Everything a test needs: the topology, the PKI, nginx on the
    destination (ports 80 and 8080) with a file to download and a place
    for uploads, and the concentrator's daemon."""

    def __init__(self, tmp_path, relayd, peers, topology):
        need_program("/usr/sbin/nft", "nftables")
        self.curl = need_program("/usr/bin/curl", "curl")
        self.tmp = tmp_path
        self.t = topology
        self.relayd = relayd
        pki_dir = tmp_path / "pki"
        pki_dir.mkdir()
        self.pki = PKI(pki_dir)
        self.pki.conc_cert = self.pki.issue("conc", CONC_NAME,
                                            [f"DNS:{CONC_NAME}"])
        self.pki.gw_cert = self.pki.issue("gw", "gateway.test",
                                          client=True)
        self.www = tmp_path / "www"
        (self.www / "upload").mkdir(parents=True)
        ngx = tmp_path / "nginx"
        ngx.mkdir()
        start_nginx(peers, ngx, 80, f"""
    server {{
        listen {DST}:80;
        listen {DST}:8080;
        root {self.www};
        client_max_body_size 0;
        location /upload/ {{
            dav_methods PUT;
            create_full_put_path on;
        }}
    }}
""", ns=self.t.dst, host=DST)
        self.conc = relayd(
            GLOBAL_SECTION + f"stats_listen = 127.0.0.1:{STATS_PORT}\n"
            "\n[concentrator]\n"
            f"listen = *:{CONC_PORT}\n"
            "accept_proxy = yes\n"
            f"tls_cert = {self.pki.conc_cert[0]}\n"
            f"tls_key = {self.pki.conc_cert[1]}\n"
            f"tls_client_ca = {self.pki.ca}\n"
            "upstream = destination\n"
            "destination_allow = 198.18.60.0/24\n"
            "destination_ports = 80 8080\n",
            prefix=self.t.conc.prefix(), name="concentrator")

    def file(self, name, size):
        """A file of size random bytes under the web root; its sha256."""
        data = os.urandom(size)
        (self.www / name).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def download(self, size, rate):
        """curl in the LAN downloads a new file of size bytes from the
        destination, at most at rate; what arrives must be the file."""
        want = self.file("big.bin", size)
        out = self.tmp / "got.bin"
        p = self.run_curl("--limit-rate", rate, "-o", str(out),
                          f"http://{DST}/big.bin")
        assert p.returncode == 0, p.stderr
        assert sha256_of(out) == want, "download changed on the way"

    def curl_argv(self, *args):
        return [*self.t.lan.prefix(), self.curl, "-sS", "--fail",
                "--max-time", str(CURL_TIMEOUT), *args]

    def run_curl(self, *args):
        return subprocess.run(self.curl_argv(*args), capture_output=True,
                              text=True, timeout=CURL_TIMEOUT + 10)

    def metrics(self):
        return self.t.conc.exec(self.curl, "-sS",
                                f"http://127.0.0.1:{STATS_PORT}/metrics"
                                ).stdout


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def sessions_of(d, name, n=1, timeout=LINE_TIMEOUT):
    """Wait for n session lines of listener name; return them all."""
    try:
        return wait_until(
            lambda: (lambda s: s if len(s) >= n else None)(
                [r for r in d.sessions() if r["name"] == name]),
            timeout, what=f"{n} session line(s) of [{name}]")
    except Failure as e:
        raise Failure(f"{e}; log:\n{d.text()}") from None


def check_pair(gw_rec, conc_rec, gw_name, conc_addr, dest, size_in=None,
               size_out=None, subflows=2):
    """The gateway's and the concentrator's lines of one LAN connection:
    the real client on both, the original destination, MPTCP on the
    uplinks with its subflows."""
    client = split_addr(gw_rec["client"])
    assert client[0] == LAN, gw_rec
    check_session(gw_rec, name=gw_name, client=client,
                  upstream=conc_addr, mptcp=False, upstream_mptcp=True,
                  bytes_in=size_in, bytes_out=size_out,
                  end=("client_close", "upstream_close"))
    assert gw_rec["destination"] == dest, gw_rec
    assert gw_rec["upstream_subflows"] == str(subflows), gw_rec
    assert gw_rec.get("upstream_tls"), gw_rec
    check_session(conc_rec, name="concentrator", client=client,
                  upstream=dest, mptcp=True, subflows=subflows,
                  bytes_in=size_in, bytes_out=size_out,
                  end=("client_close", "upstream_close"))
    assert conc_rec["destination"] == dest, conc_rec
    assert conc_rec.get("tls_client"), conc_rec


@pytest.fixture
def gateway_topology():
    made = []

    def make():
        t = netns.GatewayTopology()
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.fixture
def site(tmp_path, gateway_topology, relayd, peers):
    """A site with TPROXY rules and multipath uplinks (list it before
    relayd in a test, so that daemons stop before namespaces go)."""
    t = gateway_topology()
    t.multipath()
    return Site(tmp_path, relayd, peers, t)


def start_gateway(s, sections, **kw):
    return s.relayd(GLOBAL_SECTION + sections, prefix=s.t.gw.prefix(),
                    name="gateway", **kw)


def tproxy_gateway(s):
    s.t.nft(s.t.gw, tproxy_rules(GW_PORT))
    return start_gateway(s, "\n[gateway]\n"
                         f"listen = *:{GW_PORT}\n"
                         "transparent = tproxy\n" + to_concentrator(s.pki,
                                                                    s.t))


# --- a LAN's curl, through the gateway and the concentrator --------------------

@pytest.mark.deadline(180)
def test_curl_downloads_and_uploads_through_gateway_and_concentrator(site):
    s = site
    gw = tproxy_gateway(s)
    size = 24 * MIB
    # Rate-limited, so that the session lasts past the relays' first
    # subflow sample (1 s) on any machine.
    s.download(size, "8M")
    [g] = sessions_of(gw, "gateway")
    [c] = sessions_of(s.conc, "concentrator")
    check_pair(g, c, "gateway", f"{s.t.conc_addr}:{CONC_PORT}", f"{DST}:80")
    assert int(g["bytes_out"]) > size and g["bytes_out"] == c["bytes_out"]

    up = s.tmp / "up.bin"
    up.write_bytes(os.urandom(size))
    p = s.run_curl("--limit-rate", "8M", "-T", str(up),
                   f"http://{DST}/upload/up.bin")
    assert p.returncode == 0, p.stderr
    assert sha256_of(s.www / "upload" / "up.bin") == sha256_of(up), \
        "upload changed on the way"
    g = sessions_of(gw, "gateway", 2)[1]
    c = sessions_of(s.conc, "concentrator", 2)[1]
    check_pair(g, c, "gateway", f"{s.t.conc_addr}:{CONC_PORT}", f"{DST}:80")
    assert int(g["bytes_in"]) > size and g["bytes_in"] == c["bytes_in"]


@pytest.mark.deadline(180)
def test_uplink_cut_mid_download_completes(site, peers, capsys):
    """The uplink of the first subflow goes down a quarter into a
    download: the transfer completes over the other one."""
    s = site
    gw = tproxy_gateway(s)
    size = 48 * MIB
    want = s.file("big.bin", size)
    out = s.tmp / "got.bin"
    curl = peers(s.curl_argv("--limit-rate", "12M", "-o", str(out),
                             f"http://{DST}/big.bin"), s.tmp / "curl.out")
    wait_until(lambda: out.exists() and out.stat().st_size >= size // 4 or
               curl.proc.poll() is not None, 60, interval=0.01,
               what="a quarter of the download")
    got_at_cut = out.stat().st_size if out.exists() else 0
    assert got_at_cut < size, "the download ended before the cut"
    t_cut = time.monotonic()
    s.t.uplinks[0].down()
    try:
        rc = curl.proc.wait(CURL_TIMEOUT + 10)
    except subprocess.TimeoutExpired:
        raise Failure("curl still running") from None
    elapsed = time.monotonic() - t_cut
    assert rc == 0, curl.text()
    assert sha256_of(out) == want, "download changed on the way"
    [g] = sessions_of(gw, "gateway")
    [c] = sessions_of(s.conc, "concentrator")
    check_pair(g, c, "gateway", f"{s.t.conc_addr}:{CONC_PORT}", f"{DST}:80")
    with capsys.disabled():
        print(f"\n    uplink 0 cut after {got_at_cut // MIB} MiB of "
              f"{size // MIB}: the rest in {elapsed:.1f}s "
              "(curl --limit-rate 12M)", flush=True)


# --- refusals ---------------------------------------------------------------------

def refused_line(d, name, pattern, timeout=LINE_TIMEOUT):
    return d.wait_line(rf"^info: {name}: refused {re.escape(LAN)}:\d+: "
                       + pattern, timeout)


def proxy_then_tls(t, header, cert=None, pki=None):
    """From the gateway's namespace, as a gateway would: a PROXY header,
    then TLS (with cert, if given) to the concentrator. Returns how the
    connection ended: 'eof', 'reset' or 'tls' (the handshake failed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki.ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    with t.gw.entered():
        raw = connect(t.conc_addr, CONC_PORT, mptcp=True, timeout=10)
    try:
        raw.sendall(header)
        try:
            c = ctx.wrap_socket(raw, server_hostname=CONC_NAME)
        except (ssl.SSLError, ConnectionResetError):
            return "tls"
        try:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return wait_closed(c, 10)
        except ssl.SSLError:
            return "tls"
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
    finally:
        raw.close()


@pytest.mark.deadline(120)
def test_refused_destinations_clients_and_loops(site):
    s = site
    gw = tproxy_gateway(s)
    s.file("small.bin", 4096)
    # Outside destination_allow, and a port outside destination_ports:
    # the concentrator refuses before any connect.
    p = s.run_curl("-o", "/dev/null", "http://198.18.61.2/small.bin")
    assert p.returncode != 0
    refused_line(s.conc, "concentrator", re.escape(
        "destination: 198.18.61.2:80: not in destination_allow"))
    p = s.run_curl("-o", "/dev/null", f"http://{DST}:22/")
    assert p.returncode != 0
    refused_line(s.conc, "concentrator", re.escape(
        f"destination: {DST}:22: port not in destination_ports"))
    # A LAN client that connects to the gateway's listener itself would
    # be relayed to the gateway again: a loop.
    p = s.run_curl("-o", "/dev/null",
                   f"http://{netns.GatewayTopology.LAN_GATEWAY}:{GW_PORT}/")
    assert p.returncode != 0
    refused_line(gw, "gateway", re.escape(
        f"destination: {netns.GatewayTopology.LAN_GATEWAY}:{GW_PORT}: one "
        "of this daemon's own listening addresses (a loop)"))

    # A concentrator client without a certificate: refused in the
    # handshake, whatever its header says.
    hdr = f"PROXY TCP4 198.18.8.8 {DST} 1234 80\r\n".encode()
    assert proxy_then_tls(s.t, hdr, pki=s.pki) in ("tls", "reset", "eof")
    s.conc.wait_line(r"^info: concentrator: refused 198\.18\.8\.8:1234: "
                     r"tls_handshake: ", LINE_TIMEOUT)
    # With one, but a header without a destination (v1 UNKNOWN).
    assert proxy_then_tls(s.t, b"PROXY UNKNOWN\r\n", s.pki.gw_cert,
                          s.pki) in ("tls", "reset", "eof")
    s.conc.wait_line(r"^info: concentrator: refused [0-9.]+:\d+: "
                     r"destination: no destination in the header",
                     LINE_TIMEOUT)

    # Counted, and no series per destination.
    m = s.metrics()
    assert re.search(r'^mptcp_relayd_refused_total\{listener="concentrator",'
                     r'reason="destination"\} 3$', m, re.M), m
    assert re.search(r'^mptcp_relayd_refused_total\{listener="concentrator",'
                     r'reason="tls_handshake"\} 1$', m, re.M), m
    ups = set(re.findall(r'^mptcp_relayd_upstream_up\{listener='
                         r'"concentrator",upstream="([^"]*)"\}', m, re.M))
    assert ups == {"destination"}, m
    # Nothing was relayed.
    assert [r for r in s.conc.sessions()] == [], s.conc.text()


# --- REDIRECT -------------------------------------------------------------------------

def http_get(sock, path):
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {DST}\r\n\r\n".encode())
    return recv_to_eof(sock)


@pytest.mark.deadline(120)
def test_redirect_gateway(site):
    """REDIRECT: the destination comes from SO_ORIGINAL_DST. A plain-TCP
    listener serves curl; an MPTCP listener serves plain-TCP clients and
    refuses MPTCP ones, whose destination the kernel did not keep."""
    s = site
    s.t.nft(s.t.gw, redirect_rules())
    up = to_concentrator(s.pki, s.t)
    gw = start_gateway(s, "\n[redirect-tcp]\n"
                       f"listen = *:{REDIRECT_TCP_PORT}\n"
                       "protocol = tcp\n"
                       "transparent = redirect\n" + up +
                       "\n[redirect-mptcp]\n"
                       f"listen = *:{REDIRECT_MPTCP_PORT}\n"
                       "protocol = mptcp\n"
                       "transparent = redirect\n" + up)
    size = 4 * MIB
    s.download(size, "2M")
    [g] = sessions_of(gw, "redirect-tcp")
    [c] = sessions_of(s.conc, "concentrator")
    check_pair(g, c, "redirect-tcp", f"{s.t.conc_addr}:{CONC_PORT}",
               f"{DST}:80")

    # A plain-TCP client on the MPTCP listener: SO_ORIGINAL_DST works.
    with s.t.lan.entered():
        sock = connect(DST, 8080, mptcp=False, timeout=10)
    try:
        n, digest = http_get(sock, "/big.bin")
    finally:
        sock.close()
    assert n > size
    [g] = sessions_of(gw, "redirect-mptcp")
    assert g["destination"] == f"{DST}:8080" and g["mptcp"] == "no", g
    c = sessions_of(s.conc, "concentrator", 2)[1]
    assert c["upstream"] == f"{DST}:8080", c

    # An MPTCP client: its destination is lost, so it is refused, never
    # relayed anywhere.
    # (The reset may come before connect() returns.)
    with s.t.lan.entered():
        sock = stream_socket(mptcp=True)
    try:
        sock.bind((LAN, 0))
        me = sock.getsockname()
        sock.connect((DST, 8080))
        assert wait_closed(sock, 10) in ("eof", "reset")
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    gw.wait_line(rf"^info: redirect-mptcp: refused {re.escape(LAN)}:"
                 rf"{me[1]}: destination: original destination unknown: "
                 r"the connection speaks MPTCP", LINE_TIMEOUT)
    time.sleep(0.5)
    assert len([r for r in s.conc.sessions()]) == 2, s.conc.text()


# --- a transparent listener on its own --------------------------------------------

@pytest.mark.deadline(90)
def test_transparent_listener_converts_to_mptcp_on_its_own(
        gateway_topology, relayd, backend):
    """transparent + upstream = destination + upstream_protocol = mptcp:
    LAN TCP (and MPTCP) to a destination that speaks MPTCP, directly."""
    need_program("/usr/sbin/nft", "nftables")
    t = gateway_topology()
    t.nft(t.gw, tproxy_rules(GW_PORT))
    with t.conc.entered():
        b = backend(host="0.0.0.0", port=7000, mptcp=True)
    gw = relayd(GLOBAL_SECTION + "\n[direct]\n"
                f"listen = *:{GW_PORT}\n"
                "transparent = tproxy\n"
                "upstream = destination\n"
                "upstream_protocol = mptcp\n"
                "destination_allow = 198.18.51.0/24\n",
                prefix=t.gw.prefix())
    dest = f"{t.conc_addr}:7000"
    for i, mptcp in enumerate((False, True)):
        with t.lan.entered():
            c = connect(t.conc_addr, 7000, mptcp=mptcp, timeout=10)
        try:
            me = c.getsockname()
            c.sendall(b"hello destination")
            c.shutdown(socket.SHUT_WR)
            assert recv_to_eof(c)[0] == len(b"hello destination")
        finally:
            c.close()
        assert b.wait_accepted(i + 1)["is_mptcp"] == 1
        rec = check_session(gw.wait_session(me[1]), name="direct",
                            client=me, upstream=dest, mptcp=mptcp,
                            upstream_mptcp=True,
                            end=("client_close", "upstream_close"))
        assert rec["destination"] == dest, rec


# --- mptcp-relayd -D on the router -----------------------------------------------

def test_diagnose_warns_of_a_gateway_without_second_path(gateway_topology,
                                                         relayd_binary,
                                                         tmp_path):
    t = gateway_topology()
    cfg = tmp_path / "gw.ini"
    cfg.write_text(GLOBAL_SECTION + "\n[gateway]\n"
                   f"listen = *:{GW_PORT}\n"
                   "transparent = tproxy\n"
                   f"upstream = {t.conc_addr}:{CONC_PORT}\n"
                   "upstream_protocol = mptcp\n")

    def diagnose():
        p = t.gw.exec(relayd_binary, "-D", "-c", str(cfg), check=False,
                      timeout=20)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    t.gw.mptcp_limits(2, 0)
    out = diagnose()
    assert ("warning: listener 'gateway' is transparent, and its MPTCP "
            "connections to the upstream get no second path (no 'subflow' "
            "endpoint, and add_addr_accepted is 0)") in out, out
    # A gateway announces nothing to its LAN: no warning about that.
    assert "no 'signal' endpoint" not in out, out
    t.multipath()
    out = diagnose()
    assert "is transparent" not in out, out
    assert f"{t.uplinks[1].addr_a} id 1 subflow dev g1" in out, out
