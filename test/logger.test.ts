/**
 * Logs for people: readable lines when stdout is a terminal (a real pty made
 * by util-linux `script`), JSON otherwise, and the drain's last line is out
 * before the exit either way (synchronous writes).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect } from './helpers/client.js';
import { CLI, ROOT } from './helpers/server.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal colour codes is the point
const ANSI = /\u001b\[[0-9;]*m/g;

/** Runs `shardline start` on a pseudo-terminal; resolves with its output lines once it exits after a SIGTERM. */
async function onTerminal(env: Record<string, string> = {}): Promise<{ lines: string[]; code: number | null }> {
  const cmd = `exec "${process.execPath}" "${CLI}" start --port 0 --host 127.0.0.1 --shards 1`;
  // -e: script exits with the child's code; -f: flush at once; output goes to /dev/null, we read script's stdout.
  const script = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  onTestFinished(() => void script.kill('SIGKILL'));
  let out = '';
  script.stdout.setEncoding('utf8');
  const ready = new Promise<number>((resolve) => {
    script.stdout.on('data', (chunk: string) => {
      out += chunk;
      const line = out
        .replace(ANSI, '')
        .split('\n')
        .find((l) => /(INFO: ready |"msg":"ready")/.test(l));
      const m = line === undefined ? null : /"port":(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  const exited = once(script, 'exit');
  const port = await ready;
  const client = await connect(port);
  client.ws.send('hello');
  await client.waitFor(1);
  // script's child (the shell exec'd into node) is the server.
  const pid = Number(readFileSync(`/proc/${script.pid}/task/${script.pid}/children`, 'utf8').trim().split(' ')[0]);
  process.kill(pid, 'SIGTERM');
  expect((await client.closed).code).toBe(1001);
  const [code] = (await exited) as [number | null];
  return {
    lines: out
      .replace(ANSI, '')
      .split(/\r?\n/)
      .filter((l) => l.trim() !== ''),
    code,
  };
}

describe('logs', () => {
  it("are readable lines on a terminal, up to the drain's last line", async () => {
    const { lines, code } = await onTerminal();
    expect(code).toBe(0);
    for (const line of lines) {
      expect(() => JSON.parse(line)).toThrow();
      expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|DEBUG|ERROR): /);
    }
    expect(lines.some((l) => /INFO: ready \{"port":\d+/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/INFO: stopped \{"reason":"SIGTERM","exitCode":0/);
  });

  it('stay JSON on a terminal with SHARDLINE_LOG_FORMAT=json (and JSON on a pipe, as every other test reads them)', async () => {
    const { lines, code } = await onTerminal({ SHARDLINE_LOG_FORMAT: 'json' });
    expect(code).toBe(0);
    const parsed = lines.map((l) => JSON.parse(l) as { msg: string });
    expect(parsed.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });
});
