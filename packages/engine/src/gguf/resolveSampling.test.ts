import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { defaultTextSampling, maxTextSeed, resolveSampling } from './resolveSampling.ts'

test('default', () => {
  assert.deepEqual(resolveSampling({}), { temperature: 0, topK: 40, topP: 0.95, minP: 0, seed: 0 })
  assert.deepEqual(resolveSampling({}), defaultTextSampling)
  assert.deepEqual(resolveSampling({ temperature: 0.8, seed: maxTextSeed, topK: 0, topP: 1 }), {
    temperature: 0.8,
    topK: 0,
    topP: 1,
    minP: 0,
    seed: 4_294_967_294,
  })
})

test('error: out-of-range values', () => {
  for (const [input, name] of [
    [{ temperature: -1 }, 'temperature'],
    [{ temperature: Number.NaN }, 'temperature'],
    [{ temperature: 2.5 }, 'temperature'],
    [{ topK: -1 }, 'topK'],
    [{ topP: 0 }, 'topP'],
    [{ topP: 1.5 }, 'topP'],
    [{ minP: 2 }, 'minP'],
    [{ seed: 0xffff_ffff }, 'seed'],
    [{ seed: 1.5 }, 'seed'],
    [{ seed: '1' as unknown as number }, 'seed'],
  ] as const)
    assert.throws(
      () => resolveSampling(input),
      (error) => isBaseError(error, 'INVALID_ARGUMENT') && error.message.includes(`"${name}"`),
    )
})
