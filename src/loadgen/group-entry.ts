/**
 * Entry of a client group: a worker thread (parentPort) or a forked child
 * process (process.send). The first message must be `open`.
 */
import { parentPort } from 'node:worker_threads';
import { ClientGroup } from './group.js';
import { PubsubGroup } from './pubsub-group.js';
import { assertNever, type FromGroup, type ToGroup } from './protocol.js';

type Post = (msg: FromGroup) => void;

const post: Post =
  parentPort !== null
    ? (msg) => parentPort?.postMessage(msg)
    : (msg) => {
        process.send?.(msg);
      };

let echo: ClientGroup | null = null;
let pubsub: PubsubGroup | null = null;
let groupId = -1;

function needEcho(): ClientGroup {
  if (echo === null) throw new Error('bench group: not an echo group, or `open` did not come first');
  return echo;
}

function needPubsub(): PubsubGroup {
  if (pubsub === null) throw new Error('bench group: not a pub/sub group, or `open` did not come first');
  return pubsub;
}

function quit(): void {
  echo?.terminateAll();
  pubsub?.terminateAll();
  if (parentPort !== null) parentPort.close();
  else process.disconnect?.();
  // Sockets just terminated may hold the loop a moment; nothing else is pending.
  setTimeout(() => process.exit(0), 200).unref();
}

async function onMessage(msg: ToGroup): Promise<void> {
  switch (msg.type) {
    case 'open': {
      groupId = msg.spec.group;
      const g = msg.spec.kind === 'pubsub' ? (pubsub = new PubsubGroup(msg.spec, post)) : (echo = new ClientGroup(msg.spec, post));
      const report = await g.openAll();
      post({ type: 'opened', group: groupId, report });
      break;
    }
    case 'load': {
      const report = await needEcho().load(msg.spec);
      post({ type: 'load-result', group: groupId, report });
      break;
    }
    case 'pubsub-subscribe':
      await needPubsub().subscribe(msg.spec);
      post({ type: 'pubsub-subscribed', group: groupId });
      break;
    case 'pubsub-run': {
      const report = await needPubsub().run();
      post({ type: 'pubsub-result', group: groupId, report });
      break;
    }
    case 'arm':
      await needEcho().arm(msg.staggerMs);
      post({ type: 'armed', group: groupId });
      break;
    case 'signaled':
      needEcho().signal(msg.at);
      break;
    case 'finish':
      needEcho().reportDrain();
      break;
    case 'stop':
      echo?.stop();
      pubsub?.stop();
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
  // Ctrl+C reaches the whole process group: the coordinator decides (it sends
  // `stop`, then `exit`), so a child process must not die of the signal itself.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  // The coordinator went away: never linger with thousands of sockets.
  process.on('disconnect', () => {
    echo?.terminateAll();
    pubsub?.terminateAll();
    process.exit(0);
  });
}
