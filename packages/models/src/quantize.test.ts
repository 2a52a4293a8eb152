import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { generateDigits } from './digits.ts'
import { quantizedForward, quantizedHidden, quantizeMlp, weightLimit } from './quantize.ts'
import { argmax, mlpForward, mlpToFloat32, trainMlp } from './train.ts'

const trainSet = generateDigits({ count: 3000, seed: 31 })
const testSet = generateDigits({ count: 500, seed: 32 })
const model = mlpToFloat32(trainMlp(trainSet, { seed: 3, epochs: 4 }).model)
const quantized = quantizeMlp(model, trainSet.images)

test('default', () => {
  // 7-bit symmetric weights that use the range, int32 biases, power-of-two requantization
  for (const weights of [quantized.w1, quantized.w2]) {
    assert.ok(weights.every((w) => Math.abs(w) <= weightLimit))
    assert.ok(weights.some((w) => Math.abs(w) === weightLimit))
  }
  quantized.shift1.forEach((shift, j) => {
    assert.equal(quantized.divisor1[j], 2 ** shift)
    assert.equal(quantized.round1[j], shift === 0 ? 0 : 2 ** (shift - 1))
  })
  let agree = 0
  for (const image of testSet.images)
    if (argmax(quantizedForward(quantized, image)) === argmax(mlpForward(model, image))) agree++
  assert.ok(agree / testSet.images.length >= 0.99, `agreement ${agree / testSet.images.length}`)
})

/** The documented integer formula, written independently of the implementation. */
function formula(image: Uint8Array): { hidden: number[]; logits: number[] } {
  const { hiddenSize, outputSize, w1, b1, w2, b2, round1, divisor1 } = quantized
  const hidden: number[] = []
  for (let j = 0; j < hiddenSize; j++) {
    let acc = b1[j]!
    for (let i = 0; i < 784; i++) acc += image[i]! * w1[i * hiddenSize + j]!
    hidden.push(Math.min(255, Math.floor((Math.max(acc, 0) + round1[j]!) / divisor1[j]!)))
  }
  const logits: number[] = []
  for (let k = 0; k < outputSize; k++) {
    let acc = b2[k]!
    for (let j = 0; j < hiddenSize; j++) acc += hidden[j]! * w2[j * outputSize + k]!
    logits.push(acc)
  }
  return { hidden, logits }
}

test('behavior: the integer forward pass follows its documented formula', () => {
  const extremes = [new Uint8Array(784), new Uint8Array(784).fill(255)]
  for (const image of [...testSet.images.slice(0, 20), ...extremes]) {
    const expected = formula(image)
    assert.deepEqual([...quantizedHidden(quantized, image)], expected.hidden)
    const logits = quantizedForward(quantized, image)
    assert.ok(logits instanceof Int32Array)
    assert.deepEqual([...logits], expected.logits)
  }
  // dequantized logits approximate the float logits
  const image = testSet.images[7]!
  const logits = quantizedForward(quantized, image)
  const float = mlpForward(model, image)
  for (let k = 0; k < 10; k++)
    assert.ok(Math.abs(logits[k]! * quantized.outputScale - float[k]!) < 0.5)
})

test('error: calibration and input shapes', () => {
  assert.throws(
    () => quantizeMlp(model, []),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
  assert.throws(
    () => quantizeMlp(model, [new Uint8Array(100)]),
    (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
  )
  assert.throws(
    () => quantizedForward(quantized, new Uint8Array(785)),
    (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
  )
})
