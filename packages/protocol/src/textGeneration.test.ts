import assert from 'node:assert/strict'
import { test } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { hashCanonicalJson } from './hash.ts'
import { createInferenceRequest, createReceipt, signInferenceRequest } from './signing.ts'
import {
  defaultGenerationParams,
  type GenerationParams,
  hashGenerationParams,
  hashTextInput,
  hashTextOutput,
  type TextSection,
} from './textGeneration.ts'
import { verifyReceipt } from './verifyReceipt.ts'

// anvil's well-known development keys: test-only
const requester = privateKeyToAccount(
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
)
const executor = privateKeyToAccount(
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
)
const engine = { name: 'llama.cpp', version: '3.21.1', settings: { threads: 1, batchSize: 512 } }
const params: GenerationParams = { ...defaultGenerationParams, maxTokens: 8, temperature: 0 }

function section(): TextSection {
  return {
    input: { messages: [{ role: 'user', content: 'Once upon a time' }] },
    params,
    output: { tokens: [11, 42, 7], text: ', there was' },
    finishReason: 'length',
    usage: { promptTokens: 5, completionTokens: 3 },
  }
}

async function textReceipt(text = section()) {
  const request = createInferenceRequest({
    modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    manifestHash: hashCanonicalJson({ model: 'llm' }),
    text: { input: text.input, params: text.params },
    nonce: `0x${'12'.repeat(32)}`,
    deadline: 2_000_000_000n,
  })
  return createReceipt({
    account: executor,
    requester: requester.address,
    request,
    requestSignature: await signInferenceRequest({ account: requester, request }),
    text,
    engine,
  })
}

test('default: the three hashes are canonical JSON hashes, independent of key order', () => {
  assert.equal(hashTextInput({ prompt: 'hi' }), hashCanonicalJson({ prompt: 'hi' }))
  const reordered = Object.fromEntries(Object.entries(params).reverse()) as GenerationParams
  assert.equal(hashGenerationParams(reordered), hashGenerationParams(params))
  assert.equal(
    hashTextOutput({ text: 'a', tokens: [1] }),
    hashCanonicalJson({ tokens: [1], text: 'a' }),
  )
  assert.notEqual(
    hashGenerationParams({ ...params, seed: 1 }),
    hashGenerationParams(params),
    'the seed is covered',
  )
})

test('behavior: a text receipt verifies offline; changed text, tokens or usage fail with their code', async () => {
  const receipt = await textReceipt()
  const verdict = await verifyReceipt(receipt)
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  for (const name of ['text.input', 'text.params', 'text.output', 'text.usage'])
    assert.equal(verdict.checks.find((c) => c.name === name)?.status, 'pass', name)

  const otherText = structuredClone(receipt)
  otherText.text!.output.text = ', there were'
  assert.equal((await verifyReceipt(otherText)).code, 'RECEIPT_OUTPUT_HASH_MISMATCH')
  const otherToken = structuredClone(receipt)
  otherToken.text!.output.tokens[1] = 43
  assert.equal((await verifyReceipt(otherToken)).code, 'RECEIPT_OUTPUT_HASH_MISMATCH')
  const otherPrompt = structuredClone(receipt)
  otherPrompt.text!.input = { prompt: 'Once upon a time' }
  assert.equal((await verifyReceipt(otherPrompt)).code, 'RECEIPT_INPUT_HASH_MISMATCH')
  const otherParams = structuredClone(receipt)
  otherParams.text!.params.temperature = 0.7
  assert.equal((await verifyReceipt(otherParams)).code, 'RECEIPT_INVALID')
  const otherUsage = structuredClone(receipt)
  otherUsage.text!.usage.completionTokens = 4
  assert.equal((await verifyReceipt(otherUsage)).code, 'RECEIPT_INVALID')
})

test('error: bad text inputs and parameters are refused with SCHEMA_INVALID; a node cannot sign a mismatched generation', async () => {
  assert.throws(() => hashTextInput({ messages: [] }), { code: 'SCHEMA_INVALID' })
  assert.throws(() => hashTextInput({ messages: [{ role: 'robot', content: 'x' }] } as never), {
    code: 'SCHEMA_INVALID',
  })
  assert.throws(() => hashGenerationParams({ ...params, temperature: -1 }), {
    code: 'SCHEMA_INVALID',
  })
  assert.throws(() => hashGenerationParams({ ...params, extra: 1 } as never), {
    code: 'SCHEMA_INVALID',
  })
  const request = createInferenceRequest({
    modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    manifestHash: hashCanonicalJson({ model: 'llm' }),
    text: { input: { prompt: 'a' }, params },
  })
  await assert.rejects(
    createReceipt({
      account: executor,
      requester: requester.address,
      request,
      text: { ...section(), input: { prompt: 'b' } },
      engine,
    }),
    { code: 'INPUT_HASH_MISMATCH' },
  )
  assert.throws(
    () =>
      createInferenceRequest({
        modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
        manifestHash: hashCanonicalJson({ model: 'llm' }),
      }),
    { code: 'INVALID_ARGUMENT' },
  )
})
