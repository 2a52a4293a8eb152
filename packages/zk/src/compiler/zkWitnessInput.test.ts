import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { zkFieldOrder } from '../commitment/toField.ts'
import { zkWitnessInput } from './zkWitnessInput.ts'

describe('zkWitnessInput', () => {
  it('default', () => {
    assert.deepEqual(zkWitnessInput(Uint8Array.of(0, 17, 255), 'uint8'), { in: ['0', '17', '255'] })
  })

  it('behavior: int8 bytes become signed field elements', () => {
    assert.deepEqual(zkWitnessInput(Uint8Array.of(1, 0x80, 0xff), 'int8'), {
      in: ['1', (zkFieldOrder - 128n).toString(), (zkFieldOrder - 1n).toString()],
    })
  })

  it('error: wrong length or not bytes', () => {
    assert.throws(
      () => zkWitnessInput(new Uint8Array(3), 'uint8', 4),
      (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
    )
    assert.throws(
      () => zkWitnessInput([1] as unknown as Uint8Array, 'uint8'),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
