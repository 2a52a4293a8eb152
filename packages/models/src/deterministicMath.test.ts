import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  deterministicCos,
  deterministicExp,
  deterministicLog,
  deterministicSin,
} from './deterministicMath.ts'

test('default', () => {
  // golden values: these exact doubles must come out on every engine and CPU
  assert.equal(deterministicExp(-3.7), 0.02472352647033939)
  assert.equal(deterministicLog(0.123), -2.0955709236097197)
  assert.equal(deterministicSin(0.2), 0.19866933079506124)
  assert.equal(deterministicCos(-2.5), -0.8011436155469339)
  assert.equal(deterministicExp(0), 1)
  assert.equal(deterministicLog(1), 0)
})

test('behavior: agrees with Math to about 1e-15', () => {
  for (let i = 0; i <= 2000; i++) {
    const x = -60 + (i / 2000) * 80
    assert.ok(Math.abs(deterministicExp(x) / Math.exp(x) - 1) < 2e-15, `exp(${x})`)
    const angle = -20 + (i / 2000) * 40
    assert.ok(Math.abs(deterministicSin(angle) - Math.sin(angle)) < 5e-15, `sin(${angle})`)
    assert.ok(Math.abs(deterministicCos(angle) - Math.cos(angle)) < 5e-15, `cos(${angle})`)
    const y = 10 ** (-30 + (i / 2000) * 40)
    assert.ok(
      Math.abs(deterministicLog(y) - Math.log(y)) < 1e-15 * Math.max(1, Math.abs(Math.log(y))),
    )
  }
})

test('behavior: edge cases', () => {
  assert.equal(deterministicExp(1000), Number.POSITIVE_INFINITY)
  assert.equal(deterministicExp(-1000), 0)
  assert.equal(deterministicExp(-744), Math.exp(-744)) // subnormal result
  assert.ok(Number.isNaN(deterministicExp(Number.NaN)))
  assert.ok(Number.isNaN(deterministicLog(0)))
  assert.ok(Number.isNaN(deterministicLog(-1)))
  assert.equal(deterministicLog(5e-324), Math.log(5e-324)) // smallest subnormal
})
