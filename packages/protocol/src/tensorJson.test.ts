import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from './errors.ts'
import { hashTensors } from './tensor.ts'
import {
  namedTensorsFromJson,
  namedTensorsToJson,
  tensorFromJson,
  tensorToJson,
} from './tensorJson.ts'

test('default: nested, flat and base64 forms give the same tensor hash', () => {
  const nested = tensorFromJson({
    dtype: 'float32',
    shape: [2, 2],
    data: [
      [0.1, 2],
      [3, -4],
    ],
  })
  const flat = tensorFromJson({ dtype: 'float32', shape: [2, 2], data: [0.1, 2, 3, -4] })
  const base64 = tensorFromJson(tensorToJson(nested))
  assert.equal(hashTensors({ x: nested }), hashTensors({ x: flat }))
  assert.equal(hashTensors({ x: nested }), hashTensors({ x: base64 }))
  assert.equal((nested.data as Float32Array)[0], Math.fround(0.1))
})

test('behavior: readable form round-trips every dtype family', () => {
  const tensors = namedTensorsFromJson({
    f: { dtype: 'float64', shape: [2], data: [0.1, 1e300] },
    h: { dtype: 'float16', shape: [2], data: [1.5, -2] },
    b: { dtype: 'bool', shape: [3], data: [true, false, 1] },
    i: { dtype: 'int64', shape: [2], data: ['-9223372036854775808', 5] },
    u: { dtype: 'uint64', shape: [1], data: ['18446744073709551615'] },
    q: { dtype: 'int8', shape: [2], data: [-128, 127] },
  })
  const back = namedTensorsFromJson(namedTensorsToJson(tensors, { encoding: 'data' }))
  assert.equal(hashTensors(back), hashTensors(tensors))
  assert.deepEqual(namedTensorsToJson(tensors, { encoding: 'data' }).i?.data, [
    '-9223372036854775808',
    '5',
  ])
  assert.deepEqual(namedTensorsToJson(tensors, { encoding: 'data' }).h?.data, [1.5, -2])
})

test('error: bad JSON tensors name the problem', () => {
  const cases: [unknown, string, RegExp][] = [
    [{ dtype: 'int8', shape: [2], data: [1, 300] }, 'TENSOR_INVALID', /element 1 is 300/],
    [{ dtype: 'int32', shape: [1], data: [1.5] }, 'TENSOR_INVALID', /not a valid int32/],
    [
      { dtype: 'float32', shape: [2, 2], data: [[1, 2], [3]] },
      'TENSOR_SHAPE_MISMATCH',
      /shape \[2,2\]/,
    ],
    [{ dtype: 'float32', shape: [3], data: [1, 2] }, 'TENSOR_SHAPE_MISMATCH', /shape \[3\]/],
    [{ dtype: 'complex64', shape: [1], data: [1] }, 'TENSOR_INVALID', /dtype/],
    [{ dtype: 'float32', shape: [1], data: [1], base64: 'AAAA' }, 'TENSOR_INVALID', /exactly one/],
    [{ dtype: 'float32', shape: [2], base64: 'AAAA' }, 'TENSOR_SHAPE_MISMATCH', /needs 8/],
    [{ dtype: 'float32', shape: [1], base64: '!!!!' }, 'TENSOR_INVALID', /base64/],
    [{ dtype: 'uint64', shape: [1], data: ['-1'] }, 'TENSOR_INVALID', /uint64/],
    [{ dtype: 'float32', shape: [100000, 100000], data: [] }, 'TENSOR_TOO_LARGE', /limit/],
  ]
  for (const [value, code, message] of cases)
    assert.throws(
      () => tensorFromJson(value),
      (error) => isBaseError(error) && error.code === code && message.test(error.message),
      JSON.stringify(value),
    )
  assert.throws(
    () => namedTensorsFromJson([1, 2]),
    (error) => isBaseError(error, 'TENSOR_INVALID'),
  )
})
