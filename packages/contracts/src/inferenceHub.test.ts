import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import { verityTypes } from '@verity/protocol'
import {
  type Address,
  decodeErrorResult,
  encodeErrorResult,
  encodeFunctionData,
  encodePacked,
  getAddress,
  getContract,
  type Hex,
  hashTypedData,
  keccak256,
  parseEther,
  parseEventLogs,
  stringToBytes,
  toHex,
  zeroAddress,
} from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { deployVerity } from './deploy.ts'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  hostileConsumerAbi,
  hostileConsumerBytecode,
  inferenceHubAbi,
  inferenceHubBytecode,
  modelRegistryAbi,
  nodeRegistryAbi,
  reentrantReceiverAbi,
  reentrantReceiverBytecode,
  testZkVerifierAbi,
  testZkVerifierBytecode,
} from './generated/index.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

// Accounts: 0 deployer (owns the consumers), 1 model creator, 2 executor, 3 + 4 + 5 co-signers,
// 6 second executor, 7 unstaked outsider, 8 verifier-only node, 9 treasury.
const CREATOR = 1
const EXECUTOR = 2
const COSIGNERS = [3, 4, 5]
const EXECUTOR_2 = 6
const OUTSIDER = 7
const VERIFIER_ONLY = 8
const TREASURY = 9

const parameters = {
  requestTimeout: 3600,
  verifierBps: 2000,
  treasuryBps: 500,
  maxCallbackGas: 1_000_000,
  maxRoyaltyBps: 3000,
}
const PRICE = parseEther('0.001')
const ROYALTY_BPS = 1000
const REEXEC = 1
const ZK = 2
const Status = { Pending: 1, Fulfilled: 2, Refunded: 3 } as const
const Behavior = { Store: 0, Revert: 1, BurnGas: 2, ReturnBomb: 3, Reenter: 4 } as const

let chain: TestChain
let hub: Address
let nodeRegistry: Address
let consumer: Address
let hostile: Address
let zkVerifier: Address
/** 1: re-execution model, 2: zk model, 3: deprecated model, 4: free model. */
const MODEL = 1n
const ZK_MODEL = 2n
const DEPRECATED_MODEL = 3n
const FREE_MODEL = 4n
let snapshot: Hex

const account = (index: number): PrivateKeyAccount => chain.accounts[index]!
const addr = (index: number): Address => account(index).address
const client = (index: number) => ({
  public: chain.publicClient,
  wallet: chain.walletClients[index]!,
})
const hubAs = (index: number) =>
  getContract({ address: hub, abi: inferenceHubAbi, client: client(index) })
const consumerAs = (index: number) =>
  getContract({ address: consumer, abi: exampleConsumerAbi, client: client(index) })
const hostileAs = (index: number) =>
  getContract({ address: hostile, abi: hostileConsumerAbi, client: client(index) })

async function mined(hash: Hex) {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return { receipt, events: parseEventLogs({ abi: inferenceHubAbi, logs: receipt.logs }) }
}

async function advance(seconds: number): Promise<void> {
  await chain.increaseTime(seconds)
}

before(async () => {
  chain = await createTestChain()
  const config = await deployVerity({
    rpcUrl: chain.anvil.rpcUrl,
    account: account(0),
    parameters,
    treasury: addr(TREASURY),
    pollingInterval: 20,
  })
  hub = getAddress(config.contracts.inferenceHub)
  nodeRegistry = getAddress(config.contracts.nodeRegistry)
  zkVerifier = getAddress(await chain.deploy(testZkVerifierAbi, testZkVerifierBytecode, []))
  const models = getContract({
    address: config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    client: client(CREATOR),
  })
  const manifest = keccak256(stringToBytes('manifest'))
  for (const [cid, verifier] of [
    ['bafy-reexec', zeroAddress],
    ['bafy-zk', zkVerifier],
    ['bafy-old', zeroAddress],
  ] as const) {
    await mined(
      await models.write.registerModel(['m', cid, manifest, ROYALTY_BPS, PRICE, verifier]),
    )
  }
  await mined(await models.write.registerModel(['m', 'bafy-free', manifest, 0, 0n, zeroAddress]))
  await mined(await models.write.deprecate([DEPRECATED_MODEL]))
  for (const [index, roles] of [
    [EXECUTOR, 6],
    [COSIGNERS[0]!, 4],
    [COSIGNERS[1]!, 4],
    [COSIGNERS[2]!, 4],
    [EXECUTOR_2, 2],
    [VERIFIER_ONLY, 4],
  ] as const) {
    const registry = getContract({
      address: nodeRegistry,
      abi: nodeRegistryAbi,
      client: client(index),
    })
    await mined(await registry.write.register(['http://n', 'p', roles], { value: parseEther('1') }))
  }
  consumer = getAddress(await chain.deploy(exampleConsumerAbi, exampleConsumerBytecode, [hub]))
  hostile = getAddress(await chain.deploy(hostileConsumerAbi, hostileConsumerBytecode, [hub]))
})
after(() => chain.close())
beforeEach(async () => {
  snapshot = await chain.snapshot()
})
afterEach(async () => {
  await chain.revert(snapshot)
})

const input = toHex('{"x":[1,2,3]}')
const output = toHex('{"y":[0.1,0.9]}')

/** Asks through the ExampleConsumer; returns the request id and the event. */
async function ask(
  options: { mode?: number; quorum?: number; gas?: number; fee?: bigint; model?: bigint } = {},
) {
  const { events, receipt } = await mined(
    await consumerAs(0).write.ask(
      [
        options.model ?? MODEL,
        input,
        options.mode ?? REEXEC,
        options.quorum ?? 2,
        options.gas ?? 200_000,
      ],
      { value: options.fee ?? PRICE },
    ),
  )
  const requested = events.find((e) => e.eventName === 'InferenceRequested')
  assert.ok(requested?.eventName === 'InferenceRequested')
  return { requestId: requested.args.requestId, requested, events, receipt }
}

async function sign(index: number, requestId: bigint, out: Hex = output, signer = index) {
  const signature = await account(index).signTypedData({
    domain: { name: 'Verity', version: '1', chainId: chain.chain.id, verifyingContract: hub },
    types: verityTypes,
    primaryType: 'HubResult',
    message: { requestId, inputHash: keccak256(input), outputHash: keccak256(out) },
  })
  return { signer: addr(signer), signature }
}

async function quorumSignatures(requestId: bigint, cosigners = COSIGNERS.slice(0, 2)) {
  return [
    await sign(EXECUTOR, requestId),
    ...(await Promise.all(cosigners.map((i) => sign(i, requestId)))),
  ]
}

function zkProof(out: Hex = output): Hex {
  return encodePacked(
    ['string', 'bytes32', 'bytes32'],
    ['verity-test-proof', keccak256(input), keccak256(out)],
  )
}

// ------------------------------------------------------------------ construction

test('default: the constructor stores every parameter and announces it in ParametersSet', async () => {
  const r = hubAs(0).read
  assert.equal(await r.NODE_REGISTRY(), nodeRegistry)
  assert.equal(await r.TREASURY(), addr(TREASURY))
  assert.equal(await r.REQUEST_TIMEOUT(), 3600n)
  assert.equal(await r.VERIFIER_BPS(), 2000)
  assert.equal(await r.TREASURY_BPS(), 500)
  assert.equal(await r.MAX_CALLBACK_GAS(), 1_000_000)
  const [event] = await chain.publicClient.getContractEvents({
    address: hub,
    abi: inferenceHubAbi,
    eventName: 'ParametersSet',
    fromBlock: 0n,
  })
  assert.equal(event?.args.requestTimeout, 3600n)
  assert.equal(event?.args.verifierBps, 2000)
  assert.equal(event?.args.treasuryBps, 500)
  assert.equal(event?.args.maxCallbackGas, 1_000_000)
  assert.equal(event?.args.maxQuorum, 32)
  assert.equal(event?.args.callbackGasReserve, 20_000n)
  assert.equal(event?.args.treasury, addr(TREASURY))
})

test('error: the constructor rejects zero addresses and out-of-range parameters', async () => {
  const base = [nodeRegistry, nodeRegistry, addr(TREASURY), 3600n, 2000, 500, 100_000] as const
  const cases: [number, unknown, string, unknown[]][] = [
    [0, zeroAddress, 'ZeroAddress', ['nodeRegistry']],
    [1, zeroAddress, 'ZeroAddress', ['modelRegistry']],
    [2, zeroAddress, 'ZeroAddress', ['treasury']],
    [3, 0n, 'InvalidParameter', ['requestTimeout']],
    [4, 9600, 'InvalidParameter', ['verifierBps + treasuryBps']],
  ]
  for (const [index, value, name, args] of cases) {
    const constructorArgs = [...base] as unknown[]
    constructorArgs[index] = value
    await expectRevert(
      chain.deploy(
        inferenceHubAbi,
        inferenceHubBytecode,
        constructorArgs as unknown as typeof base,
      ),
      name,
      args,
      inferenceHubAbi,
    )
  }
})

test('default: hashResult equals viem’s EIP-712 HubResult digest under the hub’s domain', async () => {
  const message = { requestId: 7n, inputHash: keccak256(input), outputHash: keccak256(output) }
  assert.equal(
    await hubAs(0).read.hashResult([message.requestId, message.inputHash, message.outputHash]),
    hashTypedData({
      domain: { name: 'Verity', version: '1', chainId: chain.chain.id, verifyingContract: hub },
      types: verityTypes,
      primaryType: 'HubResult',
      message,
    }),
  )
})

// ------------------------------------------------------------------ request

test('default: a consumer request is stored and announced with its input', async () => {
  const { requestId, requested, events, receipt } = await ask({ fee: PRICE + 5n })
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })
  assert.equal(requestId, 1n)
  assert.deepEqual(requested.args, {
    requestId: 1n,
    consumer,
    modelId: MODEL,
    cid: 'bafy-reexec',
    inputHash: keccak256(input),
    mode: REEXEC,
    quorum: 2,
    fee: PRICE + 5n,
    callbackGasLimit: 200_000,
    deadline: block.timestamp + 3600n,
  })
  const inputEvent = events.find((e) => e.eventName === 'InferenceInput')
  assert.ok(inputEvent?.eventName === 'InferenceInput')
  assert.equal(inputEvent.args.input, input)
  const stored = await hubAs(0).read.getRequest([requestId])
  assert.equal(stored.consumer, consumer)
  assert.equal(stored.creator, addr(CREATOR))
  assert.equal(stored.royaltyBps, ROYALTY_BPS)
  assert.equal(stored.fee, PRICE + 5n)
  assert.equal(stored.status, Status.Pending)
  assert.equal(stored.modelId, MODEL)
  assert.equal(await hubAs(0).read.requestCount(), 1n)
  assert.equal(await consumerAs(0).read.lastRequestId(), 1n)
  await expectRevert(hubAs(0).read.getRequest([9n]), 'UnknownRequest', [9n])
})

test('error: request rejects bad modes, quorums, gas limits, models and fees', async () => {
  const h = hubAs(0)
  await expectRevert(h.write.request([MODEL, input, 0, 0, 0], { value: PRICE }), 'InvalidMode', [0])
  await expectRevert(h.write.request([MODEL, input, 3, 0, 0], { value: PRICE }), 'InvalidMode', [3])
  await expectRevert(
    h.write.request([MODEL, input, REEXEC, 33, 0], { value: PRICE }),
    'QuorumTooHigh',
    [33, 32],
  )
  await expectRevert(
    h.write.request([MODEL, input, REEXEC, 1, 1_000_001], { value: PRICE }),
    'CallbackGasTooHigh',
    [1_000_001, 1_000_000],
  )
  await expectRevert(
    h.write.request([99n, input, REEXEC, 1, 0], { value: PRICE }),
    'UnknownModel',
    [99n],
  )
  await expectRevert(
    h.write.request([DEPRECATED_MODEL, input, REEXEC, 1, 0], { value: PRICE }),
    'ModelDeprecated',
    [DEPRECATED_MODEL],
  )
  await expectRevert(
    h.write.request([MODEL, input, REEXEC, 1, 0], { value: PRICE - 1n }),
    'FeeTooLow',
    [PRICE - 1n, PRICE],
  )
  await expectRevert(h.write.request([MODEL, input, ZK, 0, 0], { value: PRICE }), 'NoZkVerifier', [
    MODEL,
  ])
})

test('error: request rejects a model whose royalty does not fit beside the hub’s shares', async () => {
  const config = await hubAs(0).read.MODEL_REGISTRY()
  const greedy = await chain.deploy(inferenceHubAbi, inferenceHubBytecode, [
    nodeRegistry,
    config,
    addr(TREASURY),
    3600n,
    7000,
    3000,
    100_000,
  ])
  const h = getContract({ address: greedy, abi: inferenceHubAbi, client: client(0) })
  await expectRevert(
    h.write.request([MODEL, input, REEXEC, 0, 0], { value: PRICE }),
    'SplitExceedsFee',
    [ROYALTY_BPS, 7000, 3000],
  )
})

// ------------------------------------------------------------------ fulfill (re-execution)

test('default: fulfill with a quorum stores the result in the consumer and splits the fee', async () => {
  const { requestId } = await ask()
  const { events } = await mined(
    await hubAs(EXECUTOR).write.fulfill([requestId, output, await quorumSignatures(requestId)]),
  )
  const royalty = (PRICE * 1000n) / 10_000n
  const each = (PRICE * 2000n) / 10_000n / 2n
  const treasury = (PRICE * 500n) / 10_000n
  const executor = PRICE - royalty - 2n * each - treasury
  const fulfilled = events.find((e) => e.eventName === 'InferenceFulfilled')
  assert.deepEqual(fulfilled?.args, {
    requestId,
    executor: addr(EXECUTOR),
    outputHash: keccak256(output),
    cosigners: [addr(COSIGNERS[0]!), addr(COSIGNERS[1]!)],
    royalty,
    verifierPool: 2n * each,
    treasuryAmount: treasury,
    executorAmount: executor,
  })
  assert.deepEqual(events.find((e) => e.eventName === 'CallbackSucceeded')?.args, {
    requestId,
    consumer,
  })
  assert.equal(await consumerAs(0).read.resultOf([requestId]), output)
  assert.equal(await consumerAs(0).read.fulfilled([requestId]), true)
  const r = hubAs(0).read
  assert.equal(await r.earnings([addr(CREATOR)]), royalty)
  assert.equal(await r.earnings([addr(COSIGNERS[0]!)]), each)
  assert.equal(await r.earnings([addr(COSIGNERS[1]!)]), each)
  assert.equal(await r.earnings([addr(TREASURY)]), treasury)
  assert.equal(await r.earnings([addr(EXECUTOR)]), executor)
  assert.equal((await r.getRequest([requestId])).status, Status.Fulfilled)
  // Paid out on request.
  const { events: paid } = await mined(await hubAs(CREATOR).write.withdrawEarnings())
  assert.deepEqual(paid[0]?.args, { party: addr(CREATOR), amount: royalty })
  await expectRevert(hubAs(CREATOR).write.withdrawEarnings(), 'NothingToWithdraw')
  await expectRevert(
    hubAs(EXECUTOR).write.fulfill([requestId, output, await quorumSignatures(requestId)]),
    'RequestNotPending',
    [requestId, Status.Fulfilled],
  )
})

test('behavior: extra co-signers share the verifier pool; quorum 0 needs only the executor', async () => {
  const { requestId } = await ask({ quorum: 0 })
  const { events } = await mined(
    await hubAs(EXECUTOR).write.fulfill([requestId, output, [await sign(EXECUTOR, requestId)]]),
  )
  const fulfilled = events.find((e) => e.eventName === 'InferenceFulfilled')
  assert.ok(fulfilled?.eventName === 'InferenceFulfilled')
  assert.equal(fulfilled.args.verifierPool, 0n)
  assert.equal(fulfilled.args.executorAmount, PRICE - PRICE / 10n - PRICE / 20n)
  const { requestId: second } = await ask({ quorum: 1 })
  const { events: three } = await mined(
    await hubAs(EXECUTOR).write.fulfill([
      second,
      output,
      await quorumSignatures(second, COSIGNERS),
    ]),
  )
  const event = three.find((e) => e.eventName === 'InferenceFulfilled')
  assert.ok(event?.eventName === 'InferenceFulfilled')
  assert.equal(event.args.cosigners.length, 3)
  assert.equal(event.args.verifierPool, (PRICE / 5n / 3n) * 3n)
})

test('error: fulfill by anyone but an active executor reverts NotActiveExecutor', async () => {
  const { requestId } = await ask()
  for (const index of [OUTSIDER, VERIFIER_ONLY]) {
    await expectRevert(
      hubAs(index).write.fulfill([requestId, output, await quorumSignatures(requestId)]),
      'NotActiveExecutor',
      [addr(index)],
    )
  }
  await expectRevert(hubAs(EXECUTOR).write.fulfill([42n, output, []]), 'UnknownRequest', [42n])
})

test('error: fulfill rejects bad, duplicate, inactive, missing and too few signatures', async () => {
  const { requestId } = await ask()
  const executor = hubAs(EXECUTOR)
  const own = await sign(EXECUTOR, requestId)
  const [a, b, c] = await Promise.all(COSIGNERS.map((i) => sign(i, requestId)))
  const otherOutput = await sign(COSIGNERS[0]!, requestId, toHex('other'))
  const impostor = await sign(OUTSIDER, requestId, output, COSIGNERS[0]!) // signed by 7, claims 3
  const cases: [string, { signer: Address; signature: Hex }[], string, unknown[]][] = [
    ['other output', [own, otherOutput!, b!], 'InvalidSignature', [addr(COSIGNERS[0]!)]],
    ['impostor', [own, impostor, b!], 'InvalidSignature', [addr(COSIGNERS[0]!)]],
    [
      'malformed',
      [own, { ...a!, signature: '0x1234' }, b!],
      'InvalidSignature',
      [addr(COSIGNERS[0]!)],
    ],
    ['duplicate co-signer', [own, a!, a!], 'DuplicateSigner', [addr(COSIGNERS[0]!)]],
    ['duplicate executor', [own, own, a!, b!], 'DuplicateSigner', [addr(EXECUTOR)]],
    [
      'unstaked co-signer',
      [own, a!, await sign(OUTSIDER, requestId)],
      'SignerNotActive',
      [addr(OUTSIDER)],
    ],
    ['no executor signature', [a!, b!, c!], 'MissingExecutorSignature', [addr(EXECUTOR)]],
    ['quorum short', [own, a!], 'QuorumNotMet', [1n, 2]],
    ['too many', Array(34).fill(own), 'TooManySignatures', [34n, 33n]],
  ]
  for (const [name, signatures, error, args] of cases) {
    await expectRevert(executor.write.fulfill([requestId, output, signatures]), error, args).catch(
      (e: unknown) => {
        throw new Error(`${name}: ${(e as Error).message}`)
      },
    )
  }
  // The executor of a fulfilment is the caller: EXECUTOR_2 cannot reuse EXECUTOR's signature.
  await expectRevert(
    hubAs(EXECUTOR_2).write.fulfill([requestId, output, [own, a!, b!]]),
    'MissingExecutorSignature',
    [addr(EXECUTOR_2)],
  )
})

test('error: fulfill after the deadline reverts; refund returns the fee to the consumer', async () => {
  const { requestId, requested } = await ask()
  const deadline = requested.args.deadline
  await expectRevert(hubAs(0).write.refund([requestId]), 'RequestNotExpired', [requestId, deadline])
  await advance(3601)
  await expectRevert(
    hubAs(EXECUTOR).write.fulfill([requestId, output, await quorumSignatures(requestId)]),
    'RequestExpired',
    [requestId, deadline],
  )
  const { events } = await mined(await hubAs(OUTSIDER).write.refund([requestId]))
  assert.deepEqual(events[0]?.args, { requestId, consumer, fee: PRICE })
  assert.equal(await hubAs(0).read.earnings([consumer]), PRICE)
  await expectRevert(hubAs(0).write.refund([requestId]), 'RequestNotPending', [
    requestId,
    Status.Refunded,
  ])
  await expectRevert(hubAs(0).write.refund([77n]), 'UnknownRequest', [77n])
  // The consumer forwards the refund to its owner.
  await expectRevert(consumerAs(OUTSIDER).write.withdrawRefunds(), 'NotOwner', [addr(OUTSIDER)])
  const before = await chain.publicClient.getBalance({ address: addr(0) })
  const { receipt } = await mined(await consumerAs(0).write.withdrawRefunds())
  const after = await chain.publicClient.getBalance({ address: addr(0) })
  assert.equal(after - before, PRICE - receipt.gasUsed * receipt.effectiveGasPrice)
  assert.equal(await hubAs(0).read.earnings([consumer]), 0n)
})

test('error: a fulfilled request cannot be refunded', async () => {
  const { requestId } = await ask()
  await mined(
    await hubAs(EXECUTOR).write.fulfill([requestId, output, await quorumSignatures(requestId)]),
  )
  await advance(3601)
  await expectRevert(hubAs(0).write.refund([requestId]), 'RequestNotPending', [
    requestId,
    Status.Fulfilled,
  ])
})

// ------------------------------------------------------------------ fulfillWithProof (zk)

test('default: fulfillWithProof with a proof the model’s verifier accepts delivers the result', async () => {
  const { requestId } = await ask({ model: ZK_MODEL, mode: ZK, quorum: 0 })
  assert.equal((await hubAs(0).read.getRequest([requestId])).zkVerifier, zkVerifier)
  const { events } = await mined(
    await hubAs(EXECUTOR).write.fulfillWithProof([requestId, output, zkProof()]),
  )
  const fulfilled = events.find((e) => e.eventName === 'InferenceFulfilled')
  assert.ok(fulfilled?.eventName === 'InferenceFulfilled')
  assert.deepEqual(fulfilled.args.cosigners, [])
  assert.equal(fulfilled.args.executorAmount, PRICE - PRICE / 10n - PRICE / 20n)
  assert.equal(await consumerAs(0).read.resultOf([requestId]), output)
})

test('error: fulfillWithProof rejects wrong, reverting and misdirected proofs', async () => {
  const { requestId } = await ask({ model: ZK_MODEL, mode: ZK, quorum: 0 })
  const executor = hubAs(EXECUTOR)
  await expectRevert(
    executor.write.fulfillWithProof([requestId, output, zkProof(toHex('other'))]),
    'InvalidProof',
    [requestId],
  )
  await expectRevert(executor.write.fulfillWithProof([requestId, output, '0x']), 'InvalidProof', [
    requestId,
  ])
  await expectRevert(
    hubAs(OUTSIDER).write.fulfillWithProof([requestId, output, zkProof()]),
    'NotActiveExecutor',
    [addr(OUTSIDER)],
  )
  await expectRevert(executor.write.fulfill([requestId, output, []]), 'WrongMode', [requestId, ZK])
  const { requestId: reexec } = await ask()
  await expectRevert(executor.write.fulfillWithProof([reexec, output, zkProof()]), 'WrongMode', [
    reexec,
    REEXEC,
  ])
})

// ------------------------------------------------------------------ hostile consumers

async function askHostile(behavior: number, call: Hex = '0x', gas = 200_000) {
  await mined(await hostileAs(0).write.setBehavior([behavior, call]))
  const { events } = await mined(
    await hostileAs(0).write.ask([MODEL, input, REEXEC, 2, gas], { value: PRICE }),
  )
  const requested = events.find((e) => e.eventName === 'InferenceRequested')
  assert.ok(requested?.eventName === 'InferenceRequested')
  return requested.args.requestId
}

async function fulfillHostile(requestId: bigint) {
  const { events, receipt } = await mined(
    await hubAs(EXECUTOR).write.fulfill([requestId, output, await quorumSignatures(requestId)], {
      gas: 2_000_000n,
    }),
  )
  assert.equal((await hubAs(0).read.getRequest([requestId])).status, Status.Fulfilled)
  assert.ok((await hubAs(0).read.earnings([addr(EXECUTOR)])) > 0n)
  return { events, receipt }
}

test('behavior: a reverting consumer does not block the fulfilment', async () => {
  const requestId = await askHostile(Behavior.Revert)
  const { events } = await fulfillHostile(requestId)
  const failed = events.find((e) => e.eventName === 'CallbackFailed')
  assert.ok(failed?.eventName === 'CallbackFailed')
  assert.equal(failed.args.consumer, hostile)
  assert.equal(
    failed.args.reason,
    encodeErrorResult({ abi: hostileConsumerAbi, errorName: 'Boom', args: [requestId] }),
  )
})

test('behavior: a gas-burning consumer gets exactly its limit and does not block the fulfilment', async () => {
  const requestId = await askHostile(Behavior.BurnGas, '0x', 300_000)
  const { events, receipt } = await fulfillHostile(requestId)
  const failed = events.find((e) => e.eventName === 'CallbackFailed')
  assert.ok(failed?.eventName === 'CallbackFailed')
  assert.equal(failed.args.reason, '0x')
  // The whole transaction used the callback's 300k plus the fulfilment, not the 2M gas limit.
  assert.ok(receipt.gasUsed > 300_000n && receipt.gasUsed < 500_000n, `${receipt.gasUsed}`)
})

test('behavior: a return-data bomb is truncated to MAX_REASON_BYTES', async () => {
  const requestId = await askHostile(Behavior.ReturnBomb)
  const { events } = await fulfillHostile(requestId)
  const failed = events.find((e) => e.eventName === 'CallbackFailed')
  assert.ok(failed?.eventName === 'CallbackFailed')
  assert.equal((failed.args.reason.length - 2) / 2, 256)
})

test('behavior: the callback gets its full gas limit, or the fulfilment reverts', async () => {
  const limit = 800_000
  const requestId = await askHostile(Behavior.Store, '0x', limit)
  const signatures = await quorumSignatures(requestId)
  // Too little gas for the transaction to hand the callback its limit: refused, not starved.
  await expectRevert(
    chain.publicClient.simulateContract({
      account: account(EXECUTOR),
      address: hub,
      abi: inferenceHubAbi,
      functionName: 'fulfill',
      args: [requestId, output, signatures],
      gas: 600_000n,
    }),
    'InsufficientGasForCallback',
  )
  await fulfillHostile(requestId)
  const entry = await hostileAs(0).read.gasAtEntry()
  assert.ok(entry <= BigInt(limit) && entry > BigInt(limit) - 1000n, `${entry}`)
  assert.equal(await hostileAs(0).read.lastOutput(), output)
})

test('behavior: reentrancy from the callback fails and never double-pays', async () => {
  const cases: [string, (id: bigint) => Promise<Hex>, string | undefined][] = [
    [
      'fulfill again',
      async (id) =>
        encodeFunctionData({
          abi: inferenceHubAbi,
          functionName: 'fulfill',
          args: [id, output, await quorumSignatures(id)],
        }),
      'ReentrancyGuardReentrantCall',
    ],
    [
      'withdrawEarnings',
      async () => encodeFunctionData({ abi: inferenceHubAbi, functionName: 'withdrawEarnings' }),
      'ReentrancyGuardReentrantCall',
    ],
    [
      'refund',
      async (id) =>
        encodeFunctionData({ abi: inferenceHubAbi, functionName: 'refund', args: [id] }),
      'RequestNotPending',
    ],
  ]
  for (const [name, makeCall, expected] of cases) {
    const id = await chain.snapshot()
    const requestId = (await hubAs(0).read.requestCount()) + 1n
    const requested = await askHostile(Behavior.Reenter, await makeCall(requestId))
    assert.equal(requested, requestId)
    await fulfillHostile(requestId)
    assert.equal(await hostileAs(0).read.calls(), 1n, name)
    assert.equal(await hostileAs(0).read.reentrySucceeded(), false, name)
    const reason = decodeErrorResult({
      abi: inferenceHubAbi,
      data: await hostileAs(0).read.reentryResult(),
    })
    assert.equal(reason.errorName, expected, name)
    assert.equal(await hubAs(0).read.earnings([hostile]), 0n, name)
    await chain.revert(id)
  }
})

test('behavior: a consumer may chain a new request from inside its callback', async () => {
  const next = encodeFunctionData({
    abi: inferenceHubAbi,
    functionName: 'request',
    args: [FREE_MODEL, input, REEXEC, 0, 0],
  })
  const requestId = await askHostile(Behavior.Reenter, next, 600_000)
  const { events } = await fulfillHostile(requestId)
  assert.equal(await hostileAs(0).read.reentrySucceeded(), true)
  const chained = events.find((e) => e.eventName === 'InferenceRequested')
  assert.ok(chained?.eventName === 'InferenceRequested')
  assert.equal(chained.args.requestId, requestId + 1n)
  assert.equal(chained.args.consumer, hostile)
  assert.equal(chained.args.modelId, FREE_MODEL)
})

test('behavior: a reentrant consumer cannot withdraw its refund twice', async () => {
  const receiver = await chain.deploy(reentrantReceiverAbi, reentrantReceiverBytecode, [])
  const attacker = getContract({ address: receiver, abi: reentrantReceiverAbi, client: client(0) })
  await mined(
    await attacker.write.execute(
      [
        hub,
        PRICE,
        encodeFunctionData({
          abi: inferenceHubAbi,
          functionName: 'request',
          args: [MODEL, input, REEXEC, 0, 0],
        }),
      ],
      { value: PRICE },
    ),
  )
  await advance(3601)
  await mined(await hubAs(0).write.refund([1n]))
  const withdraw = encodeFunctionData({ abi: inferenceHubAbi, functionName: 'withdrawEarnings' })
  await mined(await attacker.write.setReentry([hub, withdraw]))
  await mined(await attacker.write.execute([hub, 0n, withdraw]))
  assert.equal(await attacker.read.received(), PRICE)
  assert.equal(await attacker.read.reentrySucceeded(), false)
  assert.equal(
    decodeErrorResult({ abi: inferenceHubAbi, data: await attacker.read.reentryResult() })
      .errorName,
    'ReentrancyGuardReentrantCall',
  )
  assert.equal(await chain.publicClient.getBalance({ address: hub }), 0n)
})

test('error: a refund the consumer refuses reverts TransferFailed and keeps the credit', async () => {
  const receiver = getAddress(
    await chain.deploy(reentrantReceiverAbi, reentrantReceiverBytecode, []),
  )
  const attacker = getContract({ address: receiver, abi: reentrantReceiverAbi, client: client(0) })
  await mined(
    await attacker.write.execute(
      [
        hub,
        PRICE,
        encodeFunctionData({
          abi: inferenceHubAbi,
          functionName: 'request',
          args: [MODEL, input, REEXEC, 0, 0],
        }),
      ],
      { value: PRICE },
    ),
  )
  await advance(3601)
  await mined(await hubAs(0).write.refund([1n]))
  await mined(await attacker.write.setRejectPayments([true]))
  await expectRevert(
    chain.publicClient.simulateContract({
      account: receiver,
      address: hub,
      abi: inferenceHubAbi,
      functionName: 'withdrawEarnings',
    }),
    'TransferFailed',
    [receiver, PRICE],
  )
  assert.equal(await hubAs(0).read.earnings([receiver]), PRICE)
})

// ------------------------------------------------------------------ ExampleConsumer

test('error: only the hub may deliver results or send wei to ExampleConsumer', async () => {
  await expectRevert(consumerAs(OUTSIDER).write.onInferenceResult([1n, output]), 'NotHub', [
    addr(OUTSIDER),
  ])
  await expectRevert(consumerAs(0).read.resultOf([1n]), 'NoResult', [1n])
  await expectRevert(
    chain.publicClient.call({ account: addr(0), to: consumer, value: 1n }),
    'NotHub',
    [addr(0)],
    exampleConsumerAbi,
  )
  const { events } = await mined(
    await consumerAs(OUTSIDER).write.ask([MODEL, input, REEXEC, 1, 100_000], { value: PRICE }),
  )
  assert.equal(events.length, 2) // the hub's InferenceRequested and InferenceInput
})
