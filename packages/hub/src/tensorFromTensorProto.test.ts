import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isBaseError, shapeSize } from '@verity/protocol'
import { deterministicBytes } from './deterministicBytes.ts'
import { type onnx, onnxSchema } from './onnxProto.ts'
import { tensorFromTensorProto } from './tensorFromTensorProto.ts'

const backend = fileURLToPath(new URL('../../../../shared/assets/onnx-backend/', import.meta.url))
const skipAssets = existsSync(backend) ? false : `${backend} absent (../shared/assets)`

const encode = (tensor: onnx.ITensorProto) =>
  onnxSchema.TensorProto.encode(onnxSchema.TensorProto.create(tensor)).finish()

describe('tensorFromTensorProto', () => {
  test('default', () => {
    const { name, tensor } = tensorFromTensorProto(
      encode({ name: 'x', dataType: 1, dims: [2, 2], floatData: [1, -2.5, 3, 4] }),
    )
    assert.equal(name, 'x')
    assert.equal(tensor.dtype, 'float32')
    assert.deepEqual(tensor.shape, [2, 2])
    assert.deepEqual([...tensor.data], [1, -2.5, 3, 4])
  })

  test('behavior: backend test data decodes with element count equal to the shape size', {
    skip: skipAssets,
  }, () => {
    const folders = [
      'simple/test_single_relu_model', // float32
      'simple/test_sequence_model7', // float64
      'simple/test_sequence_model8', // float32 [n], int64 splits, int64 scalar output
      'pytorch-operator/test_operator_non_float_params', // int64
      'pytorch-converted/test_Conv2d', // float32 NCHW
      'pytorch-converted/test_Embedding', // int64 indices
    ]
    const dtypes = new Set<string>()
    let files = 0
    for (const folder of folders)
      for (const dataSet of readdirSync(join(backend, folder)).filter((name) =>
        name.startsWith('test_data_set_'),
      ))
        for (const file of readdirSync(join(backend, folder, dataSet)).filter((name) =>
          name.endsWith('.pb'),
        )) {
          const { tensor } = tensorFromTensorProto(
            readFileSync(join(backend, folder, dataSet, file)),
          )
          assert.equal(tensor.data.length, shapeSize(tensor.shape), `${folder}/${dataSet}/${file}`)
          dtypes.add(tensor.dtype)
          files++
        }
    assert.equal(files, 13)
    assert.deepEqual([...dtypes].sort(), ['float32', 'float64', 'int64'])
  })

  test('behavior: every typed *_data field maps to its dtype', () => {
    const cases: Array<[onnx.ITensorProto, string, unknown[]]> = [
      [{ dataType: 11, dims: [2], doubleData: [0.1, -1e300] }, 'float64', [0.1, -1e300]],
      [{ dataType: 3, dims: [3], int32Data: [-128, 0, 127] }, 'int8', [-128, 0, 127]],
      [{ dataType: 2, dims: [2], int32Data: [0, 255] }, 'uint8', [0, 255]],
      [{ dataType: 5, dims: [1], int32Data: [-32768] }, 'int16', [-32768]],
      [{ dataType: 4, dims: [1], int32Data: [65535] }, 'uint16', [65535]],
      [{ dataType: 6, dims: [2], int32Data: [-2147483648, 7] }, 'int32', [-2147483648, 7]],
      [{ dataType: 9, dims: [3], int32Data: [1, 0, 1] }, 'bool', [1, 0, 1]],
      [{ dataType: 10, dims: [1], int32Data: [0x3c00] }, 'float16', [0x3c00]], // 1.0 as half bits
      [
        { dataType: 7, dims: [3], int64Data: ['-9007199254740993', '42', '-1'] as never },
        'int64',
        [-9007199254740993n, 42n, -1n],
      ],
      [{ dataType: 12, dims: [1], uint64Data: ['4294967295'] as never }, 'uint32', [4294967295]],
      [
        { dataType: 13, dims: [1], uint64Data: ['18446744073709551615'] as never },
        'uint64',
        [18446744073709551615n],
      ],
      [{ dataType: 1, dims: [], floatData: [7] }, 'float32', [7]], // a scalar
      [{ dataType: 1, dims: [0, 3] }, 'float32', []], // an empty tensor
    ]
    for (const [proto, dtype, values] of cases) {
      const { tensor } = tensorFromTensorProto(encode({ name: dtype, ...proto }))
      assert.equal(tensor.dtype, dtype)
      assert.deepEqual([...tensor.data], values, dtype)
    }
  })

  test('behavior: raw_data is read little-endian into an aligned copy', () => {
    const raw = new Uint8Array(1 + 8)
    new DataView(raw.buffer).setFloat64(1, Math.PI, true)
    const { tensor } = tensorFromTensorProto(
      encode({ name: 'pi', dataType: 11, dims: [1], rawData: raw.subarray(1) }),
    )
    assert.equal(tensor.data[0], Math.PI)
    assert.equal(tensor.data.byteOffset % 8, 0)
  })

  test('error: unsupported dtypes, count mismatches, external data, garbage', () => {
    const code = (proto: onnx.ITensorProto | Uint8Array) => {
      try {
        tensorFromTensorProto(proto instanceof Uint8Array ? proto : encode(proto))
      } catch (error) {
        assert.ok(isBaseError(error), String(error))
        assert.doesNotMatch(error.message, /\n\s+at /)
        return error.code
      }
      return 'no error'
    }
    assert.equal(
      code({ dataType: 8, dims: [1], stringData: [new Uint8Array([104])] }),
      'TENSOR_DTYPE_UNSUPPORTED',
    )
    assert.equal(code({ dataType: 16, dims: [1], int32Data: [0] }), 'TENSOR_DTYPE_UNSUPPORTED')
    assert.equal(code({ dataType: 1, dims: [3], floatData: [1, 2] }), 'TENSOR_SHAPE_MISMATCH')
    assert.equal(
      code({ dataType: 1, dims: [2], rawData: new Uint8Array(7) }),
      'TENSOR_SHAPE_MISMATCH',
    )
    assert.equal(code({ dataType: 9, dims: [1], int32Data: [2] }), 'TENSOR_INVALID')
    assert.equal(
      code({ dataType: 1, dims: [100000, 100000], floatData: [1] }),
      'TENSOR_ENCODING_INVALID',
    )
    assert.equal(code({ dataType: 1, dims: [-1], floatData: [] }), 'TENSOR_ENCODING_INVALID')
    assert.equal(
      code({
        dataType: 1,
        dims: [1],
        dataLocation: 1,
        externalData: [{ key: 'location', value: '/etc/passwd' }],
      }),
      'MODEL_EXTERNAL_DATA',
    )
    assert.equal(code({ dims: [1], floatData: [1] }), 'TENSOR_ENCODING_INVALID')
    assert.equal(code(new Uint8Array([0x0a, 0xff])), 'TENSOR_ENCODING_INVALID')
    for (let i = 0; i < 16; i++)
      assert.notEqual(code(deterministicBytes(512, `tensor-garbage-${i}`)), 'no error')
  })
})
