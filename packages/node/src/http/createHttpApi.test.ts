import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { DemoModels } from '@verity/models'
import {
  computeJobId,
  createInferenceRequest,
  type Hash,
  hashTensors,
  type InferenceRequestMessage,
  type Manifest,
  type NamedTensorsJson,
  namedTensorsFromJson,
  type Receipt,
  signInferenceRequest,
  verifyReceipt,
} from '@verity/protocol'
import type { LocalAccount } from 'viem'
import { createVerityNode, type VerityNode } from '../createVerityNode.ts'
import { createLogger } from '../logger.ts'
import { requestToJson } from '../requestJson.ts'
import { demoModels, tempDir, testAccounts } from '../testing/fixtures.ts'

const silent = createLogger({ level: 'silent' })
let node: VerityNode
let remove: () => Promise<void>
let demo: DemoModels
let model: { cid: string; manifestHash: Hash; manifest: Manifest }
let sample: NamedTensorsJson
let otherSample: NamedTensorsJson
const maxBodyBytes = 64 * 1024

before(async () => {
  const temp = await tempDir('verity-http-')
  remove = temp.remove
  node = await createVerityNode(
    { dataDir: temp.dir, maxBodyBytes },
    { account: testAccounts.node, logger: silent },
  )
  demo = await demoModels()
  sample = demo.samples[3]?.int8Input as NamedTensorsJson
  otherSample = demo.samples[4]?.int8Input as NamedTensorsJson
  const published = await node.app.request('/v1/models?name=digits-int8&license=MIT', {
    method: 'POST',
    body: demo.int8Model,
    headers: { 'content-type': 'application/octet-stream' },
  })
  assert.equal(published.status, 201, await published.clone().text())
  model = (await published.json()) as typeof model
})

after(async () => {
  await node.stop()
  await remove()
})

type ErrorBody = { error: { code: string; message: string; hints?: string[] } }

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return node.app.request(path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  })
}

async function expectError(response: Response, status: number, code: string): Promise<ErrorBody> {
  const body = (await response.json()) as ErrorBody
  assert.equal(response.status, status, JSON.stringify(body))
  assert.equal(body.error.code, code, JSON.stringify(body))
  assert.equal(typeof body.error.message, 'string')
  assert.match(response.headers.get('content-type') ?? '', /application\/json/)
  return body
}

async function signed(
  inputs: NamedTensorsJson,
  overrides: Partial<InferenceRequestMessage> = {},
  account: LocalAccount = testAccounts.client,
  domain = node.domain,
) {
  const request = {
    ...createInferenceRequest({
      modelCid: model.cid,
      manifestHash: model.manifestHash,
      inputs: namedTensorsFromJson(inputs),
      nonce: `0x${'ab'.repeat(32)}`,
      deadline: BigInt(Math.floor(Date.now() / 1000) + 600),
    }),
    ...overrides,
  }
  const signature = await signInferenceRequest({ account, request, domain })
  return {
    body: {
      model: model.cid,
      inputs,
      request: requestToJson(request),
      requester: account.address,
      signature,
    },
    id: computeJobId(account.address, request),
  }
}

async function jobCount(status: string): Promise<number> {
  const text = await (await node.app.request('/v1/metrics')).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`verity_jobs_total{mode="none",status="${status}"}`))
  return line ? Number(line.split(' ')[1]) : 0
}

/** The node still serves a good request after an error. */
async function stillServing(): Promise<void> {
  const response = await post('/v1/infer', { model: 'digits-int8', inputs: sample })
  assert.equal(response.status, 200)
}

test('default: publish, list, show, infer (unsigned) and a receipt that verifies offline', async () => {
  const list = (await (await node.app.request('/v1/models')).json()) as { models: unknown[] }
  assert.deepEqual(list.models, [
    {
      name: 'digits-int8',
      version: '1.0.0',
      cid: model.cid,
      manifestHash: model.manifestHash,
      format: 'onnx',
    },
  ])
  const shown: unknown = await (await node.app.request('/v1/models/digits-int8@1.0.0')).json()
  const { added, ...described } = model as typeof model & { added: boolean }
  assert.equal(added, true)
  assert.deepEqual(shown, described)
  assert.equal(model.manifest.license, 'MIT')

  const response = await post('/v1/infer', { model: 'digits-int8', inputs: sample })
  assert.equal(response.status, 200)
  const { receipt, output } = (await response.json()) as {
    receipt: Receipt
    output: NamedTensorsJson
  }
  assert.equal(receipt.job.requester, '0x0000000000000000000000000000000000000000')
  assert.equal(receipt.request, undefined)
  assert.equal(receipt.executor.address, testAccounts.node.address)
  const logits = namedTensorsFromJson(output).logits
  assert.deepEqual(Array.from(logits?.data as Int32Array), demo.samples[3]?.int8Logits)
  const verdict = await verifyReceipt(receipt, {
    manifest: model.manifest,
    inputs: namedTensorsFromJson(sample),
    expectedExecutor: node.address,
    domain: { chainId: node.domain.chainId },
  })
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))

  const stored = (await (await node.app.request(`/v1/receipts/${receipt.job.id}`)).json()) as {
    receipt: Receipt
  }
  assert.deepEqual(stored.receipt, receipt)
  const job = (await (await node.app.request(`/v1/jobs/${receipt.job.id}`)).json()) as {
    status: string
    attempts: number
  }
  assert.equal(job.status, 'done')
  assert.equal(job.attempts, 1)
})

test('behavior: a signed request yields a receipt bound to the requester; replaying it runs nothing', async () => {
  const { body, id } = await signed(sample)
  const done = await jobCount('done')
  const first = await post('/v1/infer', body)
  assert.equal(first.status, 200)
  assert.equal(first.headers.get('verity-replayed'), 'false')
  const { receipt } = (await first.json()) as { receipt: Receipt }
  assert.equal(receipt.job.id, id)
  assert.equal(receipt.job.requester, testAccounts.client.address)
  assert.equal(receipt.request?.signature, body.signature)
  const verdict = await verifyReceipt(receipt, { manifest: model.manifest })
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))

  const replayed = await post('/v1/infer', body)
  assert.equal(replayed.status, 200)
  assert.equal(replayed.headers.get('verity-replayed'), 'true')
  const again = (await replayed.json()) as { receipt: Receipt; output: NamedTensorsJson }
  assert.deepEqual(again.receipt, receipt)
  assert.deepEqual(
    Array.from(namedTensorsFromJson(again.output).logits?.data as Int32Array),
    demo.samples[3]?.int8Logits,
  )
  assert.equal(await jobCount('done'), done + 1, 'executed once')
  assert.ok((await jobCount('replayed')) >= 1)
})

test('behavior: concurrent copies of one signed request share one execution', async () => {
  const { body } = await signed(otherSample, { nonce: `0x${'cd'.repeat(32)}` })
  const done = await jobCount('done')
  const responses = await Promise.all([
    post('/v1/infer', body),
    post('/v1/infer', body),
    post('/v1/infer', body),
  ])
  const receipts = await Promise.all(
    responses.map(async (r) => ((await r.json()) as { receipt: Receipt }).receipt),
  )
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 200, 200],
  )
  assert.deepEqual(receipts[1], receipts[0])
  assert.deepEqual(receipts[2], receipts[0])
  assert.equal(await jobCount('done'), done + 1)
})

test('behavior: includeOutput false keeps only the hash in the receipt; the response still has the output', async () => {
  const response = await post('/v1/infer', {
    model: model.cid,
    inputs: sample,
    includeOutput: false,
  })
  assert.equal(response.status, 200)
  const { receipt, output } = (await response.json()) as {
    receipt: Receipt
    output: NamedTensorsJson
  }
  assert.equal(receipt.result.output, undefined)
  assert.equal(hashTensors(namedTensorsFromJson(output)), receipt.result.outputHash)
  assert.equal((await verifyReceipt(receipt)).valid, true)
})

test('error: malformed JSON is 400 INVALID_JSON and the node keeps serving', async () => {
  await expectError(await post('/v1/infer', '{"model": "digits-int8", '), 400, 'INVALID_JSON')
  await expectError(await post('/v1/infer', ''), 400, 'INVALID_JSON')
  await stillServing()
})

test('error: wrong body shapes are 400 SCHEMA_INVALID', async () => {
  await expectError(await post('/v1/infer', []), 400, 'SCHEMA_INVALID')
  await expectError(await post('/v1/infer', { model: 'digits-int8' }), 400, 'SCHEMA_INVALID')
  const unknown = await expectError(
    await post('/v1/infer', { model: 'digits-int8', inputs: sample, extra: 1 }),
    400,
    'SCHEMA_INVALID',
  )
  assert.deepEqual(unknown.error.hints, ['extra: unknown field'])
  await expectError(
    await post('/v1/infer', { model: 7, inputs: sample, includeOutput: 'yes' }),
    400,
    'SCHEMA_INVALID',
  )
  await expectError(
    await post('/v1/infer', { model: 'digits-int8', inputs: sample, request: { mode: 'none' } }),
    400,
    'SCHEMA_INVALID',
  )
  await stillServing()
})

test('error: wrong tensors are refused with their TENSOR_/INPUT_ code', async () => {
  const image = sample.image as { dtype: string; shape: number[]; data: number[][][][] }
  await expectError(
    await post('/v1/infer', {
      model: 'digits-int8',
      inputs: { image: { ...image, dtype: 'float32' } },
    }),
    422,
    'TENSOR_DTYPE_MISMATCH',
  )
  await expectError(
    await post('/v1/infer', {
      model: 'digits-int8',
      inputs: {
        image: { dtype: 'uint8', shape: [1, 1, 27, 28], data: new Array(27 * 28).fill(0) },
      },
    }),
    422,
    'TENSOR_SHAPE_MISMATCH',
  )
  await expectError(
    await post('/v1/infer', { model: 'digits-int8', inputs: {} }),
    422,
    'INPUT_MISSING',
  )
  await expectError(
    await post('/v1/infer', { model: 'digits-int8', inputs: { ...sample, extra: image } }),
    422,
    'INPUT_UNEXPECTED',
  )
  await expectError(
    await post('/v1/infer', {
      model: 'digits-int8',
      inputs: { image: { dtype: 'uint8', shape: [2], data: [1, 300] } },
    }),
    400,
    'TENSOR_INVALID',
  )
  await expectError(
    await post('/v1/infer', {
      model: 'digits-int8',
      inputs: { image: { dtype: 'complex', shape: [1] } },
    }),
    400,
    'TENSOR_INVALID',
  )
  await stillServing()
})

test('error: a body over maxBodyBytes is 413, with or without content-length', async () => {
  const big = JSON.stringify({
    model: 'digits-int8',
    inputs: sample,
    pad: 'x'.repeat(maxBodyBytes),
  })
  await expectError(
    await post('/v1/infer', big, { 'content-length': String(Buffer.byteLength(big)) }),
    413,
    'REQUEST_TOO_LARGE',
  )
  await expectError(await post('/v1/infer', big), 413, 'REQUEST_TOO_LARGE')
  await stillServing()
})

test('error: an unknown model is 404 MODEL_NOT_FOUND, for infer and show', async () => {
  const body = await expectError(
    await post('/v1/infer', { model: 'no-such-model', inputs: sample }),
    404,
    'MODEL_NOT_FOUND',
  )
  assert.ok(body.error.hints?.some((hint) => hint.includes('digits-int8@1.0.0')))
  await expectError(
    await node.app.request('/v1/models/no-such-model@2.0.0'),
    404,
    'MODEL_NOT_FOUND',
  )
  await expectError(
    await node.app.request(
      '/v1/models/bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    ),
    404,
    'MODEL_NOT_FOUND',
  )
  await stillServing()
})

test('error: bad signatures are 422 SIGNATURE_INVALID', async () => {
  // signed by another key than the named requester
  const { body } = await signed(sample, {}, testAccounts.node)
  await expectError(
    await post('/v1/infer', { ...body, requester: testAccounts.client.address }),
    422,
    'SIGNATURE_INVALID',
  )
  // signed for another chain
  const { body: otherChain } = await signed(sample, {}, testAccounts.client, {
    ...node.domain,
    chainId: 1,
  })
  const wrongDomain = await expectError(
    await post('/v1/infer', otherChain),
    422,
    'SIGNATURE_INVALID',
  )
  assert.ok(wrongDomain.error.hints?.some((hint) => hint.includes('chain 31337')))
  // a signed field changed after signing
  const { body: good } = await signed(sample)
  await expectError(
    await post('/v1/infer', { ...good, request: { ...good.request, maxFee: '1' } }),
    422,
    'SIGNATURE_INVALID',
  )
  // not a signature at all
  await expectError(
    await post('/v1/infer', { ...good, signature: '0x1234' }),
    422,
    'SIGNATURE_INVALID',
  )
  // a requester named without a signature
  const { signature: _, ...unsigned } = good
  await expectError(await post('/v1/infer', unsigned), 422, 'SIGNATURE_INVALID')
  await stillServing()
})

test('error: an expired deadline is refused before anything runs', async () => {
  const { body, id } = await signed(sample, {
    deadline: BigInt(Math.floor(Date.now() / 1000) - 1),
    nonce: `0x${'ef'.repeat(32)}`,
  })
  const error = await expectError(await post('/v1/infer', body), 400, 'REQUEST_EXPIRED')
  assert.match(error.error.message, /deadline .* has passed/)
  await expectError(await node.app.request(`/v1/jobs/${id}`), 404, 'JOB_NOT_FOUND')
})

test('error: a request whose hashes do not match what is sent is 422', async () => {
  // signed for one input, sent with another
  const { body } = await signed(sample)
  await expectError(
    await post('/v1/infer', { ...body, inputs: otherSample }),
    422,
    'INPUT_HASH_MISMATCH',
  )
  const { body: wrongManifest } = await signed(sample, { manifestHash: `0x${'00'.repeat(32)}` })
  await expectError(await post('/v1/infer', wrongManifest), 422, 'MANIFEST_HASH_MISMATCH')
  const { body: reexec } = await signed(sample, { mode: 1, quorum: 2 })
  await expectError(await post('/v1/infer', reexec), 422, 'MODE_UNSUPPORTED')
  await stillServing()
})

test('error: unknown receipts, jobs and routes are 404', async () => {
  const id = `0x${'77'.repeat(32)}`
  await expectError(await node.app.request(`/v1/receipts/${id}`), 404, 'RECEIPT_NOT_FOUND')
  await expectError(await node.app.request(`/v1/jobs/${id}`), 404, 'JOB_NOT_FOUND')
  await expectError(await node.app.request('/v2/infer'), 404, 'ROUTE_NOT_FOUND')
  await expectError(await node.app.request('/v1/infer'), 404, 'ROUTE_NOT_FOUND')
  // the chain routes of a node that is not connected: nothing to serve, never a 5xx
  await expectError(await node.app.request('/v1/batches/1'), 404, 'BATCH_NOT_FOUND')
  await expectError(await node.app.request('/v1/batches/x%27'), 404, 'BATCH_NOT_FOUND')
  await expectError(await node.app.request(`/v1/batches/${'9'.repeat(40)}`), 404, 'BATCH_NOT_FOUND')
  await expectError(await node.app.request('/v1/settlement'), 404, 'NOT_SUPPORTED')
  await expectError(await post('/v1/hub/verify', { requestId: '1' }), 503, 'NODE_UNAVAILABLE')
  await stillServing()
})

test('error: publishing bad models is refused with the hub code', async () => {
  const publish = (query: string, body: Uint8Array) =>
    node.app.request(`/v1/models?${query}`, { method: 'POST', body })
  await expectError(await publish('name=junk', new Uint8Array([1, 2, 3, 4])), 422, 'MODEL_INVALID')
  await expectError(await publish('', demo.int8Model), 400, 'INVALID_ARGUMENT')
  await expectError(await publish('name=empty', new Uint8Array()), 400, 'INVALID_ARGUMENT')
  await expectError(await publish('name=Bad%20Name', demo.int8Model), 422, 'MANIFEST_INVALID')
  // the same file under another name: one manifest per file
  await expectError(await publish('name=digits-copy', demo.int8Model), 409, 'MODEL_AMBIGUOUS')
  // another file under a taken name@version
  await expectError(await publish('name=digits-int8', demo.floatModel), 409, 'MODEL_AMBIGUOUS')
  // the same file and manifest again: idempotent
  const again = await publish('name=digits-int8&license=MIT', demo.int8Model)
  assert.equal(again.status, 200)
  assert.equal(((await again.json()) as { added: boolean }).added, false)
  await stillServing()
})

test('behavior: network, health and metrics describe the node', async () => {
  const network = (await (await node.app.request('/v1/network')).json()) as {
    address: string
    domain: unknown
    roles: string[]
    modes: string[]
    engine: { settingsHash: string }
  }
  assert.equal(network.address, testAccounts.node.address)
  assert.deepEqual(network.domain, { name: 'Verity', version: '1', chainId: 31337 })
  assert.deepEqual(network.roles, ['gateway', 'executor', 'verifier'])
  assert.deepEqual(network.modes, ['none'])
  assert.match(network.engine.settingsHash, /^0x[0-9a-f]{64}$/)
  const health = await node.app.request('/v1/health')
  assert.equal(health.status, 200)
  assert.equal(((await health.json()) as { status: string }).status, 'ok')
  const metrics = await node.app.request('/v1/metrics')
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/)
  const text = await metrics.text()
  assert.ok((await jobCount('done')) >= 3, text)
  assert.ok((await jobCount('rejected')) >= 1, text)
  assert.match(text, /^verity_http_requests_total\{route="\/v1\/infer",status="200"\} \d+$/m)
  assert.match(text, /^verity_http_requests_total\{route="\/v1\/infer",status="400"\} \d+$/m)
  assert.match(text, /^verity_http_requests_total\{route="unmatched",status="404"\} \d+$/m)
  assert.match(text, /^verity_job_duration_seconds_count\{mode="none"\} \d+$/m)
  assert.match(text, /^verity_engine_run_seconds_count \d+$/m)
  assert.match(text, /^verity_process_cpu_seconds_total /m)
})
