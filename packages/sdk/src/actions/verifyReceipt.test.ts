import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  deployVerity,
  modelRegistryAbi,
  type NetworkConfig,
  nodeRegistryAbi,
} from '@verity/contracts'
import { createTestChain, type TestChain } from '@verity/contracts/testing'
import {
  createInferenceRequest,
  createReceipt,
  hashCanonicalJson,
  isBaseError,
  type Receipt,
  type VerityDomain,
} from '@verity/protocol'
import { type Abi, zeroAddress } from 'viem'
import { type Client, createClient } from '../createClient.ts'
import { http } from '../transports/http.ts'
import { verifyReceipt } from './verifyReceipt.ts'

// A real anvil with Verity deployed; the executor (account 1) is staked and the model registered.
let chain: TestChain
let config: NetworkConfig
let client: Client
const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const manifestHash = hashCanonicalJson({ model: 'sdk online verification' })

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

async function receiptFor(modelCid: string, nonce: number): Promise<Receipt> {
  const domain: VerityDomain = {
    name: 'Verity',
    version: '1',
    chainId: config.chainId,
    verifyingContract: config.contracts.settlement,
  }
  const request = createInferenceRequest({
    modelCid,
    manifestHash,
    inputs: { x: { dtype: 'int8', shape: [2], data: new Int8Array([1, 2]) } },
    nonce: `0x${nonce.toString(16).padStart(64, '0')}`,
    deadline: 4_000_000_000n,
  })
  return createReceipt({
    account: chain.accounts[1]!,
    requester: chain.accounts[4]!.address,
    request,
    outputs: { y: { dtype: 'int32', shape: [1], data: new Int32Array([3]) } },
    engine: { name: 'onnxruntime-node', version: '1.30.0', settings: {} },
    domain,
  })
}

before(async () => {
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
  // the transport is not used by verifyReceipt: nothing listens there
  client = createClient({ transport: http('http://127.0.0.1:9') })
})
after(() => chain?.close())

test('default: offline verification is unchanged: no chain checks', async () => {
  const verdict = await verifyReceipt(client, { receipt: await receiptFor(cid, 1) })
  assert.equal(verdict.valid, true)
  assert.ok(!verdict.checks.some((check) => check.name.startsWith('chain')))
  assert.equal(verdict.chain, undefined)
})

test('behavior: online: true with rpcUrl adds the chain checks', async () => {
  const verdict = await verifyReceipt(client, {
    receipt: await receiptFor(cid, 2),
    online: true,
    rpcUrl: config.rpcUrl,
  })
  assert.equal(
    verdict.valid,
    true,
    JSON.stringify(verdict.checks.filter((c) => c.status === 'fail')),
  )
  assert.equal(verdict.chain?.chainId, config.chainId)
  const byName = new Map(verdict.checks.map((check) => [check.name, check.status]))
  assert.equal(byName.get('chain.contract'), 'pass')
  assert.equal(byName.get('model.registry'), 'pass')
  assert.equal(byName.get('executor.stake'), 'pass')
  assert.equal(byName.get('settlement'), 'skip')

  const unknown = await verifyReceipt(client, {
    receipt: await receiptFor('bafkreiunregistered', 3),
    online: true,
    rpcUrl: config.rpcUrl,
  })
  assert.equal(unknown.code, 'MODEL_NOT_REGISTERED')
  const required = await verifyReceipt(client, {
    receipt: await receiptFor(cid, 4),
    online: true,
    publicClient: chain.publicClient,
    requireSettlement: true,
  })
  assert.equal(required.code, 'RECEIPT_NOT_SETTLED')
})

test('error: online without a usable rpcUrl throws INVALID_ARGUMENT; an unreachable one is a failed check', async () => {
  const receipt = await receiptFor(cid, 5)
  const invalid = (error: unknown) => isBaseError(error, 'INVALID_ARGUMENT')
  await assert.rejects(verifyReceipt(client, { receipt, online: true }), invalid)
  await assert.rejects(
    verifyReceipt(client, { receipt, online: true, rpcUrl: 'ws://127.0.0.1:1' }),
    invalid,
  )
  const down = await verifyReceipt(client, { receipt, online: true, rpcUrl: 'http://127.0.0.1:9' })
  assert.equal(down.valid, false)
  assert.equal(down.code, 'CHAIN_UNAVAILABLE')
})
