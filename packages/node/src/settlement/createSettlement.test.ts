import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { settlementAbi } from '@verity/contracts'
import {
  BaseError,
  canonicalJson,
  computeJobId,
  createInferenceRequest,
  createReceipt,
  encodeTensors,
  executionMessageFromReceipt,
  type Hash,
  isBaseError,
  type Receipt,
  receiptLeafFromReceipt,
  requestMessageFromReceipt,
  signAttestation,
  signInferenceRequest,
  type VerityDomain,
  verifyReceipt,
} from '@verity/protocol'
import { Registry } from 'prom-client'
import { type Address, getAddress, keccak256, stringToBytes, zeroAddress } from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { createNodeChain, type NodeChain } from '../chain/createNodeChain.ts'
import { createJobStore, type JobStore } from '../db/createJobStore.ts'
import { createLogger } from '../logger.ts'
import { requestToJson } from '../requestJson.ts'
import { tempDir } from '../testing/fixtures.ts'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createSettlement, type Settlement } from './createSettlement.ts'
import { createSettlementStore, type SettlementStore } from './createSettlementStore.ts'
import type { SettlementOptionsInput } from './settlementOptions.ts'

// Who is who: 0 deployer, treasury and bystander, 1–3 nodes (executors), 4 model creator, 5 + 6
// verifiers (6 also an unstaked node, 5 an equivocating one in the last test), 7–9 payers.
const NODE_A = 1
const NODE_B = 2
const NODE_C = 3
const CREATOR = 4
const VERIFIER_A = 5
const VERIFIER_B = 6
const PAYER_A = 7
const PAYER_B = 8
const PAYER_C = 9
/** Sends the transactions of third parties (a finalizer, a challenger). */
const BYSTANDER = 0
/** An odd price, so that every share of the split has rounding to get right. */
const PRICE = 1_000_000_007n
const ROYALTY_BPS = 1_500n
const BPS = 10_000n
const CID = 'bafy-settlement-test-model'
const manifestHash = keccak256(stringToBytes('manifest')) as Hash
const engine = { name: 'test-engine', version: '1', settings: {} }
const logger = createLogger({ level: 'silent' })

let network: TestNetwork
let domain: VerityDomain
let settlementAddress: Address
let dir = ''
let removeDir: () => Promise<void>
let modelId: bigint
let nonceCounter = 0

const account = (index: number): PrivateKeyAccount => network.chain.accounts[index]!
const address = (index: number): Address => account(index).address

before(async () => {
  ;({ dir, remove: removeDir } = await tempDir('verity-settlement-'))
  network = await createTestNetwork()
  settlementAddress = getAddress(network.config.contracts.settlement)
  domain = {
    name: 'Verity',
    version: '1',
    chainId: network.config.chainId,
    verifyingContract: settlementAddress,
  }
  for (const index of [NODE_A, NODE_B, NODE_C])
    await network.registerNode(account(index), { endpoint: `http://127.0.0.1:${index}` })
  modelId = await network.registerModel(account(CREATOR), {
    name: 'settled',
    cid: CID,
    manifestHash,
    royaltyBps: Number(ROYALTY_BPS),
    pricePerCall: PRICE,
  })
  await network.deposit(account(PAYER_A), PRICE * 100n)
  await network.deposit(account(PAYER_B), PRICE * 100n)
})
after(async () => {
  await network?.close()
  await removeDir?.()
})

function chainFor(index: number): NodeChain {
  return createNodeChain(
    {
      rpcUrl: network.config.rpcUrl,
      chainId: network.config.chainId,
      contracts: network.config.contracts,
      pollingIntervalMs: 20,
    },
    { account: account(index) },
  )
}

type TestNode = {
  index: number
  chain: NodeChain
  jobs: JobStore
  store: SettlementStore
  settlement: Settlement
  registry: Registry
  close(): Promise<void>
}

/** A node's settlement over its own database file (reopened when `file` is reused). */
function openNode(
  index: number,
  file: string,
  options: Partial<SettlementOptionsInput> = {},
  chain: NodeChain = chainFor(index),
): TestNode {
  const path = join(dir, file)
  const jobs = createJobStore({ path })
  const store = createSettlementStore({ path })
  const registry = new Registry()
  const settlement = createSettlement(
    { domain, maxBatchSize: 100, maxBatchDelayMs: 3_600_000, ...options },
    { chain, store, jobs, logger, registry },
  )
  return {
    index,
    chain,
    jobs,
    store,
    settlement,
    registry,
    async close() {
      await settlement.stop()
      store.close()
      jobs.close()
    },
  }
}

const outputs = { y: { dtype: 'float32' as const, shape: [1], data: new Float32Array([0.5]) } }
const inputs = { x: { dtype: 'float32' as const, shape: [1], data: new Float32Array([1]) } }

type Served = { id: Hash; receipt: Receipt }

/**
 * What the executor does for one signed job: quote, store the job, sign the receipt (with the
 * attestations of `verifiers` for a `reexec` job), store it, record it.
 */
async function serve(
  node: TestNode,
  payer: number,
  parameters: { verifiers?: number[]; deadline?: bigint } = {},
): Promise<Served> {
  const verifiers = parameters.verifiers ?? []
  const request = createInferenceRequest({
    modelCid: CID,
    manifestHash,
    inputs,
    mode: verifiers.length ? 'reexec' : 'none',
    quorum: verifiers.length,
    maxFee: PRICE,
    nonce: `0x${(++nonceCounter).toString(16).padStart(64, '0')}`,
    ...(parameters.deadline === undefined ? {} : { deadline: parameters.deadline }),
  })
  const requestSignature = await signInferenceRequest({ account: account(payer), request, domain })
  const quote = await node.settlement.quote({
    request,
    requester: address(payer),
    model: { cid: CID },
  })
  assert.equal(quote?.fee, PRICE)
  const id = computeJobId(address(payer), request)
  node.jobs.accept({
    id,
    requester: address(payer),
    modelCid: CID,
    mode: verifiers.length ? 'reexec' : 'none',
    request: { message: requestToJson(request), signature: requestSignature, includeOutput: true },
    inputs: encodeTensors(inputs),
  })
  node.jobs.markRunning(id)
  let receipt = await createReceipt({
    account: account(node.index),
    requester: address(payer),
    request,
    requestSignature,
    outputs,
    engine,
    domain,
  })
  if (verifiers.length)
    receipt = {
      ...receipt,
      quorum: {
        threshold: verifiers.length,
        attestations: await Promise.all(
          verifiers.map((verifier) =>
            signAttestation({
              account: account(verifier),
              jobId: id,
              outputHash: receipt.result.outputHash as Hash,
              agree: true,
              domain,
            }),
          ),
        ),
      },
    }
  node.jobs.complete(id, { receiptJson: canonicalJson(receipt), outputs: encodeTensors(outputs) })
  node.settlement.record(receipt, quote)
  return { id, receipt }
}

function storedReceipt(node: TestNode, id: Hash): Receipt {
  return JSON.parse(node.jobs.getReceipt(id)?.receiptJson ?? 'null') as Receipt
}

const read = {
  balance: (payer: Address) =>
    network.chain.publicClient.readContract({
      address: settlementAddress,
      abi: settlementAbi,
      functionName: 'balanceOf',
      args: [payer],
    }),
  reserved: (payer: Address) =>
    network.chain.publicClient.readContract({
      address: settlementAddress,
      abi: settlementAbi,
      functionName: 'reserved',
      args: [payer],
    }),
  earnings: (party: Address) =>
    network.chain.publicClient.readContract({
      address: settlementAddress,
      abi: settlementAbi,
      functionName: 'earnings',
      args: [party],
    }),
  batchCount: () =>
    network.chain.publicClient.readContract({
      address: settlementAddress,
      abi: settlementAbi,
      functionName: 'batchCount',
    }),
  batch: (batchId: bigint) =>
    network.chain.publicClient.readContract({
      address: settlementAddress,
      abi: settlementAbi,
      functionName: 'getBatch',
      args: [batchId],
    }),
}

async function sendAs(index: number, functionName: string, args: readonly unknown[] = []) {
  const wallet = network.chain.walletClients[index]!
  const hash = await wallet.writeContract({
    address: settlementAddress,
    abi: settlementAbi,
    functionName,
    args,
  } as unknown as Parameters<typeof wallet.writeContract>[0])
  const receipt = await network.chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

async function chainTime(): Promise<bigint> {
  return (await network.chain.publicClient.getBlock({ blockTag: 'latest' })).timestamp
}

/** Every check of an offline verification, plus the on-chain inclusion of the leaf. */
async function assertSettled(receipt: Receipt, batchId: bigint): Promise<void> {
  assert.ok(receipt.settlement, 'the stored receipt carries its settlement section')
  assert.equal(receipt.settlement.batchId, batchId.toString())
  assert.equal(receipt.settlement.fee, PRICE.toString())
  const verdict = await verifyReceipt(receipt, { domain })
  assert.equal(
    verdict.valid,
    true,
    JSON.stringify(verdict.checks.filter((c) => c.status !== 'pass')),
  )
  assert.equal(verdict.checks.find((check) => check.name === 'settlement')?.status, 'pass')
  const included = await network.chain.publicClient.readContract({
    address: settlementAddress,
    abi: settlementAbi,
    functionName: 'verifyInclusion',
    args: [
      batchId,
      receiptLeafFromReceipt(receipt, BigInt(receipt.settlement.fee)),
      receipt.settlement.proof as Hash[],
    ],
  })
  assert.equal(included, true)
}

test('default: a full batch commits; each stored receipt is settled offline and on-chain', async () => {
  const node = openNode(NODE_A, 'size.sqlite', { maxBatchSize: 3 })
  try {
    const balanceBefore = await read.balance(address(PAYER_A))
    const served = [await serve(node, PAYER_A), await serve(node, PAYER_A)]
    const early = await node.settlement.tick()
    assert.deepEqual(early.committed, [], 'two of three: not due yet')
    assert.equal(node.settlement.status().receipts.pending, 2)
    served.push(await serve(node, PAYER_A, { verifiers: [VERIFIER_A] }))
    const report = await node.settlement.tick()
    assert.deepEqual(report.errors, [])
    assert.equal(report.committed.length, 1)
    const batchId = report.committed[0] as bigint

    const onChain = await read.batch(batchId)
    assert.equal(onChain.count, 3)
    assert.equal(onChain.total, 3n * PRICE)
    assert.equal(getAddress(onChain.executor), address(NODE_A))
    assert.equal(await read.balance(address(PAYER_A)), balanceBefore - 3n * PRICE)
    assert.equal(await read.reserved(address(PAYER_A)), 3n * PRICE)
    assert.deepEqual(
      onChain.models.map((m) => [m.modelId, m.total, getAddress(m.creator)]),
      [[modelId, 3n * PRICE, address(CREATOR)]],
    )
    assert.deepEqual(
      onChain.verifiers.map((v) => [getAddress(v.verifier), v.count]),
      [[address(VERIFIER_A), 1]],
    )
    for (const { id } of served) {
      const receipt = storedReceipt(node, id)
      assert.equal(receipt.settlement?.root, onChain.root)
      await assertSettled(receipt, batchId)
    }

    // data availability: leaves, proofs and receipts by on-chain id
    const view = node.settlement.batch(batchId)
    assert.equal(view?.root, onChain.root)
    assert.deepEqual(
      view?.leaves.map((leaf) => leaf.jobId),
      served.map(({ id }) => id),
    )
    assert.deepEqual(
      view?.receipts.map((receipt) => canonicalJson(receipt)),
      served.map(({ id }) => node.jobs.getReceipt(id)?.receiptJson),
    )
    assert.equal(node.settlement.batch(batchId + 100n), undefined)
    assert.equal(node.settlement.batch('not-a-number'), undefined)

    const status = node.settlement.status()
    assert.equal(status.receipts.committed, 3)
    assert.equal(status.batches.committed, 1)
    assert.equal(status.recentBatches[0]?.batchId, batchId.toString())
    const metrics = await node.registry.metrics()
    assert.match(metrics, /verity_settlement_batch_receipts_sum 3/)
    assert.match(metrics, /verity_settlement_batch_receipts_count 1/)
    assert.match(metrics, /verity_settlement_batches_total\{status="committed"\} 1/)
    assert.match(metrics, /verity_settlement_pending_receipts 0/)
  } finally {
    await node.close()
  }
})

test('behavior: a batch commits when its oldest receipt has waited maxBatchDelayMs', async () => {
  let clock = 1_000_000
  const path = join(dir, 'time.sqlite')
  const jobs = createJobStore({ path })
  const store = createSettlementStore({ path, now: () => clock })
  const settlement = createSettlement(
    { domain, maxBatchSize: 100, maxBatchDelayMs: 10_000 },
    { chain: chainFor(NODE_A), store, jobs, logger, now: () => clock },
  )
  const node: TestNode = {
    index: NODE_A,
    chain: chainFor(NODE_A),
    jobs,
    store,
    settlement,
    registry: new Registry(),
    async close() {
      await settlement.stop()
      store.close()
      jobs.close()
    },
  }
  try {
    const { id } = await serve(node, PAYER_A)
    clock += 9_999
    assert.deepEqual((await settlement.tick()).committed, [])
    clock += 1
    const report = await settlement.tick()
    assert.equal(report.committed.length, 1)
    await assertSettled(storedReceipt(node, id), report.committed[0] as bigint)
  } finally {
    await node.close()
  }
})

test('behavior: once started, a full batch commits without a tick; stop() waits for it', async () => {
  const node = openNode(NODE_A, 'started.sqlite', { maxBatchSize: 2, pollIntervalMs: 60_000 })
  // from a known block, so that a commit mined before the first poll is not missed
  const fromBlock = (await network.chain.publicClient.getBlockNumber()) + 1n
  const committed = new Promise<void>((resolve) => {
    const unwatch = network.chain.publicClient.watchContractEvent({
      address: settlementAddress,
      abi: settlementAbi,
      eventName: 'BatchCommitted',
      args: { executor: address(NODE_A) },
      fromBlock,
      pollingInterval: 20,
      onLogs: () => {
        unwatch()
        resolve()
      },
    })
  })
  try {
    node.settlement.start()
    assert.equal(node.settlement.status().running, true)
    const served = [await serve(node, PAYER_A), await serve(node, PAYER_A)]
    await committed
    await node.settlement.stop()
    assert.equal(node.settlement.status().running, false)
    assert.equal(node.settlement.status().receipts.committed, 2)
    for (const { id } of served) assert.ok(storedReceipt(node, id).settlement)
    await assert.rejects(node.settlement.tick(), { code: 'NODE_UNAVAILABLE' })
  } finally {
    await node.close()
  }
})

test('behavior: after the challenge window the batch is finalized, split exactly, and earnings withdrawn', async (t) => {
  const node = openNode(NODE_B, 'finalize.sqlite')
  const parameters = network.config.parameters
  const treasury = network.config.treasury
  try {
    const served = [
      await serve(node, PAYER_B, { verifiers: [VERIFIER_A, VERIFIER_B] }),
      await serve(node, PAYER_B, { verifiers: [VERIFIER_A] }),
      await serve(node, PAYER_B),
    ]
    const commit = await node.settlement.tick({ flush: true })
    const batchId = commit.committed[0] as bigint
    assert.ok(batchId)
    for (const { id } of served) await assertSettled(storedReceipt(node, id), batchId)

    const parties = [address(CREATOR), address(VERIFIER_A), address(VERIFIER_B), treasury]
    const before = await Promise.all(parties.map(read.earnings))
    const walletBefore = await network.chain.publicClient.getBalance({ address: address(NODE_B) })
    assert.deepEqual((await node.settlement.tick()).finalized, [], 'the window is still open')

    await network.chain.increaseTime(parameters.challengeWindow + 1)
    const report = await node.settlement.tick()
    assert.deepEqual(report.errors, [])
    assert.deepEqual(report.finalized, [batchId])

    // the split, from the parameters: royalty, verifier pool pro rata (2 : 1), treasury, rest
    const total = 3n * PRICE
    const royalty = (total * ROYALTY_BPS) / BPS
    const pool = (total * BigInt(parameters.verifierBps)) / BPS
    const verifierA = (pool * 2n) / 3n
    const verifierB = (pool * 1n) / 3n
    const treasuryShare = (total * BigInt(parameters.treasuryBps)) / BPS
    const executorShare = total - royalty - verifierA - verifierB - treasuryShare
    const after = await Promise.all(parties.map(read.earnings))
    assert.deepEqual(
      after.map((value, index) => value - (before[index] as bigint)),
      [royalty, verifierA, verifierB, treasuryShare],
    )
    assert.equal(report.withdrawnWei, executorShare, 'the node withdrew exactly its share')
    assert.equal(await read.earnings(address(NODE_B)), 0n)
    assert.equal(await read.reserved(address(PAYER_B)), 0n)

    // the wallet got the share, minus the gas of finalize and withdrawEarnings
    const [finalized] = await network.chain.publicClient.getContractEvents({
      address: settlementAddress,
      abi: settlementAbi,
      eventName: 'BatchFinalized',
      args: { batchId },
      fromBlock: 0n,
    })
    assert.equal(finalized?.args.executorAmount, executorShare)
    const withdrawals = await network.chain.publicClient.getContractEvents({
      address: settlementAddress,
      abi: settlementAbi,
      eventName: 'EarningsWithdrawn',
      args: { party: address(NODE_B) },
      fromBlock: 0n,
    })
    let gas = 0n
    const gasUsed: bigint[] = []
    for (const hash of [finalized?.transactionHash, withdrawals.at(-1)?.transactionHash]) {
      const receipt = await network.chain.publicClient.getTransactionReceipt({ hash: hash as Hash })
      gas += receipt.gasUsed * receipt.effectiveGasPrice
      gasUsed.push(receipt.gasUsed)
    }
    const commitTx = node.settlement.status().recentBatches[0]?.transactionHash as Hash
    const commitGas = (await network.chain.publicClient.getTransactionReceipt({ hash: commitTx }))
      .gasUsed
    t.diagnostic(
      `gas: commitBatch (3 receipts, 1 payer, 1 model, 2 verifiers) ${commitGas}, finalize ${gasUsed[0]}, withdrawEarnings ${gasUsed[1]}`,
    )
    const walletAfter = await network.chain.publicClient.getBalance({ address: address(NODE_B) })
    assert.equal(walletAfter - walletBefore, executorShare - gas)

    const status = node.settlement.status()
    assert.equal(status.receipts.finalized, 3)
    assert.equal(status.batches.finalized, 1)
    assert.equal(status.earningsWithdrawnWei, executorShare.toString())
    assert.match(
      await node.registry.metrics(),
      new RegExp(`verity_settlement_earnings_withdrawn_wei_total ${Number(executorShare)}`),
    )

    // a verifier node withdraws its own pool share the same way
    const verifierNode = openNode(VERIFIER_A, 'verifier.sqlite')
    try {
      const earned = await read.earnings(address(VERIFIER_A))
      assert.ok(earned >= verifierA)
      assert.equal((await verifierNode.settlement.tick()).withdrawnWei, earned)
      assert.equal(await read.earnings(address(VERIFIER_A)), 0n)
    } finally {
      await verifierNode.close()
    }
  } finally {
    await node.close()
  }
})

test('behavior: receipts of a payer who withdrew its escrow are marked unpaid; the batch still commits', async () => {
  const node = openNode(NODE_C, 'unpaid.sqlite')
  try {
    await network.deposit(account(PAYER_C), 2n * PRICE)
    const poor = [await serve(node, PAYER_C), await serve(node, PAYER_C)]
    const rich = await serve(node, PAYER_A)
    // the payer takes half its escrow back before the node commits
    await sendAs(PAYER_C, 'requestWithdrawal', [PRICE])
    await network.chain.increaseTime(network.config.parameters.escrowWithdrawalDelay + 1)
    await sendAs(PAYER_C, 'withdraw')
    assert.equal(await read.balance(address(PAYER_C)), PRICE)

    const report = await node.settlement.tick({ flush: true })
    assert.deepEqual(report.errors, [])
    assert.equal(report.unpaid, 1)
    const batchId = report.committed[0] as bigint
    assert.equal((await read.batch(batchId)).count, 2)
    // oldest first: the first receipt is still covered, the second is not
    await assertSettled(storedReceipt(node, (poor[0] as Served).id), batchId)
    await assertSettled(storedReceipt(node, rich.id), batchId)
    assert.equal(node.store.get((poor[1] as Served).id)?.status, 'unpaid')
    assert.equal(node.store.get((poor[1] as Served).id)?.unpaidReason, 'escrow')
    assert.equal(storedReceipt(node, (poor[1] as Served).id).settlement, undefined)
    assert.equal(await read.balance(address(PAYER_C)), 0n)
    assert.match(
      await node.registry.metrics(),
      /verity_settlement_unpaid_receipts_total\{reason="escrow"\} 1/,
    )
  } finally {
    await node.close()
  }
})

test('error: quotes refuse a fee above maxFee and a short escrow, and store nothing', async () => {
  const node = openNode(NODE_C, 'quotes.sqlite')
  try {
    const base = { modelCid: CID, manifestHash, inputs }
    const tooCheap = createInferenceRequest({ ...base, maxFee: PRICE - 1n })
    await assert.rejects(
      node.settlement.quote({
        request: tooCheap,
        requester: address(PAYER_A),
        model: { cid: CID },
      }),
      (error: unknown) => {
        assert.ok(isBaseError(error, 'FEE_TOO_LOW'))
        assert.match(error.shortMessage, new RegExp(`costs ${PRICE} wei`))
        return true
      },
    )
    assert.equal(node.store.get(computeJobId(address(PAYER_A), tooCheap)), undefined)

    // a payer with exactly two calls of escrow: concurrent quotes cannot overspend it
    const payer = address(VERIFIER_B)
    await network.deposit(account(VERIFIER_B), 2n * PRICE)
    const requests = [1, 2, 3].map(() => createInferenceRequest({ ...base, maxFee: PRICE * 2n }))
    const results = await Promise.allSettled(
      requests.map((request) =>
        node.settlement.quote({ request, requester: payer, model: { cid: CID } }),
      ),
    )
    // which one loses depends on the order the balance reads come back; exactly one does
    assert.deepEqual(
      results
        .map((r) =>
          r.status === 'fulfilled' ? String(r.value?.fee) : (r.reason as BaseError).code,
        )
        .sort(),
      [String(PRICE), String(PRICE), 'ESCROW_INSUFFICIENT'].sort(),
    )
    assert.equal(node.store.outstanding(payer), 2n * PRICE)
    const lost = results.findIndex((r) => r.status === 'rejected')
    assert.equal(node.store.get(computeJobId(payer, requests[lost]!)), undefined)
    const refused = results[lost] as PromiseRejectedResult
    assert.match((refused.reason as BaseError).shortMessage, /has 0 wei of escrow left/)
    assert.ok(
      (refused.reason as BaseError).metaMessages.some((line) => line.includes('deposit')),
      'the error says how to fix it',
    )
  } finally {
    await node.close()
  }
})

test('behavior: unsigned requests and unregistered models are served free (or refused if asked)', async () => {
  const node = openNode(NODE_C, 'free.sqlite')
  const strict = openNode(NODE_C, 'strict.sqlite', { unregisteredModels: 'refuse' })
  try {
    const request = createInferenceRequest({ modelCid: CID, manifestHash, inputs, maxFee: PRICE })
    assert.equal(
      await node.settlement.quote({ request, requester: zeroAddress, model: { cid: CID } }),
      undefined,
    )
    const unknown = createInferenceRequest({
      modelCid: 'bafy-not-on-chain',
      manifestHash,
      inputs,
      maxFee: PRICE,
    })
    const parameters = {
      request: unknown,
      requester: address(PAYER_A),
      model: { cid: 'bafy-not-on-chain' },
    }
    assert.equal(await node.settlement.quote(parameters), undefined)
    assert.deepEqual(node.settlement.status().receipts.quoted, 0)
    await assert.rejects(strict.settlement.quote(parameters), { code: 'MODEL_NOT_REGISTERED' })
  } finally {
    await node.close()
    await strict.close()
  }
})

test('behavior: a batch sent before a crash is found on-chain after the restart, never sent twice', async () => {
  const file = 'crash-after-send.sqlite'
  const real = chainFor(NODE_A)
  // the process "dies" after the transaction went out, before it learnt the outcome
  const crashing: NodeChain = {
    ...real,
    async write(what, call) {
      await real.write(what, call)
      throw new BaseError('CHAIN_UNAVAILABLE', 'simulated crash after sending')
    },
  }
  const first = openNode(NODE_A, file, {}, crashing)
  const served = [await serve(first, PAYER_A), await serve(first, PAYER_A)]
  const count = await read.batchCount()
  const crashed = await first.settlement.tick({ flush: true })
  assert.deepEqual(crashed.committed, [])
  assert.equal(crashed.errors[0]?.code, 'CHAIN_UNAVAILABLE')
  assert.equal(first.settlement.status().batches.committing, 1)
  assert.equal(await read.batchCount(), count + 1n, 'the commit is on-chain')
  await first.close()

  const restarted = openNode(NODE_A, file)
  try {
    const nonce = await network.chain.publicClient.getTransactionCount({ address: address(NODE_A) })
    const report = await restarted.settlement.tick()
    assert.deepEqual(report.errors, [])
    assert.deepEqual(report.committed, [count + 1n])
    assert.equal(await read.batchCount(), count + 1n, 'not committed a second time')
    assert.equal(
      await network.chain.publicClient.getTransactionCount({ address: address(NODE_A) }),
      nonce,
      'the restarted node sent nothing',
    )
    for (const { id } of served) await assertSettled(storedReceipt(restarted, id), count + 1n)
  } finally {
    await restarted.close()
  }
})

test('behavior: a batch written as committing but never sent is sent after the restart', async () => {
  const file = 'crash-before-send.sqlite'
  const real = chainFor(NODE_A)
  const crashing: NodeChain = {
    ...real,
    async write() {
      throw new BaseError('CHAIN_UNAVAILABLE', 'simulated crash before sending')
    },
  }
  const first = openNode(NODE_A, file, {}, crashing)
  const { id } = await serve(first, PAYER_A)
  const count = await read.batchCount()
  await first.settlement.tick({ flush: true })
  assert.equal(first.settlement.status().batches.committing, 1)
  assert.equal(await read.batchCount(), count)
  await first.close()

  const restarted = openNode(NODE_A, file)
  try {
    const report = await restarted.settlement.tick()
    assert.deepEqual(report.committed, [count + 1n])
    assert.equal(await read.batchCount(), count + 1n)
    await assertSettled(storedReceipt(restarted, id), count + 1n)
  } finally {
    await restarted.close()
  }
})

test('behavior: a payer dispute is answered with the signed request and the batch then finalizes', async () => {
  const node = openNode(NODE_B, 'dispute.sqlite', { earningsCheckIntervalMs: 3_600_000 })
  try {
    const { id } = await serve(node, PAYER_B)
    const batchId = (await node.settlement.tick({ flush: true })).committed[0] as bigint
    const receipt = storedReceipt(node, id)
    const leaf = receiptLeafFromReceipt(receipt, PRICE)
    await sendAs(PAYER_B, 'disputeRequest', [batchId, leaf, receipt.settlement?.proof])
    assert.equal((await read.batch(batchId)).openDisputes, 1)

    const report = await node.settlement.tick()
    assert.deepEqual(report.errors, [])
    assert.equal(report.disputesAnswered, 1)
    assert.equal((await read.batch(batchId)).openDisputes, 0)

    await network.chain.increaseTime(network.config.parameters.challengeWindow + 1)
    assert.deepEqual((await node.settlement.tick()).finalized, [batchId])
    assert.equal(node.store.get(id)?.status, 'finalized')
  } finally {
    await node.close()
  }
})

test('behavior: a request near its deadline forces its batch; an expired one is not committed', async () => {
  const node = openNode(NODE_C, 'deadline.sqlite', { deadlineMarginSeconds: 300 })
  try {
    const now = await chainTime()
    const soon = await serve(node, PAYER_A, { deadline: now + 200n })
    const report = await node.settlement.tick()
    assert.equal(report.committed.length, 1, 'committed early, before the deadline')
    await assertSettled(storedReceipt(node, soon.id), report.committed[0] as bigint)

    const late = await serve(node, PAYER_A, { deadline: (await chainTime()) + 5n })
    const next = await node.settlement.tick()
    assert.deepEqual(next.committed, [])
    assert.equal(next.unpaid, 1)
    assert.equal(node.store.get(late.id)?.unpaidReason, 'expired')
  } finally {
    await node.close()
  }
})

test('error: a domain that is not the chain Settlement domain is refused', () => {
  const path = join(dir, 'domain.sqlite')
  const jobs = createJobStore({ path })
  const store = createSettlementStore({ path })
  const components = { chain: chainFor(NODE_A), store, jobs, logger }
  try {
    assert.throws(
      () =>
        createSettlement(
          { domain: { name: 'Verity', version: '1', chainId: domain.chainId } },
          components,
        ),
      { code: 'INVALID_ARGUMENT' },
    )
    assert.throws(
      () =>
        createSettlement(
          { domain: { ...domain, verifyingContract: network.config.contracts.modelRegistry } },
          components,
        ),
      { code: 'INVALID_ARGUMENT', message: /settles on chain/ },
    )
    assert.throws(() => createSettlement({ domain, maxBatchSize: 0 }, components), {
      code: 'INVALID_ARGUMENT',
      message: /maxBatchSize/,
    })
  } finally {
    store.close()
    jobs.close()
  }
})

test('error: a commit the contract refuses (node not staked) puts the receipts back to pending', async () => {
  const node = openNode(VERIFIER_B, 'not-staked.sqlite')
  try {
    const { id } = await serve(node, PAYER_A)
    const count = await read.batchCount()
    const report = await node.settlement.tick({ flush: true })
    assert.deepEqual(report.committed, [])
    assert.equal(report.errors[0]?.code, 'CHAIN_TRANSACTION_FAILED')
    assert.match(report.errors[0]?.message ?? '', /NotActiveExecutor/)
    assert.equal(await read.batchCount(), count)
    assert.equal(node.store.get(id)?.status, 'pending')
    assert.equal(node.settlement.status().batches.committing, 0)
    assert.equal(node.settlement.status().lastError?.step, 'commit')
    assert.match(
      await node.registry.metrics(),
      /verity_settlement_batches_total\{status="failed"\} 1/,
    )
  } finally {
    await node.close()
  }
})

test('behavior: a batch finalized by someone else is marked finalized without a transaction', async () => {
  const node = openNode(NODE_C, 'finalized-by-other.sqlite', { earningsCheckIntervalMs: 3_600_000 })
  try {
    const { id } = await serve(node, PAYER_A)
    const batchId = (await node.settlement.tick({ flush: true })).committed[0] as bigint
    await network.chain.increaseTime(network.config.parameters.challengeWindow + 1)
    await sendAs(BYSTANDER, 'finalize', [batchId])
    const nonce = await network.chain.publicClient.getTransactionCount({ address: address(NODE_C) })
    const report = await node.settlement.tick()
    assert.deepEqual(report.finalized, [batchId])
    assert.equal(node.store.get(id)?.status, 'finalized')
    // a forced tick checks earnings and withdraws them: that is the only transaction
    assert.ok(report.withdrawnWei > 0n)
    assert.equal(
      await network.chain.publicClient.getTransactionCount({ address: address(NODE_C) }),
      nonce + 1,
    )
  } finally {
    await node.close()
  }
})

test('behavior: a batch reverted by a fraud proof is marked challenged', async () => {
  // account VERIFIER_A becomes an executor that equivocates (and is slashed): last test of the file
  await network.registerNode(account(VERIFIER_A), { endpoint: 'http://127.0.0.1:5' })
  const node = openNode(VERIFIER_A, 'challenged.sqlite')
  try {
    const { id, receipt } = await serve(node, PAYER_A)
    const batchId = (await node.settlement.tick({ flush: true })).committed[0] as bigint
    const settled = storedReceipt(node, id)
    // the same job signed again by the executor with another output
    const other = await createReceipt({
      account: account(VERIFIER_A),
      requester: address(PAYER_A),
      request: requestMessageFromReceipt(receipt),
      outputs: { y: { dtype: 'float32', shape: [1], data: new Float32Array([0.25]) } },
      engine,
      domain,
    })
    await sendAs(BYSTANDER, 'challengeEquivocation', [
      batchId,
      receiptLeafFromReceipt(settled, PRICE),
      settled.settlement?.proof,
      executionMessageFromReceipt(other),
      other.executor.signature,
    ])
    const report = await node.settlement.tick()
    assert.deepEqual(report.challenged, [batchId])
    assert.equal(node.store.get(id)?.status, 'challenged')
    assert.equal(node.settlement.status().batches.challenged, 1)
    assert.match(
      await node.registry.metrics(),
      /verity_settlement_batches_total\{status="challenged"\} 1/,
    )
  } finally {
    await node.close()
  }
})
