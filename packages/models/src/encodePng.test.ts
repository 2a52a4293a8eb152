import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { PNG } from 'pngjs'
import { renderDigit } from './digits.ts'
import { encodePng } from './encodePng.ts'
import { createRandom } from './random.ts'

test('default', () => {
  const image = renderDigit(8, createRandom(1))
  const png = encodePng(image)
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  // decoded by an independent implementation: same size, same gray levels
  const decoded = PNG.sync.read(Buffer.from(png))
  assert.equal(decoded.width, 28)
  assert.equal(decoded.height, 28)
  for (let i = 0; i < image.length; i++) {
    assert.equal(decoded.data[i * 4], image[i])
    assert.equal(decoded.data[i * 4 + 3], 255)
  }
})

test('behavior: non-square images and deterministic bytes', () => {
  const image = Uint8Array.from({ length: 6 }, (_, index) => index * 40)
  const png = encodePng(image, 3)
  assert.deepEqual(encodePng(image, 3), png)
  const decoded = PNG.sync.read(Buffer.from(png))
  assert.equal(decoded.width, 3)
  assert.equal(decoded.height, 2)
  assert.equal(decoded.data[5 * 4], 200)
})

test('error: pixel count must be a multiple of the width', () => {
  assert.throws(
    () => encodePng(new Uint8Array(10), 3),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
  assert.throws(
    () => encodePng(new Uint8Array(0)),
    (error) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
})
