import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { BaseError } from '@verity/protocol'

/** Options of {@link startAnvil}. */
export type StartAnvilOptions = {
  /** TCP port on 127.0.0.1; 0 (the default) lets the OS pick a free one. */
  port?: number | undefined
  /** Seconds between blocks; omitted = mine one block per transaction (automine). */
  blockTime?: number | undefined
  /** Default 31337. */
  chainId?: number | undefined
  /** Number of funded dev accounts (default 10). */
  accounts?: number | undefined
  /** Balance of each dev account in ether (default 10000). */
  balanceEth?: number | undefined
  /** Load the chain from this file if it exists and dump it there on `stop()` (anvil `--state`). */
  stateFile?: string | undefined
  /** How long to wait for the RPC to answer (default 10 000 ms). */
  timeoutMs?: number | undefined
  /** Aborting stops anvil (during start-up, the promise rejects). */
  signal?: AbortSignal | undefined
}

/** A running anvil. */
export type Anvil = {
  /** `http://127.0.0.1:<port>` */
  rpcUrl: string
  chainId: number
  /** Private keys of the funded dev accounts (anvil's default mnemonic, m/44'/60'/0'/0/i). */
  privateKeys: `0x${string}`[]
  /** Stops anvil (SIGTERM, which also dumps `stateFile`) and waits for it to exit. Idempotent. */
  stop(): Promise<void>
}

const require = createRequire(import.meta.url)
const anvilPackage = '@foundry-rs/anvil-linux-amd64'

/**
 * The path of the anvil binary shipped by the optional npm dependency
 * `@foundry-rs/anvil-linux-amd64`. Throws a `BaseError` (`FILE_NOT_FOUND`) when it is absent, e.g.
 * on a platform other than Linux x64.
 *
 * @example
 * ```ts
 * const bin = anvilBinaryPath() // …/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
 * ```
 */
export function anvilBinaryPath(): string {
  let dir: string
  try {
    dir = dirname(require.resolve(`${anvilPackage}/package.json`))
  } catch (error) {
    throw new BaseError(
      'FILE_NOT_FOUND',
      `The anvil binary package ${anvilPackage} is not installed (platform ${process.platform}-${process.arch}).`,
      {
        metaMessages: [
          'It is an optional dependency of @verity/contracts and only exists for Linux x64.',
          'On other platforms install Foundry (https://getfoundry.sh) and point --rpc at its anvil.',
        ],
        cause: error,
      },
    )
  }
  const bin = join(dir, 'bin', 'anvil')
  if (!existsSync(bin)) {
    throw new BaseError('FILE_NOT_FOUND', `Expected the anvil binary at ${bin}, found nothing.`, {
      metaMessages: [`Reinstall ${anvilPackage} (npm ci).`],
    })
  }
  return bin
}

/**
 * Runs the command given as arguments and kills it with SIGTERM as soon as this shell's stdin
 * reaches end-of-file, i.e. when `stop()` ends it or when the Node process dies for any reason
 * (even SIGKILL): anvil never outlives its parent. Prints the child's pid first.
 */
const watchdog = [
  'exec 3<&0',
  '"$@" </dev/null & a=$!',
  'echo "watchdog-pid $a"',
  '(cat <&3 >/dev/null; kill -TERM $a 2>/dev/null) &',
  'wait $a',
].join('\n')

function assertInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `startAnvil: ${name} must be an integer in [${min}, ${max}], got ${value}.`,
    )
  }
}

/**
 * Starts a local anvil chain on 127.0.0.1 and resolves once its RPC answers `eth_chainId`.
 *
 * @example
 * ```ts
 * const anvil = await startAnvil()
 * try {
 *   console.log(anvil.rpcUrl, anvil.privateKeys[0])
 * } finally {
 *   await anvil.stop()
 * }
 * ```
 */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<Anvil> {
  const chainId = options.chainId ?? 31337
  const accounts = options.accounts ?? 10
  const timeoutMs = options.timeoutMs ?? 10_000
  assertInteger('port', options.port, 0, 65535)
  assertInteger('blockTime', options.blockTime, 1, 86_400)
  assertInteger('chainId', chainId, 1, Number.MAX_SAFE_INTEGER)
  assertInteger('accounts', accounts, 1, 1000)
  if (options.balanceEth !== undefined && !(options.balanceEth >= 0)) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `startAnvil: balanceEth must be ≥ 0, got ${options.balanceEth}.`,
    )
  }
  options.signal?.throwIfAborted()

  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(options.port ?? 0),
    '--chain-id',
    String(chainId),
    '--accounts',
    String(accounts),
    '--mnemonic',
    'test test test test test test test test test test test junk',
  ]
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime))
  if (options.balanceEth !== undefined) args.push('--balance', String(options.balanceEth))
  if (options.stateFile !== undefined) args.push('--state', options.stateFile)

  const child: ChildProcessWithoutNullStreams = spawn(
    '/bin/sh',
    ['-c', watchdog, 'anvil', anvilBinaryPath(), ...args],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  )
  // Never keep the parent alive because of anvil: the watchdog kills it when the parent exits.
  child.unref()
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    ;(stream as unknown as { unref?: () => void }).unref?.()
  }

  let output = ''
  let anvilPid: number | undefined
  let exited = false
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      child.stdin.destroy()
      resolve()
    })
  })
  const onData = (chunk: Buffer): void => {
    // Keep the start-up banner (port, keys) and the tail of the log for error messages.
    output = output.length > 64_000 ? output.slice(-16_000) : output
    output += chunk.toString('utf8')
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      options.signal?.removeEventListener('abort', onAbort)
      if (!exited) {
        child.stdin.end()
        const killTimer = setTimeout(() => {
          if (anvilPid !== undefined) {
            try {
              process.kill(anvilPid, 'SIGKILL')
            } catch {}
          }
          child.kill('SIGKILL')
        }, 5_000)
        await exitPromise
        clearTimeout(killTimer)
      }
      child.stdout.off('data', onData)
      child.stderr.off('data', onData)
    })()
    return stopping
  }
  const onAbort = (): void => {
    void stop()
  }
  options.signal?.addEventListener('abort', onAbort, { once: true })

  const fail = async (message: string, hints: string[] = []): Promise<never> => {
    await stop()
    throw new BaseError('CHAIN_UNAVAILABLE', message, {
      metaMessages: hints,
      details: output.trim().split('\n').slice(-15).join('\n') || undefined,
    })
  }

  // Wait for "Listening on 127.0.0.1:<port>" (anvil prints it once the server is bound).
  const deadline = Date.now() + timeoutMs
  let port: number | undefined
  while (port === undefined) {
    if (options.signal?.aborted) {
      await stop()
      throw new BaseError('ABORTED', 'startAnvil was aborted before anvil was ready.', {
        cause: options.signal.reason,
      })
    }
    if (exited) await fail('anvil exited during start-up.', ['See its output below.'])
    if (Date.now() > deadline) {
      await fail(`anvil did not start listening within ${timeoutMs} ms.`, [
        'Raise timeoutMs on a slow machine.',
      ])
    }
    anvilPid ??= Number(/watchdog-pid (\d+)/.exec(output)?.[1]) || undefined
    const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(output)
    if (match) port = Number(match[1])
    else await new Promise((resolve) => setTimeout(resolve, 10))
  }

  const privateKeys = [...output.matchAll(/^\(\d+\) (0x[0-9a-fA-F]{64})$/gm)].map(
    (m) => m[1] as `0x${string}`,
  )
  if (privateKeys.length !== accounts) {
    await fail(
      `Expected ${accounts} private keys in anvil's banner, found ${privateKeys.length}.`,
      ['The anvil output format may have changed: check the installed version (1.7.x expected).'],
    )
  }

  const rpcUrl = `http://127.0.0.1:${port}`
  for (;;) {
    try {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(1_000),
      })
      const body = (await response.json()) as { result?: string }
      if (body.result !== undefined) {
        const answered = Number(body.result)
        if (answered !== chainId) {
          await fail(`anvil answered chain id ${answered}, expected ${chainId}.`, [
            'A state file from another chain id was loaded: delete it or pass its chain id.',
          ])
        }
        break
      }
    } catch {}
    if (exited) await fail('anvil exited during start-up.')
    if (Date.now() > deadline) {
      await fail(`anvil's RPC at ${rpcUrl} did not answer eth_chainId within ${timeoutMs} ms.`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  return { rpcUrl, chainId, privateKeys, stop }
}
