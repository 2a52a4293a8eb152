import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { describeGgmlType, ggmlTypes } from './ggmlTypes.ts'

describe('ggmlTypes', () => {
  test('default', () => {
    assert.deepEqual(ggmlTypes.get(0), { id: 0, name: 'f32', blockSize: 1, typeSize: 4 })
    assert.deepEqual(ggmlTypes.get(12), { id: 12, name: 'q4_K', blockSize: 256, typeSize: 144 })
    assert.deepEqual(ggmlTypes.get(39), { id: 39, name: 'mxfp4', blockSize: 32, typeSize: 17 })
    assert.deepEqual(ggmlTypes.get(42), { id: 42, name: 'q2_0', blockSize: 64, typeSize: 18 })
  })

  test('behavior: ids 0 to 42 are each loadable or removed, names unique', () => {
    const removed = [4, 5, 31, 32, 33, 36, 37, 38]
    for (let id = 0; id <= 42; id++)
      assert.equal(ggmlTypes.has(id), !removed.includes(id), `id ${id}`)
    assert.equal(ggmlTypes.size, 43 - removed.length)
    const names = [...ggmlTypes.values()].map((type) => type.name)
    assert.equal(new Set(names).size, names.length)
    for (const type of ggmlTypes.values()) {
      assert.ok(Number.isInteger(type.blockSize) && type.blockSize >= 1, type.name)
      assert.ok(Number.isInteger(type.typeSize) && type.typeSize >= 1, type.name)
    }
  })

  test('error: removed and unknown ids are described as such', () => {
    assert.equal(describeGgmlType(8), 'q8_0 (8)')
    assert.equal(describeGgmlType(31), 'q4_0_4_4 (31, removed from ggml)')
    assert.equal(describeGgmlType(43), 'unknown type 43')
    assert.equal(ggmlTypes.get(43), undefined)
  })
})
