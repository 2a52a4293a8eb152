import { type DestinationStream, type Logger, pino } from 'pino'
import type { NodeLogLevel } from './options.ts'

/**
 * The node's structured logger (pino). Policy: one child logger per module (`{ module: 'http' }`);
 * job ids, model CIDs, addresses, durations and error codes at `info`; never keys, input or output
 * tensors, or request bodies at any level (the redaction list is a second line of defence).
 *
 * @example
 * ```ts
 * const log: NodeLogger = logger.child({ module: 'executor' })
 * ```
 */
export type NodeLogger = Logger

const redact = [
  'privateKey',
  '*.privateKey',
  'account',
  'inputs',
  '*.inputs',
  'output',
  '*.output',
  'outputs',
  '*.outputs',
  'body',
  '*.body',
]

/**
 * Creates the root logger; modules take `logger.child({ module })`.
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: 'info' })
 * logger.child({ module: 'executor' }).info({ jobId }, 'job done')
 * ```
 */
export function createLogger(
  options: { level: NodeLogLevel },
  destination?: DestinationStream,
): NodeLogger {
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: redact, censor: '[redacted]' },
    },
    destination,
  )
}
