import { BaseError } from './errors.ts'
import {
  allocTensorData,
  assertTensor,
  type Dtype,
  dtypeByteSize,
  shapeSize,
  type Tensor,
  tensorLimits,
} from './tensor.ts'

const dtypeByDescr: Record<string, Dtype> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  b1: 'bool',
}

function npyError(message: string): BaseError {
  return new BaseError('TENSOR_ENCODING_INVALID', `Not a readable .npy file: ${message}`, {
    metaMessages: [
      'Write it with numpy.save (C order, a numeric dtype), or pass the tensor as JSON.',
    ],
  })
}

/**
 * Decodes a NumPy `.npy` file (format 1.0–3.0, C order, numeric or bool dtype, either byte order)
 * into a tensor. Untrusted input: every header field is checked before any allocation.
 *
 * @example
 * ```ts
 * const tensor = decodeNpy(await readFile('input.npy'))
 * ```
 */
export function decodeNpy(bytes: Uint8Array, options: { maxElements?: number } = {}): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]
  if (bytes.length < 10 || magic.some((byte, i) => bytes[i] !== byte))
    throw npyError('missing the \\x93NUMPY magic.')
  const major = bytes[6]!
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let headerLength: number
  let headerStart: number
  if (major === 1) {
    headerLength = view.getUint16(8, true)
    headerStart = 10
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw npyError('truncated header.')
    headerLength = view.getUint32(8, true)
    headerStart = 12
  } else throw npyError(`format version ${major} is not supported (1, 2 or 3).`)
  if (headerLength > 65536 || headerStart + headerLength > bytes.length)
    throw npyError('truncated header.')
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, headerStart + headerLength),
  )
  const descr = /'descr'\s*:\s*'([<>|=])([a-z])(\d+)'/.exec(header)
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)
  if (!descr || !fortran || !shapeMatch)
    throw npyError('header lacks descr, fortran_order or shape.')
  if (fortran[1] === 'True')
    throw npyError('Fortran-ordered arrays are not supported; save with C order.')
  const dtype = dtypeByDescr[`${descr[2]}${descr[3]}`]
  if (!dtype) throw npyError(`dtype '${descr[1]}${descr[2]}${descr[3]}' is not supported.`)
  const shape = shapeMatch[1]!
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      if (!/^\d{1,10}$/.test(part)) throw npyError(`shape entry '${part}' is not a dimension.`)
      return Number(part)
    })
  if (shape.length > tensorLimits.maxRank)
    throw npyError(`rank ${shape.length} exceeds ${tensorLimits.maxRank}.`)
  const size = shapeSize(shape)
  const maxElements = options.maxElements ?? 16 * 1024 * 1024
  if (size > maxElements)
    throw new BaseError(
      'TENSOR_TOO_LARGE',
      `The .npy array has ${size} elements; the limit is ${maxElements}.`,
    )
  const width = dtypeByteSize(dtype)
  const dataStart = headerStart + headerLength
  if (bytes.length - dataStart !== size * width)
    throw npyError(
      `shape (${shape.join(', ')}) of ${dtype} needs ${size * width} data bytes, found ${bytes.length - dataStart}.`,
    )
  const data = allocTensorData(dtype, size)
  const target = new Uint8Array(data.buffer)
  target.set(bytes.subarray(dataStart))
  if (descr[1] === '>' && width > 1)
    for (let i = 0; i < target.length; i += width) target.subarray(i, i + width).reverse()
  const tensor: Tensor = { dtype, shape, data }
  assertTensor(tensor, 'The .npy array')
  return tensor
}
