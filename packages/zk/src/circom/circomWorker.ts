/**
 * Worker-thread entry that runs circom2 (circom compiled to WASI) once. It lives in a worker so
 * that a long compile does not block the caller's event loop and can be cancelled by terminating
 * the thread. Not part of the public API; `compileCircom` starts it.
 */
import * as fs from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { bindings, CircomRunner } from 'circom2'

/** What `compileCircom` sends to the worker. */
export type CircomWorkerRequest = {
  wasmPath: string
  args: readonly string[]
  preopens: Record<string, string>
}

/** What the worker posts back when circom has finished (successfully or not). */
export type CircomWorkerResponse = {
  ok: boolean
  exitCode: number | undefined
  stdout: string
  stderr: string
  error: string | undefined
}

class ExitSignal {
  readonly code: number
  constructor(code: number) {
    this.code = code
  }
}

function run(request: CircomWorkerRequest): Promise<CircomWorkerResponse> {
  const out: string[] = []
  const err: string[] = []
  const decoder = new TextDecoder()
  const captureFs = {
    ...fs,
    writeSync(
      fd: number,
      buffer: Uint8Array,
      offset?: number,
      length?: number,
      position?: number | null,
    ): number {
      if (fd === 1 || fd === 2) {
        const start = offset ?? 0
        const len = length ?? buffer.byteLength - start
        ;(fd === 1 ? out : err).push(decoder.decode(buffer.subarray(start, start + len)))
        return len
      }
      return fs.writeSync(fd, buffer, offset, length, position)
    },
  }
  const runner = new CircomRunner({
    args: request.args,
    env: {},
    preopens: request.preopens,
    bindings: {
      ...bindings,
      exit(code: number): never {
        throw new ExitSignal(code)
      },
      fs: captureFs,
    },
  })
  const wasm = fs.readFileSync(request.wasmPath)
  return runner.execute(wasm).then(
    () => ({ ok: true, exitCode: 0, stdout: out.join(''), stderr: err.join(''), error: undefined }),
    (cause: unknown) => {
      const exitCode = cause instanceof ExitSignal ? cause.code : undefined
      return {
        ok: exitCode === 0,
        exitCode,
        stdout: out.join(''),
        stderr: err.join(''),
        error:
          cause instanceof ExitSignal
            ? undefined
            : cause instanceof Error
              ? `${cause.name}: ${cause.message}`
              : String(cause),
      }
    },
  )
}

if (parentPort) {
  const port = parentPort
  run(workerData as CircomWorkerRequest).then((response) => port.postMessage(response))
}
