import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BaseError, type Manifest, type Receipt } from '@verity/protocol'
import {
  assertFaultAllowed,
  cheatingTextVerification,
  cheatingVerification,
  withWrongToken,
} from './faults.ts'
import { createLogger } from './logger.ts'

const logger = createLogger({ level: 'silent' })
const vocab = (vocabSize: number) =>
  ({ gguf: { tokenizer: { vocabSize } } }) as unknown as Pick<Manifest, 'gguf'>
const receipt = {
  job: { id: `0x${'ab'.repeat(32)}`, quorum: 2 },
  quorum: { threshold: 2, attestations: [{ verifier: '0x1', agree: true }] },
} as unknown as Receipt
const refused = () => Promise.reject(new BaseError('OUTPUT_MISMATCH', 'verifiers disagree'))

test('default: withWrongToken changes the third token and nothing else', () => {
  const completion = { text: 'abc', tokens: [10, 11, 12, 13] }
  const altered = withWrongToken(completion, vocab(512))
  assert.deepEqual(altered, { text: 'abc', tokens: [10, 11, 19, 13] })
  assert.deepEqual(completion.tokens, [10, 11, 12, 13], 'the input is not mutated')
})

test('behavior: withWrongToken always picks another id of the vocabulary', () => {
  assert.deepEqual(withWrongToken({ tokens: [5] }, vocab(8)).tokens, [4])
  assert.deepEqual(withWrongToken({ tokens: [1, 2] }, vocab(7)).tokens, [1, 3])
  for (const size of [2, 3, 7, 8, 260])
    for (let token = 0; token < size; token++) {
      const [changed] = withWrongToken({ tokens: [token] }, vocab(size)).tokens
      assert.notEqual(changed, token, `vocab ${size}, token ${token}`)
      assert.ok(changed! >= 0 && changed! < size)
    }
  assert.deepEqual(withWrongToken({ tokens: [] }, vocab(8)).tokens, [])
})

test('behavior: a cheating verification passes certified receipts through untouched', async () => {
  const certified = { ...receipt, executor: 'x' } as unknown as Receipt
  const signal = new AbortController().signal
  const tensor = cheatingVerification({ mode: 'reexec', complete: async () => certified }, logger)
  assert.equal(await tensor.complete({ receipt, signal } as never), certified)
  const text = cheatingTextVerification({ completeText: async () => certified }, logger)
  assert.equal(await text.completeText({ receipt, method: 'replay', signal }), certified)
})

test('behavior: a refused quorum is answered anyway, with an empty certificate', async () => {
  const signal = new AbortController().signal
  const tensor = cheatingVerification({ mode: 'reexec', complete: refused }, logger)
  const text = cheatingTextVerification({ completeText: refused }, logger)
  for (const answered of [
    await tensor.complete({ receipt, signal } as never),
    await text.completeText({ receipt, method: 'reexec', signal }),
  ]) {
    assert.deepEqual(answered.quorum, { threshold: 2, attestations: [] })
    assert.equal(answered.job, receipt.job)
  }
})

test('error: an aborted job still fails, and faults need VERITY_ALLOW_FAULTS=1', async () => {
  const controller = new AbortController()
  controller.abort()
  const text = cheatingTextVerification({ completeText: refused }, logger)
  await assert.rejects(
    text.completeText({ receipt, method: 'replay', signal: controller.signal }),
    (error: unknown) => error instanceof BaseError && error.code === 'OUTPUT_MISMATCH',
  )
  assert.throws(
    () => assertFaultAllowed('wrong-output', {}),
    (error: unknown) => error instanceof BaseError && error.code === 'INVALID_ARGUMENT',
  )
  assert.doesNotThrow(() => assertFaultAllowed('wrong-output', { VERITY_ALLOW_FAULTS: '1' }))
})
