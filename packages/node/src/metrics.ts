import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The node's Prometheus metrics, in their own registry (never the global one, so several nodes can
 * live in one process). Names carry units; labels have small, fixed value sets.
 *
 * - `verity_jobs_total{mode,status}`: jobs by outcome: `done`, `failed`, `replayed` (a repeated job
 *   id answered from the store), `rejected` (refused before execution).
 * - `verity_job_duration_seconds{mode}`: accept → receipt stored, for executed jobs.
 * - `verity_engine_run_seconds`: the engine call alone.
 * - `verity_jobs_in_flight`: jobs accepted and not finished.
 * - `verity_http_requests_total{route,status}` and `verity_http_request_duration_seconds{route}`.
 * - Node.js process metrics (`verity_process_*`, `verity_nodejs_*`).
 *
 * @example
 * ```ts
 * const metrics: NodeMetrics = createNodeMetrics()
 * metrics.engineRun.observe(0.002)
 * ```
 */
export type NodeMetrics = {
  registry: Registry
  jobs: Counter<'mode' | 'status'>
  jobDuration: Histogram<'mode'>
  engineRun: Histogram
  jobsInFlight: Gauge
  httpRequests: Counter<'route' | 'status'>
  httpDuration: Histogram<'route'>
}

const latencyBuckets = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]

/**
 * Creates the metrics of one node.
 *
 * @example
 * ```ts
 * const metrics = createNodeMetrics()
 * metrics.jobs.inc({ mode: 'none', status: 'done' })
 * const text = await metrics.registry.metrics()
 * ```
 */
export function createNodeMetrics(options: { processMetrics?: boolean } = {}): NodeMetrics {
  const registry = new Registry()
  if (options.processMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'verity_' })
  const registers = [registry]
  return {
    registry,
    jobs: new Counter({
      name: 'verity_jobs_total',
      help: 'Inference jobs by verification mode and outcome (done, failed, replayed, rejected).',
      labelNames: ['mode', 'status'] as const,
      registers,
    }),
    jobDuration: new Histogram({
      name: 'verity_job_duration_seconds',
      help: 'Time from accepting a job to its stored receipt.',
      labelNames: ['mode'] as const,
      buckets: latencyBuckets,
      registers,
    }),
    engineRun: new Histogram({
      name: 'verity_engine_run_seconds',
      help: 'Time of the engine call of a job (validation, IPC and model execution).',
      buckets: latencyBuckets,
      registers,
    }),
    jobsInFlight: new Gauge({
      name: 'verity_jobs_in_flight',
      help: 'Jobs accepted and not yet finished.',
      registers,
    }),
    httpRequests: new Counter({
      name: 'verity_http_requests_total',
      help: 'HTTP requests by route pattern and status code.',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'verity_http_request_duration_seconds',
      help: 'HTTP request handling time by route pattern.',
      labelNames: ['route'] as const,
      buckets: latencyBuckets,
      registers,
    }),
  }
}
