import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { isBaseError } from '@verity/protocol'
import { getContract } from 'viem'
import {
  assertVerityParameters,
  defaultVerityParameters,
  deployVerity,
  type NetworkConfig,
  networkConfigToJson,
  parseNetworkConfig,
} from './deploy.ts'
import { modelRegistryAbi, nodeRegistryAbi, settlementAbi } from './generated/index.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

let chain: TestChain
let dir: string

before(async () => {
  chain = await createTestChain({ accounts: 4 })
  dir = mkdtempSync(join(tmpdir(), 'verity-deploy-'))
})
after(async () => {
  await chain.close()
  rmSync(dir, { recursive: true, force: true })
})

const deployer = () => chain.accounts[0]!
const nonce = () =>
  chain.publicClient.getTransactionCount({ address: deployer().address, blockTag: 'pending' })

async function assertDeployed(config: NetworkConfig): Promise<void> {
  for (const [name, address] of Object.entries(config.contracts)) {
    const code = await chain.publicClient.getCode({ address })
    assert.ok(code && code.length > 2, `${name} has no code`)
  }
}

test('default: deployVerity deploys the four contracts, wires the slashers and writes the config', async (t) => {
  const configPath = join(dir, 'default', 'network.json')
  const blockBefore = await chain.publicClient.getBlockNumber()
  const started = performance.now()
  const config = await deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath })
  t.diagnostic(
    `deployVerity (4 contracts + setSlashers): ${(performance.now() - started).toFixed(0)} ms`,
  )

  assert.equal(config.chainId, 31337)
  assert.equal(config.rpcUrl, chain.anvil.rpcUrl)
  assert.equal(config.deployer, deployer().address)
  assert.equal(config.treasury, deployer().address)
  assert.deepEqual(config.parameters, defaultVerityParameters)
  assert.equal(config.deployedAt.block, Number(blockBefore) + 1)
  assert.equal(new Set(Object.values(config.contracts)).size, 4)
  await assertDeployed(config)
  assert.deepEqual(parseNetworkConfig(readFileSync(configPath, 'utf8')), config)

  const client = { public: chain.publicClient }
  const nodeRegistry = getContract({
    address: config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    client,
  })
  assert.equal(await nodeRegistry.read.settlement(), config.contracts.settlement)
  assert.equal(await nodeRegistry.read.hub(), config.contracts.inferenceHub)
  assert.equal(await nodeRegistry.read.MIN_STAKE(), defaultVerityParameters.minStake)
  assert.equal(await nodeRegistry.read.MAX_STAKE(), defaultVerityParameters.maxStake)
  assert.equal(await nodeRegistry.read.WEIGHT_CAP(), defaultVerityParameters.weightCap)
  assert.equal(
    await nodeRegistry.read.UNBONDING_DELAY(),
    BigInt(defaultVerityParameters.unbondingDelay),
  )
  const modelRegistry = getContract({
    address: config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    client,
  })
  assert.equal(await modelRegistry.read.MAX_ROYALTY_BPS(), defaultVerityParameters.maxRoyaltyBps)
  // Settlement got the registries and parameters in the right constructor slots.
  const events = await chain.publicClient.getContractEvents({
    address: config.contracts.settlement,
    abi: settlementAbi,
    eventName: 'ParametersSet',
    fromBlock: BigInt(config.deployedAt.block),
  })
  assert.equal(events.length, 1)
  const args = events[0]!.args as Record<string, unknown>
  assert.equal(args.nodeRegistry, config.contracts.nodeRegistry)
  assert.equal(args.modelRegistry, config.contracts.modelRegistry)
  assert.equal(args.treasury, deployer().address)
  assert.equal(args.challengeWindow, BigInt(defaultVerityParameters.challengeWindow))
  assert.equal(args.slashAmount, defaultVerityParameters.slashAmount)
})

test('behavior: a second call with the same config file deploys nothing', async () => {
  const configPath = join(dir, 'idempotent.json')
  const first = await deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath })
  const fileBefore = readFileSync(configPath, 'utf8')
  const [blockBefore, nonceBefore] = [await chain.publicClient.getBlockNumber(), await nonce()]
  const second = await deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath })
  assert.deepEqual(second, first)
  assert.equal(await chain.publicClient.getBlockNumber(), blockBefore)
  assert.equal(await nonce(), nonceBefore)
  assert.equal(readFileSync(configPath, 'utf8'), fileBefore)

  // Same chain behind another URL (e.g. a restarted devnet): reused, only rpcUrl is rewritten.
  const otherUrl = chain.anvil.rpcUrl.replace('127.0.0.1', 'localhost')
  const third = await deployVerity({ rpcUrl: otherUrl, account: deployer(), configPath })
  assert.deepEqual(third, { ...first, rpcUrl: otherUrl })
  assert.equal(parseNetworkConfig(readFileSync(configPath, 'utf8')).rpcUrl, otherUrl)
  assert.equal(await nonce(), nonceBefore)
})

test('behavior: redeploys when the contracts are gone, the chain id or the parameters differ', async () => {
  const configPath = join(dir, 'redeploy.json')
  const snapshot = await chain.snapshot()
  const first = await deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath })

  // Contracts gone (chain reset to before the deployment): deploy again, rewrite.
  await chain.revert(snapshot)
  const code = await chain.publicClient.getCode({ address: first.contracts.settlement })
  assert.equal(code, undefined)
  const nonceBefore = await nonce()
  const second = await deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath })
  assert.equal(await nonce(), nonceBefore + 5)
  await assertDeployed(second)

  // Other parameters: a new deployment, new addresses.
  const third = await deployVerity({
    rpcUrl: chain.anvil.rpcUrl,
    account: deployer(),
    configPath,
    parameters: { challengeWindow: 60 },
  })
  assert.notEqual(third.contracts.settlement, second.contracts.settlement)
  assert.equal(third.parameters.challengeWindow, 60)
  assert.deepEqual(parseNetworkConfig(readFileSync(configPath, 'utf8')), third)

  // A config of another chain id: deploy.
  writeFileSync(configPath, networkConfigToJson({ ...third, chainId: 1 }))
  const fourth = await deployVerity({
    rpcUrl: chain.anvil.rpcUrl,
    account: deployer(),
    configPath,
    parameters: { challengeWindow: 60 },
  })
  assert.notEqual(fourth.contracts.settlement, third.contracts.settlement)
  assert.equal(parseNetworkConfig(readFileSync(configPath, 'utf8')).chainId, 31337)
})

test('behavior: the treasury option reaches Settlement and is recorded', async () => {
  const treasury = chain.accounts[3]!.address
  const config = await deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), treasury })
  assert.equal(config.treasury, treasury)
  const events = await chain.publicClient.getContractEvents({
    address: config.contracts.settlement,
    abi: settlementAbi,
    eventName: 'ParametersSet',
    fromBlock: BigInt(config.deployedAt.block),
  })
  assert.equal((events[0]!.args as Record<string, unknown>).treasury, treasury)
})

test('error: inconsistent parameters are rejected before any transaction', async () => {
  const nonceBefore = await nonce()
  const bad = [
    { verifierBps: 7_000 }, // 3000 + 7000 + 500 > 10000
    { unbondingDelay: 10, challengeWindow: 60 },
    { minStake: 0n },
    { minStake: 10n, maxStake: 5n },
    { weightCap: 0n },
    { challengerRewardBps: 10_001 },
    { requestTimeout: 1.5 },
  ]
  for (const parameters of bad) {
    await assert.rejects(
      deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), parameters }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
      JSON.stringify(parameters, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    )
  }
  assert.equal(await nonce(), nonceBefore)
  assert.throws(() => assertVerityParameters({ ...defaultVerityParameters, treasuryBps: 7_000 }), {
    code: 'INVALID_ARGUMENT',
  })
})

test('error: an unreachable RPC and a corrupt config file fail clearly', async () => {
  await assert.rejects(
    deployVerity({ rpcUrl: 'http://127.0.0.1:1', account: deployer() }),
    (error) =>
      isBaseError(error, 'CHAIN_UNAVAILABLE') && /No Ethereum JSON-RPC answers/.test(error.message),
  )
  const configPath = join(dir, 'corrupt.json')
  writeFileSync(configPath, '{"chainId": 31337')
  await assert.rejects(
    deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath }),
    (error) => isBaseError(error, 'INVALID_JSON'),
  )
  writeFileSync(configPath, JSON.stringify({ chainId: 31337, rpcUrl: 'x', contracts: {} }))
  await assert.rejects(
    deployVerity({ rpcUrl: chain.anvil.rpcUrl, account: deployer(), configPath }),
    (error) => isBaseError(error, 'SCHEMA_INVALID'),
  )
})

test('behavior: the deploy script takes the key from the environment and reuses the config', async () => {
  const script = fileURLToPath(new URL('../scripts/deploy.ts', import.meta.url))
  const configPath = join(dir, 'cli.json')
  const run = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, [script, ...args], {
      env: { ...process.env, VERITY_PRIVATE_KEY: '', ...env },
    })
  const key = chain.anvil.privateKeys[2]!
  const args = ['--rpc', chain.anvil.rpcUrl, '--config', configPath]
  const first = await run(args, { VERITY_PRIVATE_KEY: key })
  assert.match(first.stdout, /settlement\s+0x[0-9a-fA-F]{40}/)
  assert.ok(!first.stdout.includes(key.slice(2)), 'the key must never be printed')
  const config = parseNetworkConfig(readFileSync(configPath, 'utf8'))
  assert.equal(config.deployer, chain.accounts[2]!.address)
  assert.ok(first.stdout.includes(config.contracts.inferenceHub))

  const keyFile = join(dir, 'deployer.key')
  writeFileSync(keyFile, `${key}\n`)
  const second = await run([...args, '--key-file', keyFile, '--json'], {})
  assert.deepEqual(parseNetworkConfig(second.stdout), config)

  await assert.rejects(run(args, {}), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 2)
    assert.match(error.stderr ?? '', /VERITY_PRIVATE_KEY/)
    return true
  })
})
