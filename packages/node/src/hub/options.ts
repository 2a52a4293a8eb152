/**
 * Options of the InferenceHub service (plain data; every field has a default in
 * {@link defaultHubServiceOptions}).
 *
 * @example
 * ```ts
 * const options: HubServiceOptions = { ...defaultHubServiceOptions, fallbackDelayMs: 10_000 }
 * ```
 */
export type HubServiceOptions = {
  /** Whether this node fulfils requests (the `executor` role). */
  execute: boolean
  /** Whether this node co-signs other executors' results (`POST /v1/hub/verify`, the `verifier` role). */
  verify: boolean
  /**
   * How long an executor waits per rank before stepping in for the ones drawn before it: the
   * executor drawn at rank `k` acts `k × fallbackDelayMs` after it first saw the request.
   */
  fallbackDelayMs: number
  /** How often the chain is polled for new blocks, in ms. */
  pollIntervalMs: number
  /** How long one verifier call may take (answer included) before it is replaced, in ms. */
  verifyTimeoutMs: number
  /** Largest block range of one `eth_getLogs` call. */
  maxBlockRange: number
  /** Requests worked on at the same time. */
  maxConcurrent: number
  /** Attempts at one request (verifiers missing or refusing, a failed transaction) before giving up; an unreachable RPC does not use any up. */
  maxAttempts: number
  /** Pause between two attempts of the same request, in ms. */
  retryDelayMs: number
  /** Largest output a verifier accepts to judge, in bytes (the HTTP body limit applies as well). */
  maxOutputBytes: number
}

/**
 * The defaults: both roles, 30 s fallback per rank, 1 s polling, 10 s per verifier call.
 *
 * @example
 * ```ts
 * const hub = createHubService({ ...defaultHubServiceOptions, execute: false }, components)
 * ```
 */
export const defaultHubServiceOptions: HubServiceOptions = Object.freeze({
  execute: true,
  verify: true,
  fallbackDelayMs: 30_000,
  pollIntervalMs: 1_000,
  verifyTimeoutMs: 10_000,
  maxBlockRange: 5_000,
  maxConcurrent: 2,
  maxAttempts: 3,
  retryDelayMs: 5_000,
  maxOutputBytes: 1 << 20,
})
