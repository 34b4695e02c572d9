# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""The daemon's life: configuration checks, start-up failures, stopping on
signals, running out of descriptors, MPTCP switched off, log levels."""

import datetime
import grp
import os
import pwd
import re
import select
import signal
import socket
import subprocess
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, SESSION_RE, STAMP_RE, Failure,
                     check_session, connect, echo_exchange, free_port,
                     is_mptcp, wait_closed, wait_until)


def listener(name, listen, upstream, extra=""):
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


def run_check(binary, tmp_path, lines, name="check.ini", timeout=10):
    """Run `mptcp-relayd -t -c FILE` on the given lines; return (status,
    {line number: [messages]} of FILE:LINE: messages, stderr)."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    p = subprocess.run([binary, "-t", "-c", str(path)], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    found = {}
    for m in re.finditer(re.escape(str(path)) + r":(\d+): (.*)", p.stderr):
        found.setdefault(int(m.group(1)), []).append(m.group(2))
    return p.returncode, found, p.stderr


def line_of(lines, text):
    """1-based line number of the first line equal to text."""
    return lines.index(text) + 1


# --- configuration check (-t) --------------------------------------------

def test_check_valid_config(relayd_binary, tmp_path):
    """Every key implemented now, in a file -t accepts."""
    lines = [
        "; a comment",
        "# another comment",
        "[global]",
        "log_level = notice",
        "shutdown_timeout = 500ms",
        "",
        "[web]",
        "listen = 127.0.0.1:2080",
        "listen = [::1]:2080",
        "protocol = mptcp",
        "mptcp_fallback = yes",
        "backlog = 1024",
        "rcvbuf = 256k",
        "sndbuf = 1m",
        "nodelay = off",
        "keepalive = true",
        "upstream = localhost:8080",
        "upstream_protocol = mptcp",
        "upstream_rcvbuf = 64k",
        "upstream_sndbuf = 128K",
        "connect_timeout = 2s",
        "idle_timeout = 0",
        "",
        "[plain]",
        "listen = *:2081",
        "protocol = tcp",
        "upstream = [::1]:8081",
        "upstream_protocol = tcp",
        "connect_timeout = 1500ms",
        "idle_timeout = 1h",
    ]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 0, err
    assert not found, err
    assert not re.search(r"(?m)^error:", err), err


# One problem per case: (lines, the line the problem is on, a word the
# message should carry or None).
BAD_CASES = {
    "unknown_key": (["[a]", "listen = 127.0.0.1:2000",
                     "upstream = 127.0.0.1:80", "frobnicate = yes"],
                    4, "frobnicate"),
    "unknown_global_key": (["[global]", "colour = blue", "[a]",
                            "listen = 127.0.0.1:2000",
                            "upstream = 127.0.0.1:80"], 2, "colour"),
    "key_not_implemented_yet": (["[a]", "listen = 127.0.0.1:2000",
                                 "upstream = 127.0.0.1:80",
                                 "tls_alpn = h2"],
                                4, "tls_alpn"),
    "bad_log_level": (["[global]", "log_level = loud", "[a]",
                       "listen = 127.0.0.1:2000",
                       "upstream = 127.0.0.1:80"], 2, None),
    "bad_duration": (["[global]", "shutdown_timeout = 5 parsecs", "[a]",
                      "listen = 127.0.0.1:2000",
                      "upstream = 127.0.0.1:80"], 2, None),
    "size_trailing_garbage": (["[a]", "listen = 127.0.0.1:2000",
                               "rcvbuf = 256kx", "upstream = 127.0.0.1:80"],
                              3, None),
    "bad_boolean": (["[a]", "listen = 127.0.0.1:2000", "nodelay = maybe",
                     "upstream = 127.0.0.1:80"], 3, None),
    "port_out_of_range": (["[a]", "listen = 127.0.0.1:70000",
                           "upstream = 127.0.0.1:80"], 2, None),
    "bad_ipv4_address": (["[a]", "listen = 300.1.2.3:2000",
                          "upstream = 127.0.0.1:80"], 2, None),
    "bad_protocol": (["[a]", "listen = 127.0.0.1:2000", "protocol = sctp",
                      "upstream = 127.0.0.1:80"], 3, None),
    "bad_upstream_protocol": (["[a]", "listen = 127.0.0.1:2000",
                               "upstream = 127.0.0.1:80",
                               "upstream_protocol = udp"], 4, None),
    "backlog_negative": (["[a]", "listen = 127.0.0.1:2000", "backlog = -1",
                          "upstream = 127.0.0.1:80"], 3, None),
    "backlog_too_large": (["[a]", "listen = 127.0.0.1:2000",
                           "backlog = 99999999999999999999",
                           "upstream = 127.0.0.1:80"], 3, None),
    "upstream_without_port": (["[a]", "listen = 127.0.0.1:2000",
                               "upstream = 127.0.0.1"], 3, None),
    # A key in the wrong kind of section: where it belongs.
    "listen_in_global": (["[global]", "listen = 127.0.0.1:2001", "[a]",
                          "listen = 127.0.0.1:2000",
                          "upstream = 127.0.0.1:80"],
                         2, "belongs in a listener section [NAME]"),
    "workers_in_listener": (["[a]", "listen = 127.0.0.1:2000",
                             "upstream = 127.0.0.1:80", "workers = 2"],
                            4, "belongs in [global]"),
    "later_listener_key_in_global": (["[global]", "proxy_protocol = v2",
                                      "[a]", "listen = 127.0.0.1:2000",
                                      "upstream = 127.0.0.1:80"],
                                     2, "belongs in a listener section"),
    "later_global_key_in_listener": (["[a]", "listen = 127.0.0.1:2000",
                                      "upstream = 127.0.0.1:80",
                                      "stats_listen = 127.0.0.1:9100"],
                                     4, "belongs in [global]"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_check_reports_bad_value(relayd_binary, tmp_path, case):
    lines, bad_line, word = BAD_CASES[case]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    assert bad_line in found, f"no FILE:{bad_line}: message; stderr:\n{err}"
    assert set(found) == {bad_line}, f"other lines reported:\n{err}"
    if word:
        assert any(word in msg for msg in found[bad_line]), err


@pytest.mark.parametrize("missing", ["listen", "upstream"])
def test_check_reports_missing_key(relayd_binary, tmp_path, missing):
    lines = ["[global]", "log_level = info", "", "[a]"]
    if missing != "listen":
        lines.append("listen = 127.0.0.1:2000")
    if missing != "upstream":
        lines.append("upstream = 127.0.0.1:80")
    lines.append("connect_timeout = 1s")
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    # Reported on a line of the section that lacks it.
    section = range(line_of(lines, "[a]"), len(lines) + 1)
    hits = [n for n in found if n in section
            and any(missing in m for m in found[n])]
    assert hits, f"no FILE:LINE: message naming {missing!r}:\n{err}"


def test_check_reports_address_bound_twice(relayd_binary, tmp_path):
    lines = ["[a]", "listen = 127.0.0.1:2000", "upstream = 127.0.0.1:80", "",
             "[b]", "listen = 127.0.0.1:2000", "upstream = 127.0.0.1:81"]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    assert 6 in found, f"second bind of 127.0.0.1:2000 not reported:\n{err}"


def test_check_reports_every_problem(relayd_binary, tmp_path):
    lines = [
        "[global]",
        "log_level = loud",                 # 2
        "shutdown_timeout = soon",          # 3
        "",
        "[web]",
        "listen = 127.0.0.1:70000",         # 6
        "protocol = sctp",                  # 7
        "upstream = 127.0.0.1:8080",
        "backlog = 12x",                    # 9
        "frobnicate = yes",                 # 10
        "connect_timeout = -1s",            # 11
        "",
        "[other]",
        "listen = 127.0.0.1:2001",
        "upstream = 127.0.0.1:8081",
        "keepalive = perhaps",              # 16
    ]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    assert set(found) == {2, 3, 6, 7, 9, 10, 11, 16}, err


def test_help_names_the_built_in_default(relayd_binary):
    """-h prints the default configuration file, sysconfdir's (make check
    passes it as SYSCONFDIR)."""
    p = subprocess.run([relayd_binary, "-h"], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    m = re.search(r"-c, --config FILE .*\(default (/\S*)\)", p.stdout)
    assert m, p.stdout
    assert m.group(1).endswith("/mptcp-relay.ini"), m.group(1)
    sysconfdir = os.environ.get("SYSCONFDIR")
    if sysconfdir:
        assert m.group(1) == f"{sysconfdir}/mptcp-relay.ini", m.group(1)


@pytest.mark.parametrize("key", ["user", "group"])
def test_check_reports_unknown_user_or_group(relayd_binary, tmp_path, key):
    """-t looks user and group up, as the start does: the unit runs -t
    before the start, and a file it passes must not then fail to start."""
    name = f"no-such-{key}-q7x"
    lookup = pwd.getpwnam if key == "user" else grp.getgrnam
    with pytest.raises(KeyError):
        lookup(name)
    me = pwd.getpwuid(os.getuid()).pw_name
    lines = ["[global]", f"user = {me}" if key == "group" else "",
             f"{key} = {name}", "[a]", "listen = 127.0.0.1:2000",
             "upstream = 127.0.0.1:80"]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    assert found == {3: [f"{key} '{name}' does not exist"]}, err


def test_check_prints_problems_in_line_order(relayd_binary, tmp_path):
    """Whichever check finds them, problems come in the order of their
    lines, as a compiler's do; one about the whole file would come
    first."""
    lines = [
        "[global]",
        "log_level = loud",                 # 2
        "[a]",
        "listen = 127.0.0.1:2000",
        "upstream = 127.0.0.1:80",
        "[b]",                              # 6: missing upstream
        "listen = 127.0.0.1:2000",          # 7: used by [a]
        "backlog = abc",                    # 8
        "[c]",                              # 9: missing listen, upstream
        "this is not ini",                  # 10
    ]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    numbers = [int(n) for n in re.findall(r"(?m)^.*?:(\d+): ", err)]
    assert numbers == [2, 6, 7, 8, 9, 9, 10], err


def test_check_refuses_nul_byte(relayd_binary, tmp_path):
    """A NUL byte would end the value where it stands and drop the rest of
    the line without a word: the line is refused, with its number."""
    lines = ["[a]", "listen = 127.0.0.1:2000\0junk",
             "upstream = 127.0.0.1:80"]
    status, found, err = run_check(relayd_binary, tmp_path, lines)
    assert status == 1, err
    assert any("NUL byte" in m for m in found.get(2, [])), err


class BigConfig:
    """The lines of a generated file, and the problems planted in it as
    {line number: message}."""

    def __init__(self):
        self.lines = []
        self.want = {}
        self.first = {}         # "ADDR:PORT" -> (section, line of 1st use)

    def add(self, line):
        """Append a line; return its number."""
        self.lines.append(line)
        return len(self.lines)

    def section(self, name, listens, upstream="127.0.0.1:80"):
        """Append a listener; return the line numbers of its listens."""
        self.add(f"[{name}]")
        numbers = []
        for addr in listens:
            n = self.add(f"listen = {addr}")
            self.first.setdefault(addr, (name, n))
            numbers.append(n)
        self.add(f"upstream = {upstream}")
        return numbers

    def used(self, line, addr):
        name, first = self.first[addr]
        self.want[line] = f"listen address '{addr}' is already used by " \
            f"[{name}] on line {first}"

    def overlaps(self, line, addr, other):
        name, first = self.first[other]
        self.want[line] = f"listen address '{addr}' overlaps '{other}' " \
            f"of [{name}] on line {first}"


def many_sections(n=20000):
    """n listeners of one address each, then a section defined twice, an
    address used twice and a wildcard over an address."""
    c = BigConfig()
    for i in range(n):
        c.section(f"s{i}", [f"127.0.0.1:{1024 + i}"])
    line = c.add("[s1]")
    c.want[line] = "section [s1] defined twice (first on line 4)"
    c.add("backlog = 5")        # not checked: its section is refused
    last, wild = f"127.0.0.1:{1024 + n - 1}", "*:1031"
    a, b = c.section("late", [last, wild])
    c.used(a, last)
    c.overlaps(b, wild, "127.0.0.1:1031")
    return c


def many_listens(nsections=4000, per=16):
    """nsections listeners of per addresses each: every port from 1024 on
    of 127.0.0.1, then of 127.0.0.2 and so on; then addresses that collide
    with early ones, each reported against the earliest line it collides
    with."""
    c = BigConfig()
    k = 0
    for i in range(nsections):
        addrs = []
        for _ in range(per):
            addrs.append(f"127.0.0.{1 + k // 64000}:{1024 + k % 64000}")
            k += 1
        c.section(f"l{i}", addrs)
    (a,) = c.section("dup", ["127.0.0.1:1024"])
    c.used(a, "127.0.0.1:1024")
    # Against [l0], not [dup], which also has it.
    a, b, d = c.section("dup2", ["127.0.0.1:1024", "*:1025", "0.0.0.0:1026"])
    c.used(a, "127.0.0.1:1024")
    c.overlaps(b, "*:1025", "127.0.0.1:1025")
    c.overlaps(d, "0.0.0.0:1026", "127.0.0.1:1026")
    last = addrs[-1]
    a, b = c.section("dup3", [last, "127.0.0.1:1025"])
    c.used(a, last)
    # [l0]'s line comes before the wildcard of [dup2] that covers it too.
    c.used(b, "127.0.0.1:1025")
    return c


def many_more_listens():
    return many_listens(nsections=16000)


# Issue 9: a quadratic check took 60 s for 20,000 sections and 200 s for
# 64,000 listen addresses. What is checked is the messages; the deadline
# is generous on purpose (a linear check takes well under a second), so
# that a busy machine does not fail the test. A fast machine ran the
# quadratic check of the first two files in 13 s each, within it; it
# needs minutes for the third (256,000 addresses), which still takes a
# linear check under a second.
@pytest.mark.deadline(180)
@pytest.mark.parametrize("make", [many_sections, many_listens,
                                  many_more_listens],
                         ids=["20000_sections", "64000_listens",
                              "256000_listens"])
def test_check_large_config(relayd_binary, tmp_path, make):
    c = make()
    t0 = time.monotonic()
    try:
        status, found, err = run_check(relayd_binary, tmp_path, c.lines,
                                       timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"-t on {len(c.lines)} lines took more than 60s")
    elapsed = time.monotonic() - t0
    print(f"-t on {len(c.lines)} lines: {elapsed:.3f}s")
    assert status == 1, err
    assert found == {n: [m] for n, m in c.want.items()}, err


def test_check_directory_says_so(relayd_binary, tmp_path):
    p = subprocess.run([relayd_binary, "-t", "-c", str(tmp_path)],
                       capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr
    assert p.stderr == f"{tmp_path}: is a directory\n", p.stderr


def test_usage_error_exits_1(relayd_binary):
    p = subprocess.run([relayd_binary, "--no-such-option"],
                       capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip(), "usage error without a message"


def test_invalid_config_exits_1_without_starting(relayd, backend):
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("bad", f"127.0.0.1:{port}",
                                         "127.0.0.1:80", "nodelay = maybe\n"),
               wait_started=False)
    assert d.wait_exit(10) == 1
    assert re.search(re.escape(d.config_path) + r":\d+: ", d.text()), d.text()


# --- start-up failures -----------------------------------------------------

@pytest.mark.parametrize("protocol", ["mptcp", "tcp"])
def test_listen_address_in_use_exits_2(relayd, protocol):
    port = free_port()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    try:
        d = relayd(GLOBAL_SECTION + listener(
            "busy", f"127.0.0.1:{port}", "127.0.0.1:80",
            f"protocol = {protocol}\n"), wait_started=False)
        assert d.wait_exit(10) == 2, d.text()
    finally:
        blocker.close()
    assert f"127.0.0.1:{port}" in d.text(), d.text()
    assert not re.search(r"\bstarted\b", d.text()), d.text()


# --- signals ---------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_stop_without_sessions(relayd, backend, sig):
    b = backend()
    d = relayd(GLOBAL_SECTION + listener("s", f"127.0.0.1:{free_port()}",
                                         b.addr))
    t0 = time.monotonic()
    d.send_signal(sig)
    assert d.wait_exit(5) == 0, d.text()
    assert time.monotonic() - t0 < 1.0


def test_sigterm_closes_idle_session_after_shutdown_timeout(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd("[global]\nshutdown_timeout = 1s\n"
               + listener("drain", f"127.0.0.1:{port}", b.addr))
    c = connect("127.0.0.1", port, mptcp=True)
    assert is_mptcp(c) == 1
    me = c.getsockname()
    assert echo_exchange(c, b"ping", shut_wr=False) == b"ping"

    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(3) == 0, d.text()
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed <= 2.0, f"exited {elapsed:.3f}s after SIGTERM"
    wait_closed(c, timeout=1)
    c.close()
    check_session(d.wait_session(me[1], timeout=1), name="drain", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=4, bytes_out=4,
                  end="shutdown")


def test_sigterm_lets_sessions_finish(relayd, backend):
    """While draining, open sessions still relay and new clients are not
    served; the daemon exits as soon as the last session ends."""
    b = backend()
    port = free_port()
    d = relayd("[global]\nshutdown_timeout = 20s\n"
               + listener("drain", f"127.0.0.1:{port}", b.addr))
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    assert echo_exchange(c, b"before", shut_wr=False) == b"before"
    b.wait_accepted(1)

    d.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert d.running(), "exited with a session open: " + d.text()
    late = None
    try:
        late = connect("127.0.0.1", port, mptcp=True, timeout=2)
        late.sendall(b"late")
    except (ConnectionRefusedError, ConnectionResetError):
        pass

    data = os.urandom(64 * KIB)
    assert echo_exchange(c, data) == data
    c.close()
    t_closed = time.monotonic()
    assert d.wait_exit(5) == 0, d.text()
    assert time.monotonic() - t_closed < 2.0
    check_session(d.wait_session(me[1], timeout=1), name="drain", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=6 + len(data),
                  bytes_out=6 + len(data), end="client_close")
    assert len(b.accepted) == 1, "a client that came after SIGTERM was served"
    if late is not None:
        late.settimeout(2)
        try:
            assert late.recv(16) == b""
        except ConnectionResetError:
            pass
        late.close()


# --- running out of descriptors ------------------------------------------

def nofile_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise Failure("no Max open files")


def test_raises_nofile_soft_limit_to_hard(relayd, backend):
    b = backend()
    d = relayd(GLOBAL_SECTION + listener("lim", f"127.0.0.1:{free_port()}",
                                         b.addr),
               prefix=("prlimit", "--nofile=64:2048", "--"))
    assert nofile_limits(d.pid) == (2048, 2048)


# A session takes two descriptors, so whether the last free one goes to
# accept() (which then fails with EMFILE once none is left) or to the
# upstream socket() depends on the parity of the limit: test both.
@pytest.mark.deadline(120)
@pytest.mark.parametrize("nofile", [40, 41])
def test_emfile_pauses_accepting(relayd, backend, nofile):
    """With 40 descriptors, 60 clients do not all fit. The daemon must pause
    accepting (log it about once, burn no CPU), leave the clients it cannot
    take waiting in the listen queue instead of dropping them, and serve
    them once descriptors are free again."""
    nclients = 60
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("fd", f"127.0.0.1:{port}", b.addr),
               prefix=("prlimit", f"--nofile={nofile}:{nofile}", "--"))
    assert nofile_limits(d.pid) == (nofile, nofile)
    baseline_fds = d.open_fds()

    def pause_lines():
        # Not the session lines: those may name the error of a client the
        # daemon had accepted when the descriptors ran out.
        return [ln for ln in d.lines if not SESSION_RE.match(ln)
                and re.search(r"(?i)too many open files|emfile|open files limit", ln)]

    clients = []
    status = {}  # client index -> "served" or "dropped"
    try:
        # The kernel completes the handshakes (backlog 511) whether or not
        # the daemon accepts.
        for _ in range(nclients):
            c = connect("127.0.0.1", port, mptcp=True, timeout=5)
            c.sendall(b"ping")
            clients.append(c)

        def poll(seconds, close_served):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and len(status) < nclients:
                waiting = [c for i, c in enumerate(clients)
                           if i not in status]
                ready, _, _ = select.select(waiting, [], [], 0.1)
                for c in ready:
                    i = clients.index(c)
                    try:
                        data = c.recv(4)
                    except ConnectionResetError:
                        data = b""
                    status[i] = "served" if data else "dropped"
                    if close_served:
                        c.close()

        t_start = time.monotonic()
        poll(3, close_served=False)
        nserved = list(status.values()).count("served")
        assert 1 <= nserved < nclients, f"{nserved} of {nclients} served"
        wait_until(pause_lines, 3, what="a log line about the pause")

        # Still out of descriptors, clients still waiting: almost no CPU,
        # and no stream of new log lines saying so.
        nlogged = len(pause_lines())
        cpu0 = d.cpu_seconds()
        time.sleep(3)
        cpu = d.cpu_seconds() - cpu0
        assert cpu < 0.3, f"daemon used {cpu:.2f}s CPU in 3s while out of fds"
        more = len(pause_lines()) - nlogged
        assert more <= 1, f"{more} more pause lines in 3s of the same " \
            f"shortage ({time.monotonic() - t_start:.1f}s in):\n" + d.text()
        # At most the client accepted with the last descriptor can be lost.
        dropped = list(status.values()).count("dropped")
        assert dropped <= 1, f"{dropped} clients dropped instead of " \
            "waiting in the listen queue:\n" + d.text()

        # Free the served ones: the waiting ones get their turn, in waves
        # as the earlier ones are closed.
        for i, c in enumerate(clients):
            if status.get(i) == "served":
                c.close()
        poll(20, close_served=True)
        waiting = nclients - len(status)
        assert waiting == 0, f"{waiting} clients never served"
        dropped = list(status.values()).count("dropped")
        assert dropped <= 1, f"{dropped} clients dropped:\n" + d.text()
    finally:
        for c in clients:
            c.close()

    # A new client is served, and every descriptor comes back.
    c = connect("127.0.0.1", port, mptcp=True, timeout=5)
    me = c.getsockname()
    assert echo_exchange(c, b"again") == b"again"
    c.close()
    check_session(d.wait_session(me[1]), name="fd", client=me,
                  upstream=b.addr, mptcp=True, bytes_in=5, bytes_out=5,
                  end="client_close")
    wait_until(lambda: d.open_fds() <= baseline_fds, 10,
               what=f"daemon back to {baseline_fds} descriptors")


# --- MPTCP switched off ------------------------------------------------------

@pytest.fixture
def mptcp_disabled():
    """net.mptcp.enabled = 0 in the test namespace for one test."""
    path = "/proc/sys/net/mptcp/enabled"
    with open(path, "w") as f:
        f.write("0\n")
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write("1\n")


def test_mptcp_unavailable_fails_start(relayd, mptcp_disabled):
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener("m", f"127.0.0.1:{port}",
                                         "127.0.0.1:80",
                                         "protocol = mptcp\n"),
               wait_started=False)
    assert d.wait_exit(10) == 2, d.text()
    assert "net.mptcp.enabled" in d.text(), d.text()


def test_mptcp_fallback_listens_with_tcp(relayd, backend, mptcp_disabled):
    b = backend()
    port = free_port()
    d = relayd(GLOBAL_SECTION + listener(
        "fb", f"127.0.0.1:{port}", b.addr,
        "protocol = mptcp\nmptcp_fallback = yes\n"))
    assert re.search(r"(?m)^warning: ", d.text()), d.text()
    c = connect("127.0.0.1", port, mptcp=False)
    me = c.getsockname()
    assert echo_exchange(c, b"fallback") == b"fallback"
    c.close()
    check_session(d.wait_session(me[1]), name="fb", client=me,
                  upstream=b.addr, mptcp=False, bytes_in=8, bytes_out=8,
                  end="client_close")


# --- log level ---------------------------------------------------------------

def test_log_level_option_overrides_file(relayd, backend):
    b = backend()
    port = free_port()
    d = relayd("[global]\nlog_level = debug\nshutdown_timeout = 2s\n"
               + listener("q", f"127.0.0.1:{port}", b.addr),
               args=("-l", "notice"))
    c = connect("127.0.0.1", port, mptcp=True)
    assert echo_exchange(c, b"quiet") == b"quiet"
    c.close()
    b.wait_done(b.wait_accepted(), 5)
    time.sleep(0.5)
    assert not re.search(r"(?m)^(info|debug): ", d.text()), d.text()


# --- log format --------------------------------------------------------------

def stamp_seconds(line):
    """The time stamp that starts a raw log line, in seconds since the
    epoch."""
    stamp = line.split(" ", 1)[0]
    assert STAMP_RE.fullmatch(stamp), line
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") \
        .replace(tzinfo=datetime.timezone.utc).timestamp()


def test_log_lines_carry_the_utc_time(relayd, backend):
    """Outside the journal every line starts with the time in UTC, with
    milliseconds, whatever the daemon's time zone."""
    b = backend()
    port = free_port()
    t0 = time.time()
    # Five and a half hours from UTC, written so that it needs no tzdata.
    d = relayd(GLOBAL_SECTION + listener("t", f"127.0.0.1:{port}", b.addr),
               env={"TZ": "IST-5:30"})
    c = connect("127.0.0.1", port, mptcp=True)
    me = c.getsockname()
    assert echo_exchange(c, b"what time is it", shut_wr=True) == \
        b"what time is it"
    c.close()
    d.wait_session(me[1])
    t1 = time.time()
    with open(d.log_path) as f:
        raw = f.read().splitlines()
    assert any(" info: t: client=" in ln for ln in raw), raw
    for line in raw:
        # Stamps are cut to the millisecond.
        assert t0 - 0.001 <= stamp_seconds(line) <= t1, (t0, t1, line)


def test_journal_lines_carry_priority_only(relayd_binary, backend, tmp_path):
    """With stderr connected to the journal (JOURNAL_STREAM names it), a
    line is "<N>message": journald records the time itself."""
    b = backend()
    port = free_port()
    cfg = tmp_path / "journal.ini"
    cfg.write_text(GLOBAL_SECTION + listener("j", f"127.0.0.1:{port}",
                                             b.addr))
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    p = subprocess.Popen([relayd_binary, "-c", str(cfg)], env=env,
                         stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    lines, rest = [], b""

    def read_until(pred, timeout):
        nonlocal rest
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise Failure(f"timed out; stderr so far: {lines}")
            chunk = os.read(r, 65536)
            if not chunk:
                return
            *done, rest = (rest + chunk).split(b"\n")
            lines.extend(ln.decode() for ln in done)

    try:
        read_until(lambda: any("started" in ln for ln in lines), 15)
        c = connect("127.0.0.1", port, mptcp=True)
        assert echo_exchange(c, b"journal", shut_wr=True) == b"journal"
        c.close()
        read_until(lambda: any("j: client=" in ln for ln in lines), 10)
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0, lines
        read_until(lambda: False, 5)    # to the end of stderr
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        os.close(r)
    assert rest == b"", rest
    assert any(re.fullmatch(r"<5>mptcp-relayd .* started: .*", ln)
               for ln in lines), lines
    assert any(re.fullmatch(r"<6>j: client=127\.0\.0\.1:\d+ .*", ln)
               for ln in lines), lines
    for ln in lines:
        assert re.fullmatch(r"<[3-7]>[^<].*", ln), ln
        assert not STAMP_RE.search(ln), ln
