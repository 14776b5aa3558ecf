/**
 * `shards: auto` counts the container's CPU quota, not the host's cores.
 * Parsing is checked on sample cgroup trees; the live path on a real cgroup
 * with a real quota that the `shardline check` child process is moved into.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { availableCpus, cgroupCpuLimit, parseCfs, parseCpuMax, parseMountinfo, parseProcCgroup } from '../src/cpu-quota.js';
import { CLI, configFile } from './helpers/server.js';

/** A fake filesystem root holding `files` (path -> content). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'shardline-cgroup-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const V2_MOUNT = '40 30 0:37 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';
const V1_MOUNT = '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n';

describe('cgroup CPU quota', () => {
  it('parses cpu.max and cfs quota/period, rounding up, at least 1', () => {
    expect(parseCpuMax('max 100000\n')).toBeNull();
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('150000 100000')).toBe(2);
    expect(parseCpuMax('50000 100000')).toBe(1);
    expect(parseCpuMax('1000 100000')).toBe(1);
    expect(parseCpuMax('garbage')).toBeNull();
    expect(parseCfs('-1\n', '100000\n')).toBeNull();
    expect(parseCfs('400000', '100000')).toBe(4);
    expect(parseCfs('250000', '100000')).toBe(3);
    expect(parseCfs('10000', '100000')).toBe(1);
    expect(parseProcCgroup('12:cpu,cpuacct:/docker/abc\n0::/kubepods/pod1/c1\n')).toEqual({ v1cpu: '/docker/abc', v2: '/kubepods/pod1/c1' });
    expect(parseMountinfo(V1_MOUNT + V2_MOUNT + '32 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n')).toEqual([
      { version: 1, root: '/', mountPoint: '/sys/fs/cgroup/cpu,cpuacct' },
      { version: 2, root: '/', mountPoint: '/sys/fs/cgroup' },
    ]);
  });

  it('reads cgroup v2 cpu.max at our cgroup, and the tightest ancestor wins', () => {
    const root = tree({
      '/proc/self/mountinfo': V2_MOUNT,
      '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      '/sys/fs/cgroup/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/kubepods/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '300000 100000\n',
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '250000 100000\n',
    });
    expect(cgroupCpuLimit(root)).toBe(3);
    writeFileSync(join(root, '/sys/fs/cgroup/kubepods/pod1/cpu.max'), '120000 100000\n');
    expect(cgroupCpuLimit(root)).toBe(2);
  });

  it('reads cgroup v1 cfs files, also when the mount shows only the container cgroup (docker without a cgroup namespace)', () => {
    const root = tree({
      '/proc/self/mountinfo': '31 30 0:28 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n',
      '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n0::/\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '50000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupCpuLimit(root)).toBe(1);
  });

  it('is null with no quota, no cgroup files, or an unreadable /proc', () => {
    expect(
      cgroupCpuLimit(
        tree({
          '/proc/self/mountinfo': V1_MOUNT,
          '/proc/self/cgroup': '4:cpu,cpuacct:/\n',
          '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
          '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
        }),
      ),
    ).toBeNull();
    expect(cgroupCpuLimit(tree({ '/proc/self/mountinfo': V2_MOUNT, '/proc/self/cgroup': '0::/\n' }))).toBeNull();
    expect(cgroupCpuLimit(tree({}))).toBeNull();
  });

  it('live: agrees with this machine, and `shardline check` in a cgroup with a real quota resolves shards and offload threads from it', async () => {
    const live = cgroupCpuLimit();
    expect(availableCpus()).toBe(live === null ? availableParallelism() : Math.min(availableParallelism(), live));

    // A child cgroup with a quota, under the cpu controller this process sees (v1 cpu, or v2 with cpu enabled).
    const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    const v1 = mounts.find((m) => m.version === 1);
    const v2 = mounts.find((m) => m.version === 2 && readFileSync(join(m.mountPoint, 'cgroup.subtree_control'), 'utf8').includes('cpu'));
    const mount = v1 ?? v2;
    if (mount === undefined) throw new Error('no writable cgroup with the cpu controller on this machine (the test needs root)');
    const dir = join(mount.mountPoint, `shardline-test-${process.pid}`);
    mkdirSync(dir);
    onTestFinished(() => {
      if (existsSync(dir)) rmdirSync(dir);
    });
    const limit = (quotaUs: number): void => {
      if (mount.version === 1) {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
      } else {
        writeFileSync(join(dir, 'cpu.max'), quotaUs < 0 ? 'max 100000' : `${quotaUs} 100000`);
      }
    };
    const file = configFile({});
    const resolved = async (): Promise<{ shards: number; offload: { threads: number } }> => {
      // The shell moves itself into the cgroup, then becomes node: the quota holds from the first instruction.
      const { stdout } = await promisify(execFile)('sh', [
        '-c',
        `echo $$ > ${join(dir, 'cgroup.procs')} && exec "${process.execPath}" "${CLI}" check --config "${file}"`,
      ]);
      return JSON.parse(stdout) as { shards: number; offload: { threads: number } };
    };
    limit(50_000); // half a CPU: one shard, not zero
    expect(await resolved()).toMatchObject({ shards: 1, offload: { threads: 1 } });
    limit(-1); // no quota: the host's cores
    expect(await resolved()).toMatchObject({ shards: availableParallelism(), offload: { threads: availableParallelism() } });
    if (availableParallelism() >= 2) {
      limit(150_000); // 1.5 CPUs: rounded up to 2
      expect(await resolved()).toMatchObject({ shards: 2 });
    }
  });
});
