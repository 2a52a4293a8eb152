import { Counter, Histogram, type Registry } from 'prom-client'

/**
 * Outcome of one model fetch from the network, the `status` label of the distribution metrics:
 * `fetched`, `not_found` (no peer had it), `unreachable` (no peer could be reached),
 * `mismatch` (bad data: CID or manifest), `too_large`, `refused` (the local hub or engine refused
 * the model), `aborted`, `error` (anything else).
 *
 * @example
 * ```ts
 * const status: ModelFetchStatus = 'fetched'
 * ```
 */
export type ModelFetchStatus =
  | 'fetched'
  | 'not_found'
  | 'unreachable'
  | 'mismatch'
  | 'too_large'
  | 'refused'
  | 'aborted'
  | 'error'

/**
 * Metrics of model distribution, registered in the node's registry:
 *
 * - `verity_model_fetches_total{status}`: fetches from the network by outcome (concurrent
 *   requests for one model share one fetch and count once; models already stored are not counted).
 * - `verity_model_fetch_bytes_total`: model file bytes received over bitswap (also by fetches
 *   that later failed).
 * - `verity_model_fetch_seconds{status}`: time of one fetch, from asking peers to the stored model.
 *
 * @example
 * ```ts
 * const metrics: ModelDistributionMetrics = createModelDistributionMetrics(registry)
 * metrics.fetches.inc({ status: 'fetched' })
 * ```
 */
export type ModelDistributionMetrics = {
  fetches: Counter<'status'>
  fetchBytes: Counter
  fetchDuration: Histogram<'status'>
}

/**
 * Creates the distribution metrics in a registry (once per registry).
 *
 * @example
 * ```ts
 * const metrics = createModelDistributionMetrics(node.metrics.registry)
 * metrics.fetchDuration.observe({ status: 'fetched' }, 0.8)
 * ```
 */
export function createModelDistributionMetrics(registry: Registry): ModelDistributionMetrics {
  const registers = [registry]
  return {
    fetches: new Counter({
      name: 'verity_model_fetches_total',
      help: 'Model fetches from peers (IPFS), by outcome.',
      labelNames: ['status'] as const,
      registers,
    }),
    fetchBytes: new Counter({
      name: 'verity_model_fetch_bytes_total',
      help: 'Model file bytes received from peers over bitswap.',
      registers,
    }),
    fetchDuration: new Histogram({
      name: 'verity_model_fetch_seconds',
      help: 'Time of one model fetch, from asking peers to the stored model, by outcome.',
      labelNames: ['status'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
  }
}
