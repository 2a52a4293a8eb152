import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fixedPointBits, fixedPointMultiplier } from './fixedPointMultiplier.ts'

describe('fixedPointMultiplier', () => {
  it('default', () => {
    assert.deepEqual(fixedPointMultiplier(0.75), { multiplier: 3, shift: 2 })
    assert.deepEqual(fixedPointMultiplier(0.1), { multiplier: 3355443, shift: 25 })
    assert.deepEqual(fixedPointMultiplier(1), { multiplier: 1, shift: 0 })
    assert.deepEqual(fixedPointMultiplier(0), { multiplier: 0, shift: 0 })
  })

  it('behavior: relative error below 2^-(bits-1) over many magnitudes', () => {
    for (let e = -30; e <= 30; e += 0.37) {
      const factor = 2 ** e
      const { multiplier, shift } = fixedPointMultiplier(factor)
      assert.ok(Number.isSafeInteger(multiplier) && shift >= 0)
      assert.ok(multiplier < 2 ** fixedPointBits || shift === 0)
      assert.ok(
        Math.abs(multiplier / 2 ** shift - factor) / factor < 2 ** -(fixedPointBits - 1),
        `${factor}`,
      )
    }
  })
})
