import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { cnnGeometry, defaultCnnArchitecture } from './cnnArchitecture.ts'

test('default', () => {
  assert.deepEqual(cnnGeometry(defaultCnnArchitecture), {
    channels: 4,
    kernelSize: 3,
    stride: 2,
    poolSize: 2,
    imageSize: 28,
    convSize: 13,
    convOutputs: 676,
    pooledSize: 6,
    featureSize: 144,
    outputSize: 10,
  })
})

test('behavior: sizes follow the ONNX Conv and MaxPool output formulas', () => {
  // Conv 5×5 stride 1 → 24, pool 3 → 8 (floor((24 − 3) / 3) + 1)
  const geometry = cnnGeometry({ channels: 2, kernelSize: 5, stride: 1, poolSize: 3 })
  assert.equal(geometry.convSize, 24)
  assert.equal(geometry.convOutputs, 2 * 24 * 24)
  assert.equal(geometry.pooledSize, 8)
  assert.equal(geometry.featureSize, 2 * 8 * 8)
  // Conv 3×3 stride 3 → 9, pool 2 → 4 (the odd last row and column are dropped)
  assert.equal(cnnGeometry({ channels: 1, kernelSize: 3, stride: 3, poolSize: 2 }).pooledSize, 4)
})

test('error: sizes that are not positive integers or do not fit', () => {
  for (const architecture of [
    { ...defaultCnnArchitecture, channels: 0 },
    { ...defaultCnnArchitecture, kernelSize: 2.5 },
    { ...defaultCnnArchitecture, stride: -1 },
    { ...defaultCnnArchitecture, kernelSize: 29 },
    { ...defaultCnnArchitecture, poolSize: 14 },
  ])
    assert.throws(
      () => cnnGeometry(architecture),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
      JSON.stringify(architecture),
    )
})
