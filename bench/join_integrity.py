#!/usr/bin/python3
# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""Does this kernel deliver an MPTCP stream intact when a subflow joins
while data flows? Uploads of numbered blocks, each while the client's
second subflow joins, with no relay and through mptcp-relayd.

A client namespace with two links to a server namespace
(tests/integration/netns.py's Topology); the client has a 'subflow'
endpoint on its second link, so every connection opens a second subflow
right after the first, while the client is already sending. For each
kind, CONNS connections one after another, each uploading MIB MiB of
numbered 1 MiB blocks (the last one held until the second subflow is up)
and getting as much back:
  direct        an MPTCP server in the server namespace, no relay (what
                the kernel does on its own; the server reads with recv);
  relayd        mptcp-relayd in front of a plain TCP server, its defaults
                (what it reads from MPTCP sockets it copies; large reads
                from TCP sockets it splices);
  copy          the same with splice = no (no splice either way).
Every stream is checked block by block; a changed one is reported with
where it first differs. How many connections really joined (the server
namespace's MPJoinAckRx counter) is reported: a client's path manager
sometimes adds no subflow at all, and such a connection tests nothing.

Linux 6.18.44 was seen to get some of those streams wrong in every kind
(bench/README, "A kernel that misplaces a joining subflow's first bytes"):
the bytes of the second subflow's first mapping put at the wrong place.

Run as root from the source tree after building:
    bench/join_integrity.py [--conns N] [--mib M] [--kinds direct,relayd,copy]
Needs python3-pytest (the tests' helpers). Exit status: 0 every stream
arrived intact, 1 one did not (or a connection failed), 2 the check
could not run. Everything it creates is removed on every exit path.
"""

import argparse
import collections
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, HERE)

import netns  # noqa: E402
from aggregate import can_run  # noqa: E402
from helpers import (GLOBAL_SECTION, MIB, Backend, Daemon,  # noqa: E402
                     free_port, is_mptcp)
from test_multipath import (Transfer, connect_in, listener,  # noqa: E402
                            upload_handler, wait_subflows)

KINDS = ("direct", "relayd", "copy")
JOIN_WAIT = 5   # seconds for the second subflow, the upload held


def arguments():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relayd", default=os.environ.get(
        "MPTCP_RELAYD", os.path.join(TOP, "src", "mptcp-relayd")))
    ap.add_argument("--conns", type=int, default=100,
                    help="connections per kind (default 100)")
    ap.add_argument("--mib", type=int, default=4,
                    help="MiB each way per connection (default 4)")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help="comma-separated, of: " + ", ".join(KINDS))
    args = ap.parse_args()
    args.kinds = args.kinds.split(",")
    if any(k not in KINDS for k in args.kinds) or args.conns < 1 or \
            args.mib < 2:
        ap.error("kinds are " + ", ".join(KINDS) + "; --conns >= 1, "
                 "--mib >= 2")
    return args


def start_server(kind, t, size, relayd, workdir):
    """(port clients connect to, backend, daemon or None)."""
    port = free_port()
    with t.relay.entered():
        if kind == "direct":
            return port, Backend(upload_handler(size), host=t.relay_addr,
                                 port=port, mptcp=True), None
        b = Backend(upload_handler(size), port=free_port())
    config = GLOBAL_SECTION + ("splice = no\n" if kind == "copy" else "") + \
        listener("join", f"{t.relay_addr}:{port}", b.addr)
    d = Daemon(relayd, workdir, config, prefix=t.relay.prefix(), name=kind)
    try:
        d.start()
    except BaseException:
        b.close()
        raise
    return port, b, d


def run_kind(kind, args, workdir):
    """Counts and the first differences of one kind's connections."""
    size = args.mib * MIB
    res = collections.Counter()
    where = collections.Counter()
    failures = []
    t = netns.Topology()
    b = d = None
    try:
        t.relay.mptcp_limits(2, 0)
        t.client.mptcp_limits(2, 0)
        t.client.mptcp_endpoint(t.client_links[1].addr_a, "c1", "subflow")
        port, b, d = start_server(kind, t, size, args.relayd, workdir)
        joins = t.relay.mib("MPTcpExtMPJoinAckRx")
        for i in range(args.conns):
            c = connect_in(t.client, t.relay_addr, port)
            try:
                if is_mptcp(c) != 1:
                    res["no MPTCP"] += 1
                    continue
                xfer = Transfer(c, size, hold=True)
                try:
                    wait_subflows(t.relay, port, 2, timeout=JOIN_WAIT)
                except AssertionError:
                    res["no join in time"] += 1
                xfer.release()
                xfer.finish(b, i + 1)
                res["intact"] += 1
            except AssertionError as e:
                text = str(e)
                m = re.search(r"first difference at stream offset (\d+)",
                              text)
                if "data lost or changed" in text:
                    res["changed"] += 1
                    where[int(m.group(1)) if m else -1] += 1
                else:
                    res["failed"] += 1
                failures.append(f"connection {i}: {text.splitlines()[0]}")
            finally:
                c.close()
        res["joined"] = t.relay.mib("MPTcpExtMPJoinAckRx") - joins
    finally:
        if d is not None:
            d.stop(timeout=15)
        if b is not None:
            b.close()
        t.close()
    return res, where, failures


def main():
    args = arguments()
    if not can_run("join_integrity", args.relayd):
        return 2
    print(f"kernel {os.uname().release}: {args.conns} connections per "
          f"kind, {args.mib} MiB each way, a second subflow joining "
          "during each upload")
    bad = False
    with tempfile.TemporaryDirectory(prefix="join-integrity.") as workdir:
        for kind in args.kinds:
            res, where, failures = run_kind(kind, args, workdir)
            offsets = ", ".join(f"{off} ({n}x)" for off, n in
                                sorted(where.items())) or "-"
            print(f"  {kind:<7} intact {res['intact']}, changed "
                  f"{res['changed']}, failed {res['failed']}, no MPTCP "
                  f"{res['no MPTCP']}; joined {res['joined']} of "
                  f"{args.conns} ({res['no join in time']} not within "
                  f"{JOIN_WAIT} s); first differences at {offsets}",
                  flush=True)
            for line in failures[:3]:
                print(f"    {line}")
            bad = bad or res["intact"] != args.conns
    print("every stream arrived intact" if not bad else
          "NOT every stream arrived intact")
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print(f"join_integrity: interrupted ({e})", file=sys.stderr)
        sys.exit(2)
