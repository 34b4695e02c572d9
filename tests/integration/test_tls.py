# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""TLS on either side: terminated in front of a cleartext service (SNI,
versions, ALPN, mutual TLS, certificates replaced by a reload),
originated towards TLS upstreams (verified or not), and what a failure or
an abuse costs. The peers are real ones nobody here wrote: openssl
s_client and s_server, curl made MPTCP with mptcpize, nginx; the test's
own clients use Python's ssl module."""

import hashlib
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, MIB, PKI, check_session, connect,
                     connect_until_closed, free_port, need_program,
                     recv_exactly, start_nginx, wait_closed, wait_port,
                     wait_until)


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    return PKI(d)


def client_context(pki, cafile=None, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(cafile or pki.ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def tls_connect(port, ctx, name, mptcp=True, timeout=30):
    raw = connect("127.0.0.1", port, mptcp=mptcp, timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=name)


def tls_echo(c, data):
    """Send a few bytes over TLS and read their echo. Not echo_exchange(),
    whose sending thread would share the SSL object with the reader."""
    c.sendall(data)
    return recv_exactly(c, len(data))


def s_client(pki, port, *args, data=b"", timeout=30):
    openssl = need_program("/usr/bin/openssl", "openssl")
    p = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{port}",
                        "-CAfile", str(pki.ca), "-verify_return_error",
                        "-brief", *args], input=data, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + \
        p.stderr.decode(errors="replace")


# --- terminating ------------------------------------------------------------------

def test_versions_and_sni(relayd, backend, pki):
    a = pki.issue("a", "a.test", ["DNS:a.test"])
    b_ = pki.issue("b", "b.test", ["DNS:*.b.test"])
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "tls", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {a[0]}\ntls_key = {a[1]}\n"
        f"tls_cert = {b_[0]}\ntls_key = {b_[1]}\n"))
    for version, name, want in (("-tls1_3", "a.test", "CN = a.test"),
                                ("-tls1_2", "x.b.test", "CN = b.test"),
                                ("-tls1_3", "nobody.test", "CN = a.test")):
        rc, out = s_client(pki, port, version, "-servername", name,
                           "-verify_hostname", name if name != "nobody.test"
                           else "a.test", data=b"ping\n")
        assert rc == 0, out
        assert re.search(rf"Peer certificate: {want}", out), out
        assert ("TLSv1.3" if version == "-tls1_3" else "TLSv1.2") in out
    rc, out = s_client(pki, port, "-tls1_1", "-servername", "a.test")
    assert rc != 0, out
    d.wait_line(r"refused 127\.0\.0\.1:\d+: tls_handshake: .*(protocol|"
                r"version)", 10)
    lines = d.sessions()
    assert [s["tls"] for s in lines] == ["TLSv1.3", "TLSv1.2", "TLSv1.3"]
    assert len(be.accepted) == 3


@pytest.mark.deadline(120)
def test_curl_over_mptcp_downloads_through_tls(relayd, peers, pki, tmp_path):
    """curl, made MPTCP with mptcpize, downloads a large file over TLS
    terminated by the relay, from Debian's nginx in cleartext behind it."""
    curl = need_program("/usr/bin/curl", "curl")
    mptcpize = need_program("/usr/bin/mptcpize", "mptcpize")
    www = tmp_path / "www"
    www.mkdir()
    big = os.urandom(32 * MIB)
    (www / "big").write_bytes(big)
    nport, port = free_port(), free_port()
    start_nginx(peers, tmp_path, nport, f"""
    access_log off;
    server {{ listen 127.0.0.1:{nport}; root {www}; }}""")
    crt, key = pki.issue("web", "web.test", ["DNS:web.test"])
    d = relayd(GLOBAL_SECTION + listener(
        "https", f"127.0.0.1:{port}", f"127.0.0.1:{nport}",
        f"tls_cert = {crt}\ntls_key = {key}\n"))
    out = tmp_path / "got"
    p = subprocess.run([mptcpize, "run", curl, "-sS", "--fail", "--cacert",
                        str(pki.ca), "--resolve", f"web.test:{port}:127.0.0.1",
                        f"https://web.test:{port}/big", "-o", str(out)],
                       capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(out.read_bytes()).digest() == \
        hashlib.sha256(big).digest()
    wait_until(lambda: d.sessions(), 10, what="the session line")
    rec = d.sessions()[0]
    assert rec["mptcp"] == "yes" and rec["tls"].startswith("TLSv1."), rec
    assert int(rec["bytes_out"]) > len(big), rec


def test_alpn_and_half_close(relayd, backend, pki):
    crt, key = pki.issue("h", "h.test", ["DNS:h.test"])
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "alpn", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {crt}\ntls_key = {key}\ntls_alpn = h2,http/1.1\n"))
    ctx = client_context(pki)
    ctx.set_alpn_protocols(["http/1.1", "h2"])
    # A memory-BIO TLS client, so that our close_notify can be sent alone
    # (SSL_shutdown once) while the echo is still coming back.
    raw = connect("127.0.0.1", port, mptcp=True, timeout=30)
    me = raw.getsockname()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="h.test")

    def handshake():
        try:
            tls.do_handshake()
            return True
        except ssl.SSLWantReadError:
            if out.pending:
                raw.sendall(out.read())
            data = raw.recv(64 * KIB)
            assert data, "the relay closed during the handshake"
            inc.write(data)
            return False

    while not handshake():
        pass
    raw.sendall(out.read())
    assert tls.selected_alpn_protocol() == "h2"
    payload = os.urandom(300 * KIB)
    tls.write(payload)
    raw.sendall(out.read())
    # close_notify ends our direction cleanly, like a FIN: the echo still
    # comes back whole, then the relay's own close_notify.
    try:
        tls.unwrap()
    except ssl.SSLWantReadError:
        pass
    raw.sendall(out.read())
    got = bytearray()
    ended = False
    while not ended:
        try:
            while True:
                chunk = tls.read(64 * KIB)
                if not chunk:
                    ended = True
                    break
                got += chunk
        except ssl.SSLWantReadError:
            data = raw.recv(64 * KIB)
            assert data, "TCP ended without the relay's close_notify"
            inc.write(data)
        except ssl.SSLZeroReturnError:
            ended = True
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    raw.close()
    rec = d.wait_session(me[1])
    assert rec["end"] in ("client_close", "upstream_close"), rec
    assert int(rec["bytes_in"]) == len(payload), rec
    assert int(rec["bytes_out"]) == len(payload), rec


def test_truncation_is_a_reset(relayd, backend, pki):
    """A TLS client whose TCP stream ends without close_notify has cut its
    stream: the upstream is reset, not told a clean end."""
    crt, key = pki.issue("t", "t.test", ["DNS:t.test"])
    seen = []

    def watcher(conn, rec):
        try:
            while conn.recv(65536):
                pass
            seen.append("eof")
        except ConnectionResetError:
            seen.append("reset")
        return 0

    be = backend(watcher)
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "cut", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {crt}\ntls_key = {key}\n"))
    c = tls_connect(port, client_context(pki), "t.test")
    me = c.getsockname()
    c.sendall(b"half a request")
    wait_until(lambda: len(be.accepted) == 1, 10, what="the upstream")
    # Close the TCP socket under TLS, with no close_notify.
    os.close(c.detach())
    rec = d.wait_session(me[1], timeout=20)
    assert rec["end"] == "client_reset", rec
    wait_until(lambda: seen, 10, what="the upstream's end")
    assert seen == ["reset"], seen


def test_mutual_tls(relayd, backend, pki):
    crt, key = pki.issue("m", "m.test", ["DNS:m.test"])
    good = pki.issue("alice", "Alice Example", client=True)
    stranger = pki.issue("mallory", "Mallory", ca="other-ca", client=True)
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "mtls", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {crt}\ntls_key = {key}\ntls_client_ca = {pki.ca}\n"))
    c = tls_connect(port, client_context(pki, cert=good), "m.test")
    me = c.getsockname()
    assert tls_echo(c, b"with a certificate") == \
        b"with a certificate"
    c.close()
    rec = d.wait_session(me[1])
    assert rec["tls_client"] == "CN=Alice%20Example", rec
    for cert in (None, stranger):
        try:
            c = tls_connect(port, client_context(pki, cert=cert), "m.test")
            # TLS 1.3: the refusal comes with the first read.
            c.sendall(b"x")
            c.settimeout(10)
            assert c.recv(10) == b""
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass
    wait_until(lambda: len([ln for ln in d.lines if re.search(
        r"refused 127\.0\.0\.1:\d+: tls_handshake: ", ln)]) == 2, 10,
        what="two refusals")
    assert len(be.accepted) == 1


@pytest.mark.deadline(60)
def test_reload_takes_a_new_certificate(relayd, backend, pki):
    crt, key = pki.issue("r", "r.test", ["DNS:r.test"], serial=1001)
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "rot", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {crt}\ntls_key = {key}\n"))
    old = tls_connect(port, client_context(pki), "r.test")
    assert old.getpeercert()["serialNumber"] == "%X" % 1001 or \
        int(old.getpeercert()["serialNumber"], 16) == 1001
    pki.issue("r", "r.test", ["DNS:r.test"], serial=2002)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(r"^notice: reloaded ", 20, start=mark)
    new = tls_connect(port, client_context(pki), "r.test")
    assert int(new.getpeercert()["serialNumber"], 16) == 2002
    # The session opened before goes on, with its certificate.
    assert tls_echo(old, b"old") == b"old"
    old.close()
    new.close()


def test_unreadable_or_mismatched_files_are_reported(relayd_binary, tmp_path,
                                                      pki):
    a = pki.issue("a", "a.test", ["DNS:a.test"])
    b_ = pki.issue("b", "b.test", ["DNS:b.test"])
    cfg = tmp_path / "t.ini"
    cfg.write_text("[x]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.1:2\n"
                   f"tls_cert = {a[0]}\ntls_key = {b_[1]}\n"      # 4, 5
                   f"tls_cert = {tmp_path}/missing.pem\n"         # 6
                   "tls_key = orphan.key\ntls_key = again.key\n")  # 7, 8
    p = subprocess.run([relayd_binary, "-t", "-c", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert re.search(rf"{re.escape(str(cfg))}:[45]: .*(match|mismatch)",
                     p.stderr, re.I), p.stderr
    assert re.search(rf"{re.escape(str(cfg))}:6: .*missing\.pem",
                     p.stderr), p.stderr
    assert re.search(rf"{re.escape(str(cfg))}:8: tls_key: no 'tls_cert'",
                     p.stderr), p.stderr


@pytest.mark.deadline(90)
def test_silent_clients_cost_a_timeout_each(relayd, backend, pki):
    """Clients that connect and never finish a handshake are reset after
    handshake_timeout, and a flood of them does not stop a good client."""
    crt, key = pki.issue("f", "f.test", ["DNS:f.test"])
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "flood", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {crt}\ntls_key = {key}\nhandshake_timeout = 2s\n"))
    silent = [connect("127.0.0.1", port, mptcp=True) for _ in range(200)]
    try:
        c = tls_connect(port, client_context(pki), "f.test", timeout=10)
        assert tls_echo(c, b"served") == b"served"
        c.close()
        t0 = time.monotonic()
        assert wait_closed(silent[0], timeout=30) == "reset"
        assert time.monotonic() - t0 >= 0.5
        # Every one of them is reset by the timeout, none left behind.
        assert [wait_closed(s, timeout=30) for s in silent[1:]] == \
            ["reset"] * 199
    finally:
        for s in silent:
            s.close()
    wait_until(lambda: sum(1 for ln in d.lines if "no complete TLS "
                           "handshake within handshake_timeout" in ln) +
               sum(int(n) for ln in d.lines for n in re.findall(
                   r"(\d+) more refused clients? not logged", ln)) >= 200,
               30, what="200 refusals accounted for")
    assert len(be.accepted) == 1


def test_proxy_header_then_tls(relayd, backend, pki):
    """accept_proxy with TLS: the header comes first, in cleartext, and
    the TLS handshake right after it (in one segment here)."""
    crt, key = pki.issue("p", "p.test", ["DNS:p.test"])
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "pptls", f"127.0.0.1:{port}", be.addr,
        f"accept_proxy = yes\ntls_cert = {crt}\ntls_key = {key}\n"))
    raw = connect("127.0.0.1", port, mptcp=True)
    raw.sendall(b"PROXY TCP4 198.18.8.8 198.18.8.1 8888 443\r\n")
    c = client_context(pki).wrap_socket(raw, server_hostname="p.test")
    assert tls_echo(c, b"behind a balancer") == \
        b"behind a balancer"
    c.close()
    rec = d.wait_session(8888)
    assert rec["client"] == "198.18.8.8:8888" and rec["tls"], rec


@pytest.mark.deadline(120)
def test_tls_workers_share_contexts_and_resume(relayd, backend, pki):
    """workers = 2: every event loop uses the one TLS context (and its
    session cache) at once; clients resume sessions whichever loop served
    them first, and a reload in the middle hands new sessions the new
    context while the open ones go on. Under ThreadSanitizer in CI."""
    crt, key = pki.issue("w", "w.test", ["DNS:w.test"])
    be = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + "workers = 2\n" + listener(
        "wtls", f"127.0.0.1:{port}", be.addr,
        f"tls_cert = {crt}\ntls_key = {key}\n"))
    ctx = client_context(pki)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2   # resumption by session
    errors, resumed = [], []

    def client(i):
        try:
            session = None
            for j in range(10):
                raw = connect("127.0.0.1", port, mptcp=True, timeout=30)
                c = ctx.wrap_socket(raw, server_hostname="w.test",
                                    session=session)
                data = f"{i}.{j}".encode()
                assert tls_echo(c, data) == data
                resumed.append(c.session_reused)
                session = c.session
                c.unwrap()
                c.close()
        except Exception as e:      # reported below, with the others
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_line(r"^notice: reloaded ", 30, start=mark)
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "clients still running"
    assert errors == [], errors
    assert len(resumed) == 80
    # Most connections after each client's first resumed (a reload
    # starts a new cache, so a few may not).
    assert sum(resumed) >= 40, sum(resumed)
    wait_until(lambda: len(d.sessions()) == 80, 30, what="80 session lines")
    assert all(s["end"] == "client_close" and s["tls"] == "TLSv1.2"
               for s in d.sessions()), d.text()


def throttled_echo(conn, rec):
    """Echo, reading in small bites with pauses: a slow service."""
    n = 0
    while True:
        data = conn.recv(16 * KIB)
        if not data:
            break
        conn.sendall(data)
        n += len(data)
        time.sleep(0.002)
    conn.shutdown(socket.SHUT_WR)
    return n


@pytest.mark.deadline(240)
def test_tls_both_legs_bulk_with_slow_ends(relayd, backend, pki):
    """TLS terminated and originated by the relay, over MPTCP between the
    two listeners, 24 MiB each way in 4 sessions at once, with a slow
    service and slow-reading clients: back-pressure stops and resumes
    reading on every TLS side, and every byte arrives (sha256)."""
    crt, key = pki.issue("bk", "bk.test", ["DNS:bk.test"])
    be = backend(throttled_echo)
    front, back = free_port(), free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "front", f"127.0.0.1:{front}", f"127.0.0.1:{back}",
        "protocol = tcp\nupstream_protocol = mptcp\nupstream_tls = yes\n"
        f"upstream_tls_ca = {pki.ca}\nupstream_tls_sni = bk.test\n")
        + listener("back", f"127.0.0.1:{back}", be.addr,
                   f"tls_cert = {crt}\ntls_key = {key}\n"))
    size = 24 * MIB
    results, errors = [], []

    def one(seed):
        try:
            c = connect("127.0.0.1", front, mptcp=False, timeout=60)
            payload = random.Random(seed).randbytes(size)

            def send():
                c.sendall(payload)
                c.shutdown(socket.SHUT_WR)

            t = threading.Thread(target=send)
            t.start()
            h, n = hashlib.sha256(), 0
            deadline = time.monotonic() + 180
            while True:
                assert time.monotonic() < deadline, f"stuck at {n}"
                chunk = c.recv(32 * KIB)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
                time.sleep(0.001)
            t.join(60)
            c.close()
            results.append(h.hexdigest() ==
                           hashlib.sha256(payload).hexdigest())
        except Exception as e:      # reported below, with the others
            errors.append(f"session {seed}: {e!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(200)
    assert errors == [], errors + [d.text()]
    assert results == [True] * 4
    wait_until(lambda: len(d.sessions()) == 8, 30, what="8 session lines")
    for rec in d.sessions():
        assert int(rec["bytes_in"]) == size and \
            int(rec["bytes_out"]) == size, rec
        assert rec["end"] == "client_close", rec
        if rec["name"] == "back":
            assert rec["mptcp"] == "yes" and rec["tls"], rec
        else:
            assert rec["upstream_mptcp"] == "yes" and \
                rec["upstream_tls"], rec


# --- originating ---------------------------------------------------------------------

def s_server_rev(peers, tmp_path, cert):
    """openssl s_server with cert (certificate, key) on a free port, which
    it returns: a TLS upstream that sends each line back reversed."""
    openssl = need_program("/usr/bin/openssl", "openssl")
    port = free_port()
    peers([openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
           str(cert[0]), "-key", str(cert[1]), "-rev", "-quiet"],
          tmp_path / "s_server.out")
    wait_port(port)
    return port


def test_upstream_tls_to_s_server(relayd, peers, pki, tmp_path):
    up = s_server_rev(peers, tmp_path, pki.issue(
        "up", "up.test", ["DNS:up.test", "IP:127.0.0.1"]))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "orig", f"127.0.0.1:{port}", f"127.0.0.1:{up}",
        f"upstream_tls = yes\nupstream_tls_ca = {pki.ca}\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.sendall(b"hello\n")
    c.settimeout(20)
    got = b""
    while not got.endswith(b"\n"):
        got += c.recv(100)
    assert got == b"olleh\n"
    c.close()
    rec = d.wait_session(me[1])
    assert rec["upstream_tls"].startswith("TLSv1."), rec


def test_upstream_with_the_wrong_ca_is_refused(relayd, peers, pki, tmp_path):
    """Verification fails: the client is reset and gets no byte of the
    upstream; the line says why."""
    up = s_server_rev(peers, tmp_path, pki.issue("up", "up.test",
                                                 ["DNS:up.test"]))
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "wrong", f"127.0.0.1:{port}", f"127.0.0.1:{up}",
        f"upstream_tls = yes\nupstream_tls_ca = {pki.other_ca}\n"
        "upstream_tls_sni = up.test\n"))
    me, how = connect_until_closed("127.0.0.1", port, timeout=20)
    assert how == "reset"
    rec = d.wait_session(me[1])
    assert rec["end"] == "tls_handshake", rec
    assert "certificate verify failed" in rec["tls_error"], rec
    assert rec["bytes_out"] == "0", rec


def test_upstream_tls_to_nginx_with_proxy_header(relayd, peers, pki, tmp_path):
    """nginx with ssl and proxy_protocol: the header goes first, in
    cleartext, then TLS; nginx logs the real client."""
    crt, key = pki.issue("ng", "ng.test", ["DNS:ng.test"])
    nport, port = free_port(), free_port()
    access = tmp_path / "access.log"
    start_nginx(peers, tmp_path, nport, f"""
    log_format pp 'client=$proxy_protocol_addr:$proxy_protocol_port '
                  '$ssl_protocol "$request" $status';
    access_log {access} pp;
    server {{
        listen 127.0.0.1:{nport} ssl proxy_protocol;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        location / {{ return 200 "hello over tls\\n"; }}
    }}""")
    d = relayd(GLOBAL_SECTION + listener(
        "ngx", f"127.0.0.1:{port}", f"127.0.0.1:{nport}",
        f"upstream_tls = yes\nupstream_tls_ca = {pki.ca}\n"
        "upstream_tls_sni = ng.test\nproxy_protocol = v1\n"))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    c.sendall(b"GET / HTTP/1.0\r\nHost: ng.test\r\n\r\n")
    c.settimeout(20)
    reply = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        reply += chunk
    c.close()
    assert reply.startswith(b"HTTP/1.1 200") and \
        reply.endswith(b"hello over tls\n"), reply
    wait_until(lambda: access.exists() and access.read_text(), 10,
               what="nginx's access log")
    assert access.read_text().startswith(f"client=127.0.0.1:{me[1]} TLSv1."), \
        access.read_text()
    check_session(d.wait_session(me[1]), name="ngx", client=me,
                  upstream=f"127.0.0.1:{nport}", mptcp=True,
                  end=("upstream_close", "client_close"))
