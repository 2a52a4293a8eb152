import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseOpenAiRequest } from './openAiRequest.ts'
import { defaultGenerationParams, hashGenerationParams } from './textGeneration.ts'

test('default: a chat request fills every default, so client and node hash the same params', () => {
  const parsed = parseOpenAiRequest('chat', {
    model: 'stories',
    messages: [
      { role: 'developer', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Once ' },
          { type: 'text', text: 'upon' },
        ],
      },
    ],
    temperature: 0,
    user: 'ignored',
    n: 1,
  })
  assert.deepEqual(parsed.input, {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Once upon' },
    ],
  })
  assert.deepEqual(parsed.params, { ...defaultGenerationParams, temperature: 0 })
  assert.equal(parsed.stream, false)
  const again = parseOpenAiRequest('chat', {
    messages: [{ role: 'user', content: 'x' }],
    model: 'stories',
    temperature: 0,
    max_tokens: defaultGenerationParams.maxTokens,
  })
  assert.equal(hashGenerationParams(again.params), hashGenerationParams(parsed.params))
})

test('behavior: completions, stop as a string, streaming with usage, json mode', () => {
  const parsed = parseOpenAiRequest('completion', {
    model: 'stories',
    prompt: 'Once upon a time',
    max_tokens: 32,
    stop: '\n',
    seed: 42,
    top_k: 1,
    stream: true,
    stream_options: { include_usage: true },
    response_format: { type: 'json_object' },
  })
  assert.deepEqual(parsed.input, { prompt: 'Once upon a time' })
  assert.equal(parsed.params.maxTokens, 32)
  assert.deepEqual(parsed.params.stop, ['\n'])
  assert.equal(parsed.params.seed, 42)
  assert.equal(parsed.params.responseFormat, 'json_object')
  assert.equal(parsed.stream, true)
  assert.equal(parsed.includeUsage, true)
})

test('error: malformed or unsupported requests name the parameter', () => {
  const cases: [unknown, string][] = [
    [[], 'body'],
    [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'm', messages: [] }, 'messages'],
    [{ model: 'm', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
    [{ model: 'm', messages: [{ role: 'user', content: 3 }] }, 'messages[0].content'],
    [
      { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url' }] }] },
      'messages[0].content[0]',
    ],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 3 }, 'temperature'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: '0' }, 'temperature'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }, 'max_tokens'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n'],
    [
      { model: 'm', messages: [{ role: 'user', content: 'x' }], presence_penalty: 0.5 },
      'presence_penalty',
    ],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [{}] }, 'tools'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], frobnicate: true }, 'frobnicate'],
    [
      {
        model: 'm',
        messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema' },
      },
      'response_format',
    ],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], stop: 5 }, 'stop'],
    [{ model: 'm', prompt: ['a', 'b'] }, 'prompt'],
  ]
  for (const [body, param] of cases) {
    const kind =
      typeof body === 'object' && body !== null && 'prompt' in body ? 'completion' : 'chat'
    assert.throws(
      () => parseOpenAiRequest(kind, body),
      (error: { code?: string; details?: string }) =>
        error.code === 'INVALID_ARGUMENT' && error.details === param,
      `${JSON.stringify(body)} → ${param}`,
    )
  }
})
