import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from './errors.ts'
import { decodeNpy } from './npy.ts'

function npy(descr: string, shape: string, data: Uint8Array, extra = ''): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${extra || 'False'}, 'shape': ${shape}, }`
  header += `${' '.repeat(63 - ((10 + header.length) % 64))}\n`
  const head = new Uint8Array(10)
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
  new DataView(head.buffer).setUint16(8, header.length, true)
  return new Uint8Array([...head, ...new TextEncoder().encode(header), ...data])
}

test('default: decodes what numpy.save writes (little-endian float32, 2-D)', () => {
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer)
  const tensor = decodeNpy(npy('<f4', '(2, 3)', data))
  assert.equal(tensor.dtype, 'float32')
  assert.deepEqual(tensor.shape, [2, 3])
  assert.deepEqual(Array.from(tensor.data as Float32Array), [1, 2, 3, 4, 5, 6])
})

test('behavior: big-endian, scalars, 1-D tuples and bool', () => {
  const be = decodeNpy(npy('>i4', '(2,)', new Uint8Array([0, 0, 0, 1, 255, 255, 255, 254])))
  assert.deepEqual(Array.from(be.data as Int32Array), [1, -2])
  const scalar = decodeNpy(npy('<f8', '()', new Uint8Array(new Float64Array([0.5]).buffer)))
  assert.deepEqual(scalar.shape, [])
  const bools = decodeNpy(npy('|b1', '(3,)', new Uint8Array([1, 0, 1])))
  assert.equal(bools.dtype, 'bool')
})

test('error: malformed files get TENSOR_ENCODING_INVALID', () => {
  const good = npy('<f4', '(2,)', new Uint8Array(8))
  const cases = [
    new Uint8Array([1, 2, 3]),
    good.subarray(0, good.length - 1),
    npy('<f4', '(2,)', new Uint8Array(8), 'True'),
    npy('<U4', '(2,)', new Uint8Array(32)),
    npy('|O', '(2,)', new Uint8Array(16)),
    npy('<f4', '(a,)', new Uint8Array(8)),
  ]
  for (const bytes of cases)
    assert.throws(
      () => decodeNpy(bytes),
      (error) => isBaseError(error, 'TENSOR_ENCODING_INVALID'),
    )
  assert.throws(
    () => decodeNpy(npy('<f4', '(100000, 100000)', new Uint8Array(0))),
    (error) => isBaseError(error, 'TENSOR_TOO_LARGE'),
  )
})
