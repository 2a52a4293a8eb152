import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { DemoModels } from '@verity/models'
import {
  allocTensorData,
  computeJobId,
  createInferenceRequest,
  encodeTensors,
  type Hash,
  type NamedTensorsJson,
  namedTensorsFromJson,
  type Receipt,
  signInferenceRequest,
  verifyReceipt,
} from '@verity/protocol'
import { createVerityNode, type VerityNode } from './createVerityNode.ts'
import { createJobStore } from './db/createJobStore.ts'
import type { Verification } from './executor.ts'
import { createLogger } from './logger.ts'
import { nodePaths } from './options.ts'
import { requestToJson } from './requestJson.ts'
import { demoModels, tempDir, testAccounts } from './testing/fixtures.ts'
import { createGatedEngine } from './testing/gatedEngine.ts'

const logger = createLogger({ level: 'silent' })

type ErrorBody = { error: { code: string; message: string; hints: string[] } }
type JobBody = { status: string; error: { code: string; message: string } }

/** `fetch` answered by the node's app in-process (no socket). */
function inProcess(node: VerityNode): typeof fetch {
  return async (input, init) => node.app.request(String(input), init)
}
let demo: DemoModels
let sample: NamedTensorsJson
const temps: (() => Promise<void>)[] = []

before(async () => {
  demo = await demoModels()
  sample = demo.samples[7]?.int8Input as NamedTensorsJson
})
after(async () => {
  for (const remove of temps) await remove()
})

async function dataDir(): Promise<string> {
  const { dir, remove } = await tempDir('verity-node-')
  temps.push(remove)
  return dir
}

async function publish(
  url: string,
  fetcher: typeof fetch = fetch,
): Promise<{ cid: string; manifestHash: Hash }> {
  const response = await fetcher(`${url}/v1/models?name=digits-int8`, {
    method: 'POST',
    body: demo.int8Model,
    headers: { 'content-type': 'application/octet-stream' },
  })
  assert.ok(response.status === 201 || response.status === 200, await response.clone().text())
  return (await response.json()) as { cid: string; manifestHash: Hash }
}

/** A signed request for `sample` with a fixed nonce, and its job id. */
async function signedBody(
  model: { cid: string; manifestHash: Hash },
  nonce: Hash,
  deadline?: bigint,
) {
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    inputs: namedTensorsFromJson(sample),
    nonce,
    ...(deadline === undefined ? {} : { deadline }),
  })
  const signature = await signInferenceRequest({ account: testAccounts.client, request })
  return {
    request,
    signature,
    id: computeJobId(testAccounts.client.address, request),
    body: JSON.stringify({
      model: model.cid,
      inputs: sample,
      request: requestToJson(request),
      requester: testAccounts.client.address,
      signature,
    }),
  }
}

test('default: serves over real HTTP on a free loopback port and stops cleanly', async () => {
  const node = await createVerityNode(
    { dataDir: await dataDir() },
    { account: testAccounts.node, logger },
  )
  const url = await node.start()
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.equal(await node.start(), url, 'start is idempotent')
  const health = await fetch(`${url}/v1/health`)
  assert.equal(health.status, 200)
  const model = await publish(url)
  const response = await fetch(`${url}/v1/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'digits-int8', inputs: sample }),
  })
  assert.equal(response.status, 200)
  const { receipt } = (await response.json()) as { receipt: Receipt }
  assert.equal(receipt.job.model.cid, model.cid)
  assert.equal((await verifyReceipt(receipt, { expectedExecutor: node.address })).valid, true)
  const malformed = await fetch(`${url}/v1/infer`, { method: 'POST', body: '{' })
  assert.equal(malformed.status, 400)
  assert.equal(((await malformed.json()) as ErrorBody).error.code, 'INVALID_JSON')

  await node.stop()
  await node.stop()
  await assert.rejects(fetch(`${url}/v1/health`), TypeError)
  assert.equal(node.signal.aborted, true)
})

test('behavior: a job stored as accepted and never run is completed on the next start', async () => {
  const dir = await dataDir()
  const first = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  const model = await publish(await first.start())
  await first.stop()

  // what a crash between "stored" and "executed" leaves behind
  const { request, signature, id } = await signedBody(model, `0x${'01'.repeat(32)}`)
  const jobs = createJobStore({ path: nodePaths(dir).database })
  jobs.accept({
    id,
    requester: testAccounts.client.address,
    modelCid: model.cid,
    mode: 'none',
    request: { message: requestToJson(request), signature, includeOutput: true },
    inputs: encodeTensors(namedTensorsFromJson(sample)),
  })
  jobs.close()

  const second = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  await second.start()
  assert.deepEqual(await second.recovery, { completed: 1, failed: 0, skipped: 0 })
  const response = await second.app.request(`/v1/receipts/${id}`)
  assert.equal(response.status, 200)
  const { receipt } = (await response.json()) as { receipt: Receipt }
  assert.equal(receipt.request?.signature, signature)
  assert.deepEqual(
    namedTensorsFromJson(receipt.result.output).logits?.data,
    Int32Array.from(demo.samples[7]?.int8Logits ?? []),
  )
  const verdict = await verifyReceipt(receipt, { inputs: namedTensorsFromJson(sample) })
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  await second.stop()
})

test('error: a recovered job in a mode the node no longer offers fails, never a receipt without evidence', async () => {
  const dir = await dataDir()
  const first = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  const model = await publish(await first.start())
  await first.stop()

  // stored by a node that offered zk (it had the artifacts); restarted without them
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    inputs: namedTensorsFromJson(sample),
    mode: 'zk',
    nonce: `0x${'04'.repeat(32)}`,
  })
  const signature = await signInferenceRequest({ account: testAccounts.client, request })
  const id = computeJobId(testAccounts.client.address, request)
  const jobs = createJobStore({ path: nodePaths(dir).database })
  jobs.accept({
    id,
    requester: testAccounts.client.address,
    modelCid: model.cid,
    mode: 'zk',
    request: { message: requestToJson(request), signature, includeOutput: true },
    inputs: encodeTensors(namedTensorsFromJson(sample)),
  })
  jobs.close()

  const second = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  await second.start()
  assert.deepEqual(await second.recovery, { completed: 0, failed: 1, skipped: 0 })
  const job = (await (await second.app.request(`/v1/jobs/${id}`)).json()) as JobBody
  assert.equal(job.status, 'failed')
  assert.equal(job.error.code, 'MODE_UNSUPPORTED')
  assert.equal((await second.app.request(`/v1/receipts/${id}`)).status, 404)
  await second.stop()
})

test('behavior: recovery gives up on expired jobs and on jobs interrupted too often', async () => {
  const dir = await dataDir()
  const first = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  const model = await publish(await first.start())
  await first.stop()

  let clock = Date.now()
  const expired = await signedBody(
    model,
    `0x${'02'.repeat(32)}`,
    BigInt(Math.floor(clock / 1000) + 60),
  )
  const crashy = await signedBody(model, `0x${'03'.repeat(32)}`)
  const jobs = createJobStore({ path: nodePaths(dir).database })
  for (const { request, signature, id } of [expired, crashy])
    jobs.accept({
      id,
      requester: testAccounts.client.address,
      modelCid: model.cid,
      mode: 'none',
      request: { message: requestToJson(request), signature, includeOutput: true },
      inputs: encodeTensors(namedTensorsFromJson(sample)),
    })
  for (let attempt = 0; attempt < 2; attempt++) jobs.markRunning(crashy.id)
  jobs.close()

  clock += 120_000 // the first job's deadline passes while the node is down
  const second = await createVerityNode(
    { dataDir: dir, maxJobAttempts: 2 },
    { account: testAccounts.node, logger, now: () => clock },
  )
  await second.start()
  assert.deepEqual(await second.recovery, { completed: 0, failed: 2, skipped: 0 })
  const expiredJob = (await (await second.app.request(`/v1/jobs/${expired.id}`)).json()) as JobBody
  assert.equal(expiredJob.status, 'failed')
  assert.match(expiredJob.error.message, /deadline/)
  const crashyJob = (await (await second.app.request(`/v1/jobs/${crashy.id}`)).json()) as JobBody
  assert.equal(crashyJob.status, 'failed')
  assert.match(crashyJob.error.message, /gave up after 2/)
  // the client retries the failed job: it runs again and succeeds
  const retry = await second.app.request('/v1/infer', { method: 'POST', body: crashy.body })
  assert.equal(retry.status, 200)
  assert.equal(((await retry.json()) as { receipt: Receipt }).receipt.job.id, crashy.id)
  await second.stop()
})

test('behavior: a finished job is answered after its deadline; a new one is not run', async () => {
  let clock = Date.now()
  const node = await createVerityNode(
    { dataDir: await dataDir() },
    { account: testAccounts.node, logger, now: () => clock },
  )
  const model = await publish('http://node', inProcess(node))
  const deadline = BigInt(Math.floor(clock / 1000) + 60)
  const first = await signedBody(model, `0x${'06'.repeat(32)}`, deadline)
  const done = await node.app.request('/v1/infer', { method: 'POST', body: first.body })
  assert.equal(done.status, 200)
  clock += 120_000
  const replay = await node.app.request('/v1/infer', { method: 'POST', body: first.body })
  assert.equal(replay.status, 200)
  assert.equal(replay.headers.get('verity-replayed'), 'true')
  const late = await signedBody(model, `0x${'07'.repeat(32)}`, deadline)
  const refused = await node.app.request('/v1/infer', { method: 'POST', body: late.body })
  assert.equal(refused.status, 400)
  assert.match(((await refused.json()) as ErrorBody).error.message, /deadline/)
  assert.equal(node.jobs.get(late.id), undefined)
  await node.stop()
})

test('behavior: a registered verification runs between signing and storing for its mode', async () => {
  const seen: { jobId: string; outputs: string[] }[] = []
  const reexec: Verification = {
    mode: 'reexec',
    async complete({ job, outputs, receipt }) {
      seen.push({ jobId: job.id, outputs: Object.keys(outputs) })
      return receipt
    },
  }
  const node = await createVerityNode(
    { dataDir: await dataDir() },
    { account: testAccounts.node, logger, verifications: [reexec] },
  )
  const model = await publish('http://node', inProcess(node))
  const network = (await (await node.app.request('/v1/network')).json()) as { modes: string[] }
  assert.deepEqual(network.modes, ['none', 'reexec'])
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    inputs: namedTensorsFromJson(sample),
    mode: 'reexec',
    quorum: 2,
  })
  const response = await node.app.request('/v1/infer', {
    method: 'POST',
    body: JSON.stringify({ model: model.cid, inputs: sample, request: requestToJson(request) }),
  })
  assert.equal(response.status, 200)
  const { receipt } = (await response.json()) as { receipt: Receipt }
  assert.equal(receipt.job.mode, 'reexec')
  assert.deepEqual(seen, [{ jobId: receipt.job.id, outputs: ['logits'] }])
  await node.stop()
})

test('behavior: stop() drains a running job: it finishes and is answered', async () => {
  const engine = createGatedEngine()
  const node = await createVerityNode(
    { dataDir: await dataDir() },
    { account: testAccounts.node, logger, engine },
  )
  const model = await publish('http://node', inProcess(node))
  const { body, id } = await signedBody(model, `0x${'04'.repeat(32)}`)
  const pending = node.app.request('/v1/infer', { method: 'POST', body })
  await engine.started()
  const stopping = node.stop()
  const health = await node.app.request('/v1/health')
  assert.equal(health.status, 503)
  assert.equal(((await health.json()) as { status: string }).status, 'stopping')
  const refused = await node.app.request('/v1/infer', { method: 'POST', body })
  assert.equal(refused.status, 503)
  assert.equal(((await refused.json()) as ErrorBody).error.code, 'NODE_UNAVAILABLE')
  engine.release()
  const response = await pending
  assert.equal(response.status, 200)
  assert.equal(((await response.json()) as { receipt: Receipt }).receipt.job.id, id)
  await stopping
  assert.equal(engine.runs, 1)
})

test('behavior: a job still running after the drain timeout is aborted, kept, and completed after restart', async () => {
  const dir = await dataDir()
  const engine = createGatedEngine()
  const node = await createVerityNode(
    { dataDir: dir, drainTimeoutMs: 0 },
    { account: testAccounts.node, logger, engine },
  )
  const model = await publish('http://node', inProcess(node))
  const { body, id } = await signedBody(model, `0x${'05'.repeat(32)}`)
  const pending = node.app.request('/v1/infer', { method: 'POST', body })
  await engine.started()
  await node.stop()
  const response = await pending
  assert.equal(response.status, 503)
  const { error } = (await response.json()) as ErrorBody
  assert.equal(error.code, 'NODE_UNAVAILABLE')
  assert.match(error.hints.join(' '), /completes after the node restarts/)

  const restarted = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  assert.equal(restarted.jobs.get(id)?.status, 'running')
  await restarted.start()
  assert.deepEqual(await restarted.recovery, { completed: 1, failed: 0, skipped: 0 })
  assert.equal(restarted.jobs.get(id)?.attempts, 2)
  const replay = await restarted.app.request('/v1/infer', { method: 'POST', body })
  assert.equal(replay.status, 200)
  assert.equal(replay.headers.get('verity-replayed'), 'true')
  const { receipt } = (await replay.json()) as { receipt: Receipt }
  assert.equal(receipt.job.id, id)
  assert.equal((await verifyReceipt(receipt)).valid, true)
  await restarted.stop()
})

test('behavior: a node without the executor role refuses inference with 503', async () => {
  const node = await createVerityNode(
    { dataDir: await dataDir(), roles: ['gateway'] },
    { account: testAccounts.node, logger },
  )
  await publish('http://node', inProcess(node))
  const response = await node.app.request('/v1/infer', {
    method: 'POST',
    body: JSON.stringify({ model: 'digits-int8', inputs: sample }),
  })
  assert.equal(response.status, 503)
  assert.match(((await response.json()) as ErrorBody).error.message, /executor role/)
  await node.stop()
})

test('error: a busy port and a missing key are reported with their codes', async () => {
  const dir = await dataDir()
  const first = await createVerityNode({ dataDir: dir }, { account: testAccounts.node, logger })
  const url = await first.start()
  const port = Number(new URL(url).port)
  const second = await createVerityNode(
    { dataDir: await dataDir(), port },
    { account: testAccounts.node, logger },
  )
  await assert.rejects(second.start(), { code: 'INVALID_ARGUMENT', message: /EADDRINUSE/ })
  await second.stop()
  await first.stop()

  const empty = await dataDir()
  await assert.rejects(createVerityNode({ dataDir: empty }, { logger, env: {} }), {
    code: 'KEY_NOT_FOUND',
  })
  const keyFile = join(empty, 'k.json')
  await writeFile(keyFile, '{}')
  await assert.rejects(createVerityNode({ dataDir: empty, keyFile }, { logger, env: {} }), {
    code: 'KEY_INVALID',
  })
})

test('error: a model that runs past the engine timeout is 504 ENGINE_TIMEOUT; the job is failed, the node serves on', async (t) => {
  const vgg19 = fileURLToPath(
    new URL('../../../../shared/assets/onnx-backend/light/light_vgg19.onnx', import.meta.url),
  )
  if (!existsSync(vgg19)) return t.skip(`${vgg19} absent (../shared/assets)`)
  const node = await createVerityNode(
    { dataDir: await dataDir(), engine: { timeoutMs: 50 } },
    { account: testAccounts.node, logger },
  )
  const published = await node.app.request('/v1/models?name=vgg19', {
    method: 'POST',
    body: await readFile(vgg19),
  })
  assert.equal(published.status, 201)
  const input = { dtype: 'float32' as const, shape: [1, 3, 224, 224] }
  const response = await node.app.request('/v1/infer', {
    method: 'POST',
    body: JSON.stringify({
      model: 'vgg19',
      inputs: {
        data_0: {
          ...input,
          base64: Buffer.from(allocTensorData('float32', 3 * 224 * 224).buffer).toString('base64'),
        },
      },
    }),
  })
  assert.equal(response.status, 504)
  assert.equal(((await response.json()) as ErrorBody).error.code, 'ENGINE_TIMEOUT')
  assert.deepEqual(node.jobs.counts(), { accepted: 0, running: 0, done: 0, failed: 1 })
  await publish('http://node', inProcess(node))
  const next = await node.app.request('/v1/infer', {
    method: 'POST',
    body: JSON.stringify({ model: 'digits-int8', inputs: sample }),
  })
  assert.equal(next.status, 200)
  await node.stop()
})
