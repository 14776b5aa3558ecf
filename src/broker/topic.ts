/** What a topic name may be: a string of 1 to FLEET_DEFAULTS.maxTopicBytes UTF-8 bytes (any characters). */
import { FLEET_DEFAULTS } from '../config-fleet.js';
import { ErrorCode, ShardlineError } from '../errors.js';

export function isValidTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && topic.length > 0 && Buffer.byteLength(topic) <= FLEET_DEFAULTS.maxTopicBytes;
}

export const TOPIC_RULE = `a topic is a string of 1 to ${FLEET_DEFAULTS.maxTopicBytes} bytes`;

export function topicError(): ShardlineError {
  return new ShardlineError(ErrorCode.TOPIC_INVALID, TOPIC_RULE);
}
