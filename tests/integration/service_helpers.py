# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""A stand-in for the service manager: the NOTIFY_SOCKET end of sd_notify(3),
sockets passed as sd_listen_fds(3) expects them, and a daemon started with
descriptors to inherit.

Every wait here is bounded, and every process started is stopped by PID by
the owner of the ServiceRun that started it.
"""

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import helpers

_names = itertools.count()


class NotifySocket:
    """An AF_UNIX datagram socket in the abstract namespace (no file, so a
    daemon that dropped its privileges can still send to it), read by a
    thread that keeps every datagram with the monotonic time it arrived."""

    def __init__(self):
        name = f"mptcp-relayd-test-{os.getpid()}-{next(_names)}"
        self.address = "@" + name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name)
        self.sock.settimeout(0.2)
        self.received = []      # (CLOCK_MONOTONIC seconds, text)
        self._cv = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"notify-{name}")
        self._reader.start()

    @property
    def env(self):
        return {"NOTIFY_SOCKET": self.address}

    def _read(self):
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            with self._cv:
                self.received.append((time.clock_gettime(
                                      time.CLOCK_MONOTONIC),
                                      data.decode("utf-8", "replace")))
                self._cv.notify_all()

    def _texts(self, watchdog, status):
        return [t for _, t in self.received
                if (watchdog or t != "WATCHDOG=1")
                and (status or not t.startswith("STATUS="))]

    def messages(self, watchdog=False, status=True):
        """The texts received so far. watchdog: with the WATCHDOG=1
        pings; status: with the datagrams that carry only STATUS=."""
        with self._cv:
            return self._texts(watchdog, status)

    def timed(self, text):
        """(arrival time, text) of every datagram equal to text."""
        with self._cv:
            return [(ts, t) for ts, t in self.received if t == text]

    def wait(self, index, timeout, watchdog=False, status=True):
        """The index-th datagram of messages(watchdog, status), waiting
        for it up to timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                msgs = self._texts(watchdog, status)
                if len(msgs) > index:
                    return msgs[index]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise helpers.Failure(
                        f"no notify datagram #{index} after {timeout}s; "
                        f"received: {msgs!r}")
                self._cv.wait(left)

    def wait_text(self, text, timeout, start=0):
        """Wait for a datagram equal to text among those from index start
        of messages(); return its index."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                msgs = self._texts(False, True)
                for i in range(start, len(msgs)):
                    if msgs[i] == text:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise helpers.Failure(
                        f"no notify datagram {text!r} after {timeout}s; "
                        f"received: {msgs!r}")
                self._cv.wait(left)

    def close(self):
        self._closed = True
        self.sock.close()
        self._reader.join(5)


# Runs in the child between fork and the daemon: moves the passed sockets
# to 3, 4, ... and sets the named variables to its own PID, which exec
# keeps, so that LISTEN_PID and WATCHDOG_PID name the daemon.
# argv: WRAPPER FDS(comma-separated) VARS(comma-separated) DAEMON ARGS...
_WRAPPER = r"""
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",") if x]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
for name in sys.argv[2].split(","):
    if name:
        os.environ[name] = str(os.getpid())
os.execv(sys.argv[3], sys.argv[3:])
"""


def wrapper(fds=(), pid_vars=()):
    """The argv prefix that passes fds as 3, 4, ... and sets pid_vars to
    the daemon's PID."""
    return (sys.executable, "-c", _WRAPPER, ",".join(map(str, fds)),
            ",".join(pid_vars))


class ServiceDaemon(helpers.Daemon):
    """helpers.Daemon whose process inherits pass_fds (helpers.Daemon
    closes every descriptor above 2)."""

    def __init__(self, *args, pass_fds=(), **kw):
        super().__init__(*args, **kw)
        self.pass_fds = tuple(pass_fds)

    def start(self, wait_started=True, timeout=15):
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env, cwd=self.workdir,
            pass_fds=self.pass_fds)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"stderr-{self.proc.pid}")
        self._reader.start()
        if wait_started:
            self.wait_line(r"^notice: .*\bstarted\b", timeout)
        return self

    def write_config(self, text):
        """Replace the file the daemon reads on SIGHUP, in one step."""
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.config_path)

    def count_lines(self, pattern):
        rx = re.compile(pattern)
        with self._cv:
            return sum(1 for ln in self.lines if rx.search(ln))

    def reload(self, timeout=10):
        """SIGHUP; wait until the daemon logged the outcome. Returns True
        when it switched to the file, False when it kept the running
        configuration."""
        done = r"^notice: reloaded |reload failed"
        n = self.count_lines(done)
        start = len(self.lines)
        self.send_signal(signal.SIGHUP)
        helpers.wait_until(lambda: self.count_lines(done) > n, timeout,
                           interval=0.005, what="the reload's outcome")
        m = self.wait_line(done, 1, start=start)
        return "reload failed" not in m.string

    def proc_status(self):
        """/proc/PID/status as {field: value}."""
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                out[key] = value.strip()
        return out


class ServiceRun:
    """Owns what a test started as the service manager: daemons, notify
    sockets, passed sockets, world-readable work directories. close()
    stops every daemon still running with SIGTERM (exit status 0 required),
    SIGKILL after a timeout, and frees the rest; it returns the problems
    found."""

    def __init__(self, binary, tmp_path):
        self.binary = binary
        self.tmp_path = str(tmp_path)
        self.daemons = []
        self.notifiers = []
        self.sockets = []
        self.dirs = []

    def notify_socket(self):
        n = NotifySocket()
        self.notifiers.append(n)
        return n

    def keep(self, sock):
        """Close sock at the end of the test."""
        self.sockets.append(sock)
        return sock

    def public_dir(self):
        """A directory any user can read (the config of a daemon that
        drops its privileges must stay readable for reloads)."""
        d = tempfile.mkdtemp(prefix="mptcp-relayd-test-")
        self.dirs.append(d)
        os.chmod(d, 0o755)
        return d

    def start(self, config, *, env=None, notify=None, listen_fds=(),
              pid_vars=(), workdir=None, wait_started=False, args=(),
              name=None):
        """Start a daemon on config. notify: a NotifySocket; listen_fds:
        sockets passed as 3, 4, ... with LISTEN_FDS (LISTEN_PID is then set
        too); pid_vars: more variables set to the daemon's PID."""
        env = dict(env or {})
        if notify is not None:
            env.update(notify.env)
        fds = [s.fileno() for s in listen_fds]
        pid_vars = list(pid_vars)
        if fds:
            env["LISTEN_FDS"] = str(len(fds))
            if "LISTEN_PID" not in pid_vars:
                pid_vars.append("LISTEN_PID")
        prefix = wrapper(fds, pid_vars) if (fds or pid_vars) else ()
        d = ServiceDaemon(self.binary, workdir or self.tmp_path, config,
                          args=args, prefix=prefix, env=env,
                          name=name or f"svc{len(self.daemons)}",
                          pass_fds=fds)
        os.chmod(d.config_path, 0o644)
        self.daemons.append(d)
        d.start(wait_started=wait_started)
        return d

    def close(self):
        problems = []
        for d in self.daemons:
            was_running = d.running()
            status = d.stop(timeout=15)
            print(f"--- {d.argv[-3:]} (pid {d.pid}): exit status "
                  f"{status} ---")
            print(d.text())
            if was_running and status != 0:
                problems.append(f"pid {d.pid}: SIGTERM at teardown gave "
                                f"exit status {status}")
            for line in d.log_problems():
                problems.append(f"pid {d.pid}: {line}")
        for n in self.notifiers:
            n.close()
        for s in self.sockets:
            s.close()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        return problems


def listener(name, listen, upstream, extra=""):
    """The INI text of one listener section."""
    return f"\n[{name}]\nlisten = {listen}\nupstream = {upstream}\n{extra}"


def listening_socket(host, port, mptcp=True, backlog=64):
    """A listening socket as a socket unit would pass it."""
    s = socket.socket(helpers.family_of(host), socket.SOCK_STREAM,
                      helpers.IPPROTO_MPTCP if mptcp else 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def socket_inode(fd_path):
    """'socket:[INODE]' of /proc/PID/fd/N -> INODE."""
    m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd_path))
    if not m:
        raise helpers.Failure(f"{fd_path} is not a socket: "
                              f"{os.readlink(fd_path)}")
    return int(m.group(1))


def socket_inodes(pid):
    """The inodes of every socket process pid holds."""
    out = set()
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            link = os.readlink(f"{base}/{name}")
        except FileNotFoundError:
            continue    # closed meanwhile
        m = re.fullmatch(r"socket:\[(\d+)\]", link)
        if m:
            out.add(int(m.group(1)))
    return out


def monotonic_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

