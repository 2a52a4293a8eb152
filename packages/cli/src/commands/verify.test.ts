import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  deployVerity,
  modelRegistryAbi,
  type NetworkConfig,
  nodeRegistryAbi,
} from '@verity/contracts'
import { createTestChain, type TestChain } from '@verity/contracts/testing'
import { createInferenceRequest, createReceipt, hashCanonicalJson } from '@verity/protocol'
import { type Abi, zeroAddress } from 'viem'
import { runCli } from '../test/runCli.ts'

// `verity verify --rpc` against a real anvil with Verity deployed, the executor (account 1)
// staked and one model registered.
let chain: TestChain
let config: NetworkConfig
let home = ''
const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const manifestHash = hashCanonicalJson({ model: 'cli online verification' })

async function send(
  from: number,
  call: {
    address: `0x${string}`
    abi: Abi
    functionName: string
    args: readonly unknown[]
    value?: bigint
  },
) {
  const wallet = chain.walletClients[from]!
  const hash = await wallet.writeContract(
    call as unknown as Parameters<typeof wallet.writeContract>[0],
  )
  assert.equal((await chain.publicClient.waitForTransactionReceipt({ hash })).status, 'success')
}

/** Writes a receipt by the staked executor for `modelCid` and returns its path. */
async function receiptFile(modelCid: string, nonce: number): Promise<string> {
  const request = createInferenceRequest({
    modelCid,
    manifestHash,
    inputs: { x: { dtype: 'int8', shape: [2], data: new Int8Array([1, 2]) } },
    nonce: `0x${nonce.toString(16).padStart(64, '0')}`,
    deadline: 4_000_000_000n,
  })
  const receipt = await createReceipt({
    account: chain.accounts[1]!,
    requester: chain.accounts[4]!.address,
    request,
    outputs: { y: { dtype: 'int32', shape: [1], data: new Int32Array([3]) } },
    engine: { name: 'onnxruntime-node', version: '1.30.0', settings: {} },
    domain: {
      name: 'Verity',
      version: '1',
      chainId: config.chainId,
      verifyingContract: config.contracts.settlement,
    },
  })
  const path = join(home, `receipt-${nonce}.json`)
  await writeFile(path, JSON.stringify(receipt))
  return path
}

const cli = (...args: string[]) => runCli(['--home', home, ...args])

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'verity-cli-verify-'))
  chain = await createTestChain()
  config = await deployVerity({
    rpcUrl: chain.anvil.rpcUrl,
    account: chain.accounts[0]!,
    pollingInterval: 20,
  })
  await send(1, {
    address: config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'register',
    args: ['http://127.0.0.1:8080', '', 7],
    value: config.parameters.minStake,
  })
  await send(5, {
    address: config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'registerModel',
    args: ['digits', cid, manifestHash, 1000, 0n, zeroAddress],
  })
})
after(async () => {
  await chain?.close()
  await rm(home, { recursive: true, force: true })
})

test('default: verify --rpc adds the chain checks to the same checks array', async () => {
  const path = await receiptFile(cid, 1)
  const offline = await cli('--json', 'verify', path)
  const online = await cli('--json', 'verify', path, '--rpc', config.rpcUrl)
  assert.equal(online.code, 0, online.stdout)
  const result = online.json()
  assert.equal(result.valid, true)
  assert.deepEqual(
    result.checks.slice(0, offline.json().checks.length),
    offline.json().checks,
    'the offline checks come first, unchanged',
  )
  const statuses = Object.fromEntries(
    result.checks.map((check: { name: string; status: string }) => [check.name, check.status]),
  )
  assert.equal(statuses['chain.id'], 'pass')
  assert.equal(statuses['chain.contract'], 'pass')
  assert.equal(statuses['model.registry'], 'pass')
  assert.equal(statuses['executor.stake'], 'pass')
  assert.equal(statuses.settlement, 'skip')
  assert.equal(result.chain.chainId, config.chainId)
  assert.ok(!('chain' in offline.json()), 'offline output has no chain section')

  const human = await cli('verify', path, '--rpc', config.rpcUrl)
  assert.match(human.stdout, /✓ chain\.contract {7,}0x/)
  assert.match(human.stdout, /- settlement {9,}not settled yet/)
  assert.match(human.stdout, /receipt is valid/)
})

test('error: an unregistered model fails with exit 1 and its code', async () => {
  const run = await cli(
    '--json',
    'verify',
    await receiptFile('bafkreiunregistered', 2),
    '--rpc',
    config.rpcUrl,
  )
  assert.equal(run.code, 1)
  assert.equal(run.json().code, 'MODEL_NOT_REGISTERED')
})

test('error: an unreachable RPC is a failed CHAIN_UNAVAILABLE check; a non-http --rpc is INVALID_ARGUMENT', async () => {
  const path = await receiptFile(cid, 3)
  const down = await cli('--json', 'verify', path, '--rpc', 'http://127.0.0.1:9')
  assert.equal(down.code, 1)
  assert.equal(down.json().valid, false)
  assert.equal(down.json().code, 'CHAIN_UNAVAILABLE')
  const bad = await cli('--json', 'verify', path, '--rpc', 'ftp://127.0.0.1:9')
  assert.equal(bad.code, 1)
  assert.equal(bad.json().error.code, 'INVALID_ARGUMENT')
})
