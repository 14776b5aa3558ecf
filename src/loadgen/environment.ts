/** Where a result was measured, for --json: numbers without their machine mean little. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fdLimit, portRange } from './plan.js';

export interface Environment {
  tool: string;
  node: string;
  platform: string;
  kernel: string;
  cpu: string;
  cores: number;
  memoryBytes: number;
  /** Soft limit of open files of the generator's process. */
  fdLimit: number | null;
  ephemeralPorts: [number, number];
  startedAt: string;
}

function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    return `shardline ${pkg.version}`;
  } catch {
    return 'shardline';
  }
}

export function environment(): Environment {
  const limit = fdLimit();
  return {
    tool: toolVersion(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    fdLimit: Number.isFinite(limit) ? limit : null,
    ephemeralPorts: portRange(),
    startedAt: new Date().toISOString(),
  };
}
