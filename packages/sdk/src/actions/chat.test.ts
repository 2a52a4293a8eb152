import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { buildTinyGguf } from '@verity/models'
import { createLogger, createVerityNode, type VerityNode } from '@verity/node'
import { isBaseError } from '@verity/protocol'
import { privateKeyToAccount } from 'viem/accounts'
import { type Client, createClient } from '../createClient.ts'
import { http } from '../transports/http.ts'
import { chat } from './chat.ts'
import { complete } from './complete.ts'

// chat/complete against a real node in this process serving the tiny GGUF the project builds,
// and against a lying proxy in front of it (a real HTTP server that rewrites the node's answers).

const nodeAccount = privateKeyToAccount(`0x${'11'.repeat(32)}`)
let node: VerityNode
let dir = ''
let url = ''
let client: Client
const servers: Server[] = []
const messages = [{ role: 'user' as const, content: 'once upon a time' }]

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-sdk-chat-'))
  node = await createVerityNode(
    { dataDir: dir },
    { account: nodeAccount, logger: createLogger({ level: 'silent' }) },
  )
  url = await node.start()
  client = createClient({ transport: http(url) })
  const response = await fetch(`${url}/v1/models?name=tiny&license=MIT`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: buildTinyGguf(),
  })
  assert.ok(response.status === 201 || response.status === 200, await response.text())
})

after(async () => {
  for (const server of servers) server.close()
  await node?.stop()
  await rm(dir, { recursive: true, force: true })
})

/** A proxy to the real node that lets `rewrite` change the body of text-generation answers. */
async function lyingNode(rewrite: (body: string) => string): Promise<string> {
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const upstream = await fetch(`${url}${request.url}`, {
      method: request.method ?? 'GET',
      headers: { 'content-type': request.headers['content-type'] ?? 'application/json' },
      ...(request.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
    })
    let body = await upstream.text()
    if (request.url?.includes('completions')) body = rewrite(body)
    response.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'application/json',
    })
    response.end(body)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

test('default: chat returns the text with a verified receipt that binds messages and parameters', async () => {
  const result = await chat(client, { model: 'tiny', messages, maxTokens: 8, temperature: 0 })
  assert.ok(result.text.length > 0)
  assert.equal(result.verdict.valid, true)
  assert.equal(result.receipt.text?.output.text, result.text)
  assert.deepEqual(result.receipt.text?.input, { messages })
  assert.equal(result.receipt.text?.params.maxTokens, 8)
  assert.equal(result.receipt.text?.params.temperature, 0)
  assert.equal(result.receipt.executor.address, nodeAccount.address)
  assert.equal(result.usage.completionTokens, 8)
  assert.equal(result.usage.totalTokens, result.usage.promptTokens + 8)
  assert.equal(result.finishReason, 'length')
})

test('behavior: streaming yields pieces that add up to the non-streaming text, then a verified result', async () => {
  const parameters = { model: 'tiny', messages, maxTokens: 12, temperature: 0, seed: 7 }
  const whole = await chat(client, parameters)
  const stream = chat(client, { ...parameters, stream: true })
  const pieces: string[] = []
  for await (const { text } of stream) pieces.push(text)
  const result = await stream.result
  assert.ok(pieces.length > 1, `${pieces.length} pieces`)
  assert.equal(pieces.join(''), whole.text)
  assert.equal(result.text, whole.text)
  assert.equal(result.verdict.valid, true)
  assert.equal(result.receipt.text?.params.seed, 7)
  assert.deepEqual(result.receipt.text?.output, whole.receipt.text?.output)
})

test('behavior: complete continues a raw prompt, streaming or not, with the prompt bound', async () => {
  const parameters = { model: 'tiny', prompt: 'once upon a time', maxTokens: 6, temperature: 0 }
  const whole = await complete(client, parameters)
  assert.deepEqual(whole.receipt.text?.input, { prompt: 'once upon a time' })
  const stream = complete(client, { ...parameters, stream: true })
  let text = ''
  for await (const piece of stream) text += piece.text
  assert.equal(text, whole.text)
  assert.equal((await stream.result).verdict.valid, true)
})

test('error: a receipt tampered with by the server is refused', async () => {
  const lying = await lyingNode((body) => {
    const parsed = JSON.parse(body)
    parsed.receipt.text.output.text = 'tampered'
    parsed.choices[0].message.content = 'tampered'
    return JSON.stringify(parsed)
  })
  await assert.rejects(
    chat(createClient({ transport: http(lying) }), { model: 'tiny', messages, maxTokens: 4 }),
    (error) => isBaseError(error, 'RECEIPT_OUTPUT_HASH_MISMATCH'),
  )
})

test('error: text that differs from the (valid) receipt, or a receipt for other messages, is refused', async () => {
  const otherText = await lyingNode((body) => {
    const parsed = JSON.parse(body)
    parsed.choices[0].message.content = 'something else'
    return JSON.stringify(parsed)
  })
  await assert.rejects(
    chat(createClient({ transport: http(otherText) }), { model: 'tiny', messages, maxTokens: 4 }),
    (error) => isBaseError(error, 'RECEIPT_OUTPUT_HASH_MISMATCH'),
  )
  // a valid receipt for another question, replayed as the answer to this one
  const old = await chat(client, { model: 'tiny', messages, maxTokens: 4, temperature: 0 })
  const replaying = await lyingNode((body) => {
    const parsed = JSON.parse(body)
    parsed.receipt = old.receipt
    parsed.choices[0].message.content = old.text
    return JSON.stringify(parsed)
  })
  const replayClient = createClient({ transport: http(replaying) })
  await assert.rejects(
    chat(replayClient, {
      model: 'tiny',
      messages: [{ role: 'user', content: 'another question' }],
      maxTokens: 4,
      temperature: 0,
    }),
    (error) => isBaseError(error, 'RECEIPT_INPUT_HASH_MISMATCH'),
  )
  await assert.rejects(
    chat(replayClient, { model: 'tiny', messages, maxTokens: 4, temperature: 0.5 }),
    (error) => isBaseError(error, 'RECEIPT_INVALID'),
  )
})

test('error: a tampered receipt in a stream is refused by the iteration and by result', async () => {
  const lying = await lyingNode((body) =>
    body.replace(/"completionTokens":(\d+)/, (_, n) => `"completionTokens":${Number(n) + 1}`),
  )
  const stream = chat(createClient({ transport: http(lying) }), {
    model: 'tiny',
    messages,
    maxTokens: 4,
    stream: true,
  })
  await assert.rejects(
    (async () => {
      for await (const _ of stream) {
      }
    })(),
    (error) => isBaseError(error) && error.code.startsWith('RECEIPT_'),
  )
  await assert.rejects(
    stream.result,
    (error) => isBaseError(error) && error.code.startsWith('RECEIPT_'),
  )
})

test('error: invalid settings and unknown models fail with their codes', async () => {
  await assert.rejects(chat(client, { model: 'tiny', messages, temperature: 5 }), (error) =>
    isBaseError(error, 'INVALID_ARGUMENT'),
  )
  await assert.rejects(chat(client, { model: 'nope', messages, maxTokens: 2 }), (error) =>
    isBaseError(error, 'MODEL_NOT_FOUND'),
  )
  const stream = chat(client, { model: 'nope', messages, maxTokens: 2, stream: true })
  await assert.rejects(stream.result, (error) => isBaseError(error, 'MODEL_NOT_FOUND'))
})

test('behavior: a signed request names the requester; streamed or not, the same request gets the same stored receipt', async () => {
  const requester = privateKeyToAccount(`0x${'33'.repeat(32)}`)
  const signing = createClient({ transport: http(url), account: requester })
  const nonce = `0x${'ab'.repeat(32)}` as const
  // the same nonce and deadline: the same job, however long the calls take
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600)
  const settings = { model: 'tiny', messages, maxTokens: 6, temperature: 0, nonce, deadline }
  const plain = await chat(signing, settings)
  assert.equal(plain.receipt.job.requester.toLowerCase(), requester.address.toLowerCase())
  assert.ok(plain.receipt.request?.signature, 'the receipt carries the request signature')
  const stream = chat(signing, { ...settings, stream: true })
  let streamed = ''
  for await (const { text } of stream) streamed += text
  const again = await stream.result
  assert.equal(streamed, plain.text)
  assert.deepEqual(again.receipt, plain.receipt)
  // durable: the node answers GET /v1/receipts/:id for text jobs
  const stored = (await (await fetch(`${url}/v1/receipts/${plain.receipt.job.id}`)).json()) as {
    receipt: unknown
  }
  assert.deepEqual(stored.receipt, plain.receipt)
  // another nonce is another job, with the same tokens
  const other = await chat(signing, { ...settings, nonce: `0x${'cd'.repeat(32)}` })
  assert.notEqual(other.receipt.job.id, plain.receipt.job.id)
  assert.equal(other.receipt.result.outputHash, plain.receipt.result.outputHash)
})

test('behavior: JSON mode: the output is JSON of the schema and the receipt records the format', async () => {
  const schema = {
    type: 'object',
    properties: { ok: { type: 'boolean' }, n: { enum: [1, 2, 3] } },
    required: ['ok', 'n'],
  }
  const result = await chat(client, {
    model: 'tiny',
    messages,
    maxTokens: 40,
    temperature: 0,
    responseFormat: { type: 'json_schema', schema },
  })
  assert.equal(result.finishReason, 'stop', result.text)
  const value = JSON.parse(result.text) as { ok: unknown; n: unknown }
  assert.equal(typeof value.ok, 'boolean')
  assert.ok([1, 2, 3].includes(value.n as number))
  assert.deepEqual(result.receipt.text?.params.responseFormat, { type: 'json_schema', schema })
  await assert.rejects(
    chat(client, {
      model: 'tiny',
      messages,
      maxTokens: 4,
      responseFormat: { type: 'json_schema', schema: { type: 'string', minimum: 3 } },
    }),
    (error: unknown) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
})
