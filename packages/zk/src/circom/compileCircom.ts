import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { BaseError } from '@verity/protocol'
import type { CircomWorkerRequest, CircomWorkerResponse } from './circomWorker.ts'
import { readR1csHeader } from './readR1csHeader.ts'
import { resolveCircomlibPath, resolveCircomWasmPath } from './resolveCircomlibPath.ts'

export type CompileCircomParameters = {
  /** The Circom source of the main file (must declare `component main`). */
  source: string
  /** Circuit name: `[A-Za-z_][A-Za-z0-9_]*`, used for the file names circom writes. */
  name: string
  /**
   * Extra include folders (absolute host paths), searched after circomlib's `circuits/`
   * (which is always included, so `include "poseidon.circom";` works).
   */
  includePaths?: readonly string[] | undefined
  /** circom simplification level: `--O0`, `--O1` or `--O2` (default 2, best for Groth16). */
  optimization?: 0 | 1 | 2 | undefined
  /** Cancels the compile (terminates the compiler thread). */
  signal?: AbortSignal | undefined
  /** Where the temporary working folder is created (default `os.tmpdir()`). */
  workDir?: string | undefined
}

export type CompileCircomReturnType = {
  /** The `.r1cs` constraint system (input to the trusted setup and to cost estimates). */
  r1cs: Uint8Array
  /** The witness generator (`<name>_js/<name>.wasm`). */
  wasm: Uint8Array
  /** The `.sym` symbol table (signal names ↔ wire indices). */
  sym: string
  /** Number of R1CS constraints. */
  constraints: number
  /** Number of wires, including the constant `1`. */
  wires: number
  /** Public signals = public outputs + public inputs (in that order in the proof). */
  publicSignals: number
  /** Number of private input signals. */
  privateInputs: number
  /** Wall-clock compile time. */
  compileMs: number
  /** circom's console output (warnings included), without colour codes. */
  log: string
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/
// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour escapes
const ANSI = /\u001b\[[0-9;]*m/g

function stripAnsi(text: string): string {
  return text.replace(ANSI, '')
}

function runCircomWorker(
  request: CircomWorkerRequest,
  signal: AbortSignal | undefined,
): Promise<CircomWorkerResponse> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./circomWorker.ts', import.meta.url), {
      workerData: request,
      stdout: true,
      stderr: true,
    })
    let settled = false
    const onAbort = () => {
      finish(() =>
        reject(
          new BaseError('ABORTED', 'The circuit compile was cancelled.', {
            cause: signal?.reason,
          }),
        ),
      )
      void worker.terminate()
    }
    const finish = (done: () => void) => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', onAbort)
      done()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted) onAbort()
    worker.once('message', (response: CircomWorkerResponse) => {
      finish(() => resolve(response))
      void worker.terminate()
    })
    worker.once('error', (cause) => {
      finish(() =>
        resolve({
          ok: false,
          exitCode: undefined,
          stdout: '',
          stderr: '',
          error: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause),
        }),
      )
    })
    worker.once('exit', (code) => {
      finish(() =>
        resolve({
          ok: false,
          exitCode: code,
          stdout: '',
          stderr: '',
          error: `compiler thread exited with code ${code} (out of memory?)`,
        }),
      )
    })
  })
}

/**
 * Compiles a Circom 2 circuit with circom2 (circom 2.2.3 in WebAssembly) in a worker thread and
 * returns the `.r1cs`, the witness-generator `.wasm`, the `.sym` and the circuit's size. Works
 * in a temporary folder that is removed afterwards. circomlib's `circuits/` is on the include
 * path.
 *
 * @throws BaseError `ZK_CIRCUIT_COMPILE_FAILED` with circom's message when the source does not
 * compile; `ABORTED` when `signal` fires; `INVALID_ARGUMENT` for a bad name.
 *
 * @example
 * ```ts
 * const compiled = await compileCircom({
 *   name: 'multiplier',
 *   source: `pragma circom 2.1.0;
 * template M() { signal input a; signal input b; signal output c; c <== a * b; }
 * component main = M();`,
 * })
 * compiled.constraints // 1
 * ```
 */
export async function compileCircom(
  parameters: CompileCircomParameters,
): Promise<CompileCircomReturnType> {
  const {
    source,
    name,
    includePaths = [],
    optimization = 2,
    signal,
    workDir = tmpdir(),
  } = parameters
  if (!NAME_PATTERN.test(name)) {
    throw new BaseError('INVALID_ARGUMENT', `Circuit name "${name}" is not a valid identifier.`, {
      metaMessages: ['Use letters, digits and underscores, starting with a letter.'],
    })
  }
  if (signal?.aborted) {
    throw new BaseError('ABORTED', 'The circuit compile was cancelled.', { cause: signal.reason })
  }
  const started = performance.now()
  const dir = await mkdtemp(join(workDir, 'verity-circom-'))
  try {
    const srcDir = join(dir, 'src')
    const outDir = join(dir, 'out')
    await mkdir(srcDir)
    await mkdir(outDir)
    await writeFile(join(srcDir, `${name}.circom`), source)
    const preopens: Record<string, string> = { '/src': srcDir, '/out': outDir }
    const libs = [resolveCircomlibPath(), ...includePaths]
    const libArgs: string[] = []
    libs.forEach((lib, i) => {
      preopens[`/lib${i}`] = lib
      libArgs.push('-l', `/lib${i}`)
    })
    const args = [
      `/src/${name}.circom`,
      '--r1cs',
      '--wasm',
      '--sym',
      `--O${optimization}`,
      '-o',
      '/out',
      ...libArgs,
    ]
    const response = await runCircomWorker(
      { wasmPath: resolveCircomWasmPath(), args, preopens },
      signal,
    )
    const log = stripAnsi(`${response.stdout}${response.stderr}`).trim()
    if (!response.ok) {
      const stderr = stripAnsi(response.stderr).trim()
      const firstError =
        stderr.split('\n').find((line) => line.startsWith('error')) ??
        response.error ??
        `circom exited with code ${response.exitCode}`
      const metaMessages = [
        'Fix the Circom source; the details show circom’s full output.',
        ...(/out of bounds|call stack|stack overflow|unreachable/i.test(response.error ?? '')
          ? [
              'circom2 (WebAssembly) overflowed its fixed internal stack: write long sums as loops over constant arrays instead of one huge inline expression.',
            ]
          : []),
      ]
      throw new BaseError(
        'ZK_CIRCUIT_COMPILE_FAILED',
        `Circom could not compile circuit "${name}": ${firstError}`,
        { details: [stderr || log, response.error].filter(Boolean).join('\n'), metaMessages },
      )
    }
    const [r1cs, wasm, sym] = await Promise.all([
      readFile(join(outDir, `${name}.r1cs`)),
      readFile(join(outDir, `${name}_js`, `${name}.wasm`)),
      readFile(join(outDir, `${name}.sym`), 'utf8'),
    ])
    const header = readR1csHeader(r1cs)
    return {
      r1cs: new Uint8Array(r1cs.buffer, r1cs.byteOffset, r1cs.byteLength),
      wasm: new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength),
      sym,
      constraints: header.constraints,
      wires: header.wires,
      publicSignals: header.publicOutputs + header.publicInputs,
      privateInputs: header.privateInputs,
      compileMs: Math.round(performance.now() - started),
      log,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
