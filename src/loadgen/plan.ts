/**
 * Where the connections come from: how many groups (threads or processes),
 * which source addresses, and whether the kernel can give that many ports.
 *
 * The kernel picks the source port of each connection from
 * /proc/sys/net/ipv4/ip_local_port_range, one range per (source address,
 * destination address and port): about 28,000 connections per source address
 * to one server here. Past that, connections need more source addresses:
 * `--local-address A,B,...` (k6 --local-ips, tsung `ip`), or, only when the
 * target is this machine's loopback, aliases 127.0.0.x chosen automatically
 * (every 127/8 address is local on Linux). A remote target never gets a
 * loopback source address. The plan is printed and checked before connecting.
 */
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';

/** Above this many connections the groups are child processes (one process holds at most `ulimit -n` descriptors). */
export const PROCESS_THRESHOLD = 15_000;
/** Connections per child process above the threshold. */
const PER_PROCESS = 10_000;
/** Descriptors a process needs besides its sockets (stdio, IPC, libuv, modules). */
const FD_OVERHEAD = 64;

export class PlanError extends Error {}

export interface GroupPlan {
  connections: number;
  /** Source addresses, used in turn by the group's connections; empty: the kernel chooses. */
  localAddresses: string[];
}

export interface Plan {
  kind: 'threads' | 'processes';
  groups: GroupPlan[];
  target: { host: string; port: number; loopback: boolean };
  /** Where the addresses came from. */
  addressSource: 'user' | 'loopback-aliases' | 'kernel';
  /** Connections per source address ("kernel": all of them on the one address the route picks). */
  perAddress: Record<string, number>;
  portRange: [number, number];
  portsPerAddress: number;
  /** Soft limit of open files of this process (children inherit it). */
  fdLimit: number;
  /** Sockets plus overhead in the busiest process. */
  fdsPerProcess: number;
}

export interface PlanOptions {
  url: string;
  connections: number;
  threads: number;
  /** Child processes whatever N is (0: decided by PROCESS_THRESHOLD). */
  processes: number;
  localAddresses: string[];
}

export function portRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi >= lo) return [lo, hi];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

export function fdLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m?.[1] !== undefined) return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    // not Linux
  }
  return Infinity;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIPv4(h) && h.startsWith('127.'));
}

export function makePlan(opts: PlanOptions): Plan {
  const u = new URL(opts.url);
  const port = Number(u.port || (u.protocol === 'wss:' ? 443 : 80));
  const loopback = isLoopback(u.hostname);
  const useProcesses = opts.processes > 0 || opts.connections > PROCESS_THRESHOLD;
  const wanted = opts.processes > 0 ? opts.processes : useProcesses ? Math.ceil(opts.connections / PER_PROCESS) : opts.threads;
  const count = Math.max(1, Math.min(opts.connections, wanted));
  const range = portRange();
  const portsPerAddress = range[1] - range[0] + 1;

  let addressSource: Plan['addressSource'] = 'kernel';
  let perGroupAddresses: (i: number) => string[] = () => [];
  if (opts.localAddresses.length > 0) {
    addressSource = 'user';
    // Each group uses every address in turn, so the connections spread evenly over them.
    perGroupAddresses = () => opts.localAddresses;
  } else if (useProcesses && loopback && u.hostname !== '::1' && u.hostname !== '[::1]') {
    addressSource = 'loopback-aliases';
    // A random first alias per run: bind() will not reuse a port that a
    // TIME_WAIT socket of an earlier run still holds on the same address.
    const first = Math.floor(Math.random() * 200);
    perGroupAddresses = (i) => [`127.0.0.${2 + ((first + i) % 250)}`];
  }

  const groups: GroupPlan[] = [];
  const perAddress: Record<string, number> = {};
  let first = 0;
  for (let i = 0; i < count; i++) {
    const share = Math.floor(opts.connections / count) + (i < opts.connections % count ? 1 : 0);
    // Rotated so that connection k over all groups uses address k mod A: an even spread.
    const list = perGroupAddresses(i);
    const localAddresses = list.map((_, k) => list[(first + k) % list.length] as string);
    first += share;
    groups.push({ connections: share, localAddresses });
    if (localAddresses.length === 0) perAddress['(kernel)'] = (perAddress['(kernel)'] ?? 0) + share;
    else
      localAddresses.forEach((a, k) => {
        const n = Math.floor(share / localAddresses.length) + (k < share % localAddresses.length ? 1 : 0);
        perAddress[a] = (perAddress[a] ?? 0) + n;
      });
  }
  const limit = fdLimit();
  const fdsPerProcess = (useProcesses ? Math.max(...groups.map((g) => g.connections)) : opts.connections) + FD_OVERHEAD;
  const plan: Plan = {
    kind: useProcesses ? 'processes' : 'threads',
    groups,
    target: { host: u.hostname, port, loopback },
    addressSource,
    perAddress,
    portRange: range,
    portsPerAddress,
    fdLimit: limit,
    fdsPerProcess,
  };
  check(plan);
  return plan;
}

function check(plan: Plan): void {
  for (const [addr, n] of Object.entries(plan.perAddress)) {
    if (n > plan.portsPerAddress) {
      const from = addr === '(kernel)' ? 'one source address' : `source address ${addr}`;
      throw new PlanError(
        `${n} connections from ${from} to ${plan.target.host}:${plan.target.port} need ${n} ephemeral ports; ip_local_port_range ${plan.portRange[0]}-${plan.portRange[1]} gives ${plan.portsPerAddress}: give more source addresses with --local-address A,B,...`,
      );
    }
  }
  if (plan.fdsPerProcess > plan.fdLimit) {
    throw new PlanError(
      `${plan.fdsPerProcess} descriptors needed in one process, the limit (ulimit -n) is ${plan.fdLimit}: use --processes P or raise the limit`,
    );
  }
}

export function formatPlan(plan: Plan): string {
  const n = plan.groups.reduce((s, g) => s + g.connections, 0);
  const addrs = Object.entries(plan.perAddress)
    .map(([a, c]) => `${a} ${c}`)
    .join(', ');
  return (
    `plan: ${n} connections = ${plan.groups.length} ${plan.kind === 'threads' ? 'threads' : 'processes'} x ` +
    `${Object.keys(plan.perAddress).length} source address(es) [${plan.addressSource}: ${addrs}] -> ${plan.target.host}:${plan.target.port}; ` +
    `ports ${plan.portRange[0]}-${plan.portRange[1]} (${plan.portsPerAddress} per address); ` +
    `fds ${plan.fdsPerProcess} per process (limit ${plan.fdLimit})`
  );
}
