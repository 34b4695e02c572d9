#!/usr/bin/python3
# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""MPTCP for a whole network, measured: a gateway and a concentrator over
two shaped uplinks, against plain TCP through one uplink.

The four hosts of tests/integration/netns.py's GatewayTopology: a LAN
client, a gateway (router) with two uplinks, each shaped in both
directions with tbf at RATE (and a netem DELAY where the kernel has
netem), a concentrator, and a destination running a plain TCP service
that sends as fast as it can for DURATION seconds. Measured, at the LAN
client:
  1. plain TCP, routed through uplink 0 (no relay): goodput;
  2. plain TCP diverted by TPROXY to the gateway, relayed over MPTCP (a
     'subflow' endpoint on uplink 1, TLS with a client certificate, PROXY
     v2) to the concentrator, which connects to the destination: goodput;
  3. the ratio 2 / 1 (target >= 1.8, two uplinks of equal rate);
  4. failover: the gateway loses uplink 0 (its first subflow's) halfway
     through a FAILOVER_DURATION download; the longest gap between two
     reads is the stall the LAN client sees (target <= 1 s).
It ends with both relays' session lines (upstream_mptcp=, subflows=).

Run as root from the source tree after building:  bench/gateway.py
Needs nftables, openssl and python3-pytest (the tests' helpers). Exit
status: 0 both targets met, 1 not, 2 the benchmark could not run.
Everything it creates (namespaces, daemons, threads, files) is removed on
every exit path.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, HERE)

import netns  # noqa: E402
from aggregate import (Service, arguments, can_run, mbit,  # noqa: E402
                       netns_wait_listen, receive, shape, stop)
from helpers import PKI  # noqa: E402

SERVICE_PORT = 7000
GW_PORT = 15001
CONC_PORT = 4433
CONC_NAME = "concentrator.bench"


def nft_rules():
    """etc/gateway.nft for the gateway's LAN interface."""
    with open(os.path.join(TOP, "etc", "gateway.nft")) as f:
        return f.read().replace('define LAN = "lan0"', 'define LAN = "gl"')


def route_without_relay(t):
    """Plain routing LAN -> uplink 0 -> concentrator -> destination, for
    the baseline (and the way back)."""
    for ns in (t.gw, t.conc):
        ns.sysctl("net.ipv4.ip_forward", 1)
    t.conc.ip("route", "add", "198.18.50.0/24", "via", t.uplinks[0].addr_a)
    t.dst.ip("route", "add", "default", "via", t.dst_link.addr_a)


def start(ns, relayd, workdir, name, text):
    cfg = os.path.join(workdir, name + ".ini")
    with open(cfg, "w") as f:
        f.write("[global]\nlog_level = info\nshutdown_timeout = 2s\n" + text)
    log = open(os.path.join(workdir, name + ".log"), "w+")
    p = subprocess.Popen([*ns.prefix(), relayd, "-c", cfg],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return p, log


def main():
    ap = arguments(__doc__, 20)
    ap.add_argument("--max-stall", type=float, default=1.0)
    args = ap.parse_args()
    if not can_run("gateway", args.relayd):
        return 2
    if shutil.which("nft") is None:
        print("gateway: needs nft (apt-get install nftables)",
              file=sys.stderr)
        return 2

    t = service = gw = conc = None
    logs = []
    workdir = tempfile.mkdtemp(prefix="mptcp-relayd-bench-")
    try:
        t = netns.GatewayTopology()
        t.multipath()
        route_without_relay(t)
        delayed = True
        for link in t.uplinks:
            delayed &= shape(link.a, link.dev_a, args.rate, args.delay)
            delayed &= shape(link.b, link.dev_b, args.rate, args.delay)
        service = Service(t.dst, args.duration, host=t.DESTINATION,
                          port=SERVICE_PORT)
        if delayed:
            print(f"uplinks: 2 x ({args.rate} tbf + {args.delay} netem "
                  f"delay, each direction); {args.duration:.0f} s download "
                  "each", flush=True)
        else:
            print(f"uplinks: 2 x ({args.rate} tbf, each direction); NO "
                  "added delay: this kernel has no netem "
                  f"(CONFIG_NET_SCH_NETEM); {args.duration:.0f} s download "
                  "each", flush=True)

        tcp = receive(t.lan, t.DESTINATION, False, args.duration,
                      port=SERVICE_PORT)
        tcp_rate = mbit(tcp[0], tcp[1])
        print(f"plain TCP, routed (uplink 0):  {tcp_rate:7.1f} Mbit/s "
              f"({tcp[0] / 2**20:.0f} MiB in {tcp[1]:.1f} s)", flush=True)

        pki_dir = os.path.join(workdir, "pki")
        os.mkdir(pki_dir)
        pki = PKI(pathlib.Path(pki_dir))
        conc_cert = pki.issue("conc", CONC_NAME, [f"DNS:{CONC_NAME}"])
        gw_cert = pki.issue("gw", "gateway.bench", client=True)
        conc, log = start(t.conc, args.relayd, workdir, "concentrator",
                          "[concentrator]\n"
                          f"listen = *:{CONC_PORT}\n"
                          "accept_proxy = yes\n"
                          f"tls_cert = {conc_cert[0]}\n"
                          f"tls_key = {conc_cert[1]}\n"
                          f"tls_client_ca = {pki.ca}\n"
                          "upstream = destination\n"
                          "destination_allow = 198.18.60.0/24\n"
                          f"destination_ports = {SERVICE_PORT}\n")
        logs.append(log)
        netns_wait_listen(t.conc, CONC_PORT, conc)
        gw, log = start(t.gw, args.relayd, workdir, "gateway",
                        "[gateway]\n"
                        f"listen = *:{GW_PORT}\n"
                        "transparent = tproxy\n"
                        f"upstream = {t.conc_addr}:{CONC_PORT}\n"
                        "upstream_protocol = mptcp\n"
                        "proxy_protocol = v2\n"
                        "upstream_tls = yes\n"
                        f"upstream_tls_ca = {pki.ca}\n"
                        f"upstream_tls_sni = {CONC_NAME}\n"
                        f"upstream_tls_cert = {gw_cert[0]}\n"
                        f"upstream_tls_key = {gw_cert[1]}\n")
        logs.append(log)
        netns_wait_listen(t.gw, GW_PORT, gw)
        t.nft(t.gw, nft_rules())

        mp = receive(t.lan, t.DESTINATION, False, args.duration,
                     port=SERVICE_PORT)
        mp_rate = mbit(mp[0], mp[1])
        print(f"plain TCP, gateway pair (MPTCP, 2 uplinks): "
              f"{mp_rate:7.1f} Mbit/s ({mp[0] / 2**20:.0f} MiB in "
              f"{mp[1]:.1f} s)", flush=True)
        ratio = mp_rate / tcp_rate if tcp_rate else 0.0
        print(f"aggregation ratio gateway pair / plain TCP: {ratio:.2f} "
              f"(target >= {args.target})", flush=True)

        service.seconds = args.failover_duration
        cut_at = args.failover_duration / 2
        fo = receive(t.lan, t.DESTINATION, False, args.failover_duration,
                     on_time=(cut_at, t.uplinks[0].down), port=SERVICE_PORT)
        print(f"failover: uplink 0 (the first subflow's) down at "
              f"{cut_at:.1f} s: longest stall {fo[2] * 1000:.0f} ms "
              f"(ending at {fo[3]:.2f} s; target <= "
              f"{args.max_stall * 1000:.0f} ms); {fo[0] / 2**20:.0f} MiB "
              f"in {fo[1]:.1f} s", flush=True)
        stop(gw)
        stop(conc)
        for log in logs:
            log.seek(0)
            for line in log.read().splitlines():
                if " client=" in line:
                    print("  " + line.split(" ", 2)[2])
        ok = ratio >= args.target and fo[2] <= args.max_stall
        return 0 if ok else 1
    finally:
        stop(gw)
        stop(conc)
        for log in logs:
            log.close()
        if service is not None:
            service.close()
        if t is not None:
            t.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
