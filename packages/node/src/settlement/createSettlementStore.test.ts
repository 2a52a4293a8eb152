import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Hash, ReceiptLeaf } from '@verity/protocol'
import { hashReceiptLeaf } from '@verity/protocol'
import { tempDir } from '../testing/fixtures.ts'
import { createSettlementStore } from './createSettlementStore.ts'

let dir = ''
let remove: () => Promise<void>
before(async () => {
  ;({ dir, remove } = await tempDir('verity-settlement-store-'))
})
after(() => remove())

const payerA = '0x00000000000000000000000000000000000000a1'
const payerB = '0x00000000000000000000000000000000000000b2'
const contract = '0x00000000000000000000000000000000000000c3'
const executor = '0x00000000000000000000000000000000000000e4'

function id(n: number): Hash {
  return `0x${n.toString(16).padStart(64, '0')}`
}

function leaf(n: number, fee: bigint): ReceiptLeaf {
  return {
    jobId: id(n),
    requester: payerA,
    executor,
    modelCidHash: id(100),
    fee,
    requestStructHash: id(200 + n),
    outputHash: id(300 + n),
    quorum: 0,
    attestationsHash: id(400),
  }
}

function quote(n: number, payer: `0x${string}`, fee: bigint) {
  return { jobId: id(n), payer, modelId: 1n, modelCid: 'bafy-x', fee, deadline: 2_000_000_000n }
}

test('default: quote → recorded → committing → committed → finalized, durable across reopening', () => {
  const path = join(dir, 'default.sqlite')
  let clock = 1_000
  const store = createSettlementStore({ path, now: () => clock })
  assert.equal(store.putQuote(quote(1, payerA, 5n)), true)
  assert.equal(store.putQuote(quote(2, payerA, 7n)), true)
  assert.equal(store.get(id(1))?.status, 'quoted')
  assert.equal(store.outstanding(payerA), 12n)
  assert.equal(store.outstanding(payerA, id(1)), 7n, 'a job does not count against itself')
  clock = 2_000
  const first = leaf(1, 5n)
  assert.equal(
    store.markRecorded(id(1), { leaf: first, leafHash: hashReceiptLeaf(first), verifiers: [] }),
    true,
  )
  assert.equal(
    store.markRecorded(id(1), { leaf: first, leafHash: hashReceiptLeaf(first), verifiers: [] }),
    false,
    'only a quoted item is recorded',
  )
  assert.deepEqual(store.pendingSummary(), {
    count: 1,
    oldestRecordedAt: 2_000,
    earliestDeadline: 2_000_000_000n,
  })
  const batch = store.createBatch({
    contract,
    executor,
    root: id(999),
    total: 5n,
    call: {
      payers: [{ payer: payerA, total: '5' }],
      models: [{ modelId: '1', total: '5' }],
      verifiers: [],
    },
    leaves: [{ jobId: id(1), leaf: first }],
    fromBlock: 10,
  })
  assert.equal(batch.status, 'committing')
  assert.equal(store.committing()?.id, batch.id)
  assert.equal(store.get(id(1))?.status, 'committing')
  assert.equal(store.outstanding(payerA), 12n, 'committing fees are still owed')
  store.close()

  const reopened = createSettlementStore({ path, now: () => clock })
  const recovered = reopened.committing()
  assert.deepEqual(recovered?.leaves, [{ jobId: id(1), leaf: first }])
  reopened.markCommitted(batch.id, {
    batchId: 4n,
    transactionHash: id(77),
    blockNumber: 11,
    committedAt: 1_700_000_000,
  })
  assert.equal(reopened.committing(), undefined)
  assert.equal(reopened.get(id(1))?.status, 'committed')
  assert.equal(reopened.outstanding(payerA), 7n, 'committed fees are reserved on-chain')
  assert.equal(reopened.batchByChainId(4n)?.transactionHash, id(77))
  assert.deepEqual(
    reopened.unattached().map((b) => b.id),
    [batch.id],
  )
  reopened.markReceiptsAttached(batch.id)
  assert.deepEqual(reopened.unattached(), [])
  reopened.closeBatch(batch.id, 'finalized')
  assert.equal(reopened.get(id(1))?.status, 'finalized')
  assert.deepEqual(reopened.counts().items, {
    quoted: 1,
    pending: 0,
    committing: 0,
    committed: 0,
    finalized: 1,
    challenged: 0,
    unpaid: 0,
  })
  assert.equal(reopened.counts().pendingFees, 7n)
  reopened.close()
})

test('behavior: a dissolved batch puts its items back to pending; unpaid items leave the count', () => {
  const store = createSettlementStore({ path: join(dir, 'dissolve.sqlite') })
  for (const n of [1, 2, 3]) {
    store.putQuote(quote(n, n === 3 ? payerB : payerA, 10n))
    const l = leaf(n, 10n)
    store.markRecorded(id(n), { leaf: l, leafHash: hashReceiptLeaf(l), verifiers: [] })
  }
  const batch = store.createBatch({
    contract,
    executor,
    root: id(998),
    total: 20n,
    call: { payers: [], models: [], verifiers: [] },
    leaves: [1, 2].map((n) => ({ jobId: id(n), leaf: leaf(n, 10n) })),
    fromBlock: 1,
  })
  store.dissolveBatch(batch.id)
  assert.equal(store.batch(batch.id), undefined)
  assert.deepEqual(
    store.list('pending').map((item) => [item.jobId, item.batch]),
    [
      [id(1), undefined],
      [id(2), undefined],
      [id(3), undefined],
    ],
  )
  store.markUnpaid([id(3)], 'escrow')
  assert.equal(store.get(id(3))?.unpaidReason, 'escrow')
  assert.equal(store.outstanding(payerB), 0n)
  assert.equal(store.pendingSummary().count, 2)
  // a recorded item is not replaced by a later quote for the same job
  assert.equal(store.putQuote(quote(1, payerA, 999n)), false)
  assert.equal(store.get(id(1))?.fee, 10n)
  store.close()
})

test('error: a batch naming an item that is not pending is not written at all', () => {
  const store = createSettlementStore({ path: join(dir, 'atomic.sqlite') })
  store.putQuote(quote(1, payerA, 1n))
  const l = leaf(1, 1n)
  store.markRecorded(id(1), { leaf: l, leafHash: hashReceiptLeaf(l), verifiers: [] })
  store.putQuote(quote(2, payerA, 1n)) // quoted, not pending
  assert.throws(
    () =>
      store.createBatch({
        contract,
        executor,
        root: id(997),
        total: 2n,
        call: { payers: [], models: [], verifiers: [] },
        leaves: [1, 2].map((n) => ({ jobId: id(n), leaf: leaf(n, 1n) })),
        fromBlock: 1,
      }),
    { code: 'INTERNAL' },
  )
  assert.equal(store.committing(), undefined)
  assert.equal(store.get(id(1))?.status, 'pending')
  store.close()
})
