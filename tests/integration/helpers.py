# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Building blocks of the end-to-end tests: the daemon under test, backends,
MPTCP sockets, data streams and the parser of the per-session log line.

Every wait here is bounded: sockets carry timeouts, loops carry deadlines,
and every process or thread started is stopped by whoever owns it.
"""

import datetime
import hashlib
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

IPPROTO_MPTCP = 262
SOL_TCP = 6
TCP_IS_MPTCP = 43
SOL_MPTCP = 284
MPTCP_INFO = 1

KIB = 1 << 10
MIB = 1 << 20

# Default timeout of every socket the tests open: long enough for a slow
# (sanitizer) build, short enough that a hang fails instead of blocking.
SOCK_TIMEOUT = 30.0

# Keeps daemons stopped at the end of a test from waiting the default 30 s
# for sessions a failing test left open.
GLOBAL_SECTION = "[global]\nlog_level = info\nshutdown_timeout = 2s\n"


class Failure(AssertionError):
    """A test expectation not met inside a helper."""


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Poll predicate() until it is true; return its value or raise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- addresses and ports ---------------------------------------------------

# The tests run in a network namespace of their own (see run): ports below
# the ephemeral range (32768-60999) are free unless a test took them.
_ports = itertools.count(20000)


def free_port():
    """A TCP port nothing in the namespace listens on, v4 and v6."""
    for _ in range(1000):
        port = next(_ports)
        try:
            for family, host in ((socket.AF_INET, "127.0.0.1"),
                                 (socket.AF_INET6, "::1")):
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise Failure("no free port")


def fmt_addr(host, port):
    """An address as the daemon's config and log write it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# --- sockets -----------------------------------------------------------------

def stream_socket(family=socket.AF_INET, mptcp=False):
    s = socket.socket(family, socket.SOCK_STREAM,
                      IPPROTO_MPTCP if mptcp else 0)
    s.settimeout(SOCK_TIMEOUT)
    return s


def connect(host, port, mptcp=True, timeout=SOCK_TIMEOUT):
    """A connected blocking socket (MPTCP if asked) to host:port."""
    s = stream_socket(family_of(host), mptcp)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    s.settimeout(SOCK_TIMEOUT)
    return s


def connect_until_closed(host, port, mptcp=True, timeout=SOCK_TIMEOUT):
    """Connect to a relay that will close the connection at once (a refused
    client, an upstream that cannot be reached) and wait for that: returns
    (the client's own address, 'eof' or 'reset'). The relay may reset the
    connection before connect() has even returned: that is a reset too."""
    s = stream_socket(family_of(host), mptcp)
    s.settimeout(timeout)
    try:
        s.bind(("::1" if ":" in host else "127.0.0.1", 0))
        me = s.getsockname()[:2]
        try:
            s.connect((host, port))
        except ConnectionResetError:
            return me, "reset"
        return me, wait_closed(s, timeout)
    finally:
        s.close()


def is_mptcp(sock):
    """1 on a connection that negotiated MPTCP, 0 otherwise.

    TCP_IS_MPTCP answers that on current kernels. Linux 6.1 refuses it
    (EOPNOTSUPP on MPTCP, ENOPROTOOPT on TCP); there MPTCP_INFO succeeding
    means MPTCP, as it does everywhere.
    """
    try:
        return sock.getsockopt(SOL_TCP, TCP_IS_MPTCP)
    except OSError:
        pass
    try:
        sock.getsockopt(SOL_MPTCP, MPTCP_INFO, 96)
    except OSError:
        return 0
    return 1


def mptcp_additional_subflows(sock):
    """mptcpi_subflows of MPTCP_INFO: subflows besides the first one."""
    return sock.getsockopt(SOL_MPTCP, MPTCP_INFO, 96)[0]


def set_linger_reset(sock):
    """Make close() send a reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))


def recv_to_eof(sock, limit=None, deadline=None):
    """Read until EOF; return (bytes read, sha256 hex). limit: fail if more."""
    h = hashlib.sha256()
    n = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise Failure(f"recv_to_eof: deadline passed after {n} bytes")
        chunk = sock.recv(256 * KIB)
        if not chunk:
            return n, h.hexdigest()
        h.update(chunk)
        n += len(chunk)
        if limit is not None and n > limit:
            raise Failure(f"recv_to_eof: more than {limit} bytes")


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Failure(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def wait_closed(sock, timeout):
    """Wait for the peer to close: returns 'eof' or 'reset'; raises on data
    or on timeout."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return "reset"
    except (socket.timeout, TimeoutError):
        raise Failure(f"connection still open after {timeout}s") from None
    finally:
        sock.settimeout(SOCK_TIMEOUT)
    if data:
        raise Failure(f"unexpected data while waiting for close: {data!r}")
    return "eof"


# --- data ------------------------------------------------------------------

def stream_chunks(seed, total, chunk=1 * MIB):
    """total pseudo-random bytes, reproducible from seed, in chunks."""
    rng = random.Random(seed)
    left = total
    while left > 0:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n


def stream_digest(seed, total):
    h = hashlib.sha256()
    for c in stream_chunks(seed, total):
        h.update(c)
    return h.hexdigest()


def send_stream(sock, seed, total, shut_wr=True):
    """Send the seeded stream; return its sha256 hex."""
    h = hashlib.sha256()
    for c in stream_chunks(seed, total):
        sock.sendall(c)
        h.update(c)
    if shut_wr:
        sock.shutdown(socket.SHUT_WR)
    return h.hexdigest()


def echo_exchange(sock, data, shut_wr=True, timeout=60):
    """Send data (from a thread, so that a large echo cannot deadlock on
    full buffers) and read the echo; return what came back. With shut_wr,
    the write side is shut down after sending and the echo read to EOF."""
    sender = Worker(_sendall, sock, data, shut_wr, name="echo-send")
    sender.start()
    if shut_wr:
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise Failure("echo_exchange: deadline passed")
            chunk = sock.recv(256 * KIB)
            if not chunk:
                break
            buf += chunk
        got = bytes(buf)
    else:
        got = recv_exactly(sock, len(data))
    sender.get(timeout)
    return got


def _sendall(sock, data, shut_wr):
    sock.sendall(data)
    if shut_wr:
        sock.shutdown(socket.SHUT_WR)


class Worker(threading.Thread):
    """A thread that keeps its function's result or exception."""

    def __init__(self, fn, *args, name=None):
        super().__init__(daemon=True, name=name)
        self._fn = fn
        self._args = args
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self._fn(*self._args)
        except BaseException as e:  # noqa: B902 - reported by get()
            self.error = e

    def get(self, timeout):
        self.join(timeout)
        if self.is_alive():
            raise Failure(f"thread {self.name} still running after "
                            f"{timeout}s")
        if self.error is not None:
            raise self.error
        return self.result


# --- backends ----------------------------------------------------------------

class Backend:
    """A listening socket (TCP or MPTCP) whose accepted connections each run
    handler(conn, backend) in a thread of their own.

    accepted: one dict per connection: sock, is_mptcp (TCP_IS_MPTCP of the
    accepted socket), and whatever the handler stores in it ("result").
    errors: exceptions raised by handlers.
    """

    def __init__(self, handler, host="127.0.0.1", port=None, mptcp=False,
                 backlog=1024):
        self.handler = handler
        self.host = host
        self.port = port or free_port()
        self.mptcp = mptcp
        self.accepted = []
        self.errors = []
        self._lock = threading.Lock()
        self._threads = []
        self._closed = False
        self.sock = stream_socket(family_of(host), mptcp)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, self.port))
        self.sock.listen(backlog)
        self.sock.settimeout(None)
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True,
                                          name=f"backend-{self.port}")
        self._acceptor.start()

    @property
    def addr(self):
        return fmt_addr(self.host, self.port)

    def _accept_loop(self):
        while not self._closed:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            conn.settimeout(SOCK_TIMEOUT)
            rec = {"sock": conn, "peer": peer, "is_mptcp": is_mptcp(conn),
                   "result": None, "done": threading.Event()}
            with self._lock:
                self.accepted.append(rec)
            t = threading.Thread(target=self._serve, args=(rec,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, rec):
        try:
            rec["result"] = self.handler(rec["sock"], rec)
        except BaseException as e:  # noqa: B902 - kept for the test
            rec["result"] = e
            with self._lock:
                self.errors.append(e)
        finally:
            try:
                rec["sock"].close()
            except OSError:
                pass
            rec["done"].set()

    def wait_accepted(self, n=1, timeout=10):
        wait_until(lambda: len(self.accepted) >= n, timeout,
                   what=f"{n} connections on backend {self.addr}")
        return self.accepted[n - 1]

    def wait_done(self, rec, timeout):
        if not rec["done"].wait(timeout):
            raise Failure(f"backend handler still running after {timeout}s")
        if isinstance(rec["result"], BaseException):
            raise rec["result"]
        return rec["result"]

    def close(self):
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.sock.close()
        self._acceptor.join(5)
        with self._lock:
            recs = list(self.accepted)
        for rec in recs:
            try:
                rec["sock"].shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)


def echo_handler(conn, rec):
    """Echo until EOF, then close: the returned value is bytes echoed."""
    n = 0
    while True:
        data = conn.recv(256 * KIB)
        if not data:
            break
        conn.sendall(data)
        n += len(data)
    conn.shutdown(socket.SHUT_WR)
    return n


# --- the daemon --------------------------------------------------------------

SESSION_RE = re.compile(r"^info: (?P<name>[^\s:]+): (?P<fields>client=.*)$")
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                          r"runtime error:|SUMMARY: \w+Sanitizer")

# A line of the daemon's log when stderr is not the journal:
# "2026-12-06T04:17:18.123Z info: message", the time in UTC.
LOG_LEVELS = r"(?:error|warning|notice|info|debug)"
STAMPED_RE = re.compile(rf"^(?P<stamp>\S+) (?P<rest>{LOG_LEVELS}: .*)$",
                        re.DOTALL)
UNSTAMPED_RE = re.compile(rf"^{LOG_LEVELS}: ")
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def strip_stamp(line):
    """A line of the daemon's stderr without the time stamp of a log line,
    and the problem with its stamp (None when there is none).

    A log line must start with a well-formed UTC stamp, which is removed so
    that patterns anchor on the level ("^info: "). Other lines (the bare
    FILE:LINE problems of -t, a sanitizer's report) are returned as they
    are."""
    m = STAMPED_RE.match(line)
    if m:
        stamp = m.group("stamp")
        problem = None
        if not STAMP_RE.fullmatch(stamp):
            problem = f"bad time stamp {stamp!r}"
        else:
            try:
                datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError as e:
                problem = f"bad time stamp {stamp!r}: {e}"
        return m.group("rest"), problem
    if UNSTAMPED_RE.match(line):
        return line, "log line without a time stamp"
    return line, None


def parse_session_line(line):
    """The fields of a per-session line, in order, or None for another line."""
    m = SESSION_RE.match(line)
    if not m:
        return None
    fields = {"name": m.group("name"), "keys": []}
    # key=value, blank-separated; a value with blanks (tls_error) is
    # double-quoted and holds no double quote; nothing else is escaped.
    text = m.group("fields")
    for tok in FIELD_RE.finditer(text):
        if tok.group("bad") is not None:
            raise Failure(f"session line has a field without '=': {line!r}")
        key, value = tok.group("key"), tok.group("value")
        if value.startswith('"'):
            value = value[1:-1]
        fields["keys"].append(key)
        fields[key] = value
    return fields


FIELD_RE = re.compile(r'(?:(?P<key>[a-z_]+)=(?P<value>"[^"]*"|[^\s"]*)'
                      r'|(?P<bad>\S+))(?:\s+|$)')


def split_addr(text):
    """'IP:PORT' or '[IP6]:PORT' of a log line -> (ip, port)."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([0-9.]+):(\d+)", text)
    if not m:
        raise Failure(f"bad address in log line: {text!r}")
    if m.group(1) is not None:
        return m.group(1), int(m.group(2))
    return m.group(3), int(m.group(4))


class Daemon:
    """mptcp-relayd run in the foreground, its stderr collected line by line.

    lines holds each line with the time stamp of a log line removed (see
    strip_stamp), so that patterns anchor on the level; the file at
    log_path keeps them as written. A log line with a missing or malformed
    stamp is kept in stamp_problems, makes wait_line fail, and fails the
    test at teardown."""

    def __init__(self, binary, workdir, config, args=(), prefix=(), env=None,
                 name="relay"):
        self.binary = binary
        self.workdir = workdir
        self.config_path = os.path.join(workdir, f"{name}.ini")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.argv = [*prefix, binary, "-c", self.config_path, *args]
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.lines = []
        self.stamp_problems = []
        self._cv = threading.Condition()
        self._eof = False
        self.proc = None
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait_started=True, timeout=15):
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env, cwd=self.workdir)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"stderr-{self.proc.pid}")
        self._reader.start()
        if wait_started:
            self.wait_line(r"^notice: .*\bstarted\b", timeout)
        return self

    def _read_stderr(self):
        with open(self.log_path, "w") as log:
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                stripped, problem = strip_stamp(line)
                with self._cv:
                    self.lines.append(stripped)
                    if problem:
                        self.stamp_problems.append(f"{problem}: {line!r}")
                    self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def wait_line(self, pattern, timeout, start=0):
        """Wait for a stderr line matching pattern (from line index start);
        return the match. Fails early if the daemon exits."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cv:
            while True:
                if self.stamp_problems:
                    raise Failure("log line of the wrong format: "
                                  + self.stamp_problems[0])
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self._eof:
                    self.proc.wait(5)
                    raise Failure(
                        f"daemon exited ({self.proc.returncode}) before "
                        f"logging /{pattern}/; its log:\n" + self.text())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"no log line /{pattern}/ after {timeout}s;"
                                    " log:\n" + self.text())
                self._cv.wait(left)

    def text(self):
        with self._cv:
            return "\n".join(self.lines)

    def sessions(self):
        with self._cv:
            lines = list(self.lines)
        return [f for f in map(parse_session_line, lines) if f]

    def mark(self):
        """A position in the log, for sessions_of(..., since=mark)."""
        with self._cv:
            return len(self.lines)

    def sessions_of(self, client_port, since=0):
        """Session lines of a client port, logged after the mark since: the
        kernel may give a later client the same port (towards another
        listener, or once the first connection is fully gone)."""
        with self._cv:
            lines = list(self.lines[since:])
        return [s for s in map(parse_session_line, lines) if s
                and split_addr(s["client"])[1] == client_port]

    def wait_session(self, client_port, timeout=10, since=0):
        """The one session line of the client whose local port is given."""
        try:
            wait_until(lambda: self.sessions_of(client_port, since), timeout,
                       what=f"session line of client port {client_port}")
        except Failure as e:
            raise Failure(f"{e}; log:\n{self.text()}") from None
        time.sleep(0.05)  # a duplicate line would come right after
        found = self.sessions_of(client_port, since)
        if len(found) != 1:
            raise Failure(f"{len(found)} session lines for client port "
                            f"{client_port}:\n" + self.text())
        return found[0]

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Wait for the daemon to exit; return its status (or raise)."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"daemon still running {timeout}s later; log:\n"
                            + self.text()) from None
        self._reader.join(5)
        return self.returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout):
        """SIGTERM, then SIGKILL after timeout; return the exit status
        (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.returncode = "killed after SIGTERM timeout"
                self._reader.join(5)
                return self.returncode
        self.returncode = self.proc.returncode
        self._reader.join(5)
        return self.returncode

    def sanitizer_reports(self):
        with self._cv:
            return [ln for ln in self.lines if SANITIZER_RE.search(ln)]

    def log_problems(self):
        """What a test must not end with: sanitizer reports and log lines
        of the wrong format."""
        with self._cv:
            stamps = list(self.stamp_problems)
        return self.sanitizer_reports() + stamps

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Failure("no VmRSS")

    def cpu_seconds(self):
        """utime + stime of the daemon, in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        # Fields after the command name, which is in parentheses.
        rest = stat[stat.rindex(")") + 2:].split()
        utime, stime = int(rest[11]), int(rest[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def check_session(rec, *, name, client, upstream, mptcp, end,
                  bytes_in=None, bytes_out=None, upstream_mptcp=None,
                  subflows=None):
    """Assert one parsed session line against what the test knows.

    client: (ip, port) of the client socket's own address; upstream: the
    configured upstream as the log writes it; upstream_mptcp: None when the
    listener's upstream_protocol is tcp (the field must then be absent);
    end: a reason or a tuple of acceptable reasons.
    """
    keys = ["client", "upstream", "mptcp", "subflows"]
    if upstream_mptcp is not None:
        keys += ["upstream_mptcp", "upstream_subflows"]
    keys += ["bytes_in", "bytes_out", "duration", "end"]
    # The contract's fields in its order; more may follow end= (the line
    # carries "at least" these).
    assert rec["keys"][:len(keys)] == keys, f"fields of session line: {rec}"
    assert len(set(rec["keys"])) == len(rec["keys"]), rec
    assert rec["name"] == name
    host, port = split_addr(rec["client"])
    assert port == client[1], rec
    # A dual-stack listener may see an IPv4 client as ::ffff:a.b.c.d.
    assert host in (client[0], "::ffff:" + client[0]), rec
    assert rec["upstream"] == upstream, rec
    assert rec["mptcp"] == ("yes" if mptcp else "no"), rec
    assert re.fullmatch(r"\d+", rec["subflows"]), rec
    if subflows is not None:
        assert int(rec["subflows"]) == subflows, rec
    elif mptcp:
        assert int(rec["subflows"]) >= 1, rec
    if upstream_mptcp is not None:
        assert rec["upstream_mptcp"] == ("yes" if upstream_mptcp else "no"), \
            rec
        # Subflows of the upstream leg: at least 1 over MPTCP, 0 over TCP.
        assert re.fullmatch(r"\d+", rec["upstream_subflows"]), rec
        assert (int(rec["upstream_subflows"]) >= 1) == upstream_mptcp, rec
    for key, want in (("bytes_in", bytes_in), ("bytes_out", bytes_out)):
        assert re.fullmatch(r"\d+", rec[key]), rec
        if want is not None:
            assert int(rec[key]) == want, rec
    assert re.fullmatch(r"\d+\.\d{3}s", rec["duration"]), rec
    ends = (end,) if isinstance(end, str) else tuple(end)
    assert rec["end"] in ends, rec
    return rec


def duration_of(rec):
    return float(rec["duration"].rstrip("s"))


# --- other programs ---------------------------------------------------------

def need_program(path, package):
    """The path of a peer program; missing, it fails in CI and skips (saying
    why) elsewhere."""
    if os.access(path, os.X_OK):
        return path
    why = f"{path} is missing (install the {package} package)"
    if os.environ.get("CI") == "true":
        raise Failure(why)
    pytest.skip(why)


class Peer:
    """A program in the foreground whose output is kept in a file."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_text(self, pattern, timeout):
        return wait_until(lambda: re.search(pattern, self.text()), timeout,
                          what=f"/{pattern}/ from {self.proc.args[0]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def start_nginx(peers, tmp_path, port, http, ns=None, host="127.0.0.1"):
    """Debian's nginx on host:port (the peers fixture runs it and stops
    it), with the directives http in its http block (one server listening
    on port, at least): one process, as root, so that it reads the test's
    files; its temporary files and pid under tmp_path. With ns (a
    netns.Netns), it runs in that network namespace."""
    nginx = need_program("/usr/sbin/nginx", "nginx-light")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log stderr;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
{http}
}}
""")
    prefix = ns.prefix() if ns is not None else ()
    peers([*prefix, nginx, "-e", "stderr", "-p", str(tmp_path), "-c",
           str(conf)], tmp_path / "nginx.out")
    if ns is None:
        wait_port(port, host)
    else:
        with ns.entered():
            wait_port(port, host)


def wait_port(port, host="127.0.0.1", timeout=15):
    def up():
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(up, timeout, what=f"{host}:{port} listening")


# --- certificates, made for each test run ----------------------------------------

class PKI:
    """A test CA (and an unrelated one) issuing server and client
    certificates with openssl(1), in a directory of the test."""

    def __init__(self, path):
        self.path = path
        self.openssl = need_program("/usr/bin/openssl", "openssl")
        self.ca = self._ca("ca", "Test CA")
        self.other_ca = self._ca("other-ca", "Other CA")

    def _run(self, *args):
        subprocess.run([self.openssl, *args], check=True,
                       capture_output=True, timeout=30)

    def _ca(self, name, cn):
        key, crt = self.path / f"{name}.key", self.path / f"{name}.pem"
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                  "-out", str(crt), "-subj", f"/CN={cn}", "-days", "2")
        return crt

    def issue(self, name, cn, sans=(), ca="ca", serial=None, client=False):
        """(certificate, key) files for cn, signed by ca."""
        key, csr = self.path / f"{name}.key", self.path / f"{name}.csr"
        crt = self.path / f"{name}.pem"
        self._run("req", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                  "-out", str(csr), "-subj", f"/CN={cn}")
        ext = self.path / f"{name}.ext"
        lines = ["basicConstraints=CA:FALSE"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        lines.append("extendedKeyUsage=" + ("clientAuth" if client
                                             else "serverAuth"))
        ext.write_text("\n".join(lines) + "\n")
        args = ["x509", "-req", "-in", str(csr), "-CA",
                str(self.path / f"{ca}.pem"), "-CAkey",
                str(self.path / f"{ca}.key"), "-out", str(crt), "-days", "2",
                "-extfile", str(ext)]
        args += ["-set_serial", str(serial)] if serial else \
            ["-CAcreateserial"]
        self._run(*args)
        return crt, key
