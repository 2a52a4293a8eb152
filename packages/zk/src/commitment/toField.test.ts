import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { computeModelCommitment } from './computeModelCommitment.ts'
import { fromField, toField, zkFieldOrder } from './toField.ts'

describe('toField', () => {
  it('default', () => {
    assert.equal(toField(-1n), zkFieldOrder - 1n)
    assert.equal(toField(5n), 5n)
    assert.equal(fromField(toField(-123456789n)), -123456789n)
    assert.equal(fromField('42'), 42n)
  })

  it('behavior: round trip at the edges of the signed range', () => {
    const half = zkFieldOrder / 2n
    for (const value of [0n, 1n, -1n, half, -half, 2n ** 200n, -(2n ** 200n)])
      assert.equal(fromField(toField(value)), value)
  })

  it('behavior: the model commitment is sha256 mod p', () => {
    const bytes = new TextEncoder().encode('abc')
    const sha = 0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adn
    assert.equal(computeModelCommitment(bytes), sha % zkFieldOrder)
    assert.ok(computeModelCommitment(bytes) < zkFieldOrder)
  })

  it('error: out of range', () => {
    assert.throws(
      () => toField(zkFieldOrder),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () => fromField(zkFieldOrder),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () => fromField('x1'),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
