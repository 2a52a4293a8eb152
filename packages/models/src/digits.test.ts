import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { digitImageSize, generateDigits, renderDigit } from './digits.ts'
import { createRandom } from './random.ts'

function inkStats(image: Uint8Array) {
  let mass = 0
  let sumX = 0
  let sumY = 0
  let [minX, minY, maxX, maxY] = [digitImageSize, digitImageSize, -1, -1]
  image.forEach((value, index) => {
    if (value === 0) return
    const x = index % digitImageSize
    const y = Math.floor(index / digitImageSize)
    mass += value
    sumX += value * (x + 0.5)
    sumY += value * (y + 0.5)
    minX = Math.min(minX, x)
    maxX = Math.max(maxX, x)
    minY = Math.min(minY, y)
    maxY = Math.max(maxY, y)
  })
  return {
    mass,
    centreX: sumX / mass,
    centreY: sumY / mass,
    width: maxX - minX + 1,
    height: maxY - minY + 1,
  }
}

test('default', () => {
  for (let digit = 0; digit < 10; digit++) {
    const image = renderDigit(digit, createRandom(digit))
    assert.ok(image instanceof Uint8Array)
    assert.equal(image.length, 28 * 28)
    const stats = inkStats(image)
    // MNIST-like: ink present, centred by mass, fits the central 20×20 box (plus pen and jitter)
    assert.ok(stats.mass > 255 * 25, `digit ${digit} has ink`)
    assert.ok(Math.abs(stats.centreX - 14) < 1.6 && Math.abs(stats.centreY - 14) < 1.6)
    assert.ok(stats.height <= 24 && stats.width <= 24 && Math.max(stats.width, stats.height) >= 12)
    assert.ok(
      image.some((value) => value >= 200),
      'strokes reach near-white',
    )
    // border rows and columns stay black
    for (let i = 0; i < digitImageSize; i++) {
      assert.equal(image[i], 0)
      assert.equal(image[i * digitImageSize], 0)
    }
  }
})

test('behavior: same seed gives the same image, other seeds other images', () => {
  const a = renderDigit(4, createRandom(11))
  assert.deepEqual(renderDigit(4, createRandom(11)), a)
  assert.notDeepEqual(renderDigit(4, createRandom(12)), a)
  const first = generateDigits({ count: 20, seed: 1 })
  assert.deepEqual(generateDigits({ count: 20, seed: 1 }), first)
  const second = generateDigits({ count: 20, seed: 2 })
  assert.ok(second.images.every((image, index) => first.images[index]?.join() !== image.join()))
})

test('behavior: generateDigits is balanced and shuffled', () => {
  const { images, labels } = generateDigits({ count: 203, seed: 9 })
  assert.equal(images.length, 203)
  const counts = new Array(10).fill(0)
  for (const label of labels) counts[label]++
  assert.deepEqual(counts, [21, 21, 21, 20, 20, 20, 20, 20, 20, 20])
  assert.notDeepEqual(labels.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
})

test('behavior: rotation and shear options are honoured', () => {
  const upright = renderDigit(1, createRandom(3), { maxRotationDegrees: 0, shear: [0, 0] })
  const stats = inkStats(upright)
  // an unrotated, unsheared "1" is tall and narrow
  assert.ok(stats.height >= 18 && stats.width <= 10, JSON.stringify(stats))
})

test('error: invalid digit or count', () => {
  for (const digit of [-1, 10, 2.5])
    assert.throws(
      () => renderDigit(digit, createRandom(1)),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  assert.throws(
    () => generateDigits({ count: -1, seed: 1 }),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
})
