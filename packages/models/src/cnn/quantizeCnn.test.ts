import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { generateDigits } from '../digits.ts'
import { weightLimit } from '../quantize.ts'
import { argmax } from '../train.ts'
import { quantizeCnn, quantizedCnnForward, quantizedCnnTrace } from './quantizeCnn.ts'
import { cnnForward, cnnToFloat32, trainCnn } from './trainCnn.ts'

const trainSet = generateDigits({ count: 3000, seed: 71 })
const testSet = generateDigits({ count: 500, seed: 72 })
const model = cnnToFloat32(trainCnn(trainSet, { seed: 7, epochs: 3 }).model)
const quantized = quantizeCnn(model, trainSet.images)

test('default', () => {
  // 7-bit symmetric weights that use the range (per channel for the convolution)
  for (let c = 0; c < 4; c++) {
    const channel = quantized.convWeight.subarray(c * 9, c * 9 + 9)
    assert.ok(channel.every((w) => Math.abs(w) <= weightLimit))
    assert.ok(
      channel.some((w) => Math.abs(w) === weightLimit),
      `channel ${c} uses ±63`,
    )
  }
  assert.ok(quantized.fcWeight.every((w) => Math.abs(w) <= weightLimit))
  assert.ok(quantized.fcWeight.some((w) => Math.abs(w) === weightLimit))
  // power-of-two requantization
  quantized.shift.forEach((shift, c) => {
    assert.equal(quantized.divisor[c], 2 ** shift)
    assert.equal(quantized.round[c], shift === 0 ? 0 : 2 ** (shift - 1))
  })
  // the calibration maximum saturates no channel by more than rounding, and uses the range
  let saturated = 0
  let maximum = 0
  for (const image of trainSet.images.slice(0, 500)) {
    const { activations } = quantizedCnnTrace(quantized, image)
    for (const value of activations) {
      if (value === 255) saturated++
      maximum = Math.max(maximum, value)
    }
  }
  assert.ok(maximum >= 128, `largest activation ${maximum}`)
  assert.ok(saturated < 50, `${saturated} saturated activations`)
  let agree = 0
  for (const image of testSet.images)
    if (argmax(quantizedCnnForward(quantized, image)) === argmax(cnnForward(model, image))) agree++
  assert.ok(agree / testSet.images.length >= 0.99, `agreement ${agree / testSet.images.length}`)
})

/** The documented integer formula, written independently of the implementation. */
function formula(image: Uint8Array) {
  const { convWeight, convBias, round, divisor, fcWeight, fcBias } = quantized
  const activations: number[][][] = []
  for (let c = 0; c < 4; c++) {
    activations.push([])
    for (let i = 0; i < 13; i++) {
      activations[c]!.push([])
      for (let j = 0; j < 13; j++) {
        let acc = convBias[c]!
        for (let a = 0; a < 3; a++)
          for (let b = 0; b < 3; b++)
            acc += image[(2 * i + a) * 28 + 2 * j + b]! * convWeight[c * 9 + a * 3 + b]!
        // floor of the non-negative part equals trunc-then-clip
        const value = Math.floor((Math.max(acc, 0) + round[c]!) / divisor[c]!)
        activations[c]![i]!.push(Math.min(255, value))
      }
    }
  }
  const pooled: number[] = []
  for (let c = 0; c < 4; c++)
    for (let u = 0; u < 6; u++)
      for (let v = 0; v < 6; v++) {
        const rows = activations[c]!
        pooled.push(
          Math.max(
            rows[2 * u]![2 * v]!,
            rows[2 * u]![2 * v + 1]!,
            rows[2 * u + 1]![2 * v]!,
            rows[2 * u + 1]![2 * v + 1]!,
          ),
        )
      }
  const logits: number[] = []
  for (let k = 0; k < 10; k++) {
    let acc = fcBias[k]!
    for (let f = 0; f < 144; f++) acc += pooled[f]! * fcWeight[f * 10 + k]!
    logits.push(acc)
  }
  return { activations: activations.flat(2), pooled, logits }
}

test('behavior: the integer forward pass follows its documented formula', () => {
  const extremes = [new Uint8Array(784), new Uint8Array(784).fill(255)]
  for (const image of [...testSet.images.slice(0, 20), ...extremes]) {
    const expected = formula(image)
    const trace = quantizedCnnTrace(quantized, image)
    assert.deepEqual([...trace.activations], expected.activations)
    assert.deepEqual([...trace.pooled], expected.pooled)
    const logits = quantizedCnnForward(quantized, image)
    assert.ok(logits instanceof Int32Array)
    assert.deepEqual([...logits], expected.logits)
  }
  // dequantized logits approximate the float logits
  const image = testSet.images[7]!
  const logits = quantizedCnnForward(quantized, image)
  const float = cnnForward(model, image)
  for (let k = 0; k < 10; k++)
    assert.ok(
      Math.abs(logits[k]! * quantized.outputScale - float[k]!) < 0.5,
      `class ${k}: ${logits[k]! * quantized.outputScale} vs ${float[k]}`,
    )
})

test('error: calibration and input shapes', () => {
  assert.throws(
    () => quantizeCnn(model, []),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
  assert.throws(
    () => quantizeCnn(model, [new Uint8Array(100)]),
    (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
  )
  for (const bad of [new Uint8Array(785), new Uint8Array(0), Array(784).fill(0)])
    assert.throws(
      () => quantizedCnnForward(quantized, bad as Uint8Array),
      (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
    )
})
