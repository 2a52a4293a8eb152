import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { packInputBytes } from './packInputBytes.ts'

describe('packInputBytes', () => {
  it('default', () => {
    assert.deepEqual(packInputBytes(Uint8Array.of(1, 2)), [258n])
  })

  it('behavior: 31 bytes per element, big-endian, the last chunk shorter', () => {
    const bytes = Uint8Array.from({ length: 33 }, (_, i) => i + 1)
    const elements = packInputBytes(bytes)
    assert.equal(elements.length, 2)
    assert.equal(elements[0], BigInt(`0x${Buffer.from(bytes.subarray(0, 31)).toString('hex')}`))
    assert.equal(elements[1], (32n << 8n) | 33n)
    assert.ok(packInputBytes(new Uint8Array(31).fill(255))[0]! < 2n ** 248n)
    assert.deepEqual(packInputBytes(new Uint8Array(0)), [])
  })

  it('error: not bytes', () => {
    assert.throws(
      () => packInputBytes([1, 2] as unknown as Uint8Array),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
