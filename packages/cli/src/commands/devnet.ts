import { join } from 'node:path'
import { BaseError } from '@verity/protocol'
import { formatEther } from 'viem'
import { resolveDevnetOptions } from '../devnet/options.ts'
import { type DevnetSummary, startDevnet } from '../devnet/startDevnet.ts'
import type { CliOptions } from '../options.ts'
import { type Io, printResult } from '../output.ts'
import { createProgress } from '../progress.ts'

/**
 * Flags of `verity devnet` as commander hands them over (strings).
 *
 * @example
 * ```ts
 * const flags: DevnetFlags = { nodes: '4', portBase: '0', dataDir: '/tmp/devnet' }
 * ```
 */
export type DevnetFlags = {
  nodes?: string
  dataDir?: string
  portBase?: string
  /** `--no-zk` sets it false. */
  zk?: boolean
}

function integerFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--${name} must be a non-negative integer; got "${value}".`,
    )
  return Number(value)
}

function describe(summary: DevnetSummary, seconds: string): string {
  const name = (key: string) => key.replace(/^./, (c) => c.toUpperCase()).padEnd(14)
  const lines = [
    `Verity devnet is up: ${summary.nodes.length} nodes on chain ${summary.chainId} (${seconds} s)`,
    '',
    `  RPC        ${summary.rpcUrl}`,
    ...Object.entries(summary.contracts).map(
      ([key, address], i) => `  ${i === 0 ? 'Contracts ' : '          '} ${name(key)} ${address}`,
    ),
    `             ${summary.reusedContracts ? 'reused from' : 'written to'} ${join(summary.dataDir, 'network.json')}`,
    '',
    ...summary.nodes.map(
      (node, i) =>
        `  ${i === 0 ? 'Nodes     ' : '          '} ${node.index}  ${node.url}  ${node.address}  stake ${formatEther(BigInt(node.stake))} ETH${node.active ? '' : ' (INACTIVE)'}`,
    ),
    `             logs: ${join(summary.dataDir, 'node-<i>', 'node.log')}`,
    '             peers come from NodeRegistry; verifiers are drawn by stake from block hashes',
    '',
    ...summary.models.map(
      (model, i) =>
        `  ${i === 0 ? 'Models    ' : '          '} ${`${model.name}@${model.version}`.padEnd(22)} ${model.cid}  model #${model.modelId}, royalty ${model.royaltyBps / 100} %`,
    ),
    `             uploaded to node 1; the others fetch them over IPFS (bitswap) on first use`,
    `             price ${formatEther(BigInt(summary.settlement.pricePerCall))} ETH per call; requester escrow ${formatEther(BigInt(summary.settlement.requesterEscrow))} ETH`,
    `             receipts settle in batches; challenge window ${summary.settlement.challengeWindowSeconds} s`,
    `             sample inputs: ${summary.samples}`,
    `             modes offered: ${summary.modes.join(', ')}`,
    ...(summary.zk
      ? [
          '',
          ...(summary.zk.note ? [`  ZK         ${summary.zk.note}`] : []),
          ...summary.zk.models.map(
            (model, i) =>
              `  ${i === 0 ? 'ZK        ' : '          '} ${model.name.padEnd(22)} ${model.constraints} constraints, Groth16 verifier ${model.verifier}`,
          ),
          ...(summary.zk.models.length > 0
            ? [
                `             phase 2: one contribution per node + a block-hash beacon; artifacts and transcripts in ${summary.zk.artifacts}`,
              ]
            : []),
        ]
      : []),
    '',
    "  TEST KEYS: anvil's public, well-known dev keys. They hold test ether on this local chain",
    '  only; never send real funds to them or use them on any real network.',
    ...summary.testKeys.map(
      (key) =>
        `    ${key.role.padEnd(20)} ${key.address}  ${key.privateKey}${key.keyFile ? `\n    ${''.padEnd(20)} key file ${key.keyFile}` : ''}`,
    ),
    '',
    '  Try it:',
    `    ${summary.example.infer}`,
    `    ${summary.example.verify}`,
    ...(summary.example.inferZk ? [`    ${summary.example.inferZk}`] : []),
    '',
    `  Data: ${summary.dataDir} (a second run reuses it). Press Ctrl+C to stop.`,
  ]
  return lines.join('\n')
}

/**
 * `verity devnet [--nodes N] [--data-dir DIR] [--port-base P]`: runs the whole network on this
 * machine until SIGINT/SIGTERM, then stops the nodes, then anvil. Exit 0 after a clean stop, 130
 * when stopped during start-up.
 *
 * @example
 * ```ts
 * process.exitCode = await devnet(processIo, options, { nodes: '4' })
 * ```
 */
export async function devnet(io: Io, options: CliOptions, flags: DevnetFlags): Promise<number> {
  const resolved = resolveDevnetOptions({
    dataDir: flags.dataDir ?? join(options.home, 'devnet'),
    nodes: integerFlag('nodes', flags.nodes),
    portBase: integerFlag('port-base', flags.portBase),
    zk: flags.zk !== false,
  })
  const progress = createProgress(io)
  const controller = new AbortController()
  let onStop: (signal: NodeJS.Signals) => void = () => {}
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) {
      // the children stop themselves when this process is gone (their stdin closes)
      io.stderr(`\n${signal} again: exiting without waiting\n`)
      process.exit(130)
    }
    controller.abort(new BaseError('ABORTED', `Stopped by ${signal}.`))
    onStop(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    let running: Awaited<ReturnType<typeof startDevnet>>
    try {
      running = await startDevnet(resolved, {
        progress,
        signal: controller.signal,
        onNodeExit: (node, code) =>
          io.stderr(
            `warning: node ${node.index} (${node.url}) exited (${code}); log ${node.logFile}\n`,
          ),
      })
    } catch (error) {
      if (controller.signal.aborted) {
        io.stderr('stopped during start-up\n')
        return 130
      }
      throw error
    }
    const { summary } = running
    printResult(io, options, describe(summary, (summary.startupMs / 1000).toFixed(1)), summary)
    const keepAlive = setInterval(() => {}, 1 << 30)
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      onStop = resolve
      if (controller.signal.aborted) resolve('SIGINT')
    })
    clearInterval(keepAlive)
    const step = progress.step(`${signal}: stopping the nodes, then anvil`)
    await running.stop()
    step.done('stopped')
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
