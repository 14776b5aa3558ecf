/**
 * The CPUs this process may use: the smaller of the host's cores and the
 * container's CPU quota. Node 20's os.availableParallelism() (libuv 1.46)
 * ignores cgroup quotas (libuv #4146), so a pod limited to 2 CPUs on a
 * 64-core node would start 64 shards.
 *
 * The quota is read from the cgroup this process is in (/proc/self/cgroup),
 * located through the mount table (/proc/self/mountinfo) so that a cgroup
 * mounted at its own root (a container's namespace, or a bind mount of
 * /docker/<id>) is found. Every level up to the mount is read and the
 * smallest limit wins, as the kernel enforces the tightest ancestor.
 *   cgroup v2: cpu.max             "<quota µs> <period µs>" or "max <period>"
 *   cgroup v1: cpu.cfs_quota_us    -1 = unlimited; cpu.cfs_period_us
 * CPUs = ceil(quota / period), at least 1 (half a CPU still needs one shard).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';

/** CPUs allowed by a cgroup v2 cpu.max text; null when unlimited or unreadable. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return null;
  return cpusOf(Number(quota), Number(period ?? 100_000));
}

/** CPUs allowed by cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us texts; null when unlimited. */
export function parseCfs(quotaText: string, periodText: string): number | null {
  return cpusOf(Number(quotaText.trim()), Number(periodText.trim()));
}

function cpusOf(quotaUs: number, periodUs: number): number | null {
  if (!Number.isFinite(quotaUs) || !Number.isFinite(periodUs) || quotaUs <= 0 || periodUs <= 0) return null;
  return Math.max(1, Math.ceil(quotaUs / periodUs));
}

interface CgroupMount {
  version: 1 | 2;
  /** The cgroup path shown at the mount point (mountinfo field 4). */
  root: string;
  mountPoint: string;
}

/** The cgroup mounts that can carry a CPU quota: v2, and v1 with the cpu controller. */
export function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    // "36 35 0:30 / /sys/fs/cgroup/cpu rw,relatime shared:1 - cgroup cgroup rw,cpu"
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType === 'cgroup2') mounts.push({ version: 2, root, mountPoint: unescapeOctal(mountPoint) });
    else if (fsType === 'cgroup' && superOptions.split(',').includes('cpu')) mounts.push({ version: 1, root, mountPoint: unescapeOctal(mountPoint) });
  }
  return mounts;
}

/** mountinfo escapes spaces and the like as \040 (octal). */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** This process's cgroup path per version from /proc/self/cgroup ("0::/a/b", "4:cpu,cpuacct:/a"). */
export function parseProcCgroup(text: string): { v2: string | null; v1cpu: string | null } {
  let v2: string | null = null;
  let v1cpu: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers = '', path = '/'] = m;
    if (id === '0' && controllers === '') v2 = path;
    else if (controllers.split(',').includes('cpu')) v1cpu = path;
  }
  return { v2, v1cpu };
}

type ReadText = (path: string) => string | null;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/**
 * The CPU limit of the cgroup this process is in, or null when there is none.
 * `fsRoot` prefixes every path read (tests point it at a tree of sample files).
 */
export function cgroupCpuLimit(fsRoot = '/', read: ReadText = readText): number | null {
  const at = (p: string): string => posix.join(fsRoot, p);
  const mountinfo = read(at('/proc/self/mountinfo'));
  const cgroup = read(at('/proc/self/cgroup'));
  if (mountinfo === null || cgroup === null) return null;
  const paths = parseProcCgroup(cgroup);
  let limit: number | null = null;
  for (const mount of parseMountinfo(mountinfo)) {
    const path = mount.version === 2 ? paths.v2 : paths.v1cpu;
    if (path === null) continue;
    // The part of our cgroup path below what this mount shows; a path outside
    // the mount's root (another namespace's view) means: read the mount itself.
    const rel = mount.root === '/' ? path : path === mount.root || path.startsWith(`${mount.root}/`) ? path.slice(mount.root.length) : '/';
    for (let dir = posix.join(mount.mountPoint, rel); ; dir = posix.dirname(dir)) {
      const cpus =
        mount.version === 2
          ? parseCpuMaxFile(read(at(posix.join(dir, 'cpu.max'))))
          : parseCfsFiles(read(at(posix.join(dir, 'cpu.cfs_quota_us'))), read(at(posix.join(dir, 'cpu.cfs_period_us'))));
      if (cpus !== null) limit = limit === null ? cpus : Math.min(limit, cpus);
      if (dir === mount.mountPoint || dir === '/' || !dir.startsWith(mount.mountPoint)) break;
    }
  }
  return limit;
}

function parseCpuMaxFile(text: string | null): number | null {
  return text === null ? null : parseCpuMax(text);
}

function parseCfsFiles(quota: string | null, period: string | null): number | null {
  return quota === null || period === null ? null : parseCfs(quota, period);
}

/** What `shards: auto` and `offload.threads: auto` mean: cores, capped by the cgroup CPU quota. */
export function availableCpus(): number {
  const cores = availableParallelism();
  const quota = cgroupCpuLimit();
  return quota === null ? cores : Math.max(1, Math.min(cores, quota));
}
