import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createOnnxEngine, type Engine } from '@verity/engine'
import {
  createInferenceRequest,
  createReceipt,
  type Hash,
  hashTensors,
  type Mode,
  type NamedTensors,
  type NamedTensorsJson,
  namedTensorsFromJson,
  type Receipt,
  type VerityDomain,
} from '@verity/protocol'
import { type LocalAccount, zeroAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createVerityNode, type VerityNode } from '../createVerityNode.ts'
import { createLogger } from '../logger.ts'
import { demoModels, tempDir, testAccounts } from '../testing/fixtures.ts'
import { checkAttestation } from './checkAttestation.ts'
import { createSwitchableEngine, type SwitchableEngine } from './testing/createSwitchableEngine.ts'

type ErrorBody = { error: { code: string; message: string; hints?: string[] } }
type VerifyAnswer = {
  attestation: { verifier: string; agree: boolean; outputHash: Hash; signature: Hash }
  observedOutputHash?: Hash
  reason?: string
}

const logger = createLogger({ level: 'silent' })
const executorAccount = privateKeyToAccount(`0x${'44'.repeat(32)}`)
const stranger = privateKeyToAccount(`0x${'55'.repeat(32)}`)
const temps: (() => Promise<void>)[] = []
let shared: Engine
let engine: SwitchableEngine
let node: VerityNode
let model: { cid: string; manifestHash: Hash }
let sample: NamedTensorsJson
let otherSample: NamedTensorsJson
let inputs: NamedTensors
let outputs: NamedTensors
let nonces = 0

before(async () => {
  const demo = await demoModels()
  sample = demo.samples[4]?.int8Input as NamedTensorsJson
  otherSample = demo.samples[5]?.int8Input as NamedTensorsJson
  inputs = namedTensorsFromJson(sample)
  shared = createOnnxEngine()
  engine = createSwitchableEngine(shared)
  const { dir, remove } = await tempDir('verity-verifier-')
  temps.push(remove)
  node = await createVerityNode(
    { dataDir: dir, peers: [{ address: executorAccount.address, url: 'http://127.0.0.1:9' }] },
    { account: testAccounts.node, engine, logger },
  )
  const published = await node.app.request('/v1/models?name=digits-int8', {
    method: 'POST',
    body: demo.int8Model,
  })
  assert.equal(published.status, 201)
  model = (await published.json()) as { cid: string; manifestHash: Hash }
  outputs = (await shared.run({ id: model.cid, inputs })).outputs
})
after(async () => {
  await node?.stop()
  await shared?.close()
  for (const remove of temps) await remove()
})

/** A receipt as an executor signs it before verification (fresh nonce unless given). */
async function executorReceipt(
  options: {
    account?: LocalAccount
    outputs?: NamedTensors
    nonce?: number
    mode?: Mode
    modelCid?: string
    includeOutput?: boolean
    domain?: VerityDomain
    now?: number
  } = {},
): Promise<Receipt> {
  const request = createInferenceRequest({
    modelCid: options.modelCid ?? model.cid,
    manifestHash: model.manifestHash,
    inputs,
    mode: options.mode ?? 'reexec',
    quorum: 1,
    deadline: 4_102_444_800n, // fixed (2100-01-01) so equal nonces mean equal job ids
    nonce: `0x${(options.nonce ?? ++nonces + 1000).toString(16).padStart(64, '0')}`,
  })
  const at = options.now ?? Date.now()
  return createReceipt({
    account: options.account ?? executorAccount,
    requester: zeroAddress,
    request,
    outputs: options.outputs ?? outputs,
    engine: shared.descriptor,
    includeOutput: options.includeOutput ?? true,
    ...(options.domain ? { domain: options.domain } : {}),
    now: () => at,
  })
}

function tampered(): NamedTensors {
  const logits = outputs.logits as NamedTensors[string]
  const data = (logits.data as Int32Array).slice()
  data[0] = (data[0] as number) + 1
  return { logits: { ...logits, data } }
}

function verify(body: unknown): Promise<Response> {
  return Promise.resolve(
    node.app.request('/v1/verify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  )
}

async function expectError(response: Response, status: number, code: string): Promise<string> {
  const text = await response.text()
  assert.equal(response.status, status, text)
  const { error } = JSON.parse(text) as ErrorBody
  assert.equal(error.code, code, error.message)
  return error.message
}

async function stillServing(): Promise<void> {
  const receipt = await executorReceipt()
  const response = await verify({ receipt, inputs: sample })
  assert.equal(response.status, 200, await response.clone().text())
  assert.equal(((await response.json()) as VerifyAnswer).attestation.agree, true)
}

test('default: a known executor gets a signed agreement; a replay returns the same attestation without running', async () => {
  assert.deepEqual(await node.peers.list(), [
    { address: executorAccount.address, url: 'http://127.0.0.1:9' },
  ])
  const network = (await (await node.app.request('/v1/network')).json()) as { modes: string[] }
  assert.deepEqual(network.modes, ['none', 'reexec'], 'a node with peers offers reexec')
  const receipt = await executorReceipt({ nonce: 1 })
  const runs = engine.runs
  const response = await verify({ receipt, inputs: sample })
  assert.equal(response.status, 200, await response.clone().text())
  assert.equal(response.headers.get('verity-replayed'), 'false')
  const text = await response.text()
  const answer = JSON.parse(text) as VerifyAnswer
  assert.equal(answer.attestation.agree, true)
  assert.equal(answer.observedOutputHash, undefined)
  await checkAttestation(answer.attestation, {
    jobId: receipt.job.id as Hash,
    outputHash: receipt.result.outputHash as Hash,
    verifier: testAccounts.node.address,
    domain: node.domain,
  })
  assert.equal(engine.runs, runs + 1)

  const replay = await verify({ receipt, inputs: sample })
  assert.equal(replay.headers.get('verity-replayed'), 'true')
  assert.equal(await replay.text(), text)
  // the executor retried and re-signed (new executedAt): same job, same output, same attestation
  const resigned = await executorReceipt({ nonce: 1, now: Date.now() + 5000 })
  assert.notEqual(resigned.executor.signature, receipt.executor.signature)
  const again = await verify({ receipt: resigned, inputs: sample })
  assert.deepEqual(((await again.json()) as VerifyAnswer).attestation, answer.attestation)
  assert.equal(engine.runs, runs + 1, 'replays do not re-execute')
})

test('behavior: a wrong output is answered agree:false with the hash the verifier computed', async () => {
  const receipt = await executorReceipt({ outputs: tampered() })
  const response = await verify({ receipt, inputs: sample })
  assert.equal(response.status, 200)
  const answer = (await response.json()) as VerifyAnswer
  assert.equal(answer.attestation.agree, false)
  assert.equal(answer.attestation.outputHash, receipt.result.outputHash)
  assert.equal(answer.observedOutputHash, hashTensors(outputs))
  assert.match(answer.reason ?? '', /logits: bytes differ/)
  await checkAttestation(answer.attestation, {
    jobId: receipt.job.id as Hash,
    outputHash: receipt.result.outputHash as Hash,
    verifier: testAccounts.node.address,
    domain: node.domain,
  })
})

test('behavior: two receipts for one job with different outputs are equivocation: evidence, agree:false', async () => {
  const honest = await executorReceipt({ nonce: 2 })
  const first = await verify({ receipt: honest, inputs: sample })
  assert.equal(((await first.json()) as VerifyAnswer).attestation.agree, true)
  const runs = engine.runs
  const forked = await executorReceipt({ nonce: 2, outputs: tampered() })
  assert.equal(forked.job.id, honest.job.id)
  const second = await verify({ receipt: forked, inputs: sample })
  assert.equal(second.status, 200)
  const answer = (await second.json()) as VerifyAnswer
  assert.equal(answer.attestation.agree, false)
  assert.equal(answer.attestation.outputHash, forked.result.outputHash)
  assert.match(answer.reason ?? '', /signed two receipts .* equivocation/)
  assert.equal(engine.runs, runs, 'equivocation is answered without re-executing')
  const [evidence] = node.verification.listEvidence({ jobId: honest.job.id })
  assert.equal(evidence?.kind, 'equivocation')
  assert.deepEqual(evidence?.accused, [executorAccount.address])
  assert.deepEqual(
    evidence?.receipts.map((receipt) => receipt.result.outputHash),
    [honest.result.outputHash, forked.result.outputHash],
  )
  const listed = (await (await node.app.request('/v1/evidence')).json()) as {
    evidence: { jobId: string }[]
  }
  assert.ok(listed.evidence.some((entry) => entry.jobId === honest.job.id))
  const replay = await verify({ receipt: forked, inputs: sample })
  assert.deepEqual(((await replay.json()) as VerifyAnswer).attestation, answer.attestation)
})

test('error: unknown executor, bad signature, wrong inputs, unknown model are 4xx with stable codes; the node keeps serving', async () => {
  const unknown = await executorReceipt({ account: stranger })
  assert.match(
    await expectError(
      await verify({ receipt: unknown, inputs: sample }),
      422,
      'RECEIPT_SIGNER_MISMATCH',
    ),
    /not a known, staked peer/,
  )
  const forged = await executorReceipt()
  forged.result.executedAt += 1
  await expectError(
    await verify({ receipt: forged, inputs: sample }),
    422,
    'RECEIPT_SIGNATURE_INVALID',
  )
  const receipt = await executorReceipt()
  await expectError(await verify({ receipt, inputs: otherSample }), 422, 'INPUT_HASH_MISMATCH')
  const elsewhere = await executorReceipt({
    modelCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
  })
  assert.match(
    await expectError(await verify({ receipt: elsewhere, inputs: sample }), 404, 'MODEL_NOT_FOUND'),
    /does not have model/,
  )
  await stillServing()
})

test('error: other receipts and bodies a verifier refuses', async () => {
  await expectError(
    await verify({ receipt: await executorReceipt({ mode: 'none' }), inputs: sample }),
    422,
    'MODE_UNSUPPORTED',
  )
  await expectError(
    await verify({ receipt: await executorReceipt({ includeOutput: false }), inputs: sample }),
    422,
    'RECEIPT_INVALID',
  )
  await expectError(
    await verify({
      receipt: await executorReceipt({ domain: { name: 'Verity', version: '1', chainId: 1 } }),
      inputs: sample,
    }),
    422,
    'RECEIPT_DOMAIN_MISMATCH',
  )
  const withQuorum = { ...(await executorReceipt()), quorum: { threshold: 1, attestations: [] } }
  await expectError(await verify({ receipt: withQuorum, inputs: sample }), 422, 'RECEIPT_INVALID')
  await expectError(
    await verify({ receipt: { version: 1 }, inputs: sample }),
    422,
    'RECEIPT_INVALID',
  )
  await expectError(await verify({ inputs: sample, extra: 1 }), 400, 'SCHEMA_INVALID')
  await expectError(await verify('{'), 400, 'INVALID_JSON')
  await expectError(await node.app.request('/v1/evidence?limit=x'), 400, 'INVALID_ARGUMENT')
  await stillServing()
})

test('error: a node without the verifier role refuses with 503 NODE_UNAVAILABLE', async () => {
  const { dir, remove } = await tempDir('verity-verifier-')
  temps.push(remove)
  const executorOnly = await createVerityNode(
    {
      dataDir: dir,
      roles: ['gateway', 'executor'],
      peers: [{ address: executorAccount.address, url: 'http://127.0.0.1:9' }],
    },
    { account: testAccounts.node, engine, logger },
  )
  const response = await executorOnly.app.request('/v1/verify', {
    method: 'POST',
    body: JSON.stringify({ receipt: await executorReceipt(), inputs: sample }),
  })
  await expectError(response, 503, 'NODE_UNAVAILABLE')
  await executorOnly.stop()
})
