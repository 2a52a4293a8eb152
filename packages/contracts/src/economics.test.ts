import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import {
  buildReceiptTree,
  computeJobId,
  createInferenceRequest,
  hashAttestations,
  hashInferenceRequest,
  type InferenceRequestMessage,
  type LeafAttestation,
  type ReceiptLeaf,
  signInferenceRequest,
  verityTypes,
} from '@verity/protocol'
import {
  type Address,
  getAddress,
  getContract,
  type Hex,
  keccak256,
  parseEther,
  stringToBytes,
  type TransactionReceipt,
  toHex,
  zeroAddress,
} from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { deployVerity } from './deploy.ts'
import {
  inferenceHubAbi,
  modelRegistryAbi,
  nodeRegistryAbi,
  settlementAbi,
} from './generated/index.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

// Who is who: 0 deployer, 1 + 7 model creators, 2 executor, 3 + 4 verifiers, 5 payer/consumer,
// 6 challenger, 8 finalizer (a bystander), 9 treasury.
const CREATOR_A = 1
const CREATOR_B = 7
const EXECUTOR = 2
const VERIFIER_A = 3
const VERIFIER_B = 4
const PAYER = 5
const CHALLENGER = 6
const BYSTANDER = 8
const TREASURY = 9

const parameters = {
  challengeWindow: 3_600,
  verifierBps: 2_000,
  treasuryBps: 500,
  maxRoyaltyBps: 3_000,
  slashAmount: parseEther('1'),
  challengerRewardBps: 5_000,
  minStake: parseEther('1'),
  requestTimeout: 3_600,
  maxCallbackGas: 500_000,
}
const ROYALTY_A = 1_000n
const ROYALTY_B = 2_500n
const BPS = 10_000n
const CID_A = 'bafy-model-a'
const CID_B = 'bafy-model-b'
const STAKE = parseEther('5')

let chain: TestChain
let settlement: Address
let hub: Address
let nodeRegistry: Address
let snapshot: Hex

const account = (index: number): PrivateKeyAccount => chain.accounts[index]!
const addr = (index: number): Address => account(index).address
const client = (index: number) => ({
  public: chain.publicClient,
  wallet: chain.walletClients[index]!,
})
const settlementAs = (index: number) =>
  getContract({ address: settlement, abi: settlementAbi, client: client(index) })
const hubAs = (index: number) =>
  getContract({ address: hub, abi: inferenceHubAbi, client: client(index) })
const nodes = () => getContract({ address: nodeRegistry, abi: nodeRegistryAbi, client: client(0) })

/** Sends, waits, asserts success and returns the receipt. */
async function mined(hash: Promise<Hex>): Promise<TransactionReceipt> {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: await hash })
  assert.equal(receipt.status, 'success')
  return receipt
}
const gasCost = (receipt: TransactionReceipt): bigint => receipt.gasUsed * receipt.effectiveGasPrice
const balance = (index: number) => chain.publicClient.getBalance({ address: addr(index) })

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
  hub = getAddress(config.contracts.inferenceHub)
  nodeRegistry = getAddress(config.contracts.nodeRegistry)
  const manifest = keccak256(stringToBytes('manifest'))
  for (const [index, cid, royalty] of [
    [CREATOR_A, CID_A, ROYALTY_A],
    [CREATOR_B, CID_B, ROYALTY_B],
  ] as const) {
    const models = getContract({
      address: config.contracts.modelRegistry,
      abi: modelRegistryAbi,
      client: client(index),
    })
    await mined(models.write.registerModel(['m', cid, manifest, Number(royalty), 1n, zeroAddress]))
  }
  for (const [index, roles] of [
    [EXECUTOR, 2],
    [VERIFIER_A, 4],
    [VERIFIER_B, 4],
  ] as const) {
    const registry = getContract({
      address: nodeRegistry,
      abi: nodeRegistryAbi,
      client: client(index),
    })
    await mined(registry.write.register(['http://n', 'p', roles], { value: STAKE }))
  }
  await mined(settlementAs(PAYER).write.deposit({ value: parseEther('10') }))
})
after(() => chain.close())
beforeEach(async () => {
  snapshot = await chain.snapshot()
})
afterEach(async () => {
  await chain.revert(snapshot)
})

const domain = () =>
  ({
    name: 'Verity',
    version: '1',
    chainId: chain.chain.id,
    verifyingContract: settlement,
  }) as const

function makeRequest(seed: number, cid: string, maxFee: bigint): InferenceRequestMessage {
  return createInferenceRequest({
    modelCid: cid,
    manifestHash: keccak256(stringToBytes('manifest')),
    inputs: { x: { dtype: 'int32', shape: [1], data: new Int32Array([seed]) } },
    mode: 'reexec',
    quorum: 2,
    maxFee,
    deadline: 4_000_000_000n,
    nonce: keccak256(toHex(`economics ${seed}`)),
  })
}

async function receipt(seed: number, cid: string, fee: bigint, maxFee = fee) {
  const request = makeRequest(seed, cid, maxFee)
  const jobId = computeJobId(addr(PAYER), request)
  const outputHash = keccak256(toHex(`out ${seed}`))
  const attestations: LeafAttestation[] = []
  for (const index of [VERIFIER_A, VERIFIER_B]) {
    const signature = await account(index).signTypedData({
      domain: domain(),
      types: verityTypes,
      primaryType: 'Attestation',
      message: { jobId, outputHash, agree: true },
    })
    attestations.push({ verifier: addr(index), agree: true, signature })
  }
  const leaf: ReceiptLeaf = {
    jobId,
    requester: addr(PAYER),
    executor: addr(EXECUTOR),
    modelCidHash: keccak256(stringToBytes(cid)),
    fee,
    requestStructHash: hashInferenceRequest(request),
    outputHash,
    quorum: 2,
    attestationsHash: hashAttestations(attestations),
  }
  return { request, leaf, attestations }
}

type Job = Awaited<ReturnType<typeof receipt>>

async function commit(jobs: Job[], modelTotals: [bigint, bigint][]) {
  const tree = buildReceiptTree(jobs.map((j) => j.leaf))
  const total = jobs.reduce((sum, j) => sum + j.leaf.fee, 0n)
  const tx = await mined(
    settlementAs(EXECUTOR).write.commitBatch([
      tree.root as Hex,
      jobs.length,
      [{ payer: addr(PAYER), total }],
      modelTotals.map(([modelId, t]) => ({ modelId, total: t })),
      [
        { verifier: addr(VERIFIER_A), count: jobs.length },
        { verifier: addr(VERIFIER_B), count: jobs.length },
      ],
    ]),
  )
  const batchId = await settlementAs(0).read.batchCount()
  return { tree, total, tx, batchId }
}

test('default: an honest batch pays creators, executor, verifiers and treasury exactly the configured split', async () => {
  // Fees chosen so that every share rounds: model A earns 3 receipts, model B one.
  const fees = [1_234_567_891n, 987_654_321n, 3n, 555_555_557n]
  const jobs = [
    await receipt(1, CID_A, fees[0]!),
    await receipt(2, CID_A, fees[1]!),
    await receipt(3, CID_A, fees[2]!),
    await receipt(4, CID_B, fees[3]!),
  ]
  const totalA = fees[0]! + fees[1]! + fees[2]!
  const totalB = fees[3]!
  const total = totalA + totalB
  const { batchId } = await commit(jobs, [
    [1n, totalA],
    [2n, totalB],
  ])
  await advance(3601)
  const escrowBefore = await chain.publicClient.getBalance({ address: settlement })
  await mined(settlementAs(BYSTANDER).write.finalize([batchId]))

  // The split, computed here from the parameters alone.
  const royaltyA = (totalA * ROYALTY_A) / BPS
  const royaltyB = (totalB * ROYALTY_B) / BPS
  const pool = (total * 2_000n) / BPS
  const perVerifier = pool / 2n // equal counts
  const treasury = (total * 500n) / BPS
  const executor = total - royaltyA - royaltyB - 2n * perVerifier - treasury
  const expected: [number, bigint][] = [
    [CREATOR_A, royaltyA],
    [CREATOR_B, royaltyB],
    [VERIFIER_A, perVerifier],
    [VERIFIER_B, perVerifier],
    [TREASURY, treasury],
    [EXECUTOR, executor],
  ]
  assert.equal(
    expected.reduce((sum, [, amount]) => sum + amount, 0n),
    total,
    'the split covers the total to the wei',
  )
  assert.ok(executor > 0n)
  for (const [index, amount] of expected) {
    assert.equal(await settlementAs(0).read.earnings([addr(index)]), amount, `earnings of ${index}`)
    const before = await balance(index)
    const tx = await mined(settlementAs(index).write.withdrawEarnings())
    assert.equal((await balance(index)) - before + gasCost(tx), amount, `wei paid to ${index}`)
  }
  // The payer paid exactly the total; the contract holds exactly the payer's remaining escrow.
  assert.equal(await settlementAs(0).read.balanceOf([addr(PAYER)]), parseEther('10') - total)
  assert.equal(await settlementAs(0).read.reserved([addr(PAYER)]), 0n)
  assert.equal(escrowBefore - (await chain.publicClient.getBalance({ address: settlement })), total)
  assert.equal(
    await chain.publicClient.getBalance({ address: settlement }),
    parseEther('10') - total,
  )
})

test('behavior: an executor that commits a fraudulent receipt ends with less, the challenger with more', async () => {
  const executorWealth = async () => {
    const node = await nodes().read.getNode([addr(EXECUTOR)])
    return (
      (await balance(EXECUTOR)) +
      node.stake +
      node.unbonding +
      (await settlementAs(0).read.earnings([addr(EXECUTOR)]))
    )
  }
  const executorStart = await executorWealth()
  const challengerStart = await balance(CHALLENGER)
  const treasuryStart = await settlementAs(0).read.earnings([addr(TREASURY)])

  // One honest receipt and one over-charged receipt (fee 100× the signed maxFee).
  const honest = await receipt(1, CID_A, parseEther('0.01'))
  const fraud = await receipt(2, CID_A, parseEther('1'), parseEther('0.01'))
  const {
    tree,
    total,
    tx: commitTx,
    batchId,
  } = await commit([honest, fraud], [[1n, parseEther('1.01')]])
  assert.equal(await settlementAs(0).read.reserved([addr(PAYER)]), total)

  const challengeTx = await mined(
    settlementAs(CHALLENGER).write.challengeRequest([
      batchId,
      fraud.leaf,
      tree.getProof(1) as Hex[],
      fraud.request,
      await signInferenceRequest({
        account: account(PAYER),
        request: fraud.request,
        domain: domain(),
      }),
    ]),
  )
  const withdrawTx = await mined(settlementAs(CHALLENGER).write.withdrawEarnings())

  // The fraudulent batch can never be finalized, so the over-charge is never paid.
  await advance(3600)
  await expectRevert(settlementAs(BYSTANDER).write.finalize([batchId]), 'BatchNotPending', [
    batchId,
    2,
  ])
  assert.equal(await settlementAs(0).read.balanceOf([addr(PAYER)]), parseEther('10'))
  assert.equal(await settlementAs(0).read.reserved([addr(PAYER)]), 0n)

  const reward = (parameters.slashAmount * 5_000n) / BPS
  const executorEnd = await executorWealth()
  assert.equal(executorEnd, executorStart - parameters.slashAmount - gasCost(commitTx))
  assert.ok(executorEnd < executorStart)
  const challengerEnd = await balance(CHALLENGER)
  assert.equal(challengerEnd, challengerStart + reward - gasCost(challengeTx) - gasCost(withdrawTx))
  assert.ok(challengerEnd > challengerStart)
  assert.equal(
    (await settlementAs(0).read.earnings([addr(TREASURY)])) - treasuryStart,
    parameters.slashAmount - reward,
  )
})

test('behavior: a hub fulfilment pays exactly the configured split', async () => {
  const fee = 1_000_000_007n
  const input = toHex('input')
  const output = toHex('output')
  await mined(hubAs(PAYER).write.request([1n, input, 1, 2, 0], { value: fee }))
  const signatures = []
  for (const index of [EXECUTOR, VERIFIER_A, VERIFIER_B]) {
    signatures.push({
      signer: addr(index),
      signature: await account(index).signTypedData({
        domain: { name: 'Verity', version: '1', chainId: chain.chain.id, verifyingContract: hub },
        types: verityTypes,
        primaryType: 'HubResult',
        message: { requestId: 1n, inputHash: keccak256(input), outputHash: keccak256(output) },
      }),
    })
  }
  await mined(hubAs(EXECUTOR).write.fulfill([1n, output, signatures]))
  const royalty = (fee * ROYALTY_A) / BPS
  const perVerifier = (fee * 2_000n) / BPS / 2n
  const treasury = (fee * 500n) / BPS
  const executor = fee - royalty - 2n * perVerifier - treasury
  for (const [index, amount] of [
    [CREATOR_A, royalty],
    [VERIFIER_A, perVerifier],
    [VERIFIER_B, perVerifier],
    [TREASURY, treasury],
    [EXECUTOR, executor],
  ] as const) {
    const before = await balance(index)
    const tx = await mined(hubAs(index).write.withdrawEarnings())
    assert.equal((await balance(index)) - before + gasCost(tx), amount, `wei paid to ${index}`)
  }
  assert.equal(await chain.publicClient.getBalance({ address: hub }), 0n)
})
