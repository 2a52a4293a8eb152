import { Worker } from 'node:worker_threads'
import { BaseError, type ErrorCode } from '@verity/protocol'
import type { Groth16WorkerMessage, Groth16WorkerRequest } from './groth16Worker.ts'
import { type Groth16Proof, parseGroth16Proof, parsePublicSignals } from './parseGroth16.ts'
import type { ProveOptions, ProveParameters, ProveResult, Prover } from './prover.ts'
import { verifyGroth16Proof } from './verifyGroth16Proof.ts'

export type Groth16ProverOptions = {
  /**
   * Run snarkjs single-threaded inside the proving thread (default false: snarkjs starts one
   * helper thread per core inside the proving thread; all end with it after every proof).
   * Single-threaded proving is about 2× slower on 2 cores.
   */
  singleThread?: boolean | undefined
  /** Heap limit of the proving thread in MB (V8 old generation; default: Node's default). */
  maxHeapMb?: number | undefined
}

/**
 * Creates a Groth16 prover (snarkjs, BN254). Every `prove` runs in a fresh `worker_threads`
 * Worker, so the caller's event loop stays free; the worker computes the witness when given a
 * `wasm` + `input`, reports typed progress, is terminated on abort, and leaves no threads behind.
 * `verify` checks proofs offline (see `verifyGroth16Proof`).
 *
 * @example
 * ```ts
 * const prover = createGroth16Prover()
 * const { proof, publicSignals } = await prover.prove(
 *   { zkey, wasm: compiled.wasm, input: { in: ['3', '11', '1', '0'] } },
 *   { signal: AbortSignal.timeout(60_000), onProgress: (e) => console.log(e.phase, e.status, e.elapsedMs) },
 * )
 * await prover.verify(vkey, publicSignals, proof) // true
 * ```
 */
export function createGroth16Prover(options: Groth16ProverOptions = {}): Prover<Groth16Proof> {
  const { singleThread = false, maxHeapMb } = options

  function prove(
    parameters: ProveParameters,
    proveOptions: ProveOptions = {},
  ): Promise<ProveResult<Groth16Proof>> {
    const { signal, onProgress } = proveOptions
    if (signal?.aborted) {
      return Promise.reject(
        new BaseError('ABORTED', 'The proof was cancelled before it started.', {
          cause: signal.reason,
        }),
      )
    }
    const request: Groth16WorkerRequest = {
      zkey: parameters.zkey,
      witness: 'witness' in parameters ? parameters.witness : undefined,
      wasm: 'wasm' in parameters ? parameters.wasm : undefined,
      input: 'input' in parameters ? parameters.input : undefined,
      singleThread,
      startedAt: performance.timeOrigin + performance.now(),
      mod: 'data:,',
    }
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./groth16Worker.ts', import.meta.url), {
        workerData: request,
        ...(maxHeapMb === undefined
          ? {}
          : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } }),
      })
      let settled = false
      const finish = (done: () => void) => {
        if (settled) return
        settled = true
        signal?.removeEventListener('abort', onAbort)
        void worker.terminate()
        done()
      }
      const onAbort = () =>
        finish(() =>
          reject(new BaseError('ABORTED', 'The proof was cancelled.', { cause: signal?.reason })),
        )
      signal?.addEventListener('abort', onAbort, { once: true })
      worker.on('message', (message: Groth16WorkerMessage) => {
        if (settled) return
        if (message.type === 'progress') {
          onProgress?.(message.event)
          return
        }
        if (message.type === 'error') {
          finish(() =>
            reject(
              new BaseError(message.code as ErrorCode, message.shortMessage, {
                details: message.details,
                metaMessages: message.metaMessages,
              }),
            ),
          )
          return
        }
        finish(() => {
          try {
            resolve({
              proof: parseGroth16Proof(message.proof),
              publicSignals: parsePublicSignals(message.publicSignals),
              witnessMs: message.witnessMs,
              proveMs: message.proveMs,
            })
          } catch (error) {
            reject(error)
          }
        })
      })
      worker.on('error', (cause) =>
        finish(() =>
          reject(
            new BaseError('ZK_PROVE_FAILED', 'The proving thread failed.', {
              details: cause instanceof Error ? cause.message : String(cause),
              metaMessages: [
                'If it ran out of memory, raise `maxHeapMb` or prove a smaller circuit.',
              ],
              cause,
            }),
          ),
        ),
      )
      worker.on('exit', (code) =>
        finish(() =>
          reject(
            new BaseError(
              'ZK_PROVE_FAILED',
              `The proving thread exited (code ${code}) without a result.`,
            ),
          ),
        ),
      )
    })
  }

  return {
    system: 'groth16',
    prove,
    verify: verifyGroth16Proof,
  }
}
