import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { BaseError } from '@verity/protocol'

const mainPath = fileURLToPath(new URL('../main.ts', import.meta.url))

/**
 * One JSON log line of a node process.
 *
 * @example
 * ```ts
 * const line: LogLine = await node.waitFor((l) => l.msg === 'recovery complete')
 * ```
 */
export type LogLine = { msg?: string; level?: number; [key: string]: unknown }

/**
 * A node running as its own process (`src/main.ts`), for tests that kill it: the URL from its
 * `listening` log line, every log line so far, and waiting on a line by predicate (event-driven:
 * no sleeps).
 *
 * @example
 * ```ts
 * const node = await spawnNode(['--data-dir', dir, '--key-file', keyFile])
 * await fetch(`${node.url}/v1/health`)
 * node.process.kill('SIGKILL')
 * await node.exited
 * ```
 */
export type SpawnedNode = {
  url: string
  process: ChildProcess
  lines: LogLine[]
  /** Resolves with the first line (already seen or future) that matches. */
  waitFor(predicate: (line: LogLine) => boolean, what?: string): Promise<LogLine>
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>
  stderr(): string
}

/**
 * Starts `src/main.ts` as a child process (port 0, JSON logs) and resolves once it listens.
 *
 * @example
 * ```ts
 * const node = await spawnNode(['--data-dir', dir], { VERITY_PRIVATE_KEY: key })
 * ```
 */
export async function spawnNode(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<SpawnedNode> {
  const child = spawn(process.execPath, [mainPath, '--port', '0', '--log-level', 'info', ...args], {
    env: { ...process.env, VERITY_PRIVATE_KEY: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: LogLine[] = []
  const waiters: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = []
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: LogLine
    try {
      line = JSON.parse(text)
    } catch {
      line = { msg: text }
    }
    lines.push(line)
    for (const waiter of [...waiters])
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
  })
  const waitFor = (predicate: (line: LogLine) => boolean, what = 'log line') => {
    const seen = lines.find(predicate)
    if (seen) return Promise.resolve(seen)
    return Promise.race([
      new Promise<LogLine>((resolve) => waiters.push({ predicate, resolve })),
      exited.then((code) => {
        throw new BaseError('INTERNAL', `The node exited (${code}) before ${what}.`, {
          details: stderr,
        })
      }),
    ])
  }
  const listening = await waitFor((line) => line.msg === 'listening', 'listening')
  return {
    url: String(listening.url),
    process: child,
    lines,
    waitFor,
    exited,
    stderr: () => stderr,
  }
}
