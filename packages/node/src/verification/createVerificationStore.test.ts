import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { Attestation, Hash, Receipt } from '@verity/protocol'
import { createJobStore } from '../db/createJobStore.ts'
import { migrations } from '../db/migrations.ts'
import { tempDir } from '../testing/fixtures.ts'
import { createVerificationStore } from './createVerificationStore.ts'

const temps: (() => Promise<void>)[] = []
after(async () => {
  for (const remove of temps) await remove()
})

async function databasePath(): Promise<string> {
  const { dir, remove } = await tempDir('verity-verification-store-')
  temps.push(remove)
  return join(dir, 'node.sqlite')
}

const jobId: Hash = `0x${'01'.repeat(32)}`
const verifier = '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A'
const executor = '0x1563915e194D8CfBA1943570603F7606A3115508'

function attestation(outputHash: Hash, agree: boolean): Attestation {
  return { verifier, agree, outputHash, signature: `0x${'00'.repeat(65)}` }
}

test('default: an attestation is stored once per job, verifier and output hash; the first one wins', async () => {
  const store = createVerificationStore({ path: await databasePath(), now: () => 42 })
  const outputHash: Hash = `0x${'aa'.repeat(32)}`
  const first = store.putAttestation({
    jobId,
    executor,
    attestation: attestation(outputHash, true),
    observedOutputHash: outputHash,
    receiptJson: '{"first":true}',
  })
  assert.equal(first.createdAt, 42)
  assert.equal(first.attestation.agree, true)
  const second = store.putAttestation({
    jobId,
    executor,
    attestation: attestation(outputHash, false),
    reason: 'later',
    receiptJson: '{"first":false}',
  })
  assert.deepEqual(second, first)
  assert.deepEqual(
    store.findAttestation({ jobId, verifier: verifier.toLowerCase(), outputHash }),
    first,
  )
  const other: Hash = `0x${'bb'.repeat(32)}`
  store.putAttestation({
    jobId,
    executor,
    attestation: attestation(other, false),
    receiptJson: '{}',
  })
  assert.deepEqual(
    store.attestationsFor(jobId, verifier).map((given) => given.attestation.outputHash),
    [outputHash, other],
  )
  store.close()
})

test('behavior: evidence is kept once per job and kind, listed by id, and survives reopening', async () => {
  const path = await databasePath()
  const jobs = createJobStore({ path })
  const store = createVerificationStore({ path })
  const receipt = { version: 1 } as unknown as Receipt
  const added = store.addEvidence({
    jobId,
    kind: 'equivocation',
    accused: [executor],
    reason: 'two outputs',
    receipts: [receipt, receipt],
    attestations: [],
  })
  assert.deepEqual(added, { id: 1, inserted: true })
  assert.deepEqual(
    store.addEvidence({
      jobId,
      kind: 'equivocation',
      accused: [executor],
      reason: 'again',
      receipts: [],
      attestations: [],
    }),
    { id: 1, inserted: false },
  )
  const otherJob: Hash = `0x${'02'.repeat(32)}`
  store.addEvidence({
    jobId: otherJob,
    kind: 'verifier-minority',
    accused: [verifier],
    reason: 'minority',
    receipts: [receipt],
    attestations: [attestation(`0x${'aa'.repeat(32)}`, false)],
  })
  store.close()
  jobs.close()

  const reopened = createVerificationStore({ path })
  const all = reopened.listEvidence()
  assert.deepEqual(
    all.map((evidence) => [evidence.id, evidence.kind, evidence.reason]),
    [
      [1, 'equivocation', 'two outputs'],
      [2, 'verifier-minority', 'minority'],
    ],
  )
  assert.equal(all[0]?.receipts.length, 2)
  assert.deepEqual(all[1]?.attestations, [attestation(`0x${'aa'.repeat(32)}`, false)])
  assert.deepEqual(
    reopened.listEvidence({ jobId: otherJob }).map((evidence) => evidence.id),
    [2],
  )
  assert.deepEqual(
    reopened.listEvidence({ after: 1, limit: 1 }).map((evidence) => evidence.id),
    [2],
  )
  assert.ok(migrations.length >= 2, 'the verification tables come with schema v2')
  reopened.close()
})
