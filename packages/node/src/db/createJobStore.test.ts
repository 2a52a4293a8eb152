import assert from 'node:assert/strict'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, test } from 'node:test'
import type { Hash } from '@verity/protocol'
import { tempDir } from '../testing/fixtures.ts'
import { createJobStore, type NewJob } from './createJobStore.ts'
import { migrations } from './migrations.ts'

let dir = ''
let remove: () => Promise<void>
before(async () => {
  ;({ dir, remove } = await tempDir('verity-jobs-'))
})
after(() => remove())

function job(n: number): NewJob {
  return {
    id: `0x${n.toString(16).padStart(64, '0')}` as Hash,
    requester: '0x0000000000000000000000000000000000000000',
    modelCid: 'bafkreitest',
    mode: 'none',
    request: {
      message: {
        modelCid: 'bafkreitest',
        manifestHash: `0x${'01'.repeat(32)}`,
        inputHash: `0x${'02'.repeat(32)}`,
        paramsHash: `0x${'03'.repeat(32)}`,
        mode: 0,
        quorum: 0,
        maxFee: '0',
        nonce: `0x${'04'.repeat(32)}`,
        deadline: '99999999999',
      },
      includeOutput: true,
    },
    inputs: new Uint8Array([1, 2, 3, n]),
  }
}

test('default: accept, run, complete; the receipt and status survive reopening', () => {
  const path = join(dir, 'default.sqlite')
  let clock = 1000
  const jobs = createJobStore({ path, now: () => clock })
  assert.deepEqual(jobs.accept(job(1)), { inserted: true })
  assert.equal(jobs.get(job(1).id)?.status, 'accepted')
  clock = 2000
  assert.equal(jobs.markRunning(job(1).id), 1)
  assert.equal(jobs.get(job(1).id)?.status, 'running')
  jobs.complete(job(1).id, { receiptJson: '{"r":1}', outputs: new Uint8Array([9]) })
  jobs.close()

  const reopened = createJobStore({ path })
  const stored = reopened.get(job(1).id)
  assert.equal(stored?.status, 'done')
  assert.equal(stored?.attempts, 1)
  assert.equal(stored?.createdAt, 1000)
  assert.deepEqual(stored?.request, job(1).request)
  assert.deepEqual(new Uint8Array(stored?.inputs ?? []), job(1).inputs)
  const receipt = reopened.getReceipt(job(1).id)
  assert.equal(receipt?.receiptJson, '{"r":1}')
  assert.deepEqual(new Uint8Array(receipt?.outputs ?? []), new Uint8Array([9]))
  assert.deepEqual(reopened.counts(), { accepted: 0, running: 0, done: 1, failed: 0 })
  reopened.close()
})

test('behavior: schema at the latest user_version, WAL journal on disk', () => {
  const path = join(dir, 'schema.sqlite')
  createJobStore({ path }).close()
  const database = new DatabaseSync(path)
  assert.deepEqual(
    { ...database.prepare('PRAGMA user_version').get() },
    {
      user_version: migrations.length,
    },
  )
  assert.deepEqual({ ...database.prepare('PRAGMA journal_mode').get() }, { journal_mode: 'wal' })
  database.close()
})

test('behavior: a known job id is not inserted twice; a failed one is reset for another try', () => {
  const jobs = createJobStore({ path: join(dir, 'replay.sqlite') })
  jobs.accept(job(2))
  const again = jobs.accept(job(2))
  assert.equal(again.inserted, false)
  assert.equal(again.inserted === false && again.existing.status, 'accepted')
  jobs.markRunning(job(2).id)
  jobs.fail(job(2).id, { code: 'ENGINE_TIMEOUT', message: 'too slow' })
  assert.deepEqual(jobs.get(job(2).id)?.error, { code: 'ENGINE_TIMEOUT', message: 'too slow' })
  assert.deepEqual(jobs.accept(job(2)), { inserted: true })
  const retried = jobs.get(job(2).id)
  assert.equal(retried?.status, 'accepted')
  assert.equal(retried?.error, undefined)
  assert.equal(retried?.attempts, 0)
  jobs.close()
})

test('behavior: unfinished lists accepted and running jobs, oldest first', () => {
  let clock = 0
  const jobs = createJobStore({ path: join(dir, 'unfinished.sqlite'), now: () => ++clock })
  for (const n of [3, 4, 5, 6]) jobs.accept(job(n))
  jobs.markRunning(job(4).id)
  jobs.complete(job(5).id, { receiptJson: '{}', outputs: new Uint8Array() })
  jobs.fail(job(6).id, { code: 'INTERNAL', message: 'x' })
  assert.deepEqual(
    jobs.unfinished().map((row) => [row.id, row.status]),
    [
      [job(3).id, 'accepted'],
      [job(4).id, 'running'],
    ],
  )
  jobs.close()
})

test('error: a finished job cannot start or fail again', () => {
  const jobs = createJobStore({ path: join(dir, 'finished.sqlite') })
  jobs.accept(job(7))
  jobs.complete(job(7).id, { receiptJson: '{}', outputs: new Uint8Array() })
  assert.throws(() => jobs.markRunning(job(7).id), { code: 'INTERNAL' })
  jobs.fail(job(7).id, { code: 'INTERNAL', message: 'late' })
  assert.equal(jobs.get(job(7).id)?.status, 'done')
  jobs.close()
})

test('error: a receipt for an unknown job is refused (foreign key), nothing is written', () => {
  const jobs = createJobStore({ path: join(dir, 'fk.sqlite') })
  assert.throws(() => jobs.complete(job(8).id, { receiptJson: '{}', outputs: new Uint8Array() }))
  assert.equal(jobs.getReceipt(job(8).id), undefined)
  jobs.close()
})

test('error: a database from a newer node is refused', () => {
  const path = join(dir, 'newer.sqlite')
  const database = new DatabaseSync(path)
  database.exec(`PRAGMA user_version = ${migrations.length + 1}`)
  database.close()
  assert.throws(() => createJobStore({ path }), {
    code: 'INVALID_ARGUMENT',
    message: new RegExp(
      `schema version ${migrations.length + 1}; this node knows versions up to ${migrations.length}`,
    ),
  })
})

test('behavior: a done job receipt is replaced by canonical JSON and the change survives reopening', () => {
  const path = join(dir, 'replace.sqlite')
  const jobs = createJobStore({ path })
  jobs.accept(job(9))
  jobs.complete(job(9).id, { receiptJson: '{"a":1}', outputs: new Uint8Array([5]) })
  jobs.replaceReceipt(job(9).id, '{"a":1,"settlement":{"batchId":"1"}}')
  jobs.close()
  const reopened = createJobStore({ path })
  assert.equal(reopened.getReceipt(job(9).id)?.receiptJson, '{"a":1,"settlement":{"batchId":"1"}}')
  assert.deepEqual(
    new Uint8Array(reopened.getReceipt(job(9).id)?.outputs ?? []),
    new Uint8Array([5]),
  )
  reopened.close()
})

test('error: replacing a receipt needs a stored receipt and canonical JSON', () => {
  const jobs = createJobStore({ path: join(dir, 'replace-errors.sqlite') })
  assert.throws(() => jobs.replaceReceipt(job(10).id, '{"a":1}'), { code: 'RECEIPT_NOT_FOUND' })
  jobs.accept(job(10))
  jobs.complete(job(10).id, { receiptJson: '{"a":1}', outputs: new Uint8Array() })
  assert.throws(() => jobs.replaceReceipt(job(10).id, '{ "a": 1 }'), {
    code: 'CANONICAL_JSON_INVALID',
  })
  assert.throws(() => jobs.replaceReceipt(job(10).id, '{"b":2,"a":1}'), {
    code: 'CANONICAL_JSON_INVALID',
  })
  assert.equal(jobs.getReceipt(job(10).id)?.receiptJson, '{"a":1}')
  jobs.close()
})
