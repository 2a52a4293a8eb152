import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  createOnnxEngineDescriptor,
  resolveOnnxEngineOptions,
  supportedOnnxOperators,
  supportedOnnxOpsets,
} from '@verity/engine'
import { createModelStore } from '@verity/hub'
import type { DemoModels } from '@verity/models'
import {
  allocTensorData,
  computeJobId,
  createInferenceRequest,
  type Hash,
  type NamedTensors,
  type NamedTensorsJson,
  namedTensorsFromJson,
  namedTensorsToJson,
  type Receipt,
  signInferenceRequest,
  verifyReceipt,
} from '@verity/protocol'
import { createJobStore } from './db/createJobStore.ts'
import { nodePaths } from './options.ts'
import { requestToJson } from './requestJson.ts'
import { demoModels, tempDir, testAccounts } from './testing/fixtures.ts'
import { spawnNode } from './testing/spawnNode.ts'

const vgg19 = fileURLToPath(
  new URL('../../../../shared/assets/onnx-backend/light/light_vgg19.onnx', import.meta.url),
)
const nodeKey = `0x${'11'.repeat(32)}`
let demo: DemoModels
const temps: (() => Promise<void>)[] = []

before(async () => {
  demo = await demoModels()
})
after(async () => {
  for (const remove of temps) await remove()
})

async function dataDir(): Promise<string> {
  const { dir, remove } = await tempDir('verity-main-')
  temps.push(remove)
  return dir
}

async function signed(
  model: { cid: string; manifestHash: Hash },
  inputs: NamedTensors,
  nonce: Hash,
) {
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    inputs,
    nonce,
  })
  const signature = await signInferenceRequest({ account: testAccounts.client, request })
  return {
    id: computeJobId(testAccounts.client.address, request),
    body: JSON.stringify({
      model: model.cid,
      inputs: namedTensorsToJson(inputs),
      request: requestToJson(request),
      requester: testAccounts.client.address,
      signature,
    }),
  }
}

test('default: a receipt acknowledged over HTTP survives SIGKILL; SIGTERM stops gracefully', async () => {
  const dir = await dataDir()
  const keyFile = join(dir, 'node-key.json')
  await writeFile(
    keyFile,
    JSON.stringify({ version: 1, address: testAccounts.node.address, privateKey: nodeKey }),
    { mode: 0o600 },
  )
  const first = await spawnNode(['--data-dir', dir, '--key-file', keyFile])
  const published = await fetch(`${first.url}/v1/models?name=digits-int8`, {
    method: 'POST',
    body: demo.int8Model,
  })
  assert.equal(published.status, 201)
  const model = (await published.json()) as { cid: string; manifestHash: Hash }
  const inputs = namedTensorsFromJson(demo.samples[5]?.int8Input as NamedTensorsJson)
  const { body, id } = await signed(model, inputs, `0x${'0a'.repeat(32)}`)
  const response = await fetch(`${first.url}/v1/infer`, { method: 'POST', body })
  assert.equal(response.status, 200)
  const acknowledged = ((await response.json()) as { receipt: Receipt }).receipt
  assert.equal(acknowledged.job.id, id)

  first.process.kill('SIGKILL')
  assert.equal(await first.exited, 'SIGKILL')
  assert.equal(
    first.lines.some((line) => line.msg === 'stopped'),
    false,
  )
  const logs = JSON.stringify(first.lines)
  assert.doesNotMatch(logs, /1111111111111111/, 'the key is never logged')

  const second = await spawnNode(['--data-dir', dir, '--key-file', keyFile])
  const stored = await fetch(`${second.url}/v1/receipts/${id}`)
  assert.equal(stored.status, 200)
  assert.deepEqual(((await stored.json()) as { receipt: Receipt }).receipt, acknowledged)
  const replay = await fetch(`${second.url}/v1/infer`, { method: 'POST', body })
  assert.equal(replay.status, 200)
  assert.equal(replay.headers.get('verity-replayed'), 'true')
  assert.deepEqual(((await replay.json()) as { receipt: Receipt }).receipt, acknowledged)
  const metrics = await (await fetch(`${second.url}/v1/metrics`)).text()
  assert.match(metrics, /^verity_jobs_total\{mode="none",status="replayed"\} 1$/m)
  assert.doesNotMatch(metrics, /status="done"/, 'nothing ran again')

  second.process.kill('SIGTERM')
  assert.equal(await second.exited, 0)
  assert.ok(second.lines.some((line) => line.msg === 'stopped'))
})

test('behavior: a node killed while running a slow model completes the job after restart', async (t) => {
  if (!existsSync(vgg19)) return t.skip(`${vgg19} absent (../shared/assets)`)
  const dir = await dataDir()
  // light_vgg19 takes seconds to load: the job is surely in flight when the node is killed
  const store = createModelStore({ dir: nodePaths(dir).store })
  const model = await store.add({
    bytes: await readFile(vgg19),
    name: 'vgg19',
    engine: createOnnxEngineDescriptor(resolveOnnxEngineOptions()),
    supportedOperators: supportedOnnxOperators,
    supportedOpsets: supportedOnnxOpsets,
  })
  const spec = model.manifest.inputs[0]
  assert.ok(spec)
  const shape = spec.shape.map((dim) => (typeof dim === 'number' ? dim : 1))
  const data = allocTensorData(
    spec.dtype,
    shape.reduce((a, b) => a * b, 1),
  )
  const inputs: NamedTensors = { [spec.name]: { dtype: spec.dtype, shape, data } }
  const { body, id } = await signed(model, inputs, `0x${'0b'.repeat(32)}`)

  const env = { VERITY_PRIVATE_KEY: nodeKey }
  const first = await spawnNode(['--data-dir', dir], env)
  const pending = fetch(`${first.url}/v1/infer`, { method: 'POST', body }).catch(
    (error: unknown) => error,
  )
  await first.waitFor((line) => line.msg === 'job running' && line.jobId === id, 'job running')
  first.process.kill('SIGKILL')
  await first.exited
  assert.ok((await pending) instanceof TypeError, 'the client got no answer')
  const jobs = createJobStore({ path: nodePaths(dir).database })
  assert.equal(jobs.get(id)?.status, 'running')
  jobs.close()

  const second = await spawnNode(['--data-dir', dir], env)
  const report = await second.waitFor((line) => line.msg === 'recovery complete', 'recovery')
  assert.equal(report.completed, 1)
  const stored = await fetch(`${second.url}/v1/receipts/${id}`)
  assert.equal(stored.status, 200)
  const { receipt } = (await stored.json()) as { receipt: Receipt }
  const verdict = await verifyReceipt(receipt, {
    manifest: model.manifest,
    inputs,
    expectedExecutor: testAccounts.node.address,
  })
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  const job = (await (await fetch(`${second.url}/v1/jobs/${id}`)).json()) as { attempts: number }
  assert.equal(job.attempts, 2)
  second.process.kill('SIGTERM')
  assert.equal(await second.exited, 0)
})

test('behavior: --peer flags give the node peers: it offers reexec (and zk with --zk)', async () => {
  const peer = `${testAccounts.client.address}@http://127.0.0.1:9`
  const node = await spawnNode(['--data-dir', await dataDir(), '--peer', peer, '--zk'], {
    VERITY_PRIVATE_KEY: nodeKey,
  })
  const network = (await (await fetch(`${node.url}/v1/network`)).json()) as { modes: string[] }
  assert.deepEqual(network.modes, ['none', 'reexec', 'zk'])
  node.process.kill('SIGTERM')
  assert.equal(await node.exited, 0)
})

test('error: bad arguments and a missing key exit with a message, never a stack', async () => {
  const dir = await dataDir()
  await assert.rejects(spawnNode(['--data-dir', dir]), (error: Error & { details?: string }) => {
    assert.match(String(error.details), /^error KEY_NOT_FOUND: No key file at /m)
    assert.doesNotMatch(String(error.details), /\n\s+at /)
    return true
  })
  await assert.rejects(
    spawnNode(['--data-dir', dir, '--port', 'eighty']),
    (error: Error & { details?: string }) => {
      assert.match(String(error.details), /^error INVALID_ARGUMENT: --port must be/m)
      return true
    },
  )
  await assert.rejects(
    spawnNode(['--data-dir', dir, '--zk-max-constraints', 'lots']),
    (error: Error & { details?: string }) => {
      assert.match(String(error.details), /^error INVALID_ARGUMENT: --zk-max-constraints must be/m)
      return true
    },
  )
  await assert.rejects(
    spawnNode(['--data-dir', dir, '--peer', 'http://127.0.0.1:8081']),
    (error: Error & { details?: string }) => {
      assert.match(
        String(error.details),
        /^error INVALID_ARGUMENT: --peer "http:.*" is not <address>@<url>/m,
      )
      return true
    },
  )
})
