import { BaseError } from '@verity/protocol'
import type { Groth16Proof, ProveResult, Prover } from '@verity/zk'
import type { ZkMetrics } from './zkMetrics.ts'

/**
 * A prover that runs one proof at a time, in the order asked: every caller of a node (tensor
 * jobs, InferenceHub fulfilment) shares it, so proofs never compete for the cores and memory a
 * budget was checked against. `pending` counts proofs waiting or running.
 *
 * @example
 * ```ts
 * const prover: SerialProver = createSerialProver(createGroth16Prover(), { metrics })
 * prover.pending // 0
 * ```
 */
export type SerialProver = Prover<Groth16Proof> & {
  readonly pending: number
}

function aborted(signal: AbortSignal): BaseError {
  return new BaseError('ABORTED', 'The proof was cancelled while it waited for its turn.', {
    cause: signal.reason,
  })
}

/** Resolves when `promise` settles, rejects as soon as `signal` aborts. */
function untilSettled(promise: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  const settled = promise.then(
    () => undefined,
    () => undefined,
  )
  if (signal === undefined) return settled
  if (signal.aborted) return Promise.reject(aborted(signal))
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    void settled.then(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    })
  })
}

/**
 * Wraps a prover in a FIFO queue of one. A proof whose signal aborts while it waits leaves the
 * queue at once (the ones behind it still wait for the running proof). Records
 * `verity_zk_queue_wait_seconds`, `verity_zk_prove_seconds{outcome}` and
 * `verity_zk_proofs_pending`.
 *
 * @example
 * ```ts
 * const prover = createSerialProver(createGroth16Prover(), { metrics: createZkMetrics(registry) })
 * const [a, b] = await Promise.all([prover.prove(first), prover.prove(second)]) // one after the other
 * ```
 */
export function createSerialProver(
  inner: Prover<Groth16Proof>,
  components: { metrics: ZkMetrics },
): SerialProver {
  const { metrics } = components
  let tail: Promise<unknown> = Promise.resolve()
  let pending = 0

  async function prove(
    ...[parameters, options = {}]: Parameters<Prover<Groth16Proof>['prove']>
  ): Promise<ProveResult<Groth16Proof>> {
    const { signal } = options
    const previous = tail
    let finished: () => void = () => {}
    const mine = new Promise<void>((resolve) => {
      finished = resolve
    })
    // the next proof starts when this one and every one before it are over
    tail = previous.then(() => mine)
    pending++
    metrics.pending.inc()
    try {
      const queued = performance.now()
      await untilSettled(previous, signal)
      metrics.queueWait.observe((performance.now() - queued) / 1000)
      const started = performance.now()
      try {
        const result = await inner.prove(parameters, options)
        metrics.proveDuration.observe({ outcome: 'ok' }, (performance.now() - started) / 1000)
        return result
      } catch (error) {
        metrics.proveDuration.observe(
          { outcome: signal?.aborted ? 'aborted' : 'failed' },
          (performance.now() - started) / 1000,
        )
        throw error
      }
    } finally {
      pending--
      metrics.pending.dec()
      finished()
    }
  }

  return {
    system: inner.system,
    prove,
    verify: (vkey, publicSignals, proof) => inner.verify(vkey, publicSignals, proof),
    get pending() {
      return pending
    },
  }
}
