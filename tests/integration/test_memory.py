# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Backpressure: a fast upstream and a slow client must not make the relay
buffer what the client has not read yet."""

import hashlib
import os
import random
import threading
import time

import pytest

from helpers import (GLOBAL_SECTION, KIB, MIB, check_session, connect,
                     echo_exchange, free_port, is_mptcp, send_stream)

# The relay keeps at most about 128 KiB of pending output per direction, plus
# what one read adds on top (tens of KiB): well under 1 MiB per session,
# whatever the size of the transfer. 16 MiB above the warmed-up baseline is
# room for allocator slack and for the small ASan quarantine set below,
# and it still fails a relay that buffers what it cannot write, since then
# most of the 256 MiB would pile up in it.
RSS_CEILING_KIB = 16 * 1024


@pytest.mark.deadline(300)
def test_slow_reader_keeps_rss_bounded(relayd, backend):
    size = 256 * MIB
    fast = backend(lambda conn, rec: send_stream(conn, 16, size))
    echo = backend()
    slow_port, warm_port = free_port(), free_port()
    # ASan's default 256 MiB quarantine of freed memory would show up as RSS
    # growth that is not the daemon's buffering; keep it small here.
    asan = os.environ.get("ASAN_OPTIONS", "")
    d = relayd(GLOBAL_SECTION
               + f"\n[slow]\nlisten = 127.0.0.1:{slow_port}\n"
               f"upstream = {fast.addr}\n"
               + f"\n[warm]\nlisten = 127.0.0.1:{warm_port}\n"
               f"upstream = {echo.addr}\n",
               env={"ASAN_OPTIONS": (asan + ":" if asan else "")
                    + "quarantine_size_mb=4"})

    # One session first, so that the baseline includes what the first
    # session allocates once (buffers pools, log formatting).
    warm = connect("127.0.0.1", warm_port, mptcp=True)
    data = random.Random(17).randbytes(1 * MIB)
    assert echo_exchange(warm, data) == data
    warm.close()
    time.sleep(0.2)
    baseline = d.rss_kib()

    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append(d.rss_kib())
            except OSError:
                return
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        c = connect("127.0.0.1", slow_port, mptcp=True)
        assert is_mptcp(c) == 1
        me = c.getsockname()
        h = hashlib.sha256()
        n = 0
        deadline = time.monotonic() + 240
        while True:
            assert time.monotonic() < deadline, f"slow read stuck at {n}"
            chunk = c.recv(64 * KIB)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            time.sleep(0.001)
        c.close()
    finally:
        stop.set()
        sampler.join(5)

    assert n == size
    assert h.hexdigest() == fast.wait_done(fast.wait_accepted(), 10)
    peak = max(samples)
    print(f"relay RSS: baseline {baseline} KiB, peak {peak} KiB, "
          f"{len(samples)} samples")
    assert len(samples) > 50, f"only {len(samples)} RSS samples"
    assert peak - baseline <= RSS_CEILING_KIB, \
        f"RSS grew from {baseline} KiB to {peak} KiB"
    check_session(d.wait_session(me[1]), name="slow", client=me,
                  upstream=fast.addr, mptcp=True, bytes_in=0, bytes_out=size,
                  end="upstream_close")
