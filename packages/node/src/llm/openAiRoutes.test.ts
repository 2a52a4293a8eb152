import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { after, before, test } from 'node:test'
import { buildTinyGguf } from '@verity/models'
import { canonicalJson, type Receipt, verifyReceipt } from '@verity/protocol'
import OpenAI from 'openai'
import { createVerityNode, type VerityNode } from '../createVerityNode.ts'
import { createLogger } from '../logger.ts'
import { tempDir, testAccounts } from '../testing/fixtures.ts'

// The official `openai` client against a real node: tiny GGUF the project builds itself, and the
// stories260K model from ../shared/assets for the reference continuation.

const storiesPath = new URL('../../../../../shared/assets/llm/stories260K.gguf', import.meta.url)
const referencePath = new URL(
  '../../../../../shared/assets/llm/stories260K_expected_greedy.json',
  import.meta.url,
)

let node: VerityNode
let url = ''
let openai: OpenAI
const removers: (() => Promise<void>)[] = []

async function publish(bytes: Uint8Array, name: string): Promise<void> {
  const response = await fetch(`${url}/v1/models?name=${name}&license=MIT`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  })
  assert.ok(response.status === 201 || response.status === 200, await response.text())
}

before(async () => {
  const { dir, remove } = await tempDir('verity-openai-')
  removers.push(remove)
  node = await createVerityNode(
    { dataDir: dir },
    { account: testAccounts.node, logger: createLogger({ level: 'silent' }) },
  )
  url = await node.start()
  openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 })
  await publish(buildTinyGguf(), 'tiny')
})

after(async () => {
  await node?.stop()
  for (const remove of removers) await remove()
})

function receiptOf(body: unknown): Receipt {
  return (body as { receipt: Receipt }).receipt
}

test('default: the openai client completes a chat; the receipt binds prompt, parameters and tokens and verifies offline', async () => {
  const models = await openai.models.list()
  assert.ok(models.data.some((m) => m.id === 'tiny'))
  const { data: completion, response } = await openai.chat.completions
    .create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'once upon a time' }],
      max_tokens: 8,
      temperature: 0,
    })
    .withResponse()
  assert.equal(completion.object, 'chat.completion')
  const content = completion.choices[0]?.message.content ?? ''
  assert.ok(content.length > 0)
  assert.equal(completion.usage?.completion_tokens, 8)
  const receipt = receiptOf(completion)
  assert.equal(response.headers.get('verity-receipt-id'), receipt.job.id)
  assert.equal(receipt.text?.output.text, content)
  const verdict = await verifyReceipt(receipt)
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  // the same request again: the same tokens (greedy, pinned settings)
  const again = await openai.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'once upon a time' }],
    max_tokens: 8,
    temperature: 0,
  })
  assert.deepEqual(receiptOf(again).text?.output, receipt.text?.output)
})

test('behavior: streaming gives the same text and the same receipt content as the plain call', async () => {
  const request = {
    model: 'tiny',
    messages: [{ role: 'user' as const, content: 'the little girl' }],
    max_tokens: 6,
    temperature: 0,
  }
  const plain = await openai.chat.completions.create(request)
  const stream = await openai.chat.completions.create({ ...request, stream: true })
  let text = ''
  let receipt: Receipt | undefined
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? ''
    if ((chunk as { receipt?: Receipt }).receipt) receipt = (chunk as { receipt?: Receipt }).receipt
  }
  assert.equal(text, plain.choices[0]?.message.content)
  assert.ok(receipt, 'the last event carries the receipt')
  assert.equal((await verifyReceipt(receipt)).valid, true)
  const a = receiptOf(plain)
  assert.equal(receipt.job.inputHash, a.job.inputHash)
  assert.equal(receipt.job.paramsHash, a.job.paramsHash)
  assert.equal(receipt.result.outputHash, a.result.outputHash)
})

test('behavior: stories260K through /v1/completions reproduces the llama2.c greedy reference', async (t) => {
  if (!existsSync(storiesPath)) {
    t.skip('../shared/assets absent: stories260K not available')
    return
  }
  await publish(new Uint8Array(await readFile(storiesPath)), 'stories260k')
  const reference = JSON.parse(await readFile(referencePath, 'utf8')) as { expected_stdout: string }
  const completion = await openai.completions.create({
    model: 'stories260k',
    prompt: 'Once upon a time',
    max_tokens: 64,
    temperature: 0,
  })
  const text = completion.choices[0]?.text ?? ''
  assert.ok(
    reference.expected_stdout.startsWith(`Once upon a time${text}`),
    `${JSON.stringify(text)} is not the reference continuation`,
  )
  assert.equal((await verifyReceipt(receiptOf(completion))).valid, true)
})

test('error: bad requests get OpenAI-style 4xx errors and the node keeps serving', async () => {
  const cases: [Record<string, unknown>, number, string][] = [
    [{ model: 'nope', messages: [{ role: 'user', content: 'x' }] }, 404, 'MODEL_NOT_FOUND'],
    [{ model: 'tiny', messages: [{ role: 'robot', content: 'x' }] }, 400, 'INVALID_ARGUMENT'],
    [{ model: 'tiny', messages: [] }, 400, 'INVALID_ARGUMENT'],
    [
      { model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 100_000 },
      400,
      'INVALID_ARGUMENT',
    ],
    [{ model: 'tiny', messages: [{ role: 'user', content: 'x' }], n: 3 }, 400, 'INVALID_ARGUMENT'],
    // the tiny model's context is 256 tokens
    [
      {
        model: 'tiny',
        messages: [{ role: 'user', content: 'once upon a time '.repeat(100) }],
        max_tokens: 8,
      },
      400,
      'CONTEXT_OVERFLOW',
    ],
    // JSON schemas the grammar cannot enforce, or that are not schemas
    ...[
      { type: 'string', pattern: '^a+$' },
      { type: 'object', properties: { a: { type: 'string' } }, required: ['b'] },
      { type: 'number', minimum: 3 },
      { $ref: '#/$defs/missing' },
      { type: 'banana' },
      'not an object',
    ].map((schema): [Record<string, unknown>, number, string] => [
      {
        model: 'tiny',
        messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema', json_schema: { name: 's', schema } },
      },
      400,
      'INVALID_ARGUMENT',
    ]),
    [
      {
        model: 'tiny',
        messages: [{ role: 'user', content: 'x' }],
        verity: { request: {}, requester: '0x1', signature: '0x' },
      },
      400,
      'SCHEMA_INVALID',
    ],
    [
      {
        model: 'tiny',
        messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema', json_schema: {} },
      },
      400,
      'INVALID_ARGUMENT',
    ],
  ]
  for (const [body, status, code] of cases) {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    assert.equal(response.status, status, canonicalJson(body))
    const error = (
      (await response.json()) as { error: { code: string; type: string; message: string } }
    ).error
    assert.equal(error.code, code)
    assert.ok(error.type.length > 0 && error.message.length > 0)
  }
  const malformed = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"model": ',
  })
  assert.equal(malformed.status, 400)
  // the openai client surfaces these as APIError with the status
  await assert.rejects(
    openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (error: { status?: number }) => error.status === 404,
  )
  // no max_tokens: the default (128) fits the tiny model's limit (its context minus one)
  const ok = await openai.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'hello' }],
    temperature: 0,
  })
  assert.equal(ok.choices.length, 1)
  assert.equal(receiptOf(ok).text?.params.maxTokens, 128)
})

test('behavior: response_format json_object and json_schema constrain the tokens; receipts record the format and verify', async () => {
  const object = await openai.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'the dog' }],
    max_tokens: 64,
    temperature: 0,
    response_format: { type: 'json_object' },
  })
  const objectText = object.choices[0]?.message.content ?? ''
  assert.equal(objectText.trimStart()[0], '{')
  if (object.choices[0]?.finish_reason === 'stop')
    assert.equal(typeof JSON.parse(objectText), 'object')
  assert.equal(receiptOf(object).text?.params.responseFormat, 'json_object')
  assert.equal((await verifyReceipt(receiptOf(object))).valid, true)

  const schema = {
    type: 'object',
    properties: { name: { enum: ['Lily', 'Tom'] }, age: { type: 'integer' } },
    required: ['name', 'age'],
    additionalProperties: false,
  }
  const request = {
    model: 'tiny',
    messages: [{ role: 'user' as const, content: 'the dog' }],
    max_tokens: 64,
    temperature: 0,
    response_format: {
      type: 'json_schema' as const,
      json_schema: { name: 'person', schema, strict: true },
    },
  }
  const typed = await openai.chat.completions.create(request)
  assert.equal(typed.choices[0]?.finish_reason, 'stop', typed.choices[0]?.message.content ?? '')
  const value = JSON.parse(typed.choices[0]?.message.content ?? '') as Record<string, unknown>
  assert.deepEqual(Object.keys(value), ['name', 'age'])
  assert.ok(value.name === 'Lily' || value.name === 'Tom')
  assert.ok(Number.isInteger(value.age))
  const receipt = receiptOf(typed)
  assert.deepEqual(receipt.text?.params.responseFormat, {
    type: 'json_schema',
    name: 'person',
    schema,
  })
  assert.equal((await verifyReceipt(receipt)).valid, true)
  // streamed: the same JSON, token for token
  const stream = await openai.chat.completions.create({ ...request, stream: true })
  let streamed = ''
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? ''
  assert.equal(streamed, typed.choices[0]?.message.content)
  // receipts of unsigned generations are kept too
  const stored = await fetch(`${url}/v1/receipts/${receipt.job.id}`)
  assert.equal(stored.status, 200)
  assert.deepEqual(((await stored.json()) as { receipt: Receipt }).receipt, receipt)
})

async function abortedGenerations(): Promise<number> {
  const metrics = await (await fetch(`${url}/v1/metrics`)).text()
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith('verity_text_generations_total{status="aborted"}'))
  return line ? Number(line.split(' ').at(-1)) : 0
}

test('behavior: a client that disconnects mid-stream frees the engine for the next request', async () => {
  const before = await abortedGenerations()
  const controller = new AbortController()
  const stream = await openai.chat.completions.create(
    {
      model: 'tiny',
      messages: [{ role: 'user', content: 'once upon a time' }],
      max_tokens: 200,
      temperature: 0,
      stream: true,
    },
    { signal: controller.signal },
  )
  let pieces = 0
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) pieces++
    if (pieces === 1) {
      controller.abort()
      break
    }
  }
  assert.equal(pieces, 1)
  // the node notices the closed connection and aborts the generation (the slot is free again)
  for (let i = 0; i < 200 && (await abortedGenerations()) === before; i++)
    await new Promise((resolve) => setTimeout(resolve, 25))
  assert.equal(await abortedGenerations(), before + 1, 'the generation was aborted')
  const next = await openai.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'hello' }],
    max_tokens: 2,
    temperature: 0,
  })
  assert.equal(
    next.choices[0]?.finish_reason === 'length' || next.choices[0]?.finish_reason === 'stop',
    true,
  )
})
