import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { nodeMainPath } from '../devnet/nodeProcess.ts'
import type { CliOptions } from '../options.ts'

const exitWithParent = fileURLToPath(new URL('../devnet/exitWithParent.ts', import.meta.url))

/**
 * `verity node [flags]`: runs the node daemon in the foreground. The flags are the daemon's own
 * (`--data-dir --host --port --key-file --roles --chain-id --settlement --peer --log-level
 * --workers --no-publish --zk-dir --zk/--no-zk --zk-max-* --help`, see
 * `packages/node/src/main.ts`), passed through unchanged, so the two never drift apart;
 * `--data-dir` defaults to the CLI's home, where `verity keys new`, `verity model add` and
 * `verity zk compile` put the key, the models and the zk artifacts (`<home>/zk`). Keys come from a
 * key file or `$VERITY_PRIVATE_KEY`, never argv. Logs are JSON lines on stdout; SIGINT/SIGTERM
 * stop it gracefully and its exit code is returned.
 *
 * @example
 * ```ts
 * process.exitCode = await node(options, ['--port', '8080'])
 * ```
 */
export async function node(options: CliOptions, args: readonly string[]): Promise<number> {
  const hasDataDir = args.some((arg) => arg === '--data-dir' || arg.startsWith('--data-dir='))
  const child = spawn(
    process.execPath,
    [
      '--import',
      exitWithParent,
      nodeMainPath(),
      ...(hasDataDir ? [] : ['--data-dir', options.home]),
      ...args,
    ],
    // its own process group: a terminal's Ctrl+C reaches only this process, which forwards it
    // once (a second Ctrl+C forwards a second signal: the daemon then exits without draining)
    { stdio: ['pipe', 'inherit', 'inherit'], detached: true },
  )
  child.stdin.on('error', () => {})
  const forward = (signal: NodeJS.Signals) => {
    child.kill(signal)
  }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  try {
    return await new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 130)))
      child.once('error', () => resolve(1))
    })
  } finally {
    process.off('SIGINT', forward)
    process.off('SIGTERM', forward)
  }
}
