import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Tensor } from '@verity/protocol'
import { Tensor as OrtTensor } from 'onnxruntime-node'
import { tensorFromOrt, tensorToOrt } from './ortTensor.ts'

test('default', () => {
  const tensor: Tensor = { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }
  const ort = tensorToOrt(tensor)
  assert.equal(ort.type, 'float32')
  assert.deepEqual(ort.dims, [2, 2])
  const back = tensorFromOrt(ort)
  assert.deepEqual(back, tensor)
  // The copy owns its memory: changing ORT's buffer does not change it.
  ;(ort.data as Float32Array)[0] = 9
  assert.equal((back as Tensor).data[0], 1)
})

test('behavior: float16 comes back as its bits in a Uint16Array, even from a Float16Array', () => {
  const bits = new Uint16Array([0x3c00, 0xc000, 0x7e00]) // 1, -2, NaN
  const fromBits = tensorFromOrt(tensorToOrt({ dtype: 'float16', shape: [3], data: bits }))
  assert.ok(typeof fromBits === 'object' && fromBits.data instanceof Uint16Array)
  assert.deepEqual([...fromBits.data], [...bits])
  const Float16 = (globalThis as { Float16Array?: new (values: number[]) => ArrayLike<number> })
    .Float16Array
  if (Float16) {
    const fromHalf = tensorFromOrt(new OrtTensor('float16', new Float16([1, -2]) as never, [2]))
    assert.ok(typeof fromHalf === 'object' && fromHalf.data instanceof Uint16Array)
    assert.deepEqual([...fromHalf.data], [0x3c00, 0xc000])
  }
})

test('behavior: bool, int64 and uint64 keep their protocol representations', () => {
  const bool = tensorFromOrt(new OrtTensor('bool', new Uint8Array([0, 1, 1]), [3]))
  assert.deepEqual(bool, { dtype: 'bool', shape: [3], data: new Uint8Array([0, 1, 1]) })
  const int64 = tensorFromOrt(new OrtTensor('int64', new BigInt64Array([-1n, 2n ** 40n]), [2]))
  assert.deepEqual(int64, { dtype: 'int64', shape: [2], data: new BigInt64Array([-1n, 2n ** 40n]) })
  const uint64 = tensorFromOrt(new OrtTensor('uint64', new BigUint64Array([2n ** 63n]), [1]))
  assert.deepEqual(uint64, { dtype: 'uint64', shape: [1], data: new BigUint64Array([2n ** 63n]) })
})

test('error: non-tensors and unencodable element types are reported, not thrown', () => {
  assert.equal(tensorFromOrt([{ 1: 0.5 }]), 'not-a-tensor')
  assert.equal(tensorFromOrt(new OrtTensor('string', ['a', 'b'], [2])), 'unsupported-type')
})
