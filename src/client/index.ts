/**
 * shardline/client: a WebSocket client for shardline's protocol v1, for
 * browsers and Node, with no runtime dependency.
 *
 *   const c = createClient('wss://example.com', { WebSocket })   // Node 20: pass `ws`
 *   const sub = c.subscribe('news', (data, { offset }) => render(data))
 *   sub.on('subscribed', ({ recovered }) => { if (recovered === false) reload() })
 *   await c.publish('news', { text: 'hi' })                      // { offset, epoch }
 *   c.close()
 */
export { Client, createClient, type ClientEvents, type ClientOptions, type ClientState } from './client.js';
export { ClientError } from './client-error.js';
export { ClientErrorCode } from './error-codes.js';
export { Subscription, type PublicationContext, type PublicationHandler, type StreamPosition, type SubscribedEvent } from './subscription.js';
export type { PublishResult, OutboxLimits } from './outbox.js';
export type { BackoffOptions } from './backoff.js';
export type { NetworkEnv, WebSocketConstructor, WebSocketLike } from './environment.js';
export type { Hello, Limits } from './wire.js';
