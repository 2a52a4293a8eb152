import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createGgufEngine, ggufEngineOptionsFromManifest, type TextEngine } from '@verity/engine'
import { buildTinyGguf } from '@verity/models'
import {
  type Attestation,
  type Hash,
  type Manifest,
  type Receipt,
  verifyReceipt,
} from '@verity/protocol'
import { withWrongToken } from '../faults.ts'
import { demoModels } from '../testing/fixtures.ts'
import { checkAttestation } from '../verification/checkAttestation.ts'
import type { Evidence } from '../verification/createVerificationStore.ts'
import { type Cluster, startCluster } from '../verification/testing/startCluster.ts'

// Text generations under `reexec` quorums: three in-process nodes on loopback (real HTTP between
// them, real llama.cpp engines), each holding the tiny GGUF. Node 0 executes; its text engine can
// be switched to alter one generated token (a dishonest executor).

type ErrorBody = { error: { code: string; message: string } }
type ChatBody = { choices: { message: { content: string } }[]; receipt: Receipt }

let cluster: Cluster
const cheat = { on: false }

/** Node 0's text engine: the real one, with one generated token changed while `cheat.on`. */
function cheatingEngineFor(manifest: Manifest): TextEngine {
  const inner = createGgufEngine(ggufEngineOptionsFromManifest(manifest))
  const alter = <T extends { tokens: number[] }>(result: T): T =>
    cheat.on ? withWrongToken(result, manifest) : result
  return {
    ...inner,
    descriptor: inner.descriptor,
    settingsHash: inner.settingsHash,
    async chat(parameters) {
      return alter(await inner.chat(parameters))
    },
    async complete(parameters) {
      return alter(await inner.complete(parameters))
    },
  }
}

before(async () => {
  const demo = await demoModels()
  cluster = await startCluster({
    count: 3,
    model: demo.int8Model,
    node: { verifyTimeoutMs: 20_000 },
    textModel: { name: 'tiny', bytes: buildTinyGguf() },
    textEngineFor: (index) => (index === 0 ? cheatingEngineFor : undefined),
  })
})
after(async () => {
  await cluster?.stop()
})

async function chat(
  headers: Record<string, string>,
  content: string,
  seed = 1,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${cluster.nodes[0]?.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'tiny',
      messages: [{ role: 'user', content }],
      max_tokens: 24,
      temperature: 0.8,
      seed,
    }),
  })
  return { status: response.status, body: await response.json() }
}

/** The executor-signed receipt (the quorum section is added after the executor signs). */
function unsigned(receipt: Receipt): Receipt {
  const { quorum: _, ...rest } = receipt
  return rest as Receipt
}

test('default: a chat completion with verity-mode reexec, quorum 2 carries 2 agreeing attestations and verifies', async () => {
  const { status, body } = await chat({ 'verity-mode': 'reexec', 'verity-quorum': '2' }, 'Hello')
  assert.equal(status, 200, JSON.stringify(body))
  const { receipt } = body as ChatBody
  assert.equal(receipt.job.mode, 'reexec')
  assert.equal(receipt.job.quorum, 2)
  assert.ok(receipt.text && receipt.text.output.tokens.length > 0)
  assert.equal(receipt.quorum?.threshold, 2)
  assert.equal(receipt.quorum?.attestations.length, 2)
  const others = cluster.nodes.slice(1).map((member) => member.account.address.toLowerCase())
  for (const attestation of receipt.quorum?.attestations ?? []) {
    assert.equal(attestation.agree, true)
    assert.ok(others.includes(attestation.verifier.toLowerCase()))
    assert.equal(attestation.outputHash, receipt.result.outputHash)
  }
  const verdict = await verifyReceipt(receipt)
  assert.equal(
    verdict.valid,
    true,
    JSON.stringify(verdict.checks.filter((c) => c.status === 'fail')),
  )
})

test('behavior: both methods re-check a text receipt at /v1/verify; reexec also regenerates (timings)', async () => {
  const times: Record<string, number> = {}
  for (const [i, method] of (['replay', 'reexec'] as const).entries()) {
    const { status, body } = await chat(
      { 'verity-mode': 'reexec', 'verity-quorum': '1', 'verity-verification': method },
      `Tell a story ${i}`,
      10 + i,
    )
    assert.equal(status, 200, JSON.stringify(body))
    const { receipt } = body as ChatBody
    const asked = receipt.quorum?.attestations[0]?.verifier.toLowerCase()
    // the node that was not asked judges the same executor-signed receipt, fresh
    const other = cluster.nodes
      .slice(1)
      .find((member) => member.account.address.toLowerCase() !== asked)
    assert.ok(other)
    const started = performance.now()
    const response = await fetch(`${other.url}/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ receipt: unsigned(receipt), method }),
    })
    times[method] = performance.now() - started
    const answer = (await response.json()) as { attestation: Attestation }
    assert.equal(response.status, 200, JSON.stringify(answer))
    assert.equal(response.headers.get('verity-replayed'), 'false')
    assert.equal(answer.attestation.agree, true)
    assert.equal(answer.attestation.outputHash, receipt.result.outputHash)
    const checked = await checkAttestation(answer.attestation, {
      jobId: receipt.job.id as Hash,
      outputHash: receipt.result.outputHash as Hash,
      verifier: other.account.address,
      domain: other.node.domain,
    })
    assert.equal(checked.agree, true)
  }
  console.log(
    `# /v1/verify of a 24-token tiny GGUF chat: replay ${times.replay?.toFixed(1)} ms, reexec ${times.reexec?.toFixed(1)} ms`,
  )
})

for (const method of ['replay', 'reexec'] as const)
  test(`behavior: an executor that alters one generated token is caught by ${method} verifiers: OUTPUT_MISMATCH, evidence`, async () => {
    cheat.on = true
    try {
      const { status, body } = await chat(
        { 'verity-mode': 'reexec', 'verity-quorum': '1', 'verity-verification': method },
        `Once upon a time (${method})`,
        42,
      )
      assert.equal(status, 422, JSON.stringify(body))
      assert.equal((body as ErrorBody).error.code, 'OUTPUT_MISMATCH')
    } finally {
      cheat.on = false
    }
    const liar = cluster.nodes[0]
    const listed = await fetch(`${liar?.url}/v1/evidence`)
    const { evidence } = (await listed.json()) as { evidence: Evidence[] }
    const record = evidence
      .filter((item) => item.kind === 'output-mismatch')
      .find((item) => {
        const text = (item.receipts[0] as Receipt | undefined)?.text
        return text !== undefined && JSON.stringify(text.input).includes(`(${method})`)
      })
    assert.ok(record, 'output-mismatch evidence for the text job')
    assert.deepEqual(
      record.accused.map((address) => address.toLowerCase()),
      [liar?.account.address.toLowerCase()],
    )
    // both other nodes re-checked and signed agree: false
    assert.equal(record.attestations.length, 2)
    for (const attestation of record.attestations) assert.equal(attestation.agree, false)
  })
