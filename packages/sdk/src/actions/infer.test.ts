import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { buildDemoModels, type DemoModels } from '@verity/models'
import { createLogger, createVerityNode, type VerityNode } from '@verity/node'
import { type Hash, type NamedTensorsJson, namedTensorsFromJson } from '@verity/protocol'
import { privateKeyToAccount } from 'viem/accounts'
import { type Client, createClient } from '../createClient.ts'
import { http, type Transport } from '../transports/http.ts'
import { getModel } from './getModel.ts'
import { getReceipt } from './getReceipt.ts'
import { infer } from './infer.ts'
import { listModels } from './listModels.ts'
import { publishModel } from './publishModel.ts'
import { verifyReceipt } from './verifyReceipt.ts'

const nodeAccount = privateKeyToAccount(`0x${'11'.repeat(32)}`)
const account = privateKeyToAccount(`0x${'22'.repeat(32)}`)
let node: VerityNode
let dir = ''
let url = ''
let demo: DemoModels
let sample: NamedTensorsJson
let client: Client

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-sdk-'))
  demo = await buildDemoModels({ trainCount: 200, testCount: 20, epochs: 1 })
  sample = demo.samples[2]?.int8Input as NamedTensorsJson
  node = await createVerityNode(
    { dataDir: dir },
    { account: nodeAccount, logger: createLogger({ level: 'silent' }) },
  )
  url = await node.start()
  client = createClient({ transport: http(url), account })
  const published = await publishModel(client, {
    bytes: demo.int8Model,
    name: 'digits-int8',
    license: 'MIT',
  })
  assert.equal(published.added, true)
})

after(async () => {
  await node.stop()
  await rm(dir, { recursive: true, force: true })
})

/** A transport that lets the test rewrite what the (real) node answers: a lying node. */
function tampering(rewrite: (path: string, data: Record<string, unknown>) => void): Transport {
  const real = http(url)
  return {
    ...real,
    async request<T>(request: Parameters<Transport['request']>[0]) {
      const response = await real.request<Record<string, unknown>>(request)
      rewrite(request.path, response.data)
      return response as unknown as Awaited<ReturnType<Transport['request']>> & { data: T }
    },
  }
}

test('default: infer signs, runs and returns a verified receipt and the outputs', async () => {
  const { receipt, outputs, verdict, jobId, replayed } = await infer(client, {
    model: 'digits-int8',
    inputs: sample,
  })
  assert.equal(verdict.valid, true)
  assert.equal(replayed, false)
  assert.equal(receipt.job.id, jobId)
  assert.equal(receipt.job.requester, account.address)
  assert.equal(receipt.executor.address, nodeAccount.address)
  assert.match(receipt.request?.signature ?? '', /^0x[0-9a-f]{130}$/)
  assert.deepEqual(Array.from(outputs.logits?.data as Int32Array), demo.samples[2]?.int8Logits)
  assert.ok(
    verdict.checks.some((check) => check.name === 'request.signature' && check.status === 'pass'),
  )
  assert.ok(
    verdict.checks.some((check) => check.name === 'job.inputHash' && check.status === 'pass'),
  )

  const fetched = await getReceipt(client, { id: jobId })
  assert.deepEqual(fetched, receipt)
  const offline = await verifyReceipt(client, {
    receipt: fetched,
    expectedExecutor: nodeAccount.address,
  })
  assert.equal(offline.valid, true)
})

test('behavior: tensors or JSON, signed or not, with or without embedded outputs', async () => {
  const tensors = namedTensorsFromJson(sample)
  const unsigned = createClient({ transport: http(url) })
  const result = await infer(unsigned, {
    model: 'digits-int8',
    inputs: tensors,
    includeOutput: false,
  })
  assert.equal(result.receipt.job.requester, '0x0000000000000000000000000000000000000000')
  assert.equal(result.receipt.request, undefined)
  assert.equal(result.receipt.result.output, undefined)
  assert.deepEqual(
    Array.from(result.outputs.logits?.data as Int32Array),
    demo.samples[2]?.int8Logits,
  )
})

test('behavior: the same nonce is an idempotent retry: the node answers from its store', async () => {
  const nonce = `0x${'5a'.repeat(32)}` as Hash
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 600)
  const first = await infer(client, { model: 'digits-int8', inputs: sample, nonce, deadline })
  const second = await infer(client, { model: 'digits-int8', inputs: sample, nonce, deadline })
  assert.equal(second.replayed, true)
  assert.deepEqual(second.receipt, first.receipt)
})

test('behavior: listModels and getModel describe the published model', async () => {
  const models = await listModels(client)
  assert.deepEqual(
    models.map((model) => `${model.name}@${model.version}`),
    ['digits-int8@1.0.0'],
  )
  const model = await getModel(client, { model: 'digits-int8@1.0.0' })
  assert.equal(model.cid, models[0]?.cid)
  assert.equal(model.manifestHash, models[0]?.manifestHash)
  assert.equal(model.manifest.license, 'MIT')
  // by CID with `cache`, a second call asks the node nothing; by name it always asks
  const requests = async () => {
    const text = await (await fetch(`${url}/v1/metrics`)).text()
    return text
      .split('\n')
      .filter((line) => line.startsWith('verity_http_requests_total{route="/v1/models/:ref"'))
      .reduce((sum, line) => sum + Number(line.split(' ')[1]), 0)
  }
  const cached = createClient({ transport: http(url) })
  const before = await requests()
  await getModel(cached, { model: model.cid, cache: true })
  await getModel(cached, { model: model.cid, cache: true })
  assert.equal((await requests()) - before, 1)
  await getModel(cached, { model: 'digits-int8@1.0.0', cache: true })
  assert.equal((await requests()) - before, 2)
})

test('error: node errors arrive as BaseErrors with the node code', async () => {
  await assert.rejects(infer(client, { model: 'nope', inputs: sample }), {
    name: 'VerityError',
    code: 'MODEL_NOT_FOUND',
  })
  await assert.rejects(
    infer(client, {
      model: 'digits-int8',
      inputs: {
        image: { dtype: 'uint8', shape: [1, 1, 28, 27], data: new Array(28 * 27).fill(0) },
      },
    }),
    { code: 'TENSOR_SHAPE_MISMATCH' },
  )
  await assert.rejects(
    infer(client, { model: 'digits-int8', inputs: sample, mode: 'reexec', quorum: 2 }),
    {
      code: 'MODE_UNSUPPORTED',
    },
  )
  // a model without a zk section is refused before anything is signed or sent
  await assert.rejects(infer(client, { model: 'digits-int8', inputs: sample, mode: 'zk' }), {
    code: 'MODE_UNSUPPORTED',
    message: /no zk section/,
  })
  assert.doesNotMatch(
    await (await fetch(`${url}/v1/metrics`)).text(),
    /verity_jobs_total\{mode="zk"/,
  )
  await assert.rejects(infer(client, { model: 'digits-int8', inputs: sample, deadline: 1n }), {
    code: 'REQUEST_EXPIRED',
    message: /deadline/,
  })
  await assert.rejects(publishModel(client, { bytes: new Uint8Array([1, 2, 3]), name: 'junk' }), {
    code: 'MODEL_INVALID',
  })
  await assert.rejects(getReceipt(client, { id: `0x${'00'.repeat(32)}` }), {
    code: 'RECEIPT_NOT_FOUND',
  })
})

test('error: a client pinned to another chain signs and sends nothing', async () => {
  const pinned = createClient({ transport: http(url), account, domain: { chainId: 1 } })
  const before = await node.jobs.counts()
  await assert.rejects(infer(pinned, { model: 'digits-int8', inputs: sample }), {
    code: 'RECEIPT_DOMAIN_MISMATCH',
  })
  assert.deepEqual(await node.jobs.counts(), before)
})

test('error: a receipt that does not verify is an error, not a result', async () => {
  const lying = (rewrite: (data: Record<string, unknown>) => void) =>
    createClient({
      account,
      transport: tampering((path, data) => {
        if (path === '/v1/infer') rewrite(data)
      }),
    })
  type Answer = {
    receipt: { result: { outputHash: string }; executor: { signature: string } }
    output: unknown
  }
  // outputs swapped for others
  await assert.rejects(
    infer(
      lying((data) => {
        ;(data as Answer).output = demo.samples[5]?.int8Input
      }),
      { model: 'digits-int8', inputs: sample, includeOutput: false },
    ),
    { code: 'RECEIPT_OUTPUT_HASH_MISMATCH' },
  )
  // a signed field changed after signing
  await assert.rejects(
    infer(
      lying((data) => {
        const answer = data as Answer
        answer.receipt.result.outputHash = `0x${'00'.repeat(32)}`
      }),
      { model: 'digits-int8', inputs: sample, includeOutput: false },
    ),
    (error: Error & { code: string; metaMessages: string[] }) => {
      assert.equal(error.code, 'RECEIPT_SIGNATURE_INVALID')
      assert.ok(error.metaMessages.some((line) => line.startsWith('executor.signature:')))
      return true
    },
  )
  // a receipt for another job (a replayed old answer)
  const old = await infer(client, { model: 'digits-int8', inputs: sample })
  await assert.rejects(
    infer(
      lying((data) => {
        ;(data as { receipt: unknown }).receipt = old.receipt
        ;(data as { output: unknown }).output = old.receipt.result.output
      }),
      { model: 'digits-int8', inputs: sample },
    ),
    { code: 'RECEIPT_JOB_ID_MISMATCH' },
  )
})

test('error: getModel refuses a manifest that does not match its hash', async () => {
  const lying = createClient({
    transport: tampering((path, data) => {
      if (path.startsWith('/v1/models/'))
        (data.manifest as { license: string }).license = 'proprietary'
    }),
  })
  await assert.rejects(getModel(lying, { model: 'digits-int8' }), {
    code: 'MANIFEST_HASH_MISMATCH',
  })
})

test('error: verifyReceipt reports a tampered receipt', async () => {
  const { receipt } = await infer(client, { model: 'digits-int8', inputs: sample })
  const tampered = structuredClone(receipt)
  tampered.job.maxFee = '1'
  const verdict = await verifyReceipt(client, { receipt: tampered })
  assert.equal(verdict.valid, false)
  assert.equal(verdict.code, 'RECEIPT_JOB_ID_MISMATCH')
  const notJson = await verifyReceipt(client, { receipt: { hello: 'world' } })
  assert.equal(notJson.code, 'RECEIPT_INVALID')
  await assert.rejects(verifyReceipt(client, { receipt, online: true } as never), {
    code: 'INVALID_ARGUMENT',
    message: /rpcUrl/,
  })
  const otherChain = createClient({ transport: http(url), domain: { chainId: 1 } })
  assert.equal((await verifyReceipt(otherChain, { receipt })).code, 'RECEIPT_DOMAIN_MISMATCH')
})
