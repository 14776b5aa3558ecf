/**
 * Shard thread entry point. The primary hands over this shard's own
 * MessagePort in the first message; everything after that goes over it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ShardInit, ToShard } from '../src/protocol.js';
import { Shard } from '../src/shard/shard.js';

if (parentPort === null) throw new Error('workers/shard.js must run as a worker thread');

parentPort.once('message', (msg: ToShard) => {
  if (msg.type !== 'init') throw new Error(`this should not happen: shard expected init, got ${msg.type}`);
  const exitThread = process.exit.bind(process) as (code: number) => void;
  const shard = new Shard(workerData as ShardInit, msg.port, exitThread);
  // Letting the thread die with uWS handles open would abort the whole process.
  process.on('uncaughtException', (err) => shard.crash(err));
  process.on('unhandledRejection', (reason) => shard.crash(reason));
  // process.exit() in a worker ends the thread as terminate() does, uWS handles
  // and all: the whole process would abort. App code gets a crash instead.
  process.exit = ((code?: number) => {
    shard.crash(new Error(`the app called process.exit(${code ?? ''}) in a shard thread`));
    throw new Error('process.exit() is not allowed in a shard thread');
  }) as typeof process.exit;
  void shard.start();
});
