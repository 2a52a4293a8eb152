import { Counter, Histogram, type Registry } from 'prom-client'

/**
 * Metrics of the InferenceHub service, registered in the node's registry:
 *
 * - `verity_hub_requests_total{status}`: on-chain requests this node finished with, by outcome:
 *   `fulfilled` (its `fulfill` transaction was mined), `skipped` (refused for good: zk mode on a
 *   node that cannot prove, malformed input, unknown model, shape mismatch, missing zk artifacts,
 *   a proof the verifier refuses, expired, lost the race to another executor),
 *   `failed` (gave up after `maxAttempts`: verifiers missing or disagreeing, transaction failed).
 *   Requests another node fulfilled before this one's turn are not counted.
 * - `verity_hub_fulfill_seconds`: from this node taking up a request (its turn) to its mined
 *   `fulfill` (or `fulfillWithProof`) transaction (input read, execution, quorum or proof,
 *   transaction).
 * - `verity_hub_prove_seconds`: witness and Groth16 proof of one mode-2 (zk) request.
 * - `verity_hub_verifications_total{verdict}`: `POST /v1/hub/verify` answers as a verifier:
 *   `signed`, `refused` (the output differs), `error` (anything else that was refused).
 *
 * @example
 * ```ts
 * const metrics: HubMetrics = createHubMetrics(registry)
 * metrics.requests.inc({ status: 'skipped' })
 * ```
 */
export type HubMetrics = {
  requests: Counter<'status'>
  fulfillDuration: Histogram
  proveDuration: Histogram
  verifications: Counter<'verdict'>
}

/**
 * Creates the hub metrics in a registry (once per registry; none registered when absent).
 *
 * @example
 * ```ts
 * const metrics = createHubMetrics(node.metrics.registry)
 * metrics.fulfillDuration.observe(0.8)
 * ```
 */
export function createHubMetrics(registry?: Registry | undefined): HubMetrics {
  const registers = registry ? [registry] : []
  return {
    requests: new Counter({
      name: 'verity_hub_requests_total',
      help: 'InferenceHub requests this node finished with, by outcome (fulfilled, skipped, failed).',
      labelNames: ['status'] as const,
      registers,
    }),
    fulfillDuration: new Histogram({
      name: 'verity_hub_fulfill_seconds',
      help: 'Time from taking up an InferenceHub request to its mined fulfill transaction.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    proveDuration: new Histogram({
      name: 'verity_hub_prove_seconds',
      help: 'Time to compute the witness and Groth16 proof of one zk InferenceHub request.',
      buckets: [0.5, 1, 2, 4, 8, 15, 30, 60, 120],
      registers,
    }),
    verifications: new Counter({
      name: 'verity_hub_verifications_total',
      help: 'InferenceHub results this node judged as a verifier, by verdict (signed, refused, error).',
      labelNames: ['verdict'] as const,
      registers,
    }),
  }
}
