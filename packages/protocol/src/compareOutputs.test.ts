import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compareOutputs } from './compareOutputs.ts'
import type { NamedTensors } from './tensor.ts'

const f = (...values: number[]): NamedTensors => ({
  y: { dtype: 'float32', shape: [values.length], data: Float32Array.from(values) },
})

test('default: exact compares bytes, tolerance compares values', () => {
  assert.equal(compareOutputs({ kind: 'exact' }, f(1, 2), f(1, 2)).equal, true)
  assert.equal(compareOutputs({ kind: 'exact' }, f(1, 2), f(1, 2.0000002)).equal, false)
  const tolerance = { kind: 'tolerance', absolute: 1e-5, relative: 1e-4 } as const
  assert.equal(compareOutputs(tolerance, f(1000, 2), f(1000.05, 2)).equal, true)
  const far = compareOutputs(tolerance, f(1000, 2), f(1000.2, 2))
  assert.equal(far.equal, false)
  assert.match(far.reason!, /y\[0\]/)
  assert.equal(compareOutputs(tolerance, f(Number.NaN), f(Number.NaN)).equal, true)
  assert.equal(compareOutputs(tolerance, f(Number.NaN), f(0)).equal, false)
})

test('error: names, dtypes and shapes must match', () => {
  const tolerance = { kind: 'tolerance', absolute: 1, relative: 1 } as const
  assert.equal(compareOutputs(tolerance, f(1), { z: f(1).y! }).equal, false)
  assert.equal(compareOutputs(tolerance, f(1, 2), f(1)).equal, false)
  const ints: NamedTensors = { y: { dtype: 'int32', shape: [1], data: new Int32Array([1]) } }
  assert.equal(
    compareOutputs(tolerance, ints, {
      y: { dtype: 'int32', shape: [1], data: new Int32Array([2]) },
    }).equal,
    false,
  )
})
