/**
 * Worker-thread entry of `createGroth16Prover`: computes the witness (if asked), runs snarkjs's
 * Groth16 prover, terminates snarkjs's curve threads and posts the result. Not public API.
 */
import { createRequire } from 'node:module'
import { parentPort, workerData } from 'node:worker_threads'
import { isBaseError } from '@verity/protocol'
import type { CircuitInput } from '../circom/calculateWitness.ts'
import type { ProveProgressEvent } from './prover.ts'

/**
 * snarkjs's thread pool (ffjavascript → `web-worker`) decides at load time, from
 * `worker_threads.isMainThread`, whether it is the pool's parent or one of its helper threads;
 * inside our worker it would wrongly take the helper role and multi-threaded proving would
 * fail. So, in this thread only (each worker has its own module registry), claim to be the main
 * thread while snarkjs loads, then restore the flag. `workerData.mod = 'data:,'` keeps the
 * helper-role code harmless when `singleThread` skips the claim.
 */
async function loadSnarkjs(multiThreaded: boolean) {
  const threads = createRequire(import.meta.url)('node:worker_threads') as {
    isMainThread: boolean
  }
  const original = Object.getOwnPropertyDescriptor(threads, 'isMainThread')
  if (multiThreaded && original?.configurable) {
    Object.defineProperty(threads, 'isMainThread', { ...original, value: true })
  }
  try {
    const [snarkjs, witness, curve] = await Promise.all([
      import('snarkjs'),
      import('../circom/calculateWitness.ts'),
      import('./withBn128Curve.ts'),
    ])
    return {
      groth16: snarkjs.groth16,
      calculateWitnessBinary: witness.calculateWitnessBinary,
      terminateBn128Curve: curve.terminateBn128Curve,
    }
  } finally {
    if (multiThreaded && original?.configurable) {
      Object.defineProperty(threads, 'isMainThread', original)
    }
  }
}

/** What the main thread sends. */
export type Groth16WorkerRequest = {
  zkey: Uint8Array
  witness?: Uint8Array | undefined
  wasm?: Uint8Array | undefined
  input?: CircuitInput | undefined
  singleThread: boolean
  startedAt: number
  /** Always `'data:,'`: see `loadSnarkjs`. */
  mod: string
}

/** What the worker posts back. */
export type Groth16WorkerMessage =
  | { type: 'progress'; event: ProveProgressEvent }
  | {
      type: 'result'
      proof: unknown
      publicSignals: string[]
      witnessMs: number
      proveMs: number
    }
  | {
      type: 'error'
      code: string
      shortMessage: string
      details: string | undefined
      metaMessages: readonly string[]
    }

async function run(
  request: Groth16WorkerRequest,
  post: (m: Groth16WorkerMessage) => void,
  lib: Awaited<ReturnType<typeof loadSnarkjs>>,
) {
  const { groth16, calculateWitnessBinary } = lib
  const elapsed = () => Math.round(performance.timeOrigin + performance.now() - request.startedAt)
  const progress = (event: Omit<ProveProgressEvent, 'elapsedMs'>) =>
    post({ type: 'progress', event: { ...event, elapsedMs: elapsed() } })
  let witness = request.witness
  let witnessMs = 0
  if (!witness) {
    progress({ phase: 'witness', status: 'start' })
    const t = performance.now()
    witness = await calculateWitnessBinary(request.wasm ?? new Uint8Array(), request.input ?? {})
    witnessMs = Math.round(performance.now() - t)
    progress({ phase: 'witness', status: 'end' })
  }
  progress({ phase: 'prove', status: 'start' })
  const t = performance.now()
  const logger = {
    debug: (message: string) => progress({ phase: 'prove', status: 'step', step: message }),
    info: () => {},
    warn: () => {},
    error: () => {},
  }
  try {
    const { proof, publicSignals } = await groth16.prove(
      { type: 'mem', data: request.zkey },
      { type: 'mem', data: witness },
      logger,
      { singleThread: request.singleThread },
    )
    const proveMs = Math.round(performance.now() - t)
    progress({ phase: 'prove', status: 'end' })
    post({ type: 'result', proof, publicSignals, witnessMs, proveMs })
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    post({
      type: 'error',
      code: 'ZK_PROVE_FAILED',
      shortMessage: `snarkjs could not prove: ${message.split('\n')[0]}`,
      details: message,
      metaMessages: [
        'Check that the witness comes from the same circuit as the proving key (.zkey).',
      ],
    })
  }
}

if (parentPort) {
  const port = parentPort
  const request = workerData as Groth16WorkerRequest
  const post = (message: Groth16WorkerMessage) => port.postMessage(message)
  let terminate = async () => {}
  loadSnarkjs(!request.singleThread)
    .then((lib) => {
      terminate = lib.terminateBn128Curve
      return run(request, post, lib)
    })
    .catch((error: unknown) => {
      post({
        type: 'error',
        code: isBaseError(error) ? error.code : 'ZK_PROVE_FAILED',
        shortMessage: isBaseError(error) ? error.shortMessage : String(error),
        details: isBaseError(error) ? error.details : undefined,
        metaMessages: isBaseError(error) ? error.metaMessages : [],
      })
    })
    .finally(() => terminate())
}
