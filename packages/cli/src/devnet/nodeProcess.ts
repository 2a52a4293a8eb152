import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, fstatSync, mkdirSync, openSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BaseError, isBaseError } from '@verity/protocol'
import { createClient, http } from '@verity/sdk'

/**
 * The node daemon's entry point (`packages/node/src/main.ts`), found through the workspace
 * package so it works from any checkout.
 *
 * @example
 * ```ts
 * spawn(process.execPath, [nodeMainPath(), '--help'])
 * ```
 */
export function nodeMainPath(): string {
  return fileURLToPath(new URL('./main.ts', import.meta.resolve('@verity/node')))
}

const exitWithParent = fileURLToPath(new URL('./exitWithParent.ts', import.meta.url))

/**
 * Parameters of {@link spawnNodeProcess}: everything the daemon needs on its command line (never a
 * key: only the key file's path).
 *
 * @example
 * ```ts
 * const parameters: SpawnNodeProcessParameters = { dataDir, port: 8546, keyFile, logFile, chainId: 31337 }
 * ```
 */
export type SpawnNodeProcessParameters = {
  dataDir: string
  port: number
  keyFile: string
  /** The node's stdout and stderr (JSON log lines) are appended here. */
  logFile: string
  chainId: number
  settlement?: `0x${string}` | undefined
  /**
   * The deployed network (`network.json`): the node connects to the chain (`--network`); then
   * `chainId`/`settlement` are not passed.
   */
  networkFile?: string | undefined
  /** More daemon flags (`--batch-delay-ms 1000`, `--fault wrong-output`, …). */
  extraArgs?: readonly string[] | undefined
  /** Extra environment (`VERITY_ALLOW_FAULTS`); never a key. */
  env?: Readonly<Record<string, string>> | undefined
  /** Other nodes, passed as `--peer ADDRESS@URL`. */
  peers?: readonly { address: string; url: string }[] | undefined
  logLevel?: string | undefined
}

/**
 * A node daemon running as a child process.
 *
 * @example
 * ```ts
 * const node = spawnNodeProcess({ dataDir, port, keyFile, logFile, chainId: 31337 })
 * await node.ready({ timeoutMs: 60_000 })
 * await node.stop({ timeoutMs: 15_000 })
 * ```
 */
export type NodeProcess = {
  readonly url: string
  readonly pid: number | undefined
  readonly process: ChildProcess
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>
  /** Resolves once `GET /v1/health` answers 200; rejects if the process exits or time runs out. */
  ready(options: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<void>
  /** SIGTERM (the node drains), then SIGKILL after `timeoutMs`. Idempotent. */
  stop(options: { timeoutMs: number }): Promise<void>
}

/** What the node wrote to its log since `offset`, with its most telling line first. */
async function startupOutput(file: string, offset: number): Promise<string> {
  let text = ''
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      const start = Math.max(offset, size - 16_384)
      const buffer = Buffer.alloc(Math.max(0, size - start))
      await handle.read(buffer, 0, buffer.length, start)
      text = buffer.toString('utf8').trimEnd()
    } finally {
      await handle.close()
    }
  } catch {
    return ''
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '')
  const telling =
    lines.find((line) => /^error [A-Z_]+: /.test(line)) ??
    lines.findLast((line) => /"level":(50|60)/.test(line)) ??
    lines.at(-1) ??
    ''
  return [telling, ...lines.slice(-8).filter((line) => line !== telling)].join('\n')
}

/**
 * Starts `node packages/node/src/main.ts` in its own process group (so a terminal's Ctrl+C reaches
 * only the devnet, which stops the nodes in order) with its logs appended to `logFile`. The child
 * holds a pipe from this process on stdin and stops itself when it closes: a node never outlives
 * the process that started it, even one killed with SIGKILL.
 *
 * @example
 * ```ts
 * const node = spawnNodeProcess({ dataDir: '/tmp/d/node-1', port: 8546, keyFile, logFile, chainId: 31337 })
 * ```
 */
export function spawnNodeProcess(parameters: SpawnNodeProcessParameters): NodeProcess {
  const url = `http://127.0.0.1:${parameters.port}`
  mkdirSync(dirname(parameters.logFile), { recursive: true })
  const log = openSync(parameters.logFile, 'a', 0o644)
  const logOffset = fstatSync(log).size
  let child: ChildProcess
  try {
    child = spawn(
      process.execPath,
      [
        '--import',
        exitWithParent,
        nodeMainPath(),
        '--data-dir',
        parameters.dataDir,
        '--host',
        '127.0.0.1',
        '--port',
        String(parameters.port),
        '--key-file',
        parameters.keyFile,
        ...(parameters.networkFile
          ? ['--network', parameters.networkFile]
          : [
              '--chain-id',
              String(parameters.chainId),
              ...(parameters.settlement ? ['--settlement', parameters.settlement] : []),
            ]),
        '--log-level',
        parameters.logLevel ?? 'info',
        ...(parameters.peers ?? []).flatMap((peer) => ['--peer', `${peer.address}@${peer.url}`]),
        ...(parameters.extraArgs ?? []),
      ],
      {
        stdio: ['pipe', log, log],
        detached: true,
        // the key comes from --key-file only: never inherit one from the environment
        env: { ...process.env, ...parameters.env, VERITY_PRIVATE_KEY: undefined },
      },
    )
  } finally {
    closeSync(log)
  }
  let exitCode: number | string | undefined
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal ?? -1
      resolve(exitCode)
    })
    child.once('error', (error) => {
      exitCode = (error as NodeJS.ErrnoException).code ?? 'error'
      resolve(exitCode)
    })
  })
  child.stdin?.on('error', () => {}) // EPIPE once the child is gone
  const client = createClient({ transport: http(url, { timeoutMs: 2_000 }) })

  const died = async (): Promise<BaseError> =>
    new BaseError(
      'NODE_UNAVAILABLE',
      `The node at ${url} exited (${exitCode}) before it was healthy.`,
      {
        metaMessages: [`Its log: ${parameters.logFile}`],
        details: await startupOutput(parameters.logFile, logOffset),
      },
    )

  let stopping: Promise<void> | undefined
  return {
    url,
    pid: child.pid,
    process: child,
    exited,
    async ready({ timeoutMs, signal }) {
      const deadline = performance.now() + timeoutMs
      for (;;) {
        if (exitCode !== undefined) throw await died()
        signal?.throwIfAborted()
        try {
          await client.transport.request({ method: 'GET', path: '/v1/health', signal })
          return
        } catch (error) {
          if (signal?.aborted) throw signal.reason
          // not listening yet (NODE_UNAVAILABLE) or still starting: try again
          if (!isBaseError(error)) throw error
        }
        if (performance.now() > deadline)
          throw new BaseError(
            'NODE_UNAVAILABLE',
            `The node at ${url} was not healthy within ${timeoutMs} ms.`,
            {
              metaMessages: [`Its log: ${parameters.logFile}`],
              details: await startupOutput(parameters.logFile, logOffset),
            },
          )
        await Promise.race([new Promise((resolve) => setTimeout(resolve, 100)), exited])
      }
    },
    stop({ timeoutMs }) {
      stopping ??= (async () => {
        if (exitCode === undefined) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
          await exited
          clearTimeout(timer)
        }
        child.stdin?.destroy()
      })()
      return stopping
    },
  }
}
