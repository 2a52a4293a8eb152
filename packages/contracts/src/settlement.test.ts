import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import {
  buildReceiptTree,
  computeJobId,
  createInferenceRequest,
  hashAttestations,
  hashInferenceRequest,
  hashReceiptLeaf,
  type InferenceRequestMessage,
  type LeafAttestation,
  type ReceiptLeaf,
  signInferenceRequest,
  type VerityDomain,
  verityTypes,
} from '@verity/protocol'
import {
  type Address,
  decodeErrorResult,
  encodeFunctionData,
  getAddress,
  getContract,
  type Hex,
  hashTypedData,
  keccak256,
  parseEther,
  parseEventLogs,
  parseSignature,
  stringToBytes,
  toHex,
  zeroAddress,
  zeroHash,
} from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { deployVerity } from './deploy.ts'
import {
  modelRegistryAbi,
  nodeRegistryAbi,
  reentrantReceiverAbi,
  reentrantReceiverBytecode,
  settlementAbi,
  settlementBytecode,
} from './generated/index.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

// Accounts: 0 deployer, 1 model creator, 2 executor, 3 + 4 verifiers, 5 payer, 6 challenger,
// 7 unstaked outsider, 8 verifier-only node (not an executor), 9 treasury.
const CREATOR = 1
const EXECUTOR = 2
const VERIFIER_A = 3
const VERIFIER_B = 4
const PAYER = 5
const CHALLENGER = 6
const OUTSIDER = 7
const VERIFIER_ONLY = 8
const TREASURY = 9

const parameters = {
  minStake: parseEther('1'),
  maxStake: parseEther('100'),
  unbondingDelay: 86_400,
  challengeWindow: 3_600,
  escrowWithdrawalDelay: 86_400,
  verifierBps: 2_000,
  treasuryBps: 500,
  maxRoyaltyBps: 3_000,
  slashAmount: parseEther('1'),
  challengerRewardBps: 5_000,
}
const ROYALTY_BPS = 1_000
const CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
const manifestHash = keccak256(stringToBytes('manifest'))
const FAR_DEADLINE = 4_000_000_000n

/** Values of the Solidity enums. */
const Fraud = {
  ExecutorMismatch: 1,
  JobIdMismatch: 2,
  ModelMismatch: 3,
  QuorumMismatch: 4,
  FeeAboveMax: 5,
  CommittedAfterDeadline: 6,
  RequestNotSigned: 7,
  QuorumNotMet: 8,
  Equivocation: 9,
  ExecutorInactive: 10,
} as const
const Status = { Pending: 1, Reverted: 2, Finalized: 3 } as const

let chain: TestChain
let settlement: Address
let nodeRegistry: Address
let modelRegistry: Address
let modelId: bigint
let domain: VerityDomain
let snapshot: Hex

const account = (index: number): PrivateKeyAccount => chain.accounts[index]!
const addr = (index: number): Address => account(index).address
const settlementAs = (index: number) =>
  getContract({
    address: settlement,
    abi: settlementAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[index]! },
  })
const nodesAs = (index: number) =>
  getContract({
    address: nodeRegistry,
    abi: nodeRegistryAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[index]! },
  })
const read = () => settlementAs(0).read

async function mined(hash: Hex) {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return { receipt, events: parseEventLogs({ abi: settlementAbi, logs: receipt.logs }) }
}

/**
 * Mines a block `seconds` after the latest one; the next transaction then runs 1 s later (the test
 * chain's blocks are 1 s apart and do not follow the wall clock).
 */
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
  settlement = getAddress(config.contracts.settlement)
  nodeRegistry = getAddress(config.contracts.nodeRegistry)
  modelRegistry = getAddress(config.contracts.modelRegistry)
  domain = { name: 'Verity', version: '1', chainId: chain.chain.id, verifyingContract: settlement }
  const models = getContract({
    address: modelRegistry,
    abi: modelRegistryAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[CREATOR]! },
  })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await models.write.registerModel([
      'digits',
      CID,
      manifestHash,
      ROYALTY_BPS,
      0n,
      zeroAddress,
    ]),
  })
  modelId = 1n
  const nodes: [number, number, bigint][] = [
    [EXECUTOR, 6, parseEther('10')],
    [VERIFIER_A, 4, parseEther('2')],
    [VERIFIER_B, 4, parseEther('2')],
    [VERIFIER_ONLY, 4, parseEther('2')],
  ]
  for (const [index, roles, stake] of nodes) {
    await chain.publicClient.waitForTransactionReceipt({
      hash: await nodesAs(index).write.register([`http://node${index}`, `peer${index}`, roles], {
        value: stake,
      }),
    })
  }
  await mined(await settlementAs(PAYER).write.deposit({ value: parseEther('10') }))
})
after(() => chain.close())
beforeEach(async () => {
  snapshot = await chain.snapshot()
})
afterEach(async () => {
  await chain.revert(snapshot)
})

// ------------------------------------------------------------------ receipts built by @verity/protocol

function makeRequest(
  seed: number,
  overrides: Partial<InferenceRequestMessage> = {},
): InferenceRequestMessage {
  return {
    ...createInferenceRequest({
      modelCid: CID,
      manifestHash,
      inputs: { x: { dtype: 'float32', shape: [1, 2], data: new Float32Array([seed, 2]) } },
      params: { seed },
      mode: 'reexec',
      quorum: 2,
      maxFee: parseEther('0.01'),
      deadline: FAR_DEADLINE,
      nonce: keccak256(toHex(`nonce ${seed}`)),
    }),
    ...overrides,
  }
}

async function attest(
  index: number,
  jobId: Hex,
  outputHash: Hex,
  agree = true,
): Promise<LeafAttestation> {
  const signature = await account(index).signTypedData({
    domain,
    types: verityTypes,
    primaryType: 'Attestation',
    message: { jobId, outputHash, agree },
  })
  return { verifier: addr(index), agree, signature }
}

type Job = {
  leaf: ReceiptLeaf
  request: InferenceRequestMessage
  attestations: LeafAttestation[]
}

/** An honest receipt: signed request, fee ≤ maxFee, two agreeing staked verifiers. */
async function honestJob(
  seed: number,
  options: {
    fee?: bigint
    request?: InferenceRequestMessage
    attesters?: number[]
    leaf?: Partial<ReceiptLeaf>
  } = {},
): Promise<Job> {
  const request = options.request ?? makeRequest(seed)
  const requester = addr(PAYER)
  const jobId = computeJobId(requester, request)
  const outputHash = keccak256(toHex(`output ${seed}`))
  const attestations: LeafAttestation[] = []
  for (const index of options.attesters ?? [VERIFIER_A, VERIFIER_B]) {
    attestations.push(await attest(index, jobId, outputHash))
  }
  const leaf: ReceiptLeaf = {
    jobId,
    requester,
    executor: addr(EXECUTOR),
    modelCidHash: keccak256(stringToBytes(request.modelCid)),
    fee: options.fee ?? parseEther('0.01'),
    requestStructHash: hashInferenceRequest(request),
    outputHash,
    quorum: request.quorum,
    attestationsHash: hashAttestations(attestations),
    ...options.leaf,
  }
  return { leaf, request, attestations }
}

/** Commits the jobs' leaves as one batch from the executor, deriving the party totals. */
async function commit(jobs: Job[], from = EXECUTOR) {
  const leaves = jobs.map((j) => j.leaf)
  const tree = buildReceiptTree(leaves)
  const payers = new Map<Address, bigint>()
  for (const leaf of leaves)
    payers.set(leaf.requester, (payers.get(leaf.requester) ?? 0n) + leaf.fee)
  const total = leaves.reduce((sum, leaf) => sum + leaf.fee, 0n)
  const shares = new Map<Address, number>()
  for (const job of jobs) {
    for (const a of job.attestations) shares.set(a.verifier, (shares.get(a.verifier) ?? 0) + 1)
  }
  const { events, receipt } = await mined(
    await settlementAs(from).write.commitBatch([
      tree.root as Hex,
      leaves.length,
      [...payers].map(([payer, t]) => ({ payer, total: t })),
      [{ modelId, total }],
      [...shares].map(([verifier, count]) => ({ verifier, count })),
    ]),
  )
  const event = events.find((e) => e.eventName === 'BatchCommitted')
  assert.ok(event?.eventName === 'BatchCommitted')
  return {
    batchId: event.args.batchId,
    tree,
    proof: (index: number) => tree.getProof(index) as Hex[],
    event,
    receipt,
  }
}

async function signRequest(request: InferenceRequestMessage, index = PAYER): Promise<Hex> {
  return signInferenceRequest({ account: account(index), request, domain })
}

async function expectConvicted(hash: Hex, batchId: bigint, reason: number, challenger: Address) {
  const { events } = await mined(hash)
  const challenged = events.find((e) => e.eventName === 'BatchChallenged')
  assert.ok(challenged?.eventName === 'BatchChallenged')
  assert.equal(challenged.args.batchId, batchId)
  assert.equal(challenged.args.reason, reason)
  assert.equal(challenged.args.challenger, challenger)
  const reverted = events.find((e) => e.eventName === 'BatchReverted')
  assert.ok(reverted?.eventName === 'BatchReverted')
  assert.equal(reverted.args.slashed, parameters.slashAmount)
  assert.equal(reverted.args.challengerReward, parameters.slashAmount / 2n)
  assert.equal(reverted.args.treasuryAmount, parameters.slashAmount / 2n)
  assert.equal((await read().getBatch([batchId])).status, Status.Reverted)
}

// ------------------------------------------------------------------ construction

test('default: the constructor stores every parameter and announces it in ParametersSet', async () => {
  const r = read()
  assert.equal(await r.NODE_REGISTRY(), nodeRegistry)
  assert.equal(await r.MODEL_REGISTRY(), modelRegistry)
  assert.equal(await r.TREASURY(), addr(TREASURY))
  assert.equal(await r.CHALLENGE_WINDOW(), 3600n)
  assert.equal(await r.ESCROW_WITHDRAWAL_DELAY(), 86_400n)
  assert.equal(await r.VERIFIER_BPS(), 2000)
  assert.equal(await r.TREASURY_BPS(), 500)
  assert.equal(await r.SLASH_AMOUNT(), parseEther('1'))
  assert.equal(await r.CHALLENGER_REWARD_BPS(), 5000)
  assert.equal(await r.MAX_PARTIES(), 256n)
  assert.equal(await r.MAX_ATTESTATIONS(), 32n)
  const [event] = await chain.publicClient.getContractEvents({
    address: settlement,
    abi: settlementAbi,
    eventName: 'ParametersSet',
    fromBlock: 0n,
  })
  assert.deepEqual(event?.args, {
    nodeRegistry,
    modelRegistry,
    treasury: addr(TREASURY),
    challengeWindow: 3600n,
    escrowWithdrawalDelay: 86_400n,
    verifierBps: 2000,
    treasuryBps: 500,
    slashAmount: parseEther('1'),
    challengerRewardBps: 5000,
    maxParties: 256n,
    maxAttestations: 32n,
  })
})

test('error: the constructor rejects zero addresses and out-of-range parameters', async () => {
  const args = (
    overrides: Partial<Record<number, unknown>>,
  ): [Address, Address, Address, bigint, bigint, number, number, bigint, number] => {
    const base: unknown[] = [
      nodeRegistry,
      modelRegistry,
      addr(TREASURY),
      3600n,
      0n,
      2000,
      500,
      1n,
      5000,
    ]
    for (const [i, v] of Object.entries(overrides)) base[Number(i)] = v
    return base as [Address, Address, Address, bigint, bigint, number, number, bigint, number]
  }
  const cases: [Partial<Record<number, unknown>>, string, unknown[]][] = [
    [{ 0: zeroAddress }, 'ZeroAddress', ['nodeRegistry']],
    [{ 1: zeroAddress }, 'ZeroAddress', ['modelRegistry']],
    [{ 2: zeroAddress }, 'ZeroAddress', ['treasury']],
    [{ 3: 0n }, 'InvalidParameter', ['challengeWindow']],
    [{ 5: 9000, 6: 1001 }, 'InvalidParameter', ['verifierBps + treasuryBps']],
    [{ 7: 0n }, 'InvalidParameter', ['slashAmount']],
    [{ 8: 10_001 }, 'InvalidParameter', ['challengerRewardBps']],
  ]
  for (const [overrides, name, expected] of cases) {
    await expectRevert(
      chain.deploy(settlementAbi, settlementBytecode, args(overrides)),
      name,
      expected,
      settlementAbi,
    )
  }
})

test('error: only the NodeRegistry may send wei to the contract', async () => {
  await expectRevert(
    chain.publicClient.call({ account: addr(0), to: settlement, value: 1n }),
    'UnexpectedPayment',
    [addr(0)],
    settlementAbi,
  )
})

// ------------------------------------------------------------------ escrow

test('behavior: deposit and depositFor credit the free balance and emit Deposited', async () => {
  assert.equal(await read().balanceOf([addr(PAYER)]), parseEther('10'))
  const { events } = await mined(
    await settlementAs(0).write.depositFor([addr(OUTSIDER)], { value: 123n }),
  )
  assert.deepEqual(events[0]?.args, {
    payer: addr(OUTSIDER),
    from: addr(0),
    amount: 123n,
    balance: 123n,
  })
  await mined(await settlementAs(OUTSIDER).write.deposit({ value: 7n }))
  assert.equal(await read().balanceOf([addr(OUTSIDER)]), 130n)
  assert.equal(await read().reserved([addr(OUTSIDER)]), 0n)
})

test('error: deposits of zero and deposits for the zero address revert', async () => {
  await expectRevert(settlementAs(PAYER).write.deposit({ value: 0n }), 'ZeroAmount')
  await expectRevert(
    settlementAs(PAYER).write.depositFor([zeroAddress], { value: 1n }),
    'ZeroAddress',
    ['payer'],
  )
})

test('behavior: a withdrawal pays out after the delay, capped at what is still free', async () => {
  const payer = settlementAs(PAYER)
  const { events } = await mined(await payer.write.requestWithdrawal([parseEther('10')]))
  const requested = events[0]
  assert.ok(requested?.eventName === 'WithdrawalRequested')
  assert.equal(requested.args.amount, parseEther('10'))
  const [amount, availableAt] = await read().pendingWithdrawal([addr(PAYER)])
  assert.equal(amount, parseEther('10'))
  assert.equal(availableAt, requested.args.availableAt)
  await expectRevert(payer.write.withdraw(), 'WithdrawalNotReady', [availableAt])

  // Receipts served meanwhile are still charged: 0.01 ETH gets reserved by a batch.
  await commit([await honestJob(1)])
  await advance(86_400)
  const before = await chain.publicClient.getBalance({ address: settlement })
  const { events: paid } = await mined(await payer.write.withdraw())
  assert.deepEqual(paid[0]?.args, { payer: addr(PAYER), amount: parseEther('9.99') })
  assert.equal(
    before - (await chain.publicClient.getBalance({ address: settlement })),
    parseEther('9.99'),
  )
  assert.equal(await read().balanceOf([addr(PAYER)]), 0n)
  assert.equal(await read().reserved([addr(PAYER)]), parseEther('0.01'))
  await expectRevert(payer.write.withdraw(), 'NothingToWithdraw')
})

test('error: withdrawal requests of zero or above the free balance revert', async () => {
  await expectRevert(settlementAs(PAYER).write.requestWithdrawal([0n]), 'ZeroAmount')
  await expectRevert(
    settlementAs(PAYER).write.requestWithdrawal([parseEther('11')]),
    'InsufficientBalance',
    [addr(PAYER), parseEther('10'), parseEther('11')],
  )
  await expectRevert(settlementAs(OUTSIDER).write.withdraw(), 'NothingToWithdraw')
})

test('behavior: a reentrant payer cannot withdraw twice', async () => {
  const receiver = await chain.deploy(reentrantReceiverAbi, reentrantReceiverBytecode, [])
  const attacker = getContract({
    address: receiver,
    abi: reentrantReceiverAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[0]! },
  })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.execute(
      [
        settlement,
        parseEther('1'),
        encodeFunctionData({ abi: settlementAbi, functionName: 'deposit' }),
      ],
      { value: parseEther('1') },
    ),
  })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.execute([
      settlement,
      0n,
      encodeFunctionData({
        abi: settlementAbi,
        functionName: 'requestWithdrawal',
        args: [parseEther('1')],
      }),
    ]),
  })
  await advance(86_400)
  const withdraw = encodeFunctionData({ abi: settlementAbi, functionName: 'withdraw' })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.setReentry([settlement, withdraw]),
  })
  const receipt = await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.execute([settlement, 0n, withdraw]),
  })
  assert.equal(receipt.status, 'success')
  assert.equal(await attacker.read.received(), parseEther('1'))
  assert.equal(await attacker.read.attempts(), 1n)
  assert.equal(await attacker.read.reentrySucceeded(), false)
  const reason = decodeErrorResult({
    abi: settlementAbi,
    data: await attacker.read.reentryResult(),
  })
  assert.equal(reason.errorName, 'ReentrancyGuardReentrantCall')
  assert.equal(await chain.publicClient.getBalance({ address: settlement }), parseEther('10'))
})

// ------------------------------------------------------------------ cross-language contract

test('default: hashes computed on-chain equal those of @verity/protocol and viem', async () => {
  const job = await honestJob(1)
  const r = read()
  assert.equal(
    await r.hashRequest([job.request]),
    hashTypedData({
      domain,
      types: verityTypes,
      primaryType: 'InferenceRequest',
      message: job.request,
    }),
  )
  assert.equal(await r.requestStructHash([job.request]), hashInferenceRequest(job.request))
  assert.equal(await r.jobIdOf([addr(PAYER), job.request]), computeJobId(addr(PAYER), job.request))
  assert.equal(await r.hashLeaf([job.leaf]), hashReceiptLeaf(job.leaf))
  assert.equal(await r.hashAttestations([job.attestations]), hashAttestations(job.attestations))
  assert.equal(
    await r.hashAttestation([job.leaf.jobId, job.leaf.outputHash, false]),
    hashTypedData({
      domain,
      types: verityTypes,
      primaryType: 'Attestation',
      message: { jobId: job.leaf.jobId, outputHash: job.leaf.outputHash, agree: false },
    }),
  )
  const receipt = {
    jobId: job.leaf.jobId,
    requester: addr(PAYER),
    modelCid: CID,
    manifestHash,
    inputHash: job.request.inputHash,
    paramsHash: job.request.paramsHash,
    mode: 1,
    outputHash: job.leaf.outputHash,
    engineSettingsHash: keccak256(toHex('engine')),
    executedAt: 1_700_000_000n,
  }
  assert.equal(
    await r.hashReceipt([receipt]),
    hashTypedData({
      domain,
      types: verityTypes,
      primaryType: 'ExecutionReceipt',
      message: receipt,
    }),
  )
  // The request signature made by protocol recovers on-chain (answerDispute checks it).
  const signature = await signRequest(job.request)
  const { batchId, proof } = await commit([job])
  await mined(await settlementAs(PAYER).write.disputeRequest([batchId, job.leaf, proof(0)]))
  const { events } = await mined(
    await settlementAs(EXECUTOR).write.answerDispute([batchId, job.leaf, job.request, signature]),
  )
  assert.equal(events[0]?.eventName, 'DisputeAnswered')
})

test('behavior: a batch built by buildReceiptTree verifies on-chain, a changed leaf does not', async () => {
  const jobs = [await honestJob(1), await honestJob(2), await honestJob(3)]
  const { batchId, proof } = await commit(jobs)
  for (const [i, job] of jobs.entries()) {
    assert.equal(await read().verifyInclusion([batchId, job.leaf, proof(i)]), true)
  }
  const changed: Partial<ReceiptLeaf>[] = [
    { fee: jobs[0]!.leaf.fee + 1n },
    { quorum: 1 },
    { outputHash: zeroHash },
    { requester: addr(OUTSIDER) },
    { attestationsHash: hashAttestations([]) },
  ]
  for (const change of changed) {
    const leaf = { ...jobs[0]!.leaf, ...change }
    assert.equal(await read().verifyInclusion([batchId, leaf, proof(0)]), false)
    await expectRevert(
      settlementAs(CHALLENGER).write.challengeQuorum([
        batchId,
        leaf,
        proof(0),
        jobs[0]!.attestations,
      ]),
      'InvalidMerkleProof',
      [batchId, hashReceiptLeaf(leaf)],
    )
  }
  await expectRevert(read().verifyInclusion([99n, jobs[0]!.leaf, proof(0)]), 'UnknownBatch', [99n])
})

test('behavior: an honest receipt survives every challenge and its batch finalizes', async () => {
  const jobs = [await honestJob(1), await honestJob(2)]
  const { batchId, proof } = await commit(jobs)
  const challenger = settlementAs(CHALLENGER)
  const job = jobs[1]!
  await expectRevert(
    challenger.write.challengeRequest([
      batchId,
      job.leaf,
      proof(1),
      job.request,
      await signRequest(job.request),
    ]),
    'NoFraud',
    [batchId],
  )
  await expectRevert(
    challenger.write.challengeQuorum([batchId, job.leaf, proof(1), job.attestations]),
    'NoFraud',
    [batchId],
  )
  const sameOutput = {
    jobId: job.leaf.jobId,
    requester: addr(PAYER),
    modelCid: CID,
    manifestHash,
    inputHash: job.request.inputHash,
    paramsHash: job.request.paramsHash,
    mode: 1,
    outputHash: job.leaf.outputHash,
    engineSettingsHash: zeroHash,
    executedAt: 1n,
  }
  const executorSignature = await account(EXECUTOR).signTypedData({
    domain,
    types: verityTypes,
    primaryType: 'ExecutionReceipt',
    message: sameOutput,
  })
  await expectRevert(
    challenger.write.challengeEquivocation([
      batchId,
      job.leaf,
      proof(1),
      sameOutput,
      executorSignature,
    ]),
    'NoFraud',
    [batchId],
  )
  await expectRevert(challenger.write.challengeExecutor([batchId]), 'NoFraud', [batchId])
  await advance(3601)
  const { events } = await mined(await challenger.write.finalize([batchId]))
  assert.equal(events[0]?.eventName, 'BatchFinalized')
})

// ------------------------------------------------------------------ commitBatch

test('default: commitBatch reserves each payer total, stores the batch and emits every party', async () => {
  const jobs = [await honestJob(1), await honestJob(2, { fee: parseEther('0.004') })]
  const { batchId, event, receipt, tree } = await commit(jobs)
  assert.equal(batchId, 1n)
  assert.equal(await read().batchCount(), 1n)
  const total = parseEther('0.014')
  assert.equal(await read().balanceOf([addr(PAYER)]), parseEther('10') - total)
  assert.equal(await read().reserved([addr(PAYER)]), total)
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })
  assert.deepEqual(event.args, {
    batchId: 1n,
    executor: addr(EXECUTOR),
    root: tree.root,
    count: 2,
    total,
    challengeDeadline: block.timestamp + 3600n,
    payers: [{ payer: addr(PAYER), total }],
    models: [{ modelId, total }],
    verifiers: [
      { verifier: addr(VERIFIER_A), count: 2 },
      { verifier: addr(VERIFIER_B), count: 2 },
    ],
  })
  const batch = await read().getBatch([batchId])
  assert.equal(batch.root, tree.root)
  assert.equal(batch.executor, addr(EXECUTOR))
  assert.equal(batch.committedAt, block.timestamp)
  assert.equal(batch.challengeDeadline, block.timestamp + 3600n)
  assert.equal(batch.count, 2)
  assert.equal(batch.status, Status.Pending)
  assert.equal(batch.openDisputes, 0)
  assert.equal(batch.total, total)
  assert.deepEqual(batch.payers, [{ payer: addr(PAYER), total }])
  assert.deepEqual(batch.models, [
    { modelId, total, creator: addr(CREATOR), royaltyBps: ROYALTY_BPS },
  ])
  assert.equal(batch.verifiers.length, 2)
  await expectRevert(read().getBatch([2n]), 'UnknownBatch', [2n])
})

test('error: commitBatch from anyone but an active executor reverts NotActiveExecutor', async () => {
  const root = keccak256(toHex('root'))
  const args = [root, 1, [{ payer: addr(PAYER), total: 1n }], [{ modelId, total: 1n }], []] as const
  await expectRevert(settlementAs(OUTSIDER).write.commitBatch(args), 'NotActiveExecutor', [
    addr(OUTSIDER),
  ])
  await expectRevert(settlementAs(VERIFIER_ONLY).write.commitBatch(args), 'NotActiveExecutor', [
    addr(VERIFIER_ONLY),
  ])
  // An executor that started to exit is no longer active.
  await mined(await nodesAs(EXECUTOR).write.requestUnbond([parseEther('10')]))
  await expectRevert(settlementAs(EXECUTOR).write.commitBatch(args), 'NotActiveExecutor', [
    addr(EXECUTOR),
  ])
})

test('error: commitBatch rejects empty, oversized, unfunded and inconsistent batches', async () => {
  const executor = settlementAs(EXECUTOR)
  const root = keccak256(toHex('root'))
  const payer = [{ payer: addr(PAYER), total: 5n }]
  const model = [{ modelId, total: 5n }]
  await expectRevert(executor.write.commitBatch([zeroHash, 1, payer, model, []]), 'EmptyBatch')
  await expectRevert(executor.write.commitBatch([root, 0, payer, model, []]), 'EmptyBatch')
  await expectRevert(executor.write.commitBatch([root, 1, [], [], []]), 'EmptyBatch')
  const many = Array.from({ length: 257 }, (_, i) => ({
    payer: `0x${(i + 1).toString(16).padStart(40, '0')}` as Address,
    total: 0n,
  }))
  await expectRevert(executor.write.commitBatch([root, 1, many, model, []]), 'TooManyParties', [
    257n,
    256n,
  ])
  const manyModels = Array.from({ length: 257 }, () => ({ modelId, total: 0n }))
  await expectRevert(
    executor.write.commitBatch([root, 1, payer, manyModels, []]),
    'TooManyParties',
    [257n, 256n],
  )
  const manyVerifiers = Array.from({ length: 257 }, () => ({
    verifier: addr(VERIFIER_A),
    count: 1,
  }))
  await expectRevert(
    executor.write.commitBatch([root, 1, payer, model, manyVerifiers]),
    'TooManyParties',
    [257n, 256n],
  )
  await expectRevert(
    executor.write.commitBatch([root, 1, [{ payer: addr(OUTSIDER), total: 1n }], model, []]),
    'InsufficientBalance',
    [addr(OUTSIDER), 0n, 1n],
  )
  await expectRevert(
    executor.write.commitBatch([root, 1, payer, [{ modelId, total: 4n }], []]),
    'TotalsMismatch',
    [5n, 4n],
  )
  await expectRevert(
    executor.write.commitBatch([root, 1, payer, [{ modelId: 42n, total: 5n }], []]),
    'UnknownModel',
    [42n],
  )
})

test('error: commitBatch rejects a split that exceeds the batch total', async () => {
  // A settlement whose verifier + treasury shares already take 100 %: any royalty overflows.
  const greedy = await chain.deploy(settlementAbi, settlementBytecode, [
    nodeRegistry,
    modelRegistry,
    addr(TREASURY),
    3600n,
    0n,
    7000,
    3000,
    1n,
    0,
  ])
  const contract = (index: number) =>
    getContract({
      address: greedy,
      abi: settlementAbi,
      client: { public: chain.publicClient, wallet: chain.walletClients[index]! },
    })
  await mined(await contract(PAYER).write.deposit({ value: 10_000n }))
  await expectRevert(
    contract(EXECUTOR).write.commitBatch([
      keccak256(toHex('root')),
      1,
      [{ payer: addr(PAYER), total: 10_000n }],
      [{ modelId, total: 10_000n }],
      [],
    ]),
    'SplitExceedsTotal',
    [10_000n, 1000n, 7000n, 3000n],
  )
})

// ------------------------------------------------------------------ finalize

test('default: finalize splits the batch exactly and withdrawEarnings pays each party', async () => {
  // 3 receipts with fees that do not divide evenly; A co-signed 3, B 2 (one receipt has only A).
  const jobs = [
    await honestJob(1, { fee: 1_000_003n }),
    await honestJob(2, { fee: 2_000_000n }),
    await honestJob(3, {
      fee: 333n,
      attesters: [VERIFIER_A],
      request: makeRequest(3, { quorum: 1 }),
    }),
  ]
  const { batchId } = await commit(jobs)
  // Read the deadline before sending: a write created before an await in the argument list could
  // reject unobserved, and node:test would fail this test while its body ran on into the next one.
  const { challengeDeadline } = await read().getBatch([batchId])
  await expectRevert(settlementAs(0).write.finalize([batchId]), 'ChallengeWindowOpen', [
    batchId,
    challengeDeadline,
  ])
  await advance(3601)
  const { events } = await mined(await settlementAs(OUTSIDER).write.finalize([batchId]))
  const total = 3_000_336n
  const royalty = (total * 1000n) / 10_000n // one model: 300_033
  const pool = (total * 2000n) / 10_000n // 600_067
  const shareA = (pool * 3n) / 5n // 360_040
  const shareB = (pool * 2n) / 5n // 240_026
  const treasury = (total * 500n) / 10_000n // 150_016
  const executor = total - royalty - shareA - shareB - treasury
  assert.deepEqual(events[0]?.args, {
    batchId,
    total,
    royalties: royalty,
    verifierPool: shareA + shareB,
    treasuryAmount: treasury,
    executorAmount: executor,
  })
  const r = read()
  assert.equal(await r.earnings([addr(CREATOR)]), royalty)
  assert.equal(await r.earnings([addr(VERIFIER_A)]), shareA)
  assert.equal(await r.earnings([addr(VERIFIER_B)]), shareB)
  assert.equal(await r.earnings([addr(TREASURY)]), treasury)
  assert.equal(await r.earnings([addr(EXECUTOR)]), executor)
  assert.equal(royalty + shareA + shareB + treasury + executor, total)
  assert.equal(await r.reserved([addr(PAYER)]), 0n)
  assert.equal(await r.balanceOf([addr(PAYER)]), parseEther('10') - total)
  assert.equal((await r.getBatch([batchId])).status, Status.Finalized)

  const { events: paid } = await mined(await settlementAs(VERIFIER_A).write.withdrawEarnings())
  assert.deepEqual(paid[0]?.args, { party: addr(VERIFIER_A), amount: shareA })
  assert.equal(await r.earnings([addr(VERIFIER_A)]), 0n)
  await expectRevert(settlementAs(VERIFIER_A).write.withdrawEarnings(), 'NothingToWithdraw')
  await expectRevert(settlementAs(0).write.finalize([batchId]), 'BatchNotPending', [
    batchId,
    Status.Finalized,
  ])
  await expectRevert(settlementAs(0).write.finalize([7n]), 'UnknownBatch', [7n])
})

test('behavior: without verifier shares the verifier pool goes to the executor', async () => {
  const job = await honestJob(1, {
    fee: 10_000n,
    attesters: [],
    request: makeRequest(1, { quorum: 0 }),
  })
  const { batchId } = await commit([job])
  await advance(3601)
  const { events } = await mined(await settlementAs(0).write.finalize([batchId]))
  assert.deepEqual(events[0]?.args, {
    batchId,
    total: 10_000n,
    royalties: 1000n,
    verifierPool: 0n,
    treasuryAmount: 500n,
    executorAmount: 8500n,
  })
})

// ------------------------------------------------------------------ challenge 1: the request

test('behavior: challengeRequest convicts an over-charge, refunds the payer, slashes and rewards', async () => {
  const request = makeRequest(1)
  const job = await honestJob(1, { request, fee: request.maxFee + 1n })
  const honest = await honestJob(2)
  const { batchId, proof } = await commit([job, honest])
  const stakeBefore = (await nodesAs(0).read.getNode([addr(EXECUTOR)])).stake
  await expectConvicted(
    await settlementAs(CHALLENGER).write.challengeRequest([
      batchId,
      job.leaf,
      proof(0),
      request,
      await signRequest(request),
    ]),
    batchId,
    Fraud.FeeAboveMax,
    addr(CHALLENGER),
  )
  assert.equal(await read().balanceOf([addr(PAYER)]), parseEther('10'))
  assert.equal(await read().reserved([addr(PAYER)]), 0n)
  assert.equal(
    (await nodesAs(0).read.getNode([addr(EXECUTOR)])).stake,
    stakeBefore - parseEther('1'),
  )
  assert.equal(await read().earnings([addr(CHALLENGER)]), parseEther('0.5'))
  assert.equal(await read().earnings([addr(TREASURY)]), parseEther('0.5'))
  assert.equal(await chain.publicClient.getBalance({ address: settlement }), parseEther('11'))
  // The reverted batch can neither be challenged again nor finalized.
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeExecutor([batchId]),
    'BatchNotPending',
    [batchId, Status.Reverted],
  )
  await advance(3600)
  await expectRevert(settlementAs(0).write.finalize([batchId]), 'BatchNotPending', [
    batchId,
    Status.Reverted,
  ])
})

test('behavior: challengeRequest convicts every leaf/request contradiction', async () => {
  const now = (await chain.publicClient.getBlock()).timestamp
  const cases: [string, () => Promise<Job>, number][] = [
    [
      'executor field',
      () => honestJob(1, { leaf: { executor: addr(OUTSIDER) } }),
      Fraud.ExecutorMismatch,
    ],
    ['job id', () => honestJob(1, { leaf: { jobId: zeroHash } }), Fraud.JobIdMismatch],
    [
      'model',
      () => honestJob(1, { leaf: { modelCidHash: keccak256(toHex('other model')) } }),
      Fraud.ModelMismatch,
    ],
    ['quorum lowered', () => honestJob(1, { leaf: { quorum: 0 } }), Fraud.QuorumMismatch],
    [
      'expired request',
      () => honestJob(1, { request: makeRequest(1, { deadline: now - 1n }) }),
      Fraud.CommittedAfterDeadline,
    ],
  ]
  for (const [name, make, reason] of cases) {
    const id = await chain.snapshot()
    const job = await make()
    const { batchId, proof } = await commit([job])
    await expectConvicted(
      await settlementAs(CHALLENGER).write.challengeRequest([
        batchId,
        job.leaf,
        proof(0),
        job.request,
        '0x',
      ]),
      batchId,
      reason,
      addr(CHALLENGER),
    )
    assert.ok(true, name)
    await chain.revert(id)
  }
})

test('error: challengeRequest with a request that is not the leaf’s reverts RequestMismatch', async () => {
  const job = await honestJob(1)
  const { batchId, proof } = await commit([job])
  const other = makeRequest(1, { maxFee: 10n ** 30n })
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeRequest([batchId, job.leaf, proof(0), other, '0x']),
    'RequestMismatch',
    [job.leaf.requestStructHash, hashInferenceRequest(other)],
  )
})

test('error: challenges outside the window or of unknown batches revert', async () => {
  const job = await honestJob(1, { leaf: { quorum: 0 } })
  const { batchId, proof } = await commit([job])
  await expectRevert(settlementAs(CHALLENGER).write.challengeExecutor([5n]), 'UnknownBatch', [5n])
  await advance(3600)
  const deadline = (await read().getBatch([batchId])).challengeDeadline
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeRequest([
      batchId,
      job.leaf,
      proof(0),
      job.request,
      '0x',
    ]),
    'ChallengeWindowClosed',
    [batchId, deadline],
  )
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeQuorum([batchId, job.leaf, proof(0), job.attestations]),
    'ChallengeWindowClosed',
    [batchId, deadline],
  )
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeExecutor([batchId]),
    'ChallengeWindowClosed',
    [batchId, deadline],
  )
  await expectRevert(
    settlementAs(PAYER).write.disputeRequest([batchId, job.leaf, proof(0)]),
    'ChallengeWindowClosed',
    [batchId, deadline],
  )
})

// ------------------------------------------------------------------ request disputes (unsigned requests)

test('behavior: a request the payer never signed is convicted through an unanswered dispute', async () => {
  // The executor fabricates a receipt charging the payer for a request signed by someone else.
  const request = makeRequest(1)
  const forgedSignature = await signRequest(request, OUTSIDER)
  const job = await honestJob(1, { request })
  const { batchId, proof } = await commit([job, await honestJob(2)])
  const leafHash = hashReceiptLeaf(job.leaf)
  await expectRevert(
    settlementAs(CHALLENGER).write.disputeRequest([batchId, job.leaf, proof(0)]),
    'NotRequester',
    [addr(CHALLENGER), addr(PAYER)],
  )
  const { events, receipt } = await mined(
    await settlementAs(PAYER).write.disputeRequest([batchId, job.leaf, proof(0)]),
  )
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })
  assert.deepEqual(events[0]?.args, {
    batchId,
    leafHash,
    requester: addr(PAYER),
    answerBy: block.timestamp + 3600n,
  })
  assert.equal((await read().getBatch([batchId])).openDisputes, 1)
  await expectRevert(
    settlementAs(PAYER).write.disputeRequest([batchId, job.leaf, proof(0)]),
    'DisputeExists',
    [batchId, leafHash],
  )
  // A signature by anyone but the requester, or over another domain, does not answer it.
  await expectRevert(
    settlementAs(EXECUTOR).write.answerDispute([batchId, job.leaf, request, forgedSignature]),
    'InvalidRequestSignature',
    [addr(PAYER)],
  )
  const chainOnly = await signInferenceRequest({
    account: account(PAYER),
    request,
    domain: { name: 'Verity', version: '1', chainId: chain.chain.id },
  })
  await expectRevert(
    settlementAs(EXECUTOR).write.answerDispute([batchId, job.leaf, request, chainOnly]),
    'InvalidRequestSignature',
    [addr(PAYER)],
  )
  await expectRevert(
    settlementAs(EXECUTOR).write.answerDispute([
      batchId,
      job.leaf,
      makeRequest(9),
      forgedSignature,
    ]),
    'RequestMismatch',
    [job.leaf.requestStructHash, hashInferenceRequest(makeRequest(9))],
  )
  // The test chain mines each block 1 s after the last, so after this the next call runs at
  // exactly answerBy: the last second in which the executor may still answer.
  await advance(3599)
  await expectRevert(settlementAs(0).write.finalize([batchId]), 'DisputesOpen', [batchId, 1])
  await expectRevert(
    settlementAs(OUTSIDER).write.resolveDispute([batchId, leafHash]),
    'DisputeAnswerWindowOpen',
    [batchId, leafHash, block.timestamp + 3600n],
  )
  await advance(1)
  await expectRevert(
    settlementAs(EXECUTOR).write.answerDispute([batchId, job.leaf, request, forgedSignature]),
    'DisputeAnswerWindowClosed',
    [batchId, leafHash, block.timestamp + 3600n],
  )
  await expectConvicted(
    await settlementAs(OUTSIDER).write.resolveDispute([batchId, leafHash]),
    batchId,
    Fraud.RequestNotSigned,
    addr(PAYER),
  )
  assert.equal((await read().getDispute([batchId, leafHash])).status, 3)
  assert.equal(await read().earnings([addr(PAYER)]), parseEther('0.5'))
  assert.equal(await read().balanceOf([addr(PAYER)]), parseEther('10'))
})

test('behavior: a dispute answered with the signed request closes and the batch finalizes', async () => {
  const job = await honestJob(1)
  const { batchId, proof } = await commit([job])
  const leafHash = hashReceiptLeaf(job.leaf)
  await mined(await settlementAs(PAYER).write.disputeRequest([batchId, job.leaf, proof(0)]))
  const { events } = await mined(
    await settlementAs(EXECUTOR).write.answerDispute([
      batchId,
      job.leaf,
      job.request,
      await signRequest(job.request),
    ]),
  )
  assert.deepEqual(events[0]?.args, { batchId, leafHash, answeredBy: addr(EXECUTOR) })
  assert.equal((await read().getDispute([batchId, leafHash])).status, 2)
  await expectRevert(
    settlementAs(EXECUTOR).write.answerDispute([batchId, job.leaf, job.request, '0x']),
    'NoOpenDispute',
    [batchId, leafHash],
  )
  await expectRevert(
    settlementAs(PAYER).write.disputeRequest([batchId, job.leaf, proof(0)]),
    'DisputeExists',
    [batchId, leafHash],
  )
  await advance(7200)
  await expectRevert(settlementAs(0).write.resolveDispute([batchId, leafHash]), 'NoOpenDispute', [
    batchId,
    leafHash,
  ])
  await mined(await settlementAs(0).write.finalize([batchId]))
  assert.equal((await read().getBatch([batchId])).status, Status.Finalized)
})

// ------------------------------------------------------------------ challenge 2: the quorum

test('behavior: challengeQuorum convicts a receipt short of its quorum', async () => {
  const job = await honestJob(1, { attesters: [VERIFIER_A] }) // quorum 2, one attestation
  const { batchId, proof } = await commit([job])
  await expectConvicted(
    await settlementAs(CHALLENGER).write.challengeQuorum([
      batchId,
      job.leaf,
      proof(0),
      job.attestations,
    ]),
    batchId,
    Fraud.QuorumNotMet,
    addr(CHALLENGER),
  )
})

test('behavior: invalid attestations do not count toward the quorum', async () => {
  const request = makeRequest(1, { quorum: 1 })
  const jobId = computeJobId(addr(PAYER), request)
  const outputHash = keccak256(toHex('output 1'))
  const valid = await attest(VERIFIER_A, jobId, outputHash)
  const { r, s, yParity } = parseSignature(valid.signature)
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const highS =
    `${r}${(n - BigInt(s)).toString(16).padStart(64, '0')}${yParity === 0 ? '1c' : '1b'}` as Hex
  const wrongKey = await attest(OUTSIDER, jobId, outputHash)
  const cases: [string, LeafAttestation[]][] = [
    ['unstaked verifier', [await attest(OUTSIDER, jobId, outputHash)]],
    ['executor attesting itself', [await attest(EXECUTOR, jobId, outputHash)]],
    ['disagreement', [await attest(VERIFIER_A, jobId, outputHash, false)]],
    ['signature by another key', [{ ...wrongKey, verifier: addr(VERIFIER_A) }]],
    ['malleable (high-s) signature', [{ ...valid, signature: highS }]],
    ['signature over another output', [await attest(VERIFIER_A, jobId, zeroHash)]],
    ['truncated signature', [{ ...valid, signature: valid.signature.slice(0, 130) as Hex }]],
    ['beyond MAX_ATTESTATIONS', [...Array(32).fill({ ...valid, agree: false }), valid]],
  ]
  for (const [name, attestations] of cases) {
    const id = await chain.snapshot()
    const job = await honestJob(1, {
      request,
      attesters: [],
      leaf: { attestationsHash: hashAttestations(attestations) },
    })
    job.attestations = attestations
    const { batchId, proof } = await commit([job])
    const hash = await settlementAs(CHALLENGER).write.challengeQuorum([
      batchId,
      job.leaf,
      proof(0),
      attestations,
    ])
    const { events } = await mined(hash)
    const challenged = events.find((e) => e.eventName === 'BatchChallenged')
    assert.ok(challenged?.eventName === 'BatchChallenged', name)
    assert.equal(challenged.args.reason, Fraud.QuorumNotMet, name)
    await chain.revert(id)
  }
  // The same attestation, well-formed and in range, does count.
  const job = await honestJob(1, { request, attesters: [VERIFIER_A] })
  const { batchId, proof } = await commit([job])
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeQuorum([batchId, job.leaf, proof(0), job.attestations]),
    'NoFraud',
    [batchId],
  )
})

test('behavior: a duplicated verifier counts once', async () => {
  const request = makeRequest(1, { quorum: 2 })
  const jobId = computeJobId(addr(PAYER), request)
  const a = await attest(VERIFIER_A, jobId, keccak256(toHex('output 1')))
  const job = await honestJob(1, {
    request,
    attesters: [],
    leaf: { attestationsHash: hashAttestations([a, a]) },
  })
  job.attestations = [a, a]
  const { batchId, proof } = await commit([job])
  await expectConvicted(
    await settlementAs(CHALLENGER).write.challengeQuorum([batchId, job.leaf, proof(0), [a, a]]),
    batchId,
    Fraud.QuorumNotMet,
    addr(CHALLENGER),
  )
})

test('behavior: a verifier that joined after the commit counts as unstaked', async () => {
  const job = await honestJob(1, { attesters: [VERIFIER_A, OUTSIDER] })
  const { batchId, proof } = await commit([job])
  await advance(1)
  await mined(
    await nodesAs(OUTSIDER).write.register(['http://late', 'late', 4], { value: parseEther('1') }),
  )
  await expectConvicted(
    await settlementAs(CHALLENGER).write.challengeQuorum([
      batchId,
      job.leaf,
      proof(0),
      job.attestations,
    ]),
    batchId,
    Fraud.QuorumNotMet,
    addr(CHALLENGER),
  )
})

test('error: challengeQuorum with attestations other than the committed ones reverts', async () => {
  const job = await honestJob(1)
  const { batchId, proof } = await commit([job])
  const fewer = job.attestations.slice(0, 1)
  await expectRevert(
    settlementAs(CHALLENGER).write.challengeQuorum([batchId, job.leaf, proof(0), fewer]),
    'AttestationsMismatch',
    [job.leaf.attestationsHash, hashAttestations(fewer)],
  )
})

// ------------------------------------------------------------------ challenge 3: equivocation

test('behavior: challengeEquivocation convicts an executor that signed two outputs', async () => {
  const job = await honestJob(1)
  const other = {
    jobId: job.leaf.jobId,
    requester: addr(PAYER),
    modelCid: CID,
    manifestHash,
    inputHash: job.request.inputHash,
    paramsHash: job.request.paramsHash,
    mode: 1,
    outputHash: keccak256(toHex('a different output')),
    engineSettingsHash: zeroHash,
    executedAt: 1_700_000_000n,
  }
  const chainOnly = { name: 'Verity', version: '1', chainId: chain.chain.id } as const
  for (const signingDomain of [domain, chainOnly]) {
    const id = await chain.snapshot()
    const { batchId, proof } = await commit([job])
    const signature = await account(EXECUTOR).signTypedData({
      domain: signingDomain,
      types: verityTypes,
      primaryType: 'ExecutionReceipt',
      message: other,
    })
    await expectConvicted(
      await settlementAs(CHALLENGER).write.challengeEquivocation([
        batchId,
        job.leaf,
        proof(0),
        other,
        signature,
      ]),
      batchId,
      Fraud.Equivocation,
      addr(CHALLENGER),
    )
    await chain.revert(id)
  }
})

test('error: challengeEquivocation without a conflicting executor signature reverts NoFraud', async () => {
  const job = await honestJob(1)
  const { batchId, proof } = await commit([job])
  const other = {
    jobId: job.leaf.jobId,
    requester: addr(PAYER),
    modelCid: CID,
    manifestHash,
    inputHash: job.request.inputHash,
    paramsHash: job.request.paramsHash,
    mode: 1,
    outputHash: keccak256(toHex('a different output')),
    engineSettingsHash: zeroHash,
    executedAt: 1n,
  }
  const sign = (index: number, message: typeof other) =>
    account(index).signTypedData({
      domain,
      types: verityTypes,
      primaryType: 'ExecutionReceipt',
      message,
    })
  const otherJob = { ...other, jobId: keccak256(toHex('another job')) }
  const cases: [typeof other, Hex][] = [
    [other, await sign(OUTSIDER, other)], // not the executor's signature
    [otherJob, await sign(EXECUTOR, otherJob)], // another job
    [other, '0x1234'], // malformed signature
  ]
  for (const [message, signature] of cases) {
    await expectRevert(
      settlementAs(CHALLENGER).write.challengeEquivocation([
        batchId,
        job.leaf,
        proof(0),
        message,
        signature,
      ]),
      'NoFraud',
      [batchId],
    )
  }
})

// ------------------------------------------------------------------ challenge 4: the executor

test('behavior: challengeExecutor convicts a batch whose executor exited at commit time', async () => {
  const job = await honestJob(1)
  const tree = buildReceiptTree([job.leaf])
  // Commit and a full unbond in the same block: the executor was exiting when the batch landed.
  await chain.testClient.setAutomine(false)
  try {
    await settlementAs(EXECUTOR).write.commitBatch(
      [
        tree.root as Hex,
        1,
        [{ payer: addr(PAYER), total: job.leaf.fee }],
        [{ modelId, total: job.leaf.fee }],
        [],
      ],
      { gas: 1_000_000n },
    )
    await nodesAs(EXECUTOR).write.requestUnbond([parseEther('10')], { gas: 300_000n })
    await chain.testClient.mine({ blocks: 1 })
  } finally {
    await chain.testClient.setAutomine(true)
  }
  const batch = await read().getBatch([1n])
  assert.equal(batch.status, Status.Pending)
  assert.equal(await nodesAs(0).read.wasActiveAt([addr(EXECUTOR), batch.committedAt]), false)
  await expectConvicted(
    await settlementAs(CHALLENGER).write.challengeExecutor([1n]),
    1n,
    Fraud.ExecutorInactive,
    addr(CHALLENGER),
  )
  // The slash came out of the unbonding funds.
  assert.equal((await nodesAs(0).read.getNode([addr(EXECUTOR)])).unbonding, parseEther('9'))
})

test('behavior: a reentrant challenger cannot withdraw its reward twice', async () => {
  const receiver = await chain.deploy(reentrantReceiverAbi, reentrantReceiverBytecode, [])
  const attacker = getContract({
    address: receiver,
    abi: reentrantReceiverAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[0]! },
  })
  const job = await honestJob(1, { attesters: [VERIFIER_A] })
  const { batchId, proof } = await commit([job])
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.execute([
      settlement,
      0n,
      encodeFunctionData({
        abi: settlementAbi,
        functionName: 'challengeQuorum',
        args: [batchId, job.leaf, proof(0), job.attestations],
      }),
    ]),
  })
  assert.equal(await read().earnings([receiver]), parseEther('0.5'))
  const withdraw = encodeFunctionData({ abi: settlementAbi, functionName: 'withdrawEarnings' })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.setReentry([settlement, withdraw]),
  })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.execute([settlement, 0n, withdraw]),
  })
  assert.equal(await attacker.read.received(), parseEther('0.5'))
  assert.equal(await attacker.read.reentrySucceeded(), false)
  assert.equal(
    decodeErrorResult({ abi: settlementAbi, data: await attacker.read.reentryResult() }).errorName,
    'ReentrancyGuardReentrantCall',
  )
  assert.equal(await read().earnings([receiver]), 0n)
})

test('error: a payout the receiver refuses reverts TransferFailed and keeps the credit', async () => {
  const receiver = getAddress(
    await chain.deploy(reentrantReceiverAbi, reentrantReceiverBytecode, []),
  )
  const attacker = getContract({
    address: receiver,
    abi: reentrantReceiverAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[0]! },
  })
  const job = await honestJob(1, { attesters: [VERIFIER_A] })
  const { batchId, proof } = await commit([job])
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.execute([
      settlement,
      0n,
      encodeFunctionData({
        abi: settlementAbi,
        functionName: 'challengeQuorum',
        args: [batchId, job.leaf, proof(0), job.attestations],
      }),
    ]),
  })
  await chain.publicClient.waitForTransactionReceipt({
    hash: await attacker.write.setRejectPayments([true]),
  })
  await expectRevert(
    chain.publicClient.simulateContract({
      account: receiver,
      address: settlement,
      abi: settlementAbi,
      functionName: 'withdrawEarnings',
    }),
    'TransferFailed',
    [receiver, parseEther('0.5')],
  )
  assert.equal(await read().earnings([receiver]), parseEther('0.5'))
})
