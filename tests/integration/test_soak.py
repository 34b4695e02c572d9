# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""The soak: many concurrent MPTCP sessions with steady traffic through
two workers, then all closed. No error, every client really MPTCP, the
daemon's memory steady while they run (its figure per session printed), and
every descriptor back once they are gone.

make check runs 2,000 sessions for 15 s; `make soak` runs 8,000 for 60 s
(SOAK_SESSIONS and SOAK_SECONDS)."""

import json
import os
import subprocess
import time

import pytest

from helpers import GLOBAL_SECTION, free_port, wait_until

SESSIONS = int(os.environ.get("SOAK_SESSIONS", "2000"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "15"))


@pytest.mark.deadline(SECONDS * 3 + SESSIONS // 50 + 120)
def test_soak(relayd):
    soak = os.environ.get("SOAK_BIN")
    assert soak and os.access(soak, os.X_OK), f"SOAK_BIN not built: {soak!r}"
    up, port = free_port(), free_port()
    server = subprocess.Popen([soak, "serve", str(up)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    client = None
    try:
        assert server.stdout.readline().strip() == b"ready"
        d = relayd(GLOBAL_SECTION + "workers = 2\n"
                   f"\n[soak]\nlisten = 127.0.0.1:{port}\n"
                   f"upstream = 127.0.0.1:{up}\nbacklog = 4096\n")
        fds0, rss0 = d.open_fds(), d.rss_kib()
        client = subprocess.Popen(
            [soak, "clients", str(port), str(SESSIONS), str(SECONDS)],
            stdout=subprocess.PIPE)
        # Memory once every session is open, and at the end of the run.
        opening = SESSIONS / 1000 + 2
        time.sleep(opening)
        wait_until(lambda: d.open_fds() >= fds0 + 2 * SESSIONS, 60,
                   what=f"{SESSIONS} sessions open")
        rss_open = d.rss_kib()
        samples = []
        while client.poll() is None:
            samples.append(d.rss_kib())
            time.sleep(1)
        out, _ = client.communicate(timeout=60)
        res = json.loads(out)
        rss_end = max(samples) if samples else rss_open
        per = (rss_open - rss0) / SESSIONS
        print(f"soak: {SESSIONS} sessions for {SECONDS}s: {res}; RSS "
              f"{rss0} KiB idle, {rss_open} KiB with all open "
              f"({per:.2f} KiB per session), {rss_end} KiB at most later")
        assert res["conns"] == SESSIONS, res
        assert res["mptcp"] == SESSIONS, res
        assert res["errors"] == 0, res
        assert res["exchanges"] >= SESSIONS * max(1, SECONDS // 4), res
        # Steady: traffic does not make it grow beyond the first buffers.
        assert rss_end - rss_open < max(4096, rss_open // 10), \
            (rss_open, rss_end)
        wait_until(lambda: len(d.sessions()) >= SESSIONS, 120,
                   what=f"{SESSIONS} session lines")
        assert all(s["end"] == "client_close" and s["mptcp"] == "yes"
                   for s in d.sessions())
        wait_until(lambda: d.open_fds() <= fds0, 60,
                   what=f"descriptors back to {fds0}")
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(10)
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
