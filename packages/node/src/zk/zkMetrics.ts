import { Gauge, Histogram, type Registry } from 'prom-client'

/**
 * Metrics of zero-knowledge proving, registered in the node's registry:
 *
 * - `verity_zk_prove_seconds{outcome}`: one prover run (worker start, witness, Groth16 prover),
 *   queue wait excluded, by outcome: `ok`, `failed` (the witness refused the input, the thread
 *   died), `aborted`. A proof whose outputs then disagree with the engine's is an `ok` run here
 *   and a failed job (`ZK_PROVE_FAILED`) in `verity_jobs_total`.
 * - `verity_zk_queue_wait_seconds`: how long a proof waited for the one before it (one proof runs
 *   at a time per node).
 * - `verity_zk_proofs_pending`: proofs waiting or running now.
 *
 * @example
 * ```ts
 * const metrics: ZkMetrics = createZkMetrics(node.metrics.registry)
 * metrics.proveDuration.observe({ outcome: 'ok' }, 1.8)
 * ```
 */
export type ZkMetrics = {
  proveDuration: Histogram<'outcome'>
  queueWait: Histogram
  pending: Gauge
}

/**
 * Creates the zk metrics in a registry (once per registry).
 *
 * @example
 * ```ts
 * const metrics = createZkMetrics(registry)
 * metrics.pending.inc()
 * ```
 */
export function createZkMetrics(registry: Registry): ZkMetrics {
  const registers = [registry]
  return {
    proveDuration: new Histogram({
      name: 'verity_zk_prove_seconds',
      help: 'Time of one zk proof (witness and Groth16 prover), queue wait excluded, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60, 120],
      registers,
    }),
    queueWait: new Histogram({
      name: 'verity_zk_queue_wait_seconds',
      help: 'Time a zk proof waited for the proofs before it (one runs at a time).',
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    pending: new Gauge({
      name: 'verity_zk_proofs_pending',
      help: 'zk proofs waiting or running.',
      registers,
    }),
  }
}
