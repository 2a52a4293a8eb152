// `node packages/node/src/main.ts --data-dir D --port P --key-file K`: runs one Verity node until
// SIGINT/SIGTERM. Keys come from --key-file, $VERITY_PRIVATE_KEY or <data-dir>/key.json, never argv.
// Logs are JSON lines on stdout; the `listening` line carries the bound URL.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { parseNetworkConfig } from '@verity/contracts'
import { BaseError, isBaseError } from '@verity/protocol'
import { allowFaultsVariable, assertFaultAllowed, type NodeFault } from './faults.ts'
import { createLogger } from './logger.ts'
import {
  defaultNodeOptions,
  type NodeLogLevel,
  type NodeOptionsInput,
  type NodeRole,
} from './options.ts'
import { parsePeer } from './verification/peerDirectory.ts'
import { defaultZkOptions } from './zk/options.ts'

const usage = `Usage: node packages/node/src/main.ts [options]

  --data-dir DIR        node data (database, model store, default key) [${defaultNodeOptions.dataDir}]
  --host HOST           interface to bind [${defaultNodeOptions.host}]
  --port PORT           TCP port, 0 = any free port [${defaultNodeOptions.port}]
  --key-file FILE       key file {"version":1,"address","privateKey"} (else $VERITY_PRIVATE_KEY, else DIR/key.json)
  --roles LIST          comma-separated: gateway,executor,verifier [all]
  --network FILE        network.json written by \`npm run deploy\` / \`verity devnet\`: connects the node
                        to the chain (NodeRegistry peers, settlement, InferenceHub, challenges)
  --rpc URL             override the network file's RPC URL
  --chain-id ID         without --network: chain id for the EIP-712 domain only [31337]
  --settlement ADDRESS  without --network: settlement contract (EIP-712 verifyingContract) only
  --log-level LEVEL     fatal|error|warn|info|debug|trace|silent [${defaultNodeOptions.logLevel}]
  --workers N           engine worker processes [1]
  --peer ADDRESS@URL    a peer node (verifier for reexec jobs, executor whose jobs this node verifies); repeatable
  --verify-timeout-ms MS  how long to wait for one verifier before replacing it [${defaultNodeOptions.verifyTimeoutMs}]
  --no-publish          refuse POST /v1/models
  --no-ipfs             do not run Helia (models must then be uploaded to this node)
  --batch-size N        commit a settlement batch at N receipts [${defaultNodeOptions.settlement.maxBatchSize}]
  --batch-delay-ms MS   or when the oldest receipt waited MS [${defaultNodeOptions.settlement.maxBatchDelayMs}]
  --poll-ms MS          how often chain watchers poll [${defaultNodeOptions.settlement.pollIntervalMs}]
  --audit-all           check every executor's batches, not only those this node disagreed with
  --zk-dir DIR          zk artifacts (verity zk compile --out DIR): manifests' zk sections and
                        proving keys [DIR/zk]
  --zk / --no-zk        offer mode zk / do not (default: when --zk-dir holds zk artifacts; manifests
                        get their zk section from --zk-dir either way)
  --zk-max-constraints N  refuse zk jobs whose circuit is larger [${defaultZkOptions.budget.maxConstraints}]
  --zk-max-memory-mb MB   refuse zk jobs expected to need more memory [${defaultZkOptions.budget.maxMemoryBytes / 1024 / 1024}]
  --zk-max-prove-ms MS    refuse zk jobs expected to prove longer [${defaultZkOptions.budget.maxProveMs}]
  --zk-coordinator ADDRESS  take phase-2 ceremony turns (POST /v1/zk/contribute) asked by this
                        address's signature; repeatable [none: no ceremony turns]
  --fault NAME          cheat on purpose (wrong-output), for tests and demos; needs ${allowFaultsVariable}=1
  -h, --help`

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--${name} must be a non-negative integer; got "${value}".`,
    )
  return Number(value)
}

function parseOptions(argv: string[]): NodeOptionsInput | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'key-file': { type: 'string' },
      roles: { type: 'string' },
      'chain-id': { type: 'string' },
      settlement: { type: 'string' },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
      peer: { type: 'string', multiple: true },
      'verify-timeout-ms': { type: 'string' },
      'no-publish': { type: 'boolean' },
      network: { type: 'string' },
      rpc: { type: 'string' },
      'no-ipfs': { type: 'boolean' },
      'batch-size': { type: 'string' },
      'batch-delay-ms': { type: 'string' },
      'poll-ms': { type: 'string' },
      'audit-all': { type: 'boolean' },
      'zk-dir': { type: 'string' },
      zk: { type: 'boolean' },
      'no-zk': { type: 'boolean' },
      'zk-max-constraints': { type: 'string' },
      'zk-max-memory-mb': { type: 'string' },
      'zk-max-prove-ms': { type: 'string' },
      'zk-coordinator': { type: 'string', multiple: true },
      fault: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return undefined
  const chainId = integer('chain-id', values['chain-id'])
  if (values.settlement !== undefined && chainId === undefined && values.network === undefined)
    throw new BaseError('INVALID_ARGUMENT', '--settlement needs --chain-id.')
  if (values.zk && values['no-zk'])
    throw new BaseError('INVALID_ARGUMENT', '--zk and --no-zk contradict each other.')
  if (values.rpc !== undefined && values.network === undefined)
    throw new BaseError('INVALID_ARGUMENT', '--rpc needs --network FILE.')
  if (values.fault !== undefined) assertFaultAllowed(values.fault as NodeFault, process.env)
  let network: NodeOptionsInput['network'] =
    chainId === undefined
      ? undefined
      : { chainId, settlement: values.settlement as `0x${string}` | undefined }
  if (values.network !== undefined) {
    let text: string
    try {
      text = readFileSync(values.network, 'utf8')
    } catch (cause) {
      throw new BaseError('FILE_NOT_FOUND', `--network ${values.network} cannot be read.`, {
        cause,
      })
    }
    const config = parseNetworkConfig(text)
    if (chainId !== undefined && chainId !== config.chainId)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `--chain-id ${chainId} contradicts ${values.network} (chain ${config.chainId}).`,
      )
    network = {
      chainId: config.chainId,
      settlement: config.contracts.settlement,
      rpcUrl: values.rpc ?? config.rpcUrl,
      contracts: config.contracts,
      deployedAt: config.deployedAt,
    }
  }
  const batchSize = integer('batch-size', values['batch-size'])
  const batchDelay = integer('batch-delay-ms', values['batch-delay-ms'])
  const poll = integer('poll-ms', values['poll-ms'])
  const zkMemoryMb = integer('zk-max-memory-mb', values['zk-max-memory-mb'])
  return {
    dataDir: values['data-dir'],
    host: values.host,
    port: integer('port', values.port),
    keyFile: values['key-file'],
    roles: values.roles?.split(',').map((role) => role.trim()) as NodeRole[] | undefined,
    network,
    logLevel: values['log-level'] as NodeLogLevel | undefined,
    engine: { workers: integer('workers', values.workers) },
    allowPublish: values['no-publish'] ? false : undefined,
    peers: values.peer?.map(parsePeer),
    verifyTimeoutMs: integer('verify-timeout-ms', values['verify-timeout-ms']),
    ipfs: !values['no-ipfs'],
    auditAll: values['audit-all'] ? true : undefined,
    fault: values.fault as NodeFault | undefined,
    zk: {
      dir: values['zk-dir'],
      enabled: values['no-zk'] ? false : values.zk ? true : undefined,
      budget: {
        maxConstraints: integer('zk-max-constraints', values['zk-max-constraints']),
        maxMemoryBytes: zkMemoryMb === undefined ? undefined : zkMemoryMb * 1024 * 1024,
        maxProveMs: integer('zk-max-prove-ms', values['zk-max-prove-ms']),
      },
      coordinators: values['zk-coordinator'],
    },
    settlement: {
      ...(batchSize === undefined ? {} : { maxBatchSize: batchSize }),
      ...(batchDelay === undefined ? {} : { maxBatchDelayMs: batchDelay }),
      ...(poll === undefined ? {} : { pollIntervalMs: poll }),
    } as NodeOptionsInput['settlement'],
  }
}

async function main(): Promise<number> {
  let input: NodeOptionsInput | undefined
  try {
    input = parseOptions(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(
      `error ${isBaseError(error) ? error.code : 'INVALID_ARGUMENT'}: ${(error as Error).message.split('\n')[0]}\n\n${usage}\n`,
    )
    return 2
  }
  if (input === undefined) {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  const logger = createLogger({ level: input.logLevel ?? defaultNodeOptions.logLevel })
  // loaded after the arguments are checked: usage errors and --help answer at once
  const { createVerityNode } = await import('./createVerityNode.ts')
  const node = await createVerityNode(input, { logger })
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without draining')
      process.exit(130)
    }
    logger.info({ signal }, 'signal: stopping gracefully (send again to force)')
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    await node.start()
  } catch (error) {
    await node.stop()
    throw error
  }
  return -1 // keep running until a signal
}

main().then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (error: unknown) => {
    const base = isBaseError(error) ? error : undefined
    process.stderr.write(
      `error ${base?.code ?? 'INTERNAL'}: ${base ? base.message : String((error as Error)?.stack ?? error)}\n`,
    )
    process.exitCode = 1
  },
)
