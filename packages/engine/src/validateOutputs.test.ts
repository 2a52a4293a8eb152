import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError, type Tensor } from '@verity/protocol'
import { makeTestManifest } from './testing/testManifest.ts'
import { validateOutputs } from './validateOutputs.ts'

const manifest = makeTestManifest({
  inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
  outputs: [
    { name: 'label', dtype: 'int64', shape: ['batch'] },
    { name: 'scores', dtype: 'float32', shape: ['batch', 'classes'] },
  ],
})

const label = (n: number): Tensor => ({ dtype: 'int64', shape: [n], data: new BigInt64Array(n) })
const scores = (n: number, k: number): Tensor => ({
  dtype: 'float32',
  shape: [n, k],
  data: new Float32Array(n * k),
})

test('default', () => {
  assert.doesNotThrow(() =>
    validateOutputs(manifest, { label: label(2), scores: scores(2, 3) }, { batch: 2 }),
  )
})

test('error: outputs must keep the dims bound by the inputs', () => {
  assert.throws(
    () => validateOutputs(manifest, { label: label(3), scores: scores(3, 3) }, { batch: 2 }),
    (error) =>
      isBaseError(error, 'TENSOR_SHAPE_MISMATCH') &&
      error.message.includes('Output "label"') &&
      error.message.includes('the inputs bound "batch" to 2') &&
      error.message.includes('fix the manifest'),
  )
})

test('error: a missing output or a wrong dtype', () => {
  assert.throws(
    () => validateOutputs(manifest, { label: label(2) }, { batch: 2 }),
    (error) => isBaseError(error, 'ENGINE_OUTPUT_UNSUPPORTED') && error.message.includes('scores'),
  )
  assert.throws(
    () => validateOutputs(manifest, { label: scores(2, 1), scores: scores(2, 3) }),
    (error) => isBaseError(error, 'TENSOR_DTYPE_MISMATCH'),
  )
})
