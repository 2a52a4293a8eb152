import type { SnarkjsLogger } from 'snarkjs'

/** A snarkjs logger that records what snarkjs says instead of printing it. */
export type CapturedLogger = SnarkjsLogger & {
  readonly info: (message: string) => void
  /** Every `info` message, in order. */
  readonly infos: string[]
  /** Every `warn` and `error` message, in order. */
  readonly errors: string[]
}

/**
 * Creates a logger to pass to snarkjs functions that report failures only through their logger
 * (`newZKey` returns -1, `beacon` returns false, `verifyFromInit` returns false).
 *
 * @example
 * ```ts
 * const logger = captureLogger()
 * const ok = await zKey.verifyFromR1cs(r1cs, ptau, zkey, logger)
 * if (!ok) console.log(logger.errors)
 * ```
 */
export function captureLogger(): CapturedLogger {
  const infos: string[] = []
  const errors: string[] = []
  return {
    infos,
    errors,
    debug: () => {},
    info: (message) => {
      infos.push(String(message))
    },
    warn: (message) => {
      errors.push(String(message))
    },
    error: (message) => {
      errors.push(String(message))
    },
  }
}
