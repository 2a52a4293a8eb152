// The executor's settlement hook, end to end: a real ONNX engine and demo model, the real job
// store, a real anvil with the contracts, real signatures.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { createOnnxEngine, type OnnxEngine } from '@verity/engine'
import { createModelStore } from '@verity/hub'
import {
  computeJobId,
  createInferenceRequest,
  encodeTensors,
  type Hash,
  type NamedTensors,
  type NamedTensorsJson,
  namedTensorsFromJson,
  signInferenceRequest,
  type VerityDomain,
  verifyReceipt,
} from '@verity/protocol'
import { getAddress } from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { createNodeChain } from '../chain/createNodeChain.ts'
import { createJobStore, type JobStore } from '../db/createJobStore.ts'
import { createExecutor, type Executor } from '../executor.ts'
import { createLogger } from '../logger.ts'
import { createNodeMetrics } from '../metrics.ts'
import { createModelService, type ModelService } from '../models.ts'
import { requestToJson } from '../requestJson.ts'
import { demoModels, tempDir } from '../testing/fixtures.ts'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createSettlement, type Settlement } from './createSettlement.ts'
import { createSettlementStore, type SettlementStore } from './createSettlementStore.ts'

const NODE = 1
const CREATOR = 2
const PAYER = 3
const BROKE = 4
const PRICE = 10n ** 12n
const logger = createLogger({ level: 'silent' })

let network: TestNetwork
let domain: VerityDomain
let dir = ''
let removeDir: () => Promise<void>
let engine: OnnxEngine
let models: ModelService
let model: { cid: string; manifestHash: Hash }
let inputs: NamedTensors
let nonce = 0

const account = (index: number): PrivateKeyAccount => network.chain.accounts[index]!

before(async () => {
  ;({ dir, remove: removeDir } = await tempDir('verity-settlement-executor-'))
  network = await createTestNetwork()
  domain = {
    name: 'Verity',
    version: '1',
    chainId: network.config.chainId,
    verifyingContract: getAddress(network.config.contracts.settlement),
  }
  const demo = await demoModels()
  inputs = namedTensorsFromJson(demo.samples[3]?.int8Input as NamedTensorsJson)
  engine = createOnnxEngine()
  models = createModelService({
    store: createModelStore({ dir: join(dir, 'store') }),
    engine,
    logger,
  })
  const published = await models.publish({ bytes: demo.int8Model, name: 'digits-int8' })
  model = { cid: published.cid, manifestHash: published.manifestHash }
  await network.registerNode(account(NODE), { endpoint: 'http://127.0.0.1:1' })
  await network.registerModel(account(CREATOR), {
    name: 'digits-int8',
    cid: model.cid,
    manifestHash: model.manifestHash,
    pricePerCall: PRICE,
  })
  await network.deposit(account(PAYER), PRICE * 10n)
})
after(async () => {
  await engine?.close()
  await network?.close()
  await removeDir?.()
})

type Node = {
  executor: Executor
  jobs: JobStore
  store: SettlementStore
  settlement: Settlement
  close(): Promise<void>
}

function openNode(file: string): Node {
  const path = join(dir, file)
  const jobs = createJobStore({ path })
  const store = createSettlementStore({ path })
  const controller = new AbortController()
  const chain = createNodeChain(
    {
      rpcUrl: network.config.rpcUrl,
      chainId: network.config.chainId,
      contracts: network.config.contracts,
      pollingIntervalMs: 20,
    },
    { account: account(NODE) },
  )
  const settlement = createSettlement({ domain }, { chain, store, jobs, logger })
  const executor = createExecutor(
    { domain, maxJobAttempts: 3, unsignedDeadlineSeconds: 3600, enabled: true },
    {
      account: account(NODE),
      engine,
      models,
      jobs,
      metrics: createNodeMetrics({ processMetrics: false }),
      logger,
      signal: controller.signal,
      settlement,
    },
  )
  return {
    executor,
    jobs,
    store,
    settlement,
    async close() {
      await executor.drain(5_000)
      await settlement.stop()
      controller.abort()
      store.close()
      jobs.close()
    },
  }
}

async function signed(payer: number, maxFee: bigint) {
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    inputs,
    maxFee,
    nonce: `0x${(++nonce).toString(16).padStart(64, '0')}`,
  })
  const signature = await signInferenceRequest({ account: account(payer), request, domain })
  return {
    request,
    signature,
    id: computeJobId(account(payer).address, request),
    call: { model: model.cid, inputs, request, requester: account(payer).address, signature },
  }
}

test('default: a paid call is quoted, executed, settled; its replay returns the settled receipt', async () => {
  const node = openNode('paid.sqlite')
  try {
    const { id, call } = await signed(PAYER, PRICE)
    const result = await node.executor.infer(call)
    assert.equal(result.replayed, false)
    assert.equal(node.store.get(id)?.status, 'pending')
    assert.equal(node.store.get(id)?.fee, PRICE)

    const report = await node.settlement.tick({ flush: true })
    const batchId = report.committed[0] as bigint
    assert.ok(batchId)
    const replay = await node.executor.infer(call)
    assert.equal(replay.replayed, true)
    assert.equal(replay.receipt.settlement?.batchId, batchId.toString())
    const verdict = await verifyReceipt(replay.receipt, { domain, inputs })
    assert.equal(
      verdict.valid,
      true,
      JSON.stringify(verdict.checks.filter((c) => c.status !== 'pass')),
    )
    assert.equal(
      node.store.outstanding(account(PAYER).address),
      0n,
      'a replay is not charged again',
    )
  } finally {
    await node.close()
  }
})

test('error: a refused quote rejects the call before anything is stored or run', async () => {
  const node = openNode('refused.sqlite')
  try {
    const cheap = await signed(PAYER, PRICE - 1n)
    await assert.rejects(node.executor.infer(cheap.call), { code: 'FEE_TOO_LOW' })
    assert.equal(node.jobs.get(cheap.id), undefined)
    const broke = await signed(BROKE, PRICE)
    await assert.rejects(node.executor.infer(broke.call), { code: 'ESCROW_INSUFFICIENT' })
    assert.equal(node.jobs.get(broke.id), undefined)
    assert.equal(node.store.get(broke.id), undefined)
    // unsigned: served free, nothing to settle
    const free = await node.executor.infer({ model: model.cid, inputs })
    assert.equal(free.receipt.job.requester, '0x0000000000000000000000000000000000000000')
    assert.equal(node.store.get(free.receipt.job.id), undefined)
  } finally {
    await node.close()
  }
})

test('behavior: a quoted job interrupted by a crash is settled once recovery completes it', async () => {
  const file = 'recovered.sqlite'
  const first = openNode(file)
  const { request, signature, id } = await signed(PAYER, PRICE)
  // what a crash between "accepted" and "executed" leaves: the quote and the accepted job
  const quote = await first.settlement.quote({
    request,
    requester: account(PAYER).address,
    model: { cid: model.cid },
  })
  assert.equal(quote?.fee, PRICE)
  first.jobs.accept({
    id,
    requester: account(PAYER).address,
    modelCid: model.cid,
    mode: 'none',
    request: { message: requestToJson(request), signature, includeOutput: true },
    inputs: encodeTensors(inputs),
  })
  await first.close()

  const restarted = openNode(file)
  try {
    assert.equal(restarted.store.get(id)?.status, 'quoted')
    assert.deepEqual(await restarted.executor.recover(), { completed: 1, failed: 0, skipped: 0 })
    assert.equal(restarted.store.get(id)?.status, 'pending')
    const report = await restarted.settlement.tick({ flush: true })
    assert.equal(report.committed.length, 1)
    assert.ok(JSON.parse(restarted.jobs.getReceipt(id)?.receiptJson ?? '{}').settlement)
  } finally {
    await restarted.close()
  }
})

test('behavior: a receipt stored just before a crash (not yet recorded) is settled on the next pass', async () => {
  const file = 'unrecorded.sqlite'
  const node = openNode(file)
  try {
    const { request, signature, id } = await signed(PAYER, PRICE)
    await node.settlement.quote({
      request,
      requester: account(PAYER).address,
      model: { cid: model.cid },
    })
    // run the job through an executor without the settlement hook: the receipt is stored, but
    // `record` never happens (as if the process died between the two)
    const bare = createExecutor(
      { domain, maxJobAttempts: 3, unsignedDeadlineSeconds: 3600, enabled: true },
      {
        account: account(NODE),
        engine,
        models,
        jobs: node.jobs,
        metrics: createNodeMetrics({ processMetrics: false }),
        logger,
        signal: new AbortController().signal,
      },
    )
    await bare.infer({
      model: model.cid,
      inputs,
      request,
      requester: account(PAYER).address,
      signature,
    })
    assert.equal(node.store.get(id)?.status, 'quoted')
    const report = await node.settlement.tick({ flush: true })
    assert.equal(report.committed.length, 1)
    assert.equal(node.store.get(id)?.status, 'committed')
  } finally {
    await node.close()
  }
})
