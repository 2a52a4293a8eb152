import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  computeJobId,
  createInferenceRequest,
  type Hash,
  type NamedTensorsJson,
  namedTensorsFromJson,
  type Receipt,
  verifyReceipt,
} from '@verity/protocol'
import { createClient, http, infer } from '@verity/sdk'
import { zeroAddress } from 'viem'
import type { VerityNode } from '../createVerityNode.ts'
import { requestToJson } from '../requestJson.ts'
import { demoModels, testAccounts } from '../testing/fixtures.ts'
import { checkAttestation } from './checkAttestation.ts'
import type { Evidence } from './createVerificationStore.ts'
import { type Cluster, startCluster } from './testing/startCluster.ts'

type ErrorBody = { error: { code: string; message: string; hints?: string[] } }

let cluster: Cluster
let sample: NamedTensorsJson
let int8Logits: number[]

before(async () => {
  const demo = await demoModels()
  sample = demo.samples[3]?.int8Input as NamedTensorsJson
  int8Logits = demo.samples[3]?.int8Logits as number[]
  cluster = await startCluster({ count: 4, model: demo.int8Model, node: { verifyTimeoutMs: 2000 } })
})
after(async () => {
  await cluster?.stop()
})

/** An unsigned `reexec` request with a fixed nonce: its job id (and so its draw) is known ahead. */
function reexecBody(quorum: number, nonce: number): { body: string; jobId: Hash } {
  const request = createInferenceRequest({
    modelCid: cluster.model.cid,
    manifestHash: cluster.model.manifestHash,
    inputs: namedTensorsFromJson(sample),
    mode: 'reexec',
    quorum,
    nonce: `0x${nonce.toString(16).padStart(64, '0')}`,
  })
  return {
    jobId: computeJobId(zeroAddress, request),
    body: JSON.stringify({
      model: cluster.model.cid,
      inputs: sample,
      request: requestToJson(request),
    }),
  }
}

async function post(url: string, body: string): Promise<Response> {
  return fetch(`${url}/v1/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
}

async function metric(node: VerityNode, pattern: RegExp): Promise<number> {
  const text = await node.metrics.registry.metrics()
  const match = text.match(pattern)
  return match ? Number(match[1]) : 0
}

const sorted = (addresses: string[]) =>
  [...addresses].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1))

function median(values: number[]): number {
  const ordered = [...values].sort((a, b) => a - b)
  return ordered[Math.floor(ordered.length / 2)] as number
}

test('default: quorum 2 over real HTTP: the receipt verifies offline and through the SDK', async (t) => {
  const executor = cluster.nodes[0]!
  const { body, jobId } = reexecBody(2, 1)
  const response = await post(executor.url, body)
  assert.equal(response.status, 200, await response.clone().text())
  const { receipt, output } = (await response.json()) as { receipt: Receipt; output: unknown }
  assert.equal(receipt.job.id, jobId)
  assert.equal(receipt.job.mode, 'reexec')
  assert.deepEqual(Array.from(namedTensorsFromJson(output).logits?.data as Int32Array), int8Logits)
  assert.equal(receipt.quorum?.threshold, 2)
  assert.equal(receipt.quorum?.selection, undefined, 'no chain: no selection block is claimed')
  const drawn = cluster.drawOrder(0, jobId)
  assert.deepEqual(
    receipt.quorum?.attestations.map((attestation) => attestation.verifier),
    sorted(drawn.slice(0, 2)),
    'the first two draws of protocol selectVerifiers attest, in address order',
  )
  const verdict = await verifyReceipt(receipt, {
    inputs: namedTensorsFromJson(sample),
    expectedExecutor: executor.account.address,
  })
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  assert.match(verdict.checks.find((check) => check.name === 'quorum')?.reason ?? '', /^2 distinct/)
  // each verifier stored what it signed
  const verifier = cluster.byAddress(drawn[0] as string)
  const given = verifier.node.verification.findAttestation({
    jobId,
    verifier: verifier.account.address,
    outputHash: receipt.result.outputHash,
  })
  assert.equal(given?.attestation.agree, true)
  assert.equal(
    await metric(executor.node, /^verity_verifications_total\{outcome="agree"\} (\d+)/m),
    2,
  )
  assert.equal(
    await metric(executor.node, /^verity_quorum_duration_seconds_count\{outcome="met"\} (\d+)/m),
    1,
  )

  const client = createClient({ transport: http(executor.url), account: testAccounts.client })
  const viaSdk = await infer(client, {
    model: 'digits-int8',
    inputs: sample,
    mode: 'reexec',
    quorum: 2,
  })
  assert.equal(viaSdk.verdict.valid, true)
  assert.equal(viaSdk.receipt.quorum?.attestations.length, 2)
  assert.equal(viaSdk.receipt.job.requester, testAccounts.client.address)

  // latency: mode none vs reexec quorum 2 (sequential, real HTTP, same node)
  const none: number[] = []
  const reexec: number[] = []
  for (let round = 0; round < 15; round++) {
    let started = performance.now()
    const plain = await post(executor.url, JSON.stringify({ model: 'digits-int8', inputs: sample }))
    none.push(performance.now() - started)
    assert.equal(plain.status, 200)
    started = performance.now()
    const verified = await post(executor.url, reexecBody(2, 1000 + round).body)
    reexec.push(performance.now() - started)
    assert.equal(verified.status, 200)
  }
  t.diagnostic(
    `p50 latency over HTTP: mode none ${median(none).toFixed(1)} ms, reexec quorum 2 ${median(reexec).toFixed(1)} ms`,
  )
})

test('error: a quorum the peers cannot meet is refused before anything runs (SELECTION_INVALID 503)', async () => {
  const executor = cluster.nodes[0]!
  const { body, jobId } = reexecBody(4, 2)
  const response = await post(executor.url, body)
  assert.equal(response.status, 503)
  const { error } = (await response.json()) as ErrorBody
  assert.equal(error.code, 'SELECTION_INVALID')
  assert.match(error.message, /Quorum 4 needs 4 verifier\(s\) other than this node; .* lists 3/)
  assert.equal(executor.node.jobs.get(jobId), undefined)
  const zero = await post(executor.url, reexecBody(0, 3).body)
  assert.equal(zero.status, 400)
  assert.equal(((await zero.json()) as ErrorBody).error.code, 'INVALID_ARGUMENT')
})

test('behavior: a dishonest executor is outvoted: OUTPUT_MISMATCH, the job fails, the signed disagreements are evidence', async () => {
  const liar = cluster.nodes[1]!
  liar.engine.behavior = 'tamper'
  try {
    const { body, jobId } = reexecBody(2, 4)
    const response = await post(liar.url, body)
    assert.equal(response.status, 422)
    const { error } = (await response.json()) as ErrorBody
    assert.equal(error.code, 'OUTPUT_MISMATCH')
    assert.match(error.message, /3 disagree, 0 agree/)
    assert.equal(liar.node.jobs.get(jobId)?.status, 'failed')
    assert.equal(liar.node.jobs.get(jobId)?.error?.code, 'OUTPUT_MISMATCH')
    assert.equal(liar.node.jobs.getReceipt(jobId), undefined)

    const listed = await fetch(`${liar.url}/v1/evidence?jobId=${jobId}`)
    assert.equal(listed.status, 200)
    const { evidence } = (await listed.json()) as { evidence: Evidence[] }
    assert.equal(evidence.length, 1)
    const [record] = evidence as [Evidence]
    assert.equal(record.kind, 'output-mismatch')
    assert.deepEqual(record.accused, [liar.account.address])
    const [receipt] = record.receipts as [Receipt]
    // the executor's own signed statement: valid up to its signature, with the tampered output
    const verdict = await verifyReceipt(receipt, { inputs: namedTensorsFromJson(sample) })
    assert.deepEqual(
      verdict.checks.filter((check) => check.status === 'fail').map((check) => check.code),
      ['RECEIPT_QUORUM_MISSING'],
    )
    assert.notDeepEqual(
      Array.from(namedTensorsFromJson(receipt.result.output).logits?.data as Int32Array),
      int8Logits,
    )
    assert.equal(record.attestations.length, 3)
    for (const attestation of record.attestations) {
      assert.equal(attestation.agree, false)
      await checkAttestation(attestation, {
        jobId,
        outputHash: receipt.result.outputHash as Hash,
        verifier: attestation.verifier as `0x${string}`,
        domain: liar.node.domain,
      })
    }
    assert.equal(
      await metric(liar.node, /^verity_verifications_total\{outcome="disagree"\} (\d+)/m),
      3,
    )
  } finally {
    liar.engine.behavior = 'honest'
  }
})

test('behavior: a verifier in the minority is overruled; its attestation is evidence, not part of the receipt', async () => {
  const executor = cluster.nodes[2]!
  const { body, jobId } = reexecBody(1, 5)
  const drawn = cluster.drawOrder(2, jobId)
  const minority = cluster.byAddress(drawn[0] as string)
  minority.engine.behavior = 'tamper'
  try {
    const response = await post(executor.url, body)
    assert.equal(response.status, 200, await response.clone().text())
    const { receipt } = (await response.json()) as { receipt: Receipt }
    assert.deepEqual(
      receipt.quorum?.attestations.map((attestation) => attestation.verifier),
      sorted(drawn.slice(1, 3)),
      'escalated to a committee of 3: the two honest verifiers form the majority',
    )
    assert.ok(receipt.quorum?.attestations.every((attestation) => attestation.agree))
    assert.equal((await verifyReceipt(receipt)).valid, true)
    const [record] = executor.node.verification.listEvidence({ jobId })
    assert.equal(record?.kind, 'verifier-minority')
    assert.deepEqual(record?.accused, [minority.account.address])
    const disagreeing = record?.attestations.filter((attestation) => !attestation.agree)
    assert.deepEqual(
      disagreeing?.map((attestation) => attestation.verifier),
      [minority.account.address],
    )
  } finally {
    minority.engine.behavior = 'honest'
  }
})

test('behavior: a verifier that never answers is replaced after the per-call timeout', async () => {
  const executor = cluster.nodes[3]!
  const { body, jobId } = reexecBody(2, 6)
  const drawn = cluster.drawOrder(3, jobId)
  const stuck = cluster.byAddress(drawn[0] as string)
  stuck.engine.behavior = 'hang'
  try {
    const started = performance.now()
    const response = await post(executor.url, body)
    assert.equal(response.status, 200, await response.clone().text())
    assert.ok(performance.now() - started >= 2000, 'waited for the 2 s timeout')
    const { receipt } = (await response.json()) as { receipt: Receipt }
    assert.deepEqual(
      receipt.quorum?.attestations.map((attestation) => attestation.verifier),
      sorted(drawn.slice(1, 3)),
    )
    assert.equal((await verifyReceipt(receipt)).valid, true)
    assert.equal(
      await metric(executor.node, /^verity_verifications_total\{outcome="timeout"\} (\d+)/m),
      1,
    )
    // the executor hung up: the stuck verifier's re-execution was cancelled, nothing is left running
    assert.equal(await stuck.node.verifier.drain(5000), true)
    assert.equal(stuck.node.verifier.inFlight, 0)
  } finally {
    stuck.engine.behavior = 'honest'
  }
})

test('behavior: a stopped verifier is replaced; with too few left the job fails (503) and succeeds on retry', async () => {
  const executor = cluster.nodes[0]!
  const first = reexecBody(2, 7)
  const drawn = cluster.drawOrder(0, first.jobId)
  const downIndex = cluster.nodes.findIndex(
    (member) => member.account.address === (drawn[0] as string),
  )
  await cluster.nodes[downIndex]!.node.stop()

  const response = await post(executor.url, first.body)
  assert.equal(response.status, 200, await response.clone().text())
  const { receipt } = (await response.json()) as { receipt: Receipt }
  assert.deepEqual(
    receipt.quorum?.attestations.map((attestation) => attestation.verifier),
    sorted(drawn.slice(1, 3)),
  )
  assert.ok(
    (await metric(executor.node, /^verity_verifications_total\{outcome="error"\} (\d+)/m)) >= 1,
  )

  const all = reexecBody(3, 8)
  const failed = await post(executor.url, all.body)
  assert.equal(failed.status, 503)
  const { error } = (await failed.json()) as ErrorBody
  assert.equal(error.code, 'SELECTION_INVALID')
  assert.match(error.message, /Only 2 of 3 verifier\(s\) answered/)
  assert.ok(error.hints?.some((hint) => hint.includes('PEER_UNREACHABLE')))
  assert.equal(executor.node.jobs.get(all.jobId)?.status, 'failed')

  await cluster.restart(downIndex)
  const retried = await post(executor.url, all.body)
  assert.equal(retried.status, 200, await retried.clone().text())
  const completed = ((await retried.json()) as { receipt: Receipt }).receipt
  assert.equal(completed.quorum?.attestations.length, 3)
  assert.equal((await verifyReceipt(completed)).valid, true)
  assert.equal(executor.node.jobs.get(all.jobId)?.status, 'done')
})
