# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
"""A multipath test topology in network namespaces.

    client ==(link 0, link 1)== relay ==(upstream links, if asked)== upstream

Each host is a network namespace of its own, each link a veth pair with a
/24 of 198.18.0.0/15 (198.18.0.0/15 is reserved for benchmarking):

    client link i:    client 198.18.<1+i>.1   relay 198.18.<1+i>.2
    upstream link j:  relay 198.18.<101+j>.1  upstream 198.18.<101+j>.2

Every namespace gets MPTCP on, blackhole detection off (so that lost SYNs in
one test never turn MPTCP off for the next) and reverse-path filtering off.
The connecting side of each link (client; relay towards the upstream) gets
source routing: a packet from an address leaves by that address's own link.
Without it a subflow from the client's second address to the relay's first
one would follow the main table out of the first link, and taking that link
down would take both subflows with it. The accepting side answers by its
connected routes, so each subflow's packets go back the way they came.

GatewayTopology builds the four hosts of a gateway and its concentrator
(see its docstring). Names carry the pid and a counter, so runs never collide; close() kills what
runs in the namespaces and deletes them, and is safe to call twice. Python
code can work inside a namespace with `with topo.client.entered(): ...`:
sockets created there belong to that namespace for their whole life.
"""

import contextlib
import ctypes
import itertools
import os
import re
import signal
import subprocess
import time

CLONE_NEWNET = 0x40000000
CMD_TIMEOUT = 15

_libc = ctypes.CDLL(None, use_errno=True)
_serial = itertools.count()


class NetnsError(AssertionError):
    pass


def run(cmd, check=True, timeout=CMD_TIMEOUT, input=None):
    """Run cmd (a list); return the CompletedProcess with text output."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout, input=input,
                           stdin=None if input is not None
                           else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{' '.join(cmd)}: still running after "
                         f"{timeout}s") from None
    if check and p.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: exit {p.returncode}: "
                         f"{p.stderr.strip()}")
    return p


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


class Netns:
    """One network namespace, created by the constructor."""

    def __init__(self, name):
        self.name = name
        run(["ip", "netns", "add", name])
        self.alive = True

    def ip(self, *args, check=True):
        """`ip -n NAME ARGS...`; returns its stdout."""
        return run(["ip", "-n", self.name, *args], check=check).stdout

    def exec(self, *cmd, check=True, timeout=CMD_TIMEOUT):
        """Run a command inside the namespace; returns the CompletedProcess."""
        return run(["ip", "netns", "exec", self.name, *cmd], check=check,
                   timeout=timeout)

    def prefix(self):
        """argv prefix that starts a program inside the namespace."""
        return ("ip", "netns", "exec", self.name)

    def sysctl(self, key, value):
        path = "/proc/sys/" + key.replace(".", "/")
        self.exec("sh", "-c", f"echo {value} > {path}")

    def read_sysctl(self, key):
        path = "/proc/sys/" + key.replace(".", "/")
        return self.exec("cat", path).stdout.strip()

    @contextlib.contextmanager
    def entered(self):
        """Run the block with this thread in the namespace (other threads
        stay where they are); sockets made in it stay in the namespace."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield self
            finally:
                _setns(own)
        finally:
            os.close(target)
            os.close(own)

    def link_down(self, dev):
        self.ip("link", "set", dev, "down")

    def link_up(self, dev):
        self.ip("link", "set", dev, "up")

    def mptcp_limits(self, subflows, add_addr_accepted):
        self.ip("mptcp", "limits", "set", "subflows", str(subflows),
                "add_addr_accepted", str(add_addr_accepted))

    def mptcp_endpoint(self, addr, dev, *flags):
        """`ip mptcp endpoint add ADDR dev DEV FLAGS...` (signal, subflow,
        backup, fullmesh)."""
        self.ip("mptcp", "endpoint", "add", addr, "dev", dev, *flags)

    def counters(self, dev):
        """(rx_bytes, tx_bytes) of an interface."""
        base = f"/sys/class/net/{dev}/statistics/"
        out = self.exec("cat", base + "rx_bytes", base + "tx_bytes").stdout
        rx, tx = out.split()
        return int(rx), int(tx)

    def mib(self, name):
        """A counter of the namespace's /proc/net/netstat (e.g.
        "MPTcpExtMPJoinAckRx"), 0 when the kernel has none by that name."""
        prefix, _, field = name.partition("Ext")
        lines = self.exec("cat", "/proc/net/netstat").stdout.splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):
            keys = head.split()
            if keys and keys[0] == prefix + "Ext:" and field in keys:
                return int(vals.split()[keys.index(field)])
        return 0

    def kill_all(self):
        out = run(["ip", "netns", "pids", self.name], check=False).stdout
        for pid in out.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def delete(self):
        if not self.alive:
            return
        self.kill_all()
        # A killed process may hold the namespace for a moment.
        for _ in range(50):
            if run(["ip", "netns", "del", self.name], check=False) \
                    .returncode == 0:
                break
            time.sleep(0.1)
        self.alive = False


def host_ns(name):
    """A namespace as every host of a topology has it: lo up, MPTCP on,
    blackhole detection off (so that lost SYNs in one test never turn
    MPTCP off for the next), reverse-path filtering off. The caller
    deletes it."""
    ns = Netns(name)
    try:
        ns.ip("link", "set", "lo", "up")
        ns.sysctl("net.mptcp.enabled", 1)
        if os.path.exists("/proc/sys/net/mptcp/blackhole_timeout"):
            ns.sysctl("net.mptcp.blackhole_timeout", 0)
        for conf in ("all", "default"):
            ns.sysctl(f"net.ipv4.conf.{conf}.rp_filter", 0)
    except BaseException:
        ns.delete()
        raise
    return ns


class Link:
    """A veth pair between two namespaces, one /24."""

    def __init__(self, a, dev_a, addr_a, b, dev_b, addr_b, table):
        self.a, self.dev_a, self.addr_a = a, dev_a, addr_a
        self.b, self.dev_b, self.addr_b = b, dev_b, addr_b
        self.table = table
        self.subnet = re.sub(r"\.\d+$", ".0/24", addr_a)
        a.ip("link", "add", dev_a, "type", "veth", "peer", "name", dev_b,
             "netns", b.name)
        for ns, dev, addr in ((a, dev_a, addr_a), (b, dev_b, addr_b)):
            ns.ip("addr", "add", addr + "/24", "dev", dev)
            ns.ip("link", "set", dev, "up")
        # Source routing on side a (the side that opens subflows): from
        # this address, out of this link, whatever the destination. Side
        # b answers by its connected routes, out of the link each subflow
        # came in on.
        a.ip("route", "add", self.subnet, "dev", dev_a, "src", addr_a,
             "table", str(table))
        a.ip("route", "add", "default", "via", addr_b, "dev", dev_a,
             "table", str(table))
        a.ip("rule", "add", "from", addr_a, "table", str(table),
             "priority", str(table))

    def down(self, side="a"):
        """Take the link down from one side (ip link set DEV down)."""
        ns, dev = (self.a, self.dev_a) if side == "a" else (self.b, self.dev_b)
        ns.link_down(dev)

    def up(self, side="a"):
        ns, dev = (self.a, self.dev_a) if side == "a" else (self.b, self.dev_b)
        ns.link_up(dev)


class Hosts:
    """What a topology of hosts shares: its namespaces (self.namespaces,
    each made by _ns()), deleted by close() in reverse order."""

    namespaces = ()

    def _ns(self, name):
        ns = host_ns(name)
        self.namespaces.append(ns)
        return ns

    def close(self):
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Topology(Hosts):
    """client, relay and (with upstream_links > 0) upstream namespaces.

    client_links: veth links client<->relay (1 or 2).
    mptcp: value of net.mptcp.enabled in the relay namespace (the others
    always have it on).
    """

    def __init__(self, client_links=2, upstream_links=0, relay_mptcp=True):
        tag = f"mptr{os.getpid()}-{next(_serial)}"
        self.namespaces = []
        self.client = self.relay = self.upstream = None
        self.client_links = []
        self.upstream_links = []
        try:
            self.client = self._ns(tag + "-c")
            self.relay = self._ns(tag + "-r")
            if upstream_links:
                self.upstream = self._ns(tag + "-u")
            for i in range(client_links):
                self.client_links.append(Link(
                    self.client, f"c{i}", f"198.18.{1 + i}.1",
                    self.relay, f"r{i}", f"198.18.{1 + i}.2", 100 + i))
            for j in range(upstream_links):
                self.upstream_links.append(Link(
                    self.relay, f"ru{j}", f"198.18.{101 + j}.1",
                    self.upstream, f"uu{j}", f"198.18.{101 + j}.2",
                    200 + j))
            if not relay_mptcp:
                self.relay.sysctl("net.mptcp.enabled", 0)
        except BaseException:
            self.close()
            raise


    @property
    def relay_addr(self):
        """The relay's address on client link 0."""
        return self.client_links[0].addr_b

    @property
    def upstream_addr(self):
        """The upstream host's address on upstream link 0."""
        return self.upstream_links[0].addr_b


class GatewayTopology(Hosts):
    """MPTCP for a whole network: a LAN behind a gateway with two uplinks
    to a concentrator, which reaches a destination network.

        lan ==(l0/gl)== gw ==(g0/k0, g1/k1)== conc ==(d0/x0)== dst

        LAN link:     lan 198.18.50.2, gw 198.18.50.1 (lan's default route)
        uplink i:     gw 198.18.<51+i>.1, conc 198.18.<51+i>.2
        destination:  conc 198.18.60.1, dst 198.18.60.2

    The gateway has source routing on its uplinks (a subflow from an
    uplink's address leaves by that uplink, to either concentrator
    address), a default route by uplink 0, and the routing rule that
    TPROXY needs: packets marked 1 are delivered locally (table 100).
    What diverts LAN connections (nftables) is the user's to load, with
    nft(). The destination answers by its connected route.
    """

    LAN_CLIENT = "198.18.50.2"
    LAN_GATEWAY = "198.18.50.1"
    DESTINATION = "198.18.60.2"
    TPROXY_MARK = 1
    TPROXY_TABLE = 100

    def __init__(self):
        tag = f"mptg{os.getpid()}-{next(_serial)}"
        self.namespaces = []
        self.uplinks = []
        try:
            self.lan = self._ns(tag + "-l")
            self.gw = self._ns(tag + "-g")
            self.conc = self._ns(tag + "-k")
            self.dst = self._ns(tag + "-d")
            self.gw.ip("link", "add", "gl", "type", "veth", "peer", "name",
                       "l0", "netns", self.lan.name)
            for ns, dev, addr in ((self.gw, "gl", self.LAN_GATEWAY),
                                  (self.lan, "l0", self.LAN_CLIENT)):
                ns.ip("addr", "add", addr + "/24", "dev", dev)
                ns.ip("link", "set", dev, "up")
            self.lan.ip("route", "add", "default", "via", self.LAN_GATEWAY)
            for i in range(2):
                self.uplinks.append(Link(
                    self.gw, f"g{i}", f"198.18.{51 + i}.1",
                    self.conc, f"k{i}", f"198.18.{51 + i}.2", 110 + i))
            self.gw.ip("route", "add", "default", "via",
                       self.uplinks[0].addr_b)
            self.dst_link = Link(self.conc, "d0", "198.18.60.1",
                                 self.dst, "x0", self.DESTINATION, 120)
            self.gw.ip("rule", "add", "fwmark", str(self.TPROXY_MARK),
                       "lookup", str(self.TPROXY_TABLE), "priority", "100")
            self.gw.ip("route", "add", "local", "0.0.0.0/0", "dev", "lo",
                       "table", str(self.TPROXY_TABLE))
        except BaseException:
            self.close()
            raise


    @property
    def conc_addr(self):
        """The concentrator's address on uplink 0."""
        return self.uplinks[0].addr_b

    def nft(self, ns, ruleset):
        """Load an nftables ruleset (text) in ns."""
        run(["ip", "netns", "exec", ns.name, "nft", "-f", "-"],
            input=ruleset)

    def multipath(self):
        """The gateway opens a second subflow from uplink 1 ('subflow'
        endpoint); both ends allow two subflows."""
        self.gw.mptcp_limits(2, 0)
        self.conc.mptcp_limits(2, 0)
        self.gw.mptcp_endpoint(self.uplinks[1].addr_a, "g1", "subflow")


# --- what ss says of MPTCP connections -------------------------------------

def tcp_subflows(ns, port):
    """Established TCP subflows of MPTCP connections in ns with local or
    remote port `port`: a list of (local, remote) address strings."""
    out = ns.exec("ss", "-tniH", "state", "established",
                  f"( sport = :{port} or dport = :{port} )").stdout
    flows = []
    lines = out.splitlines()
    # ss -i prints each socket on one line and its details on the next.
    i = 0
    while i < len(lines):
        head = lines[i].split()
        detail = lines[i + 1] if i + 1 < len(lines) and \
            lines[i + 1].startswith((" ", "\t")) else ""
        i += 2 if detail else 1
        if len(head) >= 4 and "tcp-ulp-mptcp" in detail:
            flows.append((head[-2], head[-1]))
    return flows


def msk_subflows(ns, port):
    """For each MPTCP socket in ns with local or remote port `port` (ss -M),
    the number of subflows it reports ("subflows:N" counts the subflows
    beyond the first, so this is N + 1)."""
    out = ns.exec("ss", "-MniH",
                  f"( sport = :{port} or dport = :{port} )").stdout
    counts = []
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            continue
        m = re.search(r"\bsubflows:(\d+)", line)
        counts.append(int(m.group(1)) + 1 if m else 1)
    return counts
