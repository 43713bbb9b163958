import type { Firewall, Link, Nat } from '../topology/nat.ts';
import type { PlannedRouter, Topology } from '../topology/topology.ts';
import { PREFIX, nsName } from './names.ts';

/**
 * Renders the shell script that builds a topology: namespaces, veths, bridges, addresses, routes,
 * sysctls, nftables and link impairments. One `sh` process runs it; `ip` and `nft` read batches, so the whole
 * lab costs a few dozen short execs. The public segment is a bridge inside the lab's own `pub`
 * namespace: nothing is attached to the root namespace, so no packet can leave the lab.
 *
 * Order: all namespaces in one `ip` batch; then the tree of segments from `pub` inwards, each node's
 * batch as soon as its parent created its veth, siblings in parallel; a router loads its sysctls and
 * nftables in the background once its interfaces exist, while the nodes behind it are configured.
 */
export function renderBuild(t: Topology, labId: string): string {
  const ns = (node: string) => nsName(labId, node);
  const pub = ns('pub');
  const all = allNamespaces(t, labId);
  const perNs = new Map<string, string[]>(all.map((n) => [n, ['link set lo up']]));
  const lines = (n: string) => perNs.get(n)!;
  // No interface gets an IPv6 link-local address: its DAD ends a second or two after the link is up,
  // and Chromium takes the new address for a network change (a page load in flight fails with
  // ERR_NETWORK_CHANGED). The lab is IPv4 only; IPv6 will give addresses explicitly.
  lines(pub).push('link add br0 type bridge', 'link set br0 addrgenmode none', 'link set br0 up');
  for (const r of t.routers) lines(ns(r.name)).push('link add lan0 type bridge', 'link set lan0 addrgenmode none', 'link set lan0 up', `addr add ${r.lanIp}/${r.lanPrefix} dev lan0`);

  // Every uplink is a veth created from the namespace that owns the bridge end, then configured inside.
  const links = uplinks(t, labId);
  const children = new Map<string, string[]>(all.map((n) => [n, []]));
  for (const up of links) {
    const bridge = up.peerNs === pub ? 'br0' : 'lan0';
    lines(up.peerNs).push(`link add ${up.peerIfname} type veth peer name ${up.ifname} netns ${up.ns}`, `link set ${up.peerIfname} addrgenmode none`, `link set ${up.peerIfname} master ${bridge} up`);
    lines(up.ns).push(...uplinkInside(up));
    children.get(up.peerNs)!.push(up.ns);
  }
  // What runs in a namespace once its interfaces exist (nftables matches interfaces by name only,
  // but the per-interface sysctls need them).
  const after = new Map<string, string>();
  for (const r of t.routers) after.set(ns(r.name), inNs(ns(r.name), routerSetup(r, t)));
  after.set(pub, inNs(pub, BRIDGES_ARE_SWITCHES));
  for (const x of t.turn) after.set(ns(x.name), inNs(ns(x.name), `nft -f - <<'EOF'\n${renderTurnNft()}EOF`));
  for (const h of t.hosts) {
    const lan = t.routers.find((r) => r.name === h.routers[0])?.lanSubnet ?? null;
    if (h.ownFirewall) after.set(ns(h.name), inNs(ns(h.name), `nft -f - <<'EOF'\n${renderHostFirewall(h.ownFirewall, lan)}EOF`));
  }
  const subtree = (n: string): string => {
    const tasks = [...(after.has(n) ? [after.get(n)!] : []), ...children.get(n)!.map(subtree)];
    return [ipBatch(n, lines(n)), `echo '${BUILT}${n}'`, ...(tasks.length ? [parallel(tasks)] : [])].join('\n');
  };
  const out = ['set -e', `ip -b - <<'EOF'\n${all.map((n) => `netns add ${n}`).join('\n')}\nEOF`, subtree(pub)];
  for (const up of links) if (up.link) out.push(...linkCommands(up, up.link));
  return out.join('\n') + '\n';
}

/**
 * The build prints this and a namespace on stdout once the namespace's interfaces, addresses and
 * routes are up (its nftables may still be loading): a server can start there while the rest is built.
 */
export const BUILT = '@built ';

export function allNamespaces(t: Topology, labId: string): string[] {
  return ['pub', ...t.turn.map((x) => x.name), ...t.routers.map((r) => r.name), ...t.hosts.map((h) => h.name)].map((n) => nsName(labId, n));
}

/** A node's link towards the public segment: its interface and the bridge port at the other end. */
export interface Uplink {
  node: string;
  ns: string;
  ifname: string;
  ips: string[];
  gateway: string | null;
  peerNs: string;
  peerIfname: string;
  link: Link | null;
}

/** `ip` batch lines that configure an uplink's end inside its node: address, route, no IPv6 (above). */
const uplinkInside = (up: Uplink): string[] => [
  `link set ${up.ifname} addrgenmode none`,
  `link set ${up.ifname} up`,
  ...up.ips.map((ip) => `addr add ${ip} dev ${up.ifname}`),
  up.gateway ? `route add default via ${up.gateway}` : `route add default dev ${up.ifname}`,
];

/**
 * Shell lines that move a node's uplink into a container's network namespace (process `pid`), give
 * that namespace the node's name `ns`, and configure the uplink there as the build does.
 */
export const renderUplinkMove = (up: Uplink, ns: string, pid: number): string[] => [
  `ip -n ${ns} link set ${up.ifname} netns ${pid}`,
  `ip netns del ${ns}`,
  `ip netns attach ${ns} ${pid}`,
  `ip -n ${ns} -b - <<'EOF'`,
  'link set lo up',
  ...uplinkInside(up),
  'EOF',
];

export function uplinks(t: Topology, labId: string): Uplink[] {
  const ns = (node: string) => nsName(labId, node);
  const ports = new Map<string, number>();
  const port = (peerNs: string, prefix: string) => {
    const n = (ports.get(peerNs) ?? 0) + 1;
    ports.set(peerNs, n);
    return `${prefix}${n}`;
  };
  const attach = (node: string, ifname: string, ips: string[], gateway: string | null, via: string | null, link: Link | null): Uplink => {
    const peerNs = via ? ns(via) : ns('pub');
    return { node, ns: ns(node), ifname, ips, gateway, peerNs, peerIfname: port(peerNs, via ? 'c' : 'p'), link };
  };
  return [
    ...t.turn.map((x) => attach(x.name, 'eth0', x.ips.map((ip) => `${ip}/15`), null, null, null)),
    ...t.routers.map((r) => attach(r.name, 'wan0', [`${r.wanIp}/${r.wanPrefix}`], r.wanGateway, r.upstream, r.link)),
    ...t.hosts.map((h) => attach(h.name, 'eth0', [`${h.ip}/${h.prefix}`], h.gateway, h.routers[0] ?? null, h.link)),
  ];
}

/** One nftables chain; every ip ruleset the lab loads is a table named `icelab` of these. */
const chain = (name: string, type: 'nat' | 'filter', hook: string, prio: string, rules: string[]) =>
  `  chain ${name} {\n    type ${type} hook ${hook} priority ${prio}; policy accept;\n${rules.map((l) => `    ${l}\n`).join('')}  }`;
const table = (parts: string[]) => ['table ip icelab {', ...parts, '}', ''].join('\n');

/** Runs commands concurrently and fails if any of them failed. */
const parallel = (cmds: string[]) =>
  cmds.length === 1
    ? cmds[0]!
    : `(\npids=''\n${cmds.map((c) => `(\n${c}\n) &\npids="$pids $!"`).join('\n')}\nfor p in $pids; do wait $p; done\n)`;
const ipBatch = (n: string, lines: string[]) => `ip -n ${n} -b - <<'EOF'\n${lines.join('\n')}\nEOF`;
/** nsenter is lighter than `ip netns exec` (no /sys remount) and enough for nft and sysctls. */
const inNs = (n: string, script: string) => `nsenter --net=/run/netns/${n} sh -e -c '${script.replaceAll("'", `'\\''`)}'`;

function routerSetup(r: PlannedRouter, t: Topology): string {
  // Written through /proc/sys (shell builtins, no `sysctl` exec); net.* there is the namespace's own.
  const sysctls = sysctlWrites({
    'net.ipv4.ip_forward': 1,
    'net.ipv4.conf.all.rp_filter': 0,
    'net.ipv4.conf.default.rp_filter': 0,
    // The effective rp_filter is the larger of "all" and the interface's own value, which the
    // interface took from "default" when it was created (before this runs).
    'net.ipv4.conf.wan0.rp_filter': 0,
    'net.ipv4.conf.lan0.rp_filter': 0,
  });
  // conntrack's UDP timeouts are the mapping lifetime (the sysctls appear once nft loaded conntrack).
  const timeouts = sysctlWrites({
    'net.netfilter.nf_conntrack_udp_timeout': r.nat.mappingLifetime,
    'net.netfilter.nf_conntrack_udp_timeout_stream': r.nat.mappingLifetime,
  });
  return `${sysctls}\n${BRIDGES_ARE_SWITCHES}\nnft -f - <<'EOF'\n${renderRouterNft(r, clientIps(r, t))}EOF\n${timeouts}`;
}

/**
 * With br_netfilter loaded (Docker loads it) frames crossing a bridge also pass the IP hooks of the
 * bridge's namespace, by default in every new namespace too. A hairpinned packet (LAN host → the
 * router's public address) is then DNATed while still being bridged and sent back out of the port it
 * came in on, which a bridge refuses: no hairpinning, and no source NAT either. Switched off, a lab
 * bridge is a plain switch and only routed traffic meets the router's rules — the same on machines
 * with and without br_netfilter. The file only exists when the module is loaded.
 */
export const BRIDGES_ARE_SWITCHES = `for f in ${['iptables', 'ip6tables', 'arptables'].map((x) => `/proc/sys/net/bridge/bridge-nf-call-${x}`).join(' ')}; do if [ -e $f ]; then echo 0 > $f; fi; done`;

const sysctlWrites = (values: Record<string, number>) =>
  Object.entries(values)
    .map(([k, v]) => `echo ${v} > /proc/sys/${k.replaceAll('.', '/')}`)
    .join('\n');

/** LAN clients of a router: its hosts and the WAN addresses of routers behind it. */
export function clientIps(r: PlannedRouter, t: Topology): string[] {
  return [
    ...t.hosts.filter((h) => h.routers[0] === r.name).map((h) => h.ip),
    ...t.routers.filter((d) => d.upstream === r.name).map((d) => d.wanIp),
  ];
}

/**
 * nftables for one NAT router, after the recipes in ENVIRONMENT.md:
 * - mapping: masquerade keeps the LAN port when free (endpoint-independent); `fully-random` picks a new
 *   port per destination (address-and-port-dependent);
 * - filtering: conntrack alone admits only replies (address-and-port-dependent); for weaker filtering
 *   a per-client set of mapped ports (or port . remote address) is filled after source NAT and
 *   inbound packets that match it are DNATed to the client;
 * - hairpinning: a LAN packet to the public mapping is DNATed to the client and SNATed to the
 *   public address, so the receiver sees the mapped address;
 * - unsolicited inbound packets to the router itself are dropped (or rejected) before conntrack
 *   confirms them, otherwise they claim the port and mapping turns endpoint-dependent (pitfall 1).
 */
export function renderRouterNft(r: PlannedRouter, clients: readonly string[]): string {
  const nat: Nat = r.nat;
  if (nat.oneToOne) return renderOneToOneNft(r, clients[0] ?? null);
  const life = `${nat.mappingLifetime}s`;
  const eim = nat.mapping === 'endpoint-independent';
  const trackPorts = eim && (nat.filtering === 'endpoint-independent' || nat.hairpinning);
  const trackPeers = eim && nat.filtering === 'address-dependent';
  const sets: string[] = [];
  const pre: string[] = [];
  const post: string[] = [];
  const track: string[] = [];
  clients.forEach((ip, i) => {
    if (trackPorts) {
      sets.push(`  set mapped${i} { type inet_service; flags dynamic,timeout; timeout ${life}; }`);
      track.push(`oifname "wan0" ct direction original ct original ip saddr ${ip} update @mapped${i} { udp sport }`);
      if (nat.filtering === 'endpoint-independent') {
        pre.push(`iifname "wan0" ip daddr ${r.wanIp} udp dport @mapped${i} dnat to ${ip}`);
      }
      if (nat.hairpinning) pre.push(`iifname "lan0" ip daddr ${r.wanIp} udp dport @mapped${i} dnat to ${ip}`);
    }
    if (trackPeers) {
      sets.push(`  set peers${i} { type inet_service . ipv4_addr; flags dynamic,timeout; timeout ${life}; }`);
      track.push(`oifname "wan0" ct direction original ct original ip saddr ${ip} update @peers${i} { udp sport . ip daddr }`);
      pre.push(`iifname "wan0" ip daddr ${r.wanIp} udp dport . ip saddr @peers${i} dnat to ${ip}`);
    }
  });
  if (nat.hairpinning) post.push(`oifname "lan0" ct status dnat ip saddr ${r.lanSubnet} snat to ${r.wanIp}`);
  post.push(`oifname "wan0" masquerade${eim ? '' : ' fully-random'}`);
  const unsolicited = nat.unsolicited === 'reject' ? 'reject with icmp type port-unreachable' : 'drop';
  const forward = [...firewallRules(r.firewall), `iifname "wan0" ct state new ct status and dnat == 0 ${unsolicited}`];
  return table([
    ...sets,
    chain('prerouting', 'nat', 'prerouting', 'dstnat', pre),
    chain('postrouting', 'nat', 'postrouting', 'srcnat', post),
    ...(track.length ? [chain('track', 'filter', 'postrouting', 'srcnat + 1', track)] : []),
    chain('input', 'filter', 'input', 'filter', [`iifname "wan0" ct state new ${unsolicited}`]),
    chain('forward', 'filter', 'forward', 'filter', forward),
  ]);
}

/**
 * A static 1:1 NAT (a cloud's elastic IP): everything sent to the public address, whatever the
 * protocol and port, is its client's, from outside and from the LAN (hairpinning); what the client
 * sends out leaves from the public address with its own port. Validation allows one client.
 */
function renderOneToOneNft(r: PlannedRouter, client: string | null): string {
  const pre = client ? [`ip daddr ${r.wanIp} dnat to ${client}`] : [];
  const post = client ? [`oifname "lan0" ct status dnat ip saddr ${r.lanSubnet} snat to ${r.wanIp}`, `oifname "wan0" ip saddr ${client} snat to ${r.wanIp}`] : [];
  return table([
    chain('prerouting', 'nat', 'prerouting', 'dstnat', pre),
    chain('postrouting', 'nat', 'postrouting', 'srcnat', post),
    chain('input', 'filter', 'input', 'filter', ['iifname "wan0" ct state new drop']),
    chain('forward', 'filter', 'forward', 'filter', [...firewallRules(r.firewall), 'iifname "wan0" ct state new ct status and dnat == 0 drop']),
  ]);
}

/** What a router's firewall drops of what its LAN sends out. */
function firewallRules(fw: Firewall | null): string[] {
  return [...(fw?.udp === 'block' ? ['iifname "lan0" meta l4proto udp drop'] : []), ...(fw?.tcpPorts ? [`iifname "lan0" tcp dport != { ${fw.tcpPorts.join(', ')} } drop`] : [])];
}

/** TURN hosts also answer on the ports firewalls let through: 443 to the TLS listener (which also takes plain TCP), 80 to plain TCP. */
export function renderTurnNft(): string {
  return table([chain('prerouting', 'nat', 'prerouting', 'dstnat', ['tcp dport 443 redirect to :5349', 'tcp dport 80 redirect to :3478'])]);
}

/**
 * A host's own firewall filters what it sends out of its LAN (`lan`, its router's subnet), as a
 * router's firewall does: LAN neighbours still reach each other. A public host has no LAN (null):
 * everything it sends is filtered.
 */
export function renderHostFirewall(fw: Firewall, lan: string | null): string {
  const out = `oifname "eth0"${lan ? ` ip daddr != ${lan}` : ''}`;
  const rules: string[] = [];
  if (fw.udp === 'block') rules.push(`${out} meta l4proto udp drop`);
  if (fw.tcpPorts) rules.push(`${out} tcp dport != { ${fw.tcpPorts.join(', ')} } drop`);
  return table([chain('output', 'filter', 'output', 'filter', rules)]);
}

/** The nftables table, in a node's namespace, that drops a share of its uplink's packets. */
export const LINK_TABLE = `${PREFIX}-link`;
/** A rate-limited link queues up to this much before it drops (a modest router buffer). */
export const RATE_QUEUE_MS = 200;

/**
 * Commands that impair both directions of an uplink, replacing whatever impairment it had (null:
 * none). Loss is drawn by nftables on the node's interface (netdev ingress and egress), so it needs
 * no qdisc; rate (tbf) and delay (netem) shape the egress of each end of the link.
 */
export function linkCommands(up: Uplink, link: Link | null): string[] {
  return [
    `nsenter --net=/run/netns/${up.ns} nft -f - <<'EOF'\n${renderLinkNft(up.ifname, link)}EOF`,
    ...qdiscCommands(up.ns, up.ifname, link),
    ...qdiscCommands(up.peerNs, up.peerIfname, link),
  ];
}

/** The loss table of an interface; loading it removes the one before in the same transaction. */
export function renderLinkNft(ifname: string, link: Link | null): string {
  // `add` makes `delete` succeed whether or not a table was there.
  const lines = [`add table netdev ${LINK_TABLE}`, `delete table netdev ${LINK_TABLE}`];
  if (link && link.lossPercent > 0) {
    // numgen draws an integer: 10000 steps give loss in steps of 0.01 % (the schema allows no finer).
    const rules = ['counter', `numgen random mod 10000 < ${Math.round(link.lossPercent * 100)} counter drop`];
    const chains = (['ingress', 'egress'] as const).map(
      (hook) => `  chain ${hook} {\n    type filter hook ${hook} device "${ifname}" priority filter; policy accept;\n${rules.map((r) => `    ${r}\n`).join('')}  }`,
    );
    lines.push(`table netdev ${LINK_TABLE} {`, ...chains, '}');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * tc commands for one end of a link: the root qdisc the lab added before (any handle but the
 * kernel's default 0:) is deleted, then a token bucket for the rate and netem for delay beneath it.
 */
export function qdiscCommands(ns: string, dev: string, link: Link | null): string[] {
  const tc = `tc -n ${ns} qdisc`;
  const out = [`${tc} show dev ${dev} root | grep -q ' 0: root' || ${tc} del dev ${dev} root`];
  if (!link) return out;
  if (link.rateKbit) {
    // The bucket holds 10 ms of traffic, at least one full-size frame.
    const burst = Math.max(2000, Math.ceil((link.rateKbit * 1000) / 8 / 100));
    out.push(`${tc} add dev ${dev} root handle 1: tbf rate ${link.rateKbit}kbit burst ${burst} latency ${RATE_QUEUE_MS}ms`);
  }
  if (link.delayMs > 0 || link.jitterMs > 0) {
    const delay = `delay ${link.delayMs}ms${link.jitterMs > 0 ? ` ${link.jitterMs}ms` : ''}`;
    out.push(`${tc} add dev ${dev} ${link.rateKbit ? 'parent 1:1' : 'root'} handle 10: netem ${delay}`);
  }
  return out;
}
