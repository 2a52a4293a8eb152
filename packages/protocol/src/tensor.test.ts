import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from './errors.ts'
import {
  allocTensorData,
  decodeTensor,
  decodeTensors,
  dtypes,
  encodeTensor,
  encodeTensors,
  hashTensors,
  type Tensor,
} from './tensor.ts'

test('default: golden encoding of one tensor', () => {
  const bytes = encodeTensor({ dtype: 'float32', shape: [1, 2], data: new Float32Array([1, -2]) })
  assert.equal(
    Buffer.from(bytes).toString('hex'),
    '0102' + '01000000' + '02000000' + '0000803f' + '000000c0',
  )
})

test('default: golden encoding of named tensors, sorted by name', () => {
  const a: Tensor = { dtype: 'uint8', shape: [2], data: new Uint8Array([7, 9]) }
  const b: Tensor = { dtype: 'int64', shape: [], data: new BigInt64Array([-1n]) }
  const bytes = encodeTensors({ b, a })
  assert.equal(
    Buffer.from(bytes).toString('hex'),
    '02000000' +
      '0100' +
      '61' +
      '0201' +
      '02000000' +
      '0709' +
      '0100' +
      '62' +
      '0700' +
      'ffffffffffffffff',
  )
  assert.equal(hashTensors({ a, b }), hashTensors({ b, a }))
})

test('behavior: every dtype round-trips', () => {
  for (const dtype of dtypes) {
    const data = allocTensorData(dtype, 6)
    for (let i = 0; i < 6; i++) {
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(i * 3)
      else data[i] = dtype === 'bool' ? i % 2 : i * 3
    }
    const tensor: Tensor = { dtype, shape: [2, 3], data }
    const decoded = decodeTensor(encodeTensor(tensor))
    assert.equal(decoded.dtype, dtype)
    assert.deepEqual(decoded.shape, [2, 3])
    assert.deepEqual(
      Array.from(decoded.data as ArrayLike<unknown>),
      Array.from(data as ArrayLike<unknown>),
    )
    assert.deepEqual(decodeTensors(encodeTensors({ t: tensor })).t?.data, decoded.data)
  }
})

test('behavior: different content gives different hashes', () => {
  const base: Tensor = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }
  const hash = hashTensors({ x: base })
  assert.notEqual(hashTensors({ y: base }), hash)
  assert.notEqual(hashTensors({ x: { ...base, shape: [1, 2] } }), hash)
  assert.notEqual(hashTensors({ x: { ...base, data: new Float32Array([1, 2.0000002]) } }), hash)
  assert.notEqual(
    hashTensors({ x: { dtype: 'int32', shape: [2], data: new Int32Array([1, 2]) } }),
    hash,
  )
  // -0 and +0 are different bit patterns, and the encoding keeps bits
  assert.notEqual(
    hashTensors({ x: { dtype: 'float32', shape: [1], data: new Float32Array([-0]) } }),
    hashTensors({ x: { dtype: 'float32', shape: [1], data: new Float32Array([0]) } }),
  )
})

test('error: inconsistent tensors are refused', () => {
  const cases: [unknown, string][] = [
    [{ dtype: 'float32', shape: [3], data: new Float32Array(2) }, 'TENSOR_SHAPE_MISMATCH'],
    [{ dtype: 'float32', shape: [2], data: new Int32Array(2) }, 'TENSOR_INVALID'],
    [{ dtype: 'string', shape: [1], data: new Uint8Array(1) }, 'TENSOR_DTYPE_UNSUPPORTED'],
    [{ dtype: 'bool', shape: [1], data: new Uint8Array([2]) }, 'TENSOR_INVALID'],
    [
      { dtype: 'uint8', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], data: new Uint8Array(1) },
      'TENSOR_INVALID',
    ],
    [{ dtype: 'uint8', shape: [-1], data: new Uint8Array(1) }, 'TENSOR_INVALID'],
  ]
  for (const [tensor, code] of cases)
    assert.throws(
      () => encodeTensor(tensor as Tensor),
      (error) => isBaseError(error) && error.code === code,
      JSON.stringify(tensor),
    )
})

test('error: malformed encodings are refused with TENSOR_ENCODING_INVALID, never a crash', () => {
  const good = encodeTensors({
    a: { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) },
    b: { dtype: 'uint8', shape: [3], data: new Uint8Array(3) },
  })
  for (let cut = 0; cut < good.length; cut++)
    assert.throws(
      () => decodeTensors(good.subarray(0, cut)),
      (error) => isBaseError(error, 'TENSOR_ENCODING_INVALID'),
    )
  assert.throws(
    () => decodeTensors(new Uint8Array([...good, 0])),
    (error) => isBaseError(error, 'TENSOR_ENCODING_INVALID'),
  )
  // names out of canonical order
  const swapped = encodeTensors({ a: { dtype: 'uint8', shape: [1], data: new Uint8Array(1) } })
  const twice = new Uint8Array([2, 0, 0, 0, ...swapped.subarray(4), ...swapped.subarray(4)])
  assert.throws(
    () => decodeTensors(twice),
    (error) => isBaseError(error, 'TENSOR_ENCODING_INVALID'),
  )
  // seeded random bytes
  let seed = 42
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed >>> 24
  }
  for (let i = 0; i < 500; i++) {
    const bytes = Uint8Array.from({ length: 1 + (next() % 64) }, next)
    try {
      decodeTensors(bytes)
    } catch (error) {
      assert.ok(isBaseError(error, 'TENSOR_ENCODING_INVALID'), String(error))
    }
  }
})
