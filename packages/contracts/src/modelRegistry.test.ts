import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import {
  type Address,
  getContract,
  type Hex,
  keccak256,
  parseEventLogs,
  stringToBytes,
  zeroAddress,
} from 'viem'
import { modelRegistryAbi, modelRegistryBytecode } from './generated/index.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

let chain: TestChain
let address: Address
let snapshot: Hex

const manifestA = keccak256(stringToBytes('manifest A'))
const manifestB = keccak256(stringToBytes('manifest B'))
const cidHash = (cid: string): Hex => keccak256(stringToBytes(cid))

before(async () => {
  chain = await createTestChain({ accounts: 3 })
  address = await chain.deploy(modelRegistryAbi, modelRegistryBytecode, [3000])
})
after(() => chain.close())
beforeEach(async () => {
  snapshot = await chain.snapshot()
})
afterEach(async () => {
  await chain.revert(snapshot)
})

const as = (index: number) =>
  getContract({
    address,
    abi: modelRegistryAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[index]! },
  })
const creator = () => as(0)
const other = () => as(1)

async function mined(hash: Hex) {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return {
    receipt,
    events: parseEventLogs({ abi: modelRegistryAbi, logs: receipt.logs }),
  }
}

async function register(cid = 'bafy-model-a', royaltyBps = 1000, price = 5n): Promise<bigint> {
  const { events } = await mined(
    await creator().write.registerModel(['digits', cid, manifestA, royaltyBps, price, zeroAddress]),
  )
  const event = events.find((e) => e.eventName === 'ModelRegistered')
  assert.ok(event && event.eventName === 'ModelRegistered')
  return event.args.modelId
}

test('default: the constructor stores and announces MAX_ROYALTY_BPS', async () => {
  const registry = creator()
  assert.equal(await registry.read.MAX_ROYALTY_BPS(), 3000)
  assert.equal(await registry.read.modelCount(), 0n)
  const events = await chain.publicClient.getContractEvents({
    address,
    abi: modelRegistryAbi,
    eventName: 'ParametersSet',
    fromBlock: 0n,
  })
  assert.equal(events.length, 1)
  assert.equal(events[0]!.args.maxRoyaltyBps, 3000)
})

test('error: the constructor rejects a royalty bound above 100 %', async () => {
  await expectRevert(
    chain.deploy(modelRegistryAbi, modelRegistryBytecode, [10_001]),
    'InvalidParameter',
    ['maxRoyaltyBps'],
    modelRegistryAbi,
  )
})

test('behavior: registerModel assigns ids from 1, stores the model and version 1, emits ModelRegistered', async (t) => {
  const registry = creator()
  const { result } = await registry.simulate.registerModel([
    'digits',
    'bafy-model-a',
    manifestA,
    1000,
    5n,
    zeroAddress,
  ])
  assert.equal(result, 1n)
  const { receipt, events } = await mined(
    await registry.write.registerModel([
      'digits',
      'bafy-model-a',
      manifestA,
      1000,
      5n,
      zeroAddress,
    ]),
  )
  t.diagnostic(`gas registerModel: ${receipt.gasUsed}`)
  assert.equal(events.length, 1)
  const event = events[0]!
  assert.equal(event.eventName, 'ModelRegistered')
  assert.deepEqual(event.args, {
    modelId: 1n,
    creator: chain.accounts[0]!.address,
    name: 'digits',
    cid: 'bafy-model-a',
    manifestHash: manifestA,
    royaltyBps: 1000,
    pricePerCall: 5n,
    zkVerifier: zeroAddress,
  })
  assert.deepEqual(await registry.read.getModel([1n]), {
    creator: chain.accounts[0]!.address,
    name: 'digits',
    royaltyBps: 1000,
    pricePerCall: 5n,
    zkVerifier: zeroAddress,
    deprecated: false,
    versionCount: 1,
  })
  assert.deepEqual(await registry.read.getVersion([1n, 1]), ['bafy-model-a', manifestA])
  assert.deepEqual(await registry.read.latestVersion([1n]), [1, 'bafy-model-a', manifestA])
  assert.deepEqual(await registry.read.modelByCid([cidHash('bafy-model-a')]), [1n, 1])
  assert.equal(await registry.read.modelCount(), 1n)

  // The next model, by another creator, gets id 2; royalty may equal the bound.
  const { events: second } = await mined(
    await other().write.registerModel(['llm', 'bafy-model-b', manifestB, 3000, 0n, zeroAddress]),
  )
  assert.equal(second[0]!.eventName === 'ModelRegistered' && second[0]!.args.modelId, 2n)
  assert.equal((await registry.read.getModel([2n])).creator, chain.accounts[1]!.address)
})

test('error: registerModel rejects a royalty above the bound, an empty CID and a taken CID', async () => {
  const registry = creator()
  await expectRevert(
    registry.write.registerModel(['x', 'bafy-x', manifestA, 3001, 0n, zeroAddress]),
    'RoyaltyTooHigh',
    [3001, 3000],
  )
  await expectRevert(
    registry.write.registerModel(['x', '', manifestA, 0, 0n, zeroAddress]),
    'EmptyCid',
    [],
  )
  await register('bafy-model-a')
  await expectRevert(
    other().write.registerModel(['x', 'bafy-model-a', manifestB, 0, 0n, zeroAddress]),
    'CidTaken',
    ['bafy-model-a'],
  )
  // A CID published as a later version is taken too.
  await mined(await registry.write.publishVersion([1n, 'bafy-model-a2', manifestB]))
  await expectRevert(
    other().write.registerModel(['x', 'bafy-model-a2', manifestB, 0, 0n, zeroAddress]),
    'CidTaken',
    ['bafy-model-a2'],
  )
  assert.equal(await registry.read.modelCount(), 1n)
})

test('behavior: publishVersion appends a version, keeps the old one and emits VersionPublished', async (t) => {
  const id = await register()
  const { receipt, events } = await mined(
    await creator().write.publishVersion([id, 'bafy-model-a2', manifestB]),
  )
  t.diagnostic(`gas publishVersion: ${receipt.gasUsed}`)
  assert.deepEqual(
    events.map((e) => [e.eventName, e.args]),
    [
      [
        'VersionPublished',
        { modelId: id, version: 2, cid: 'bafy-model-a2', manifestHash: manifestB },
      ],
    ],
  )
  const registry = creator()
  assert.equal((await registry.read.getModel([id])).versionCount, 2)
  assert.deepEqual(await registry.read.latestVersion([id]), [2, 'bafy-model-a2', manifestB])
  assert.deepEqual(await registry.read.getVersion([id, 1]), ['bafy-model-a', manifestA])
  assert.deepEqual(await registry.read.getVersion([id, 2]), ['bafy-model-a2', manifestB])
  assert.deepEqual(await registry.read.modelByCid([cidHash('bafy-model-a2')]), [id, 2])
})

test('error: publishVersion by a non-creator, for an unknown or deprecated model, with an empty or taken CID', async () => {
  const id = await register()
  await expectRevert(other().write.publishVersion([id, 'bafy-v2', manifestB]), 'NotCreator', [
    id,
    chain.accounts[1]!.address,
  ])
  await expectRevert(creator().write.publishVersion([7n, 'bafy-v2', manifestB]), 'UnknownModel', [
    7n,
  ])
  await expectRevert(creator().write.publishVersion([id, '', manifestB]), 'EmptyCid', [])
  await expectRevert(creator().write.publishVersion([id, 'bafy-model-a', manifestB]), 'CidTaken', [
    'bafy-model-a',
  ])
  await mined(await creator().write.deprecate([id]))
  await expectRevert(creator().write.publishVersion([id, 'bafy-v2', manifestB]), 'IsDeprecated', [
    id,
  ])
})

test('behavior: deprecate marks the model and emits ModelDeprecated; it is final', async (t) => {
  const id = await register()
  const { receipt, events } = await mined(await creator().write.deprecate([id]))
  t.diagnostic(`gas deprecate: ${receipt.gasUsed}`)
  assert.deepEqual(
    events.map((e) => [e.eventName, e.args]),
    [['ModelDeprecated', { modelId: id }]],
  )
  assert.equal((await creator().read.getModel([id])).deprecated, true)
  await expectRevert(creator().write.deprecate([id]), 'IsDeprecated', [id])
  await expectRevert(other().write.deprecate([id]), 'NotCreator', [id, chain.accounts[1]!.address])
  await expectRevert(creator().write.deprecate([0n]), 'UnknownModel', [0n])
})

test('behavior: setRoyalty, setPrice and setZkVerifier change the model and emit events', async (t) => {
  const id = await register()
  const verifier = chain.accounts[2]!.address
  const royalty = await mined(await creator().write.setRoyalty([id, 3000]))
  const price = await mined(await creator().write.setPrice([id, 10n ** 18n]))
  const zk = await mined(await creator().write.setZkVerifier([id, verifier]))
  t.diagnostic(
    `gas setRoyalty: ${royalty.receipt.gasUsed}, setPrice: ${price.receipt.gasUsed}, setZkVerifier: ${zk.receipt.gasUsed}`,
  )
  assert.deepEqual(
    [...royalty.events, ...price.events, ...zk.events].map((e) => [e.eventName, e.args]),
    [
      ['RoyaltyChanged', { modelId: id, royaltyBps: 3000 }],
      ['PriceChanged', { modelId: id, pricePerCall: 10n ** 18n }],
      ['ZkVerifierChanged', { modelId: id, zkVerifier: verifier }],
    ],
  )
  const model = await creator().read.getModel([id])
  assert.equal(model.royaltyBps, 3000)
  assert.equal(model.pricePerCall, 10n ** 18n)
  assert.equal(model.zkVerifier, verifier)
})

test('error: the setters are creator-only, check the model and bound the royalty', async () => {
  const id = await register()
  const stranger = [id, chain.accounts[1]!.address] as const
  await expectRevert(other().write.setRoyalty([id, 1]), 'NotCreator', stranger)
  await expectRevert(other().write.setPrice([id, 1n]), 'NotCreator', stranger)
  await expectRevert(other().write.setZkVerifier([id, zeroAddress]), 'NotCreator', stranger)
  await expectRevert(creator().write.setRoyalty([9n, 1]), 'UnknownModel', [9n])
  await expectRevert(creator().write.setPrice([9n, 1n]), 'UnknownModel', [9n])
  await expectRevert(creator().write.setZkVerifier([9n, zeroAddress]), 'UnknownModel', [9n])
  await expectRevert(creator().write.setRoyalty([id, 3001]), 'RoyaltyTooHigh', [3001, 3000])
  const model = await creator().read.getModel([id])
  assert.equal(model.royaltyBps, 1000)
  assert.equal(model.pricePerCall, 5n)
})

test('error: views reject unknown models and versions; modelByCid answers 0 for an unknown CID', async () => {
  const id = await register()
  const registry = creator()
  await expectRevert(registry.read.getModel([0n]), 'UnknownModel', [0n])
  await expectRevert(registry.read.getModel([2n]), 'UnknownModel', [2n])
  await expectRevert(registry.read.getVersion([2n, 1]), 'UnknownModel', [2n])
  await expectRevert(registry.read.getVersion([id, 0]), 'UnknownVersion', [id, 0])
  await expectRevert(registry.read.getVersion([id, 2]), 'UnknownVersion', [id, 2])
  await expectRevert(registry.read.latestVersion([2n]), 'UnknownModel', [2n])
  assert.deepEqual(await registry.read.modelByCid([cidHash('bafy-unknown')]), [0n, 0])
})
