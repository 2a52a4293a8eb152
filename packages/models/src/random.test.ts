import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { createRandom, deriveSeed } from './random.ts'

test('default', () => {
  const random = createRandom(42)
  // golden values pin the generator: changing them changes every demo model
  assert.equal(random.nextUint32(), 551831576)
  assert.equal(random.nextUint32(), 144025891)
  assert.equal(random.normal(), -0.1064282884478578)
  assert.equal(deriveSeed(1, 'train-data'), 2014799854)
})

test('behavior: same seed gives the same sequence, another seed another one', () => {
  const draw = (seed: number) => {
    const random = createRandom(seed)
    return Array.from({ length: 8 }, () => random.next())
  }
  assert.deepEqual(draw(7), draw(7))
  assert.notDeepEqual(draw(7), draw(8))
  assert.notDeepEqual(draw(0), draw(2 ** 32)) // the high half of the seed counts
})

test('behavior: uniform and normal variates have the expected moments', () => {
  const random = createRandom(3)
  const count = 20000
  let sum = 0
  let sumSquares = 0
  let uniformSum = 0
  for (let i = 0; i < count; i++) {
    const z = random.normal()
    sum += z
    sumSquares += z * z
    const u = random.next()
    assert.ok(u >= 0 && u < 1)
    uniformSum += u
  }
  assert.ok(Math.abs(sum / count) < 0.03)
  assert.ok(Math.abs(sumSquares / count - 1) < 0.04)
  assert.ok(Math.abs(uniformSum / count - 0.5) < 0.01)
})

test('behavior: shuffle is a permutation and int stays in range', () => {
  const random = createRandom(5)
  const items = Array.from({ length: 100 }, (_, index) => index)
  const shuffled = random.shuffle([...items])
  assert.notDeepEqual(shuffled, items)
  assert.deepEqual(
    [...shuffled].sort((a, b) => a - b),
    items,
  )
  for (let i = 0; i < 1000; i++) {
    const value = random.int(10)
    assert.ok(Number.isInteger(value) && value >= 0 && value < 10)
  }
})

test('behavior: derived seeds differ per stream and per seed', () => {
  const seeds = new Set([
    deriveSeed(1, 'train-data'),
    deriveSeed(1, 'test-data'),
    deriveSeed(1, 'init'),
    deriveSeed(2, 'train-data'),
  ])
  assert.equal(seeds.size, 4)
})

test('error: seeds must be non-negative safe integers', () => {
  for (const seed of [-1, 1.5, Number.NaN, 2 ** 53])
    assert.throws(
      () => createRandom(seed),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  assert.throws(
    () => deriveSeed(-3, 'x'),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
})
