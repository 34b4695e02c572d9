# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Fixtures of the end-to-end tests and their watchdog.

The tests change routes, sysctls and interfaces of the network namespace
they run in, so they refuse to run outside the one that tests/integration/run
creates for them.
"""

import faulthandler
import os
import resource
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402

# Seconds a test may run (its call phase) unless it says otherwise with
# @pytest.mark.deadline(SECONDS).
DEFAULT_DEADLINE = 60


class DeadlineExceeded(Exception):
    pass


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "deadline(seconds): fail the test if its call phase runs "
        "longer than this")
    if not os.environ.get("MPTCP_RELAYD_TEST_NETNS"):
        pytest.exit("run these tests through tests/integration/run: they "
                    "need the network namespace it creates", returncode=2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("deadline")
    seconds = marker.args[0] if marker else DEFAULT_DEADLINE

    def on_alarm(signum, frame):
        raise DeadlineExceeded(f"test ran longer than {seconds}s")

    # The alarm interrupts the main thread's blocking calls and fails the
    # test, so that fixtures still stop what it started. If even that
    # hangs, faulthandler dumps every thread and ends the process, and run
    # kills what is left in the namespace.
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds + 60, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def relayd_binary():
    path = os.environ.get("MPTCP_RELAYD")
    assert path and os.access(path, os.X_OK), \
        f"MPTCP_RELAYD is not an executable: {path!r}"
    return path


@pytest.fixture(scope="session")
def blackhole_addr():
    """An address whose SYNs vanish (set up by run)."""
    addr = os.environ.get("MPTCP_RELAYD_TEST_BLACKHOLE")
    assert addr, "MPTCP_RELAYD_TEST_BLACKHOLE not set (use run)"
    return addr


@pytest.fixture
def backend():
    """Factory of helpers.Backend; all closed at the end of the test."""
    started = []

    def make(handler=helpers.echo_handler, **kw):
        b = helpers.Backend(handler, **kw)
        started.append(b)
        return b

    yield make
    for b in started:
        b.close()


@pytest.fixture
def relayd(relayd_binary, tmp_path):
    """Factory of started daemons: relayd(config_text, args=(), prefix=(),
    env=None, wait_started=True).

    At the end of the test each daemon still running gets SIGTERM and must
    exit 0 (a clean stop, and under ASan no leak) and none may have logged a
    sanitizer report or a log line without its time stamp; its log is
    printed (pytest shows it on failure).
    """
    started = []

    def make(config, args=(), prefix=(), env=None, wait_started=True,
             name=None):
        d = helpers.Daemon(relayd_binary, str(tmp_path), config, args=args,
                           prefix=prefix, env=env,
                           name=name or f"relay{len(started)}")
        started.append(d)
        d.start(wait_started=wait_started)
        return d

    yield make

    problems = []
    for d in started:
        was_running = d.running()
        status = d.stop(timeout=15)
        print(f"--- {d.argv}: exit status {status} ---")
        print(d.text())
        if was_running and status != 0:
            problems.append(f"pid {d.pid}: SIGTERM at teardown gave exit "
                            f"status {status}")
        for line in d.log_problems():
            problems.append(f"pid {d.pid}: {line}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def peers():
    """Factory of helpers.Peer: peers(argv, log_path); each is stopped and
    its output printed at the end of the test."""
    started = []

    def start(argv, log_path):
        p = helpers.Peer(argv, log_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
        print(f"--- {p.proc.args}:\n{p.text()}")
