import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { generateDigits } from '../digits.ts'
import { accuracy, argmax } from '../train.ts'
import { type Cnn, cnnForward, cnnLossGradients, cnnToFloat32, trainCnn } from './trainCnn.ts'

const trainSet = generateDigits({ count: 2000, seed: 61 })
const testSet = generateDigits({ count: 500, seed: 62 })
const small = { images: trainSet.images.slice(0, 300), labels: trainSet.labels.slice(0, 300) }

test('default', () => {
  const { model, epochLosses } = trainCnn(trainSet, { seed: 1, epochs: 3 })
  assert.equal(model.convWeight.length, 4 * 9)
  assert.equal(model.convBias.length, 4)
  assert.equal(model.fcWeight.length, 144 * 10)
  assert.equal(model.fcBias.length, 10)
  assert.equal(epochLosses.length, 3)
  assert.ok(epochLosses[2]! < epochLosses[0]!, `loss decreases: ${epochLosses.join(', ')}`)
  const testAccuracy = accuracy(testSet, (image) => argmax(cnnForward(model, image)))
  assert.ok(testAccuracy > 0.9, `held-out accuracy ${testAccuracy}`)
})

test('behavior: training is bit-for-bit deterministic', () => {
  const a = trainCnn(small, { seed: 5, epochs: 2 })
  const b = trainCnn(small, { seed: 5, epochs: 2 })
  assert.deepEqual(a.model.convWeight, b.model.convWeight)
  assert.deepEqual(a.model.fcWeight, b.model.fcWeight)
  assert.deepEqual(a.epochLosses, b.epochLosses)
  const c = trainCnn(small, { seed: 6, epochs: 2 })
  assert.notDeepEqual(c.model.convWeight, a.model.convWeight)
})

/** Loss of one example, computed from the forward pass alone. */
function loss(model: Cnn, image: Uint8Array, label: number): number {
  const z = cnnForward(model, image)
  const max = Math.max(...z)
  const sum = z.reduce((total, value) => total + Math.exp(value - max), 0)
  return Math.log(sum) - (z[label]! - max)
}

test('behavior: the backward pass matches finite differences of the loss', () => {
  const { model } = trainCnn(small, { seed: 7, epochs: 1 })
  const epsilon = 1e-6
  let checked = 0
  for (let n = 0; n < 5; n++) {
    const image = testSet.images[n]!
    const label = testSet.labels[n]!
    const gradients = cnnLossGradients(model, image, label)
    assert.ok(Math.abs(gradients.loss - loss(model, image, label)) < 1e-12)
    for (const name of ['convWeight', 'convBias', 'fcWeight', 'fcBias'] as const) {
      const parameter = model[name]
      // every conv parameter; every 7th dense weight
      const step = name === 'fcWeight' ? 7 : 1
      for (let i = 0; i < parameter.length; i += step) {
        const saved = parameter[i]!
        parameter[i] = saved + epsilon
        const plus = loss(model, image, label)
        parameter[i] = saved - epsilon
        const minus = loss(model, image, label)
        parameter[i] = saved
        const numeric = (plus - minus) / (2 * epsilon)
        const analytic = gradients[name][i]!
        assert.ok(
          Math.abs(numeric - analytic) <= 1e-5 * Math.max(1, Math.abs(numeric)),
          `${name}[${i}] of image ${n}: analytic ${analytic}, numeric ${numeric}`,
        )
        checked++
      }
    }
  }
  assert.ok(checked > 1000)
})

test('behavior: cnnForward accepts bytes or [0, 1] floats; float32 rounding', () => {
  const { model } = trainCnn(small, { seed: 2, epochs: 1 })
  const image = testSet.images[0]!
  const fromBytes = cnnForward(model, image)
  const fromFloats = cnnForward(
    model,
    Float64Array.from(image, (value) => value / 255),
  )
  assert.deepEqual(fromBytes, fromFloats)
  const rounded = cnnToFloat32(model)
  assert.deepEqual(rounded.convWeight, Float64Array.from(new Float32Array(model.convWeight)))
  assert.deepEqual(rounded.fcBias, Float64Array.from(new Float32Array(model.fcBias)))
  assert.equal(rounded.featureSize, model.featureSize)
})

test('behavior: another architecture trains with the same code', () => {
  const architecture = { channels: 2, kernelSize: 5, stride: 2, poolSize: 2 }
  const { model } = trainCnn(small, { seed: 3, epochs: 1, architecture })
  assert.equal(model.convSize, 12)
  assert.equal(model.convWeight.length, 2 * 25)
  assert.equal(model.fcWeight.length, 2 * 36 * 10)
  assert.equal(cnnForward(model, testSet.images[0]!).length, 10)
})

test('error: bad datasets, options and inputs', () => {
  const code = (expected: string) => (error: unknown) => isBaseError(error, expected as never)
  assert.throws(() => trainCnn({ images: [], labels: [] }, { seed: 1 }), code('INVALID_ARGUMENT'))
  assert.throws(
    () => trainCnn({ images: [new Uint8Array(100)], labels: [1] }, { seed: 1 }),
    code('TENSOR_SHAPE_MISMATCH'),
  )
  assert.throws(
    () => trainCnn({ images: [new Uint8Array(784)], labels: [10] }, { seed: 1 }),
    code('INVALID_ARGUMENT'),
  )
  for (const options of [{ epochs: 0 }, { batchSize: 1.5 }, { learningRate: Number.NaN }])
    assert.throws(() => trainCnn(small, { seed: 1, ...options }), code('INVALID_ARGUMENT'))
  const { model } = trainCnn(small, { seed: 1, epochs: 1 })
  assert.throws(() => cnnForward(model, new Uint8Array(783)), code('TENSOR_SHAPE_MISMATCH'))
  assert.throws(() => cnnLossGradients(model, testSet.images[0]!, -1), code('INVALID_ARGUMENT'))
})
