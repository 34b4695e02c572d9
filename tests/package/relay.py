# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""The installed daemon, run the way its unit runs it, relays for real.

Run by tests/package/run inside a network namespace of its own
(`unshare --net`): it brings up lo, enables MPTCP there, starts
/usr/sbin/mptcp-relayd on the installed /etc/mptcp-relay.ini as the
package's user, acting as its service manager (NOTIFY_SOCKET), and checks:

- READY=1 arrives, and the daemon runs as the package's user;
- with nothing on the upstream address the daemon keeps running and the
  session is logged with end=connect_failed;
- with a backend there, one request over MPTCP is relayed intact and
  logged with mptcp=yes and the exact byte counts;
- SIGTERM brings STOPPING=1 and exit status 0.

Usage: relay.py DAEMON CONFIG USER LISTEN_HOST:PORT UPSTREAM_HOST:PORT
Exit status 0 when every check passed, 1 otherwise.
"""

import hashlib
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

IPPROTO_MPTCP = 262
SOL_TCP = 6
TCP_IS_MPTCP = 43
TIMEOUT = 20.0


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print(f"ok: {what}", flush=True)


def split_addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def netns_setup():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/mptcp/enabled", "w") as f:
        f.write("1\n")


class Notify:
    """The service manager's end of NOTIFY_SOCKET: an abstract datagram
    socket, private to this network namespace and reachable by any user."""

    def __init__(self):
        self.name = f"@mptcp-relayd-package-test-{os.getpid()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.messages = []

    def wait_for(self, line, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.messages:
                if line in msg.split("\n"):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no {line} from the daemon within {timeout}s;"
                              f" got {self.messages!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.messages.append(data.decode(errors="replace"))


class Backend(threading.Thread):
    """Answers one request with a fixed reply, then closes."""

    def __init__(self, host, port, reply):
        super().__init__(daemon=True)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(TIMEOUT)
        self.reply = reply
        self.request = b""
        self.error = None

    def run(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                while b"\r\n\r\n" not in self.request:
                    data = conn.recv(4096)
                    if not data:
                        break
                    self.request += data
                conn.sendall(self.reply)
        except OSError as e:
            self.error = e
        finally:
            self.sock.close()


def mptcp_request(host, port, request):
    """One request over MPTCP; returns the reply and whether the client's
    connection really negotiated MPTCP (TCP_IS_MPTCP). A connection the
    relay closes or resets early gives whatever arrived before."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM, IPPROTO_MPTCP) as s:
        s.settimeout(TIMEOUT)
        s.connect((host, port))
        reply = b""
        try:
            s.sendall(request)
            while True:
                data = s.recv(65536)
                if not data:
                    break
                reply += data
        except (BrokenPipeError, ConnectionResetError):
            pass
        return reply, s.getsockopt(SOL_TCP, TCP_IS_MPTCP) == 1


def session_lines(log, listener="web"):
    return [line for line in log.splitlines()
            if re.search(rf"\b{listener}: client=", line)]


def field(line, key):
    m = re.search(rf"\b{key}=(\S+)", line)
    return m.group(1) if m else None


def main():
    daemon, config, user, listen, upstream = sys.argv[1:6]
    lhost, lport = split_addr(listen)
    uhost, uport = split_addr(upstream)
    pw = pwd.getpwnam(user)
    netns_setup()

    notify = Notify()
    log = tempfile.TemporaryFile(mode="w+")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "NOTIFY_SOCKET": notify.name}
    # As the unit starts it: User=, Group=, no privilege to gain.
    cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
           "--init-groups", "--no-new-privs", "--inh-caps=-all",
           "--bounding-set=-all", daemon, "-c", config]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        notify.wait_for("READY=1")
        check(True, "READY=1 received")
        with open(f"/proc/{proc.pid}/status") as f:
            uids = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1)
        check(set(uids.split()) == {str(pw.pw_uid)},
              f"the daemon runs as {user} (uid {pw.pw_uid}): Uid {uids}")

        # No upstream yet: the daemon stays up, the session is refused.
        reply, _ = mptcp_request(lhost, lport, b"GET / HTTP/1.0\r\n\r\n")
        check(reply == b"", "no reply without an upstream")
        check(proc.poll() is None, "the daemon keeps running without upstream")

        body = os.urandom(200 * 1024)
        reply_sent = (b"HTTP/1.0 200 OK\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
        request = b"GET /package-test HTTP/1.0\r\nHost: test\r\n\r\n"
        backend = Backend(uhost, uport, reply_sent)
        backend.start()
        reply, negotiated = mptcp_request(lhost, lport, request)
        backend.join(TIMEOUT)
        check(backend.error is None, f"the backend answered (error: {backend.error})")
        check(backend.request == request, "the request reached the backend")
        check(hashlib.sha256(reply).digest()
              == hashlib.sha256(reply_sent).digest(),
              f"reply relayed intact ({len(reply)} bytes)")
        check(negotiated, "the client's connection is MPTCP (TCP_IS_MPTCP)")

        # The session line is written when the session ends: wait for it.
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            log.seek(0)
            lines = [ln for ln in session_lines(log.read())
                     if field(ln, "bytes_in") == str(len(request))]
            if lines:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
        log.seek(0)
        text = log.read()
        print("--- daemon log ---\n" + text + "--- end of daemon log ---",
              flush=True)

    check(status == 0, f"SIGTERM: exit status {status}")
    notify.wait_for("STOPPING=1")
    check(True, "STOPPING=1 received")
    lines = session_lines(text)
    failed = [ln for ln in lines if field(ln, "end") == "connect_failed"]
    check(len(failed) >= 1, "a session without upstream: end=connect_failed")
    relayed = [ln for ln in lines if field(ln, "bytes_in") == str(len(request))]
    check(len(relayed) == 1, "one session line for the relayed request")
    line = relayed[0]
    # Not the journal: the line carries the time in UTC, then the level.
    check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: web: "
                   r"client=", line) is not None,
          f"the session line starts with the UTC time: {line}")
    check(field(line, "mptcp") == "yes", "mptcp=yes")
    check(field(line, "upstream") == upstream, f"upstream={upstream}")
    check(field(line, "bytes_out") == str(len(reply_sent)),
          f"bytes_out={len(reply_sent)}")
    check(field(line, "end") in ("upstream_close", "client_close"),
          f"end={field(line, 'end')}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Failure, OSError, subprocess.SubprocessError) as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
