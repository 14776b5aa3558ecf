/**
 * Entry of a client group: a worker thread (parentPort) or a forked child
 * process (process.send). The first message must be `open`.
 */
import { parentPort } from 'node:worker_threads';
import { ClientGroup } from './group.js';
import { assertNever, type FromGroup, type ToGroup } from './protocol.js';

type Post = (msg: FromGroup) => void;

const post: Post =
  parentPort !== null
    ? (msg) => parentPort?.postMessage(msg)
    : (msg) => {
        process.send?.(msg);
      };

let group: ClientGroup | null = null;
let groupId = -1;

function need(): ClientGroup {
  if (group === null) throw new Error('bench group: `open` must come first');
  return group;
}

function quit(): void {
  group?.terminateAll();
  if (parentPort !== null) parentPort.close();
  else process.disconnect?.();
  // Sockets just terminated may hold the loop a moment; nothing else is pending.
  setTimeout(() => process.exit(0), 200).unref();
}

async function onMessage(msg: ToGroup): Promise<void> {
  switch (msg.type) {
    case 'open': {
      groupId = msg.spec.group;
      group = new ClientGroup(msg.spec, post);
      const report = await group.openAll();
      post({ type: 'opened', group: groupId, report });
      break;
    }
    case 'load': {
      const report = await need().load(msg.durationMs, msg.messages);
      post({ type: 'load-result', group: groupId, report });
      break;
    }
    case 'arm':
      await need().arm(msg.staggerMs);
      post({ type: 'armed', group: groupId });
      break;
    case 'signaled':
      need().signal(msg.at);
      break;
    case 'finish':
      need().reportDrain();
      break;
    case 'exit':
      quit();
      break;
    default:
      assertNever(msg, 'bench group');
  }
}

const handle = (msg: ToGroup): void => {
  onMessage(msg).catch((err: unknown) => post({ type: 'failed', group: groupId, message: err instanceof Error ? err.message : String(err) }));
};
if (parentPort !== null) parentPort.on('message', handle);
else {
  process.on('message', handle as (m: unknown) => void);
  // The coordinator went away: never linger with thousands of sockets.
  process.on('disconnect', () => {
    group?.terminateAll();
    process.exit(0);
  });
}
