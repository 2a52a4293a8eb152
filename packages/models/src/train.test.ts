import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { generateDigits } from './digits.ts'
import { accuracy, argmax, mlpForward, mlpToFloat32, trainMlp } from './train.ts'

const trainSet = generateDigits({ count: 3000, seed: 21 })
const testSet = generateDigits({ count: 500, seed: 22 })

test('default', () => {
  const { model, epochLosses } = trainMlp(trainSet, { seed: 1, epochs: 4 })
  assert.equal(model.w1.length, 784 * 32)
  assert.equal(model.w2.length, 32 * 10)
  assert.equal(epochLosses.length, 4)
  assert.ok(epochLosses[3]! < epochLosses[0]!, `loss decreases: ${epochLosses.join(', ')}`)
  const testAccuracy = accuracy(testSet, (image) => argmax(mlpForward(model, image)))
  assert.ok(testAccuracy > 0.9, `held-out accuracy ${testAccuracy}`)
})

test('behavior: training is bit-for-bit deterministic', () => {
  const small = { images: trainSet.images.slice(0, 500), labels: trainSet.labels.slice(0, 500) }
  const a = trainMlp(small, { seed: 5, epochs: 2 })
  const b = trainMlp(small, { seed: 5, epochs: 2 })
  assert.deepEqual(a.model.w1, b.model.w1)
  assert.deepEqual(a.model.b2, b.model.b2)
  assert.deepEqual(a.epochLosses, b.epochLosses)
  const c = trainMlp(small, { seed: 6, epochs: 2 })
  assert.notDeepEqual(c.model.w1, a.model.w1)
})

test('behavior: mlpForward accepts bytes or [0, 1] floats; argmax and float32 rounding', () => {
  const { model } = trainMlp(
    { images: trainSet.images.slice(0, 200), labels: trainSet.labels.slice(0, 200) },
    { seed: 2, epochs: 1, hiddenSize: 8 },
  )
  const image = testSet.images[0]!
  const fromBytes = mlpForward(model, image)
  const fromFloats = mlpForward(
    model,
    Float64Array.from(image, (value) => value / 255),
  )
  assert.deepEqual(fromBytes, fromFloats)
  assert.equal(argmax([0.1, 3, 2, 3]), 1)
  const rounded = mlpToFloat32(model)
  assert.deepEqual(rounded.w1, Float64Array.from(new Float32Array(model.w1)))
  assert.equal(rounded.hiddenSize, 8)
})

test('error: inconsistent datasets and options', () => {
  assert.throws(
    () => trainMlp({ images: trainSet.images.slice(0, 3), labels: [1, 2] }, { seed: 1 }),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
  assert.throws(
    () => trainMlp({ images: [new Uint8Array(10)], labels: [1] }, { seed: 1 }),
    (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
  )
  assert.throws(
    () => trainMlp({ images: trainSet.images.slice(0, 1), labels: [10] }, { seed: 1 }),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
  assert.throws(
    () => trainMlp(trainSet, { seed: 1, epochs: 0 }),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
  const { model } = trainMlp(
    { images: trainSet.images.slice(0, 10), labels: trainSet.labels.slice(0, 10) },
    { seed: 1, epochs: 1 },
  )
  assert.throws(
    () => mlpForward(model, new Uint8Array(783)),
    (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
  )
})
