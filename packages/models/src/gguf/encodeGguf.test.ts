import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { readGgufFileInfo } from 'node-llama-cpp'
import { type EncodeGgufParameters, encodeGguf, type GgufTensor } from './encodeGguf.ts'

const directory = await mkdtemp(join(tmpdir(), 'verity-gguf-'))
after(() => rm(directory, { recursive: true, force: true }))

let fileCount = 0
/** Writes `bytes` to a temporary file and parses it with node-llama-cpp's own GGUF reader. */
async function readBack(bytes: Uint8Array) {
  const path = join(directory, `file-${fileCount++}.gguf`)
  await writeFile(path, bytes)
  return readGgufFileInfo(path, { logWarnings: false })
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

function assertInvalid(parameters: EncodeGgufParameters, pattern: RegExp) {
  assert.throws(
    () => encodeGguf(parameters),
    (error) =>
      isBaseError(error) && error.code === 'INVALID_ARGUMENT' && pattern.test(error.message),
  )
}

const vector: GgufTensor = { name: 't', type: 'F32', dims: [2], data: Float32Array.of(1, -2) }

test('default', async () => {
  const bytes = encodeGguf({
    metadata: { 'a.b': { type: 'string', value: 'xy' } },
    tensors: [vector],
  })
  // every byte, laid out by hand from the GGUF v3 specification
  const expected = [
    '47475546', // magic "GGUF"
    '03000000', // version 3 (uint32)
    '0100000000000000', // tensor count (uint64)
    '0100000000000000', // metadata count (uint64)
    '0300000000000000', // key length (uint64)
    '612e62', // "a.b"
    '08000000', // value type: string
    '0200000000000000', // string length (uint64)
    '7879', // "xy"
    '0100000000000000', // tensor name length
    '74', // "t"
    '01000000', // one dimension (uint32)
    '0200000000000000', // ne[0] = 2 (uint64)
    '00000000', // ggml type F32
    '0000000000000000', // offset 0 within the data section
    '00'.repeat(14), // 82 header bytes padded to 96, a multiple of the default alignment 32
    '0000803f', // 1.0f
    '000000c0', // -2.0f
    '00'.repeat(24), // the tensor padded to 32 bytes
  ].join('')
  assert.equal(hex(bytes), expected)
  assert.equal(bytes.length, 128)

  const info = await readBack(bytes)
  assert.equal(info.version, 3)
  assert.deepEqual(info.metadata, { a: { b: 'xy' } })
  assert.equal(info.tensorInfo?.length, 1)
  assert.equal(info.tensorInfo?.[0]?.name, 't')
  assert.deepEqual(info.tensorInfo?.[0]?.dimensions.map(Number), [2])
  assert.equal(info.tensorInfo?.[0]?.ggmlType, 0)
})

test('behavior: every metadata value type reads back in node-llama-cpp', async () => {
  const bytes = encodeGguf({
    metadata: {
      'v.u8': { type: 'uint8', value: 255 },
      'v.i8': { type: 'int8', value: -128 },
      'v.u16': { type: 'uint16', value: 65_535 },
      'v.i16': { type: 'int16', value: -32_768 },
      'v.u32': { type: 'uint32', value: 4_294_967_295 },
      'v.i32': { type: 'int32', value: -2_147_483_648 },
      'v.f32': { type: 'float32', value: 0.5 },
      'v.bool': { type: 'bool', value: true },
      'v.string': { type: 'string', value: 'héllo ▁ wörld' },
      'v.u64': { type: 'uint64', value: 0xffff_ffff_ffff_ffffn },
      'v.i64': { type: 'int64', value: -5 },
      'v.f64': { type: 'float64', value: 1 / 3 },
      'a.strings': { type: 'array', itemType: 'string', value: ['<s>', '▁once', ''] },
      'a.f32': { type: 'array', itemType: 'float32', value: Float32Array.of(0, -1.5, 2.25) },
      'a.i32': { type: 'array', itemType: 'int32', value: Int32Array.of(1, -2, 6) },
      'a.bools': { type: 'array', itemType: 'bool', value: [false, true] },
      'a.empty': { type: 'array', itemType: 'uint32', value: [] },
    },
    tensors: [],
  })
  const { metadata } = await readBack(bytes)
  assert.deepEqual(metadata, {
    v: {
      u8: 255,
      i8: -128,
      u16: 65_535,
      i16: -32_768,
      u32: 4_294_967_295,
      i32: -2_147_483_648,
      f32: 0.5,
      bool: true,
      string: 'héllo ▁ wörld',
      u64: 0xffff_ffff_ffff_ffffn,
      i64: -5n,
      f64: 1 / 3,
    },
    a: {
      strings: ['<s>', '▁once', ''],
      f32: [0, -1.5, 2.25],
      i32: [1, -2, 6],
      bools: [false, true],
      empty: [],
    },
  })
})

test('behavior: tensors of every type are aligned to general.alignment and zero padded', async () => {
  const tensors: GgufTensor[] = [
    { name: 'a', type: 'I8', dims: [3], data: Int8Array.of(1, -2, 3) },
    { name: 'b', type: 'F16', dims: [2, 1], data: Uint16Array.of(0x3c00, 0xc000) },
    { name: 'c', type: 'I32', dims: [1, 1, 1, 2], data: Int32Array.of(7, -7) },
    { name: 'd', type: 'F64', dims: [1], data: Float64Array.of(Math.PI) },
    { name: 'e', type: 'I64', dims: [1], data: BigInt64Array.of(-1n) },
    { name: 'f', type: 'BF16', dims: [1], data: Uint16Array.of(0x3f80) },
    { name: 'g', type: 'I16', dims: [1], data: Int16Array.of(-300) },
    { name: 'h', type: 'F32', dims: [2], data: Float32Array.of(1.5, 2) },
  ]
  const alignment = 64
  const bytes = encodeGguf({
    metadata: { 'general.alignment': { type: 'uint32', value: alignment } },
    tensors,
  })
  assert.equal(bytes.length % alignment, 0)
  const info = await readBack(bytes)
  assert.equal(info.metadata.general.alignment, alignment)
  const tensorInfo = info.tensorInfo ?? []
  assert.deepEqual(
    tensorInfo.map((tensor) => [tensor.name, tensor.ggmlType, tensor.dimensions.map(Number)]),
    [
      ['a', 24, [3]],
      ['b', 1, [2, 1]],
      ['c', 26, [1, 1, 1, 2]],
      ['d', 28, [1]],
      ['e', 27, [1]],
      ['f', 30, [1]],
      ['g', 25, [1]],
      ['h', 0, [2]],
    ],
  )
  // each tensor starts on its own 64-byte boundary, holds its little-endian bytes, then zeros
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const starts = tensorInfo.map((tensor) => Number(tensor.fileOffset))
  for (const [index, start] of starts.entries()) {
    assert.equal(start % alignment, 0, `tensor ${index} starts at ${start}`)
    assert.equal(start, starts[0]! + index * alignment)
    const length = tensors[index]!.data.byteLength
    assert.ok(bytes.subarray(start + length, start + alignment).every((byte) => byte === 0))
  }
  assert.deepEqual([...bytes.subarray(starts[0]!, starts[0]! + 3)], [1, 0xfe, 3])
  assert.equal(view.getUint16(starts[1]!, true), 0x3c00)
  assert.equal(view.getInt32(starts[2]! + 4, true), -7)
  assert.equal(view.getFloat64(starts[3]!, true), Math.PI)
  assert.equal(view.getBigInt64(starts[4]!, true), -1n)
  assert.equal(view.getInt16(starts[6]!, true), -300)
  assert.equal(view.getFloat32(starts[7]!, true), 1.5)
})

test('behavior: equal inputs give identical bytes, and order matters', () => {
  const build = (keys: string[]) =>
    encodeGguf({
      metadata: Object.fromEntries(keys.map((key) => [key, { type: 'uint32', value: 1 } as const])),
      tensors: [vector],
    })
  assert.equal(hex(build(['x.a', 'x.b'])), hex(build(['x.a', 'x.b'])))
  assert.notEqual(hex(build(['x.a', 'x.b'])), hex(build(['x.b', 'x.a'])))
})

test('error: values that do not fit their declared type', () => {
  const one = (value: EncodeGgufParameters['metadata'][string]) => ({
    metadata: { 'k.k': value },
    tensors: [],
  })
  assertInvalid(one({ type: 'uint8', value: 256 }), /within \[0, 255\]/)
  assertInvalid(one({ type: 'int32', value: 1.5 }), /must be an integer/)
  assertInvalid(one({ type: 'uint64', value: -1n }), /uint64/)
  assertInvalid(one({ type: 'array', itemType: 'int8', value: [1, 200] }), /\[1\]/)
  assertInvalid(one({ type: 'float32', value: '1' as unknown as number }), /must be a number/)
  assertInvalid(one({ type: 'bool', value: 1 as unknown as boolean }), /must be a boolean/)
  assertInvalid(one({ type: 'nope' } as unknown as { type: 'bool'; value: boolean }), /unknown/)
  assertInvalid(
    one({ type: 'array', itemType: 'array' } as unknown as {
      type: 'array'
      itemType: 'bool'
      value: boolean[]
    }),
    /nested arrays/,
  )
  assertInvalid({ metadata: { '': { type: 'bool', value: true } }, tensors: [] }, /keys must be/)
})

test('error: bad alignment and bad tensors', () => {
  assertInvalid(
    { metadata: { 'general.alignment': { type: 'uint32', value: 24 } }, tensors: [] },
    /power of two/,
  )
  assertInvalid(
    { metadata: { 'general.alignment': { type: 'int32', value: 32 } }, tensors: [] },
    /uint32 power of two/,
  )
  assertInvalid({ metadata: {}, tensors: [vector, vector] }, /repeats a tensor name/)
  assertInvalid({ metadata: {}, tensors: [{ ...vector, name: 'x'.repeat(64) }] }, /1 to 63/)
  assertInvalid({ metadata: {}, tensors: [{ ...vector, dims: [1, 1, 1, 1, 2] }] }, /1 to 4/)
  assertInvalid({ metadata: {}, tensors: [{ ...vector, dims: [0] }] }, /positive integer/)
  assertInvalid({ metadata: {}, tensors: [{ ...vector, dims: [3] }] }, /2 data elements/)
  assertInvalid(
    {
      metadata: {},
      tensors: [{ ...vector, data: Float64Array.of(1, 2) } as unknown as GgufTensor],
    },
    /Float32Array; got Float64Array/,
  )
  assertInvalid(
    { metadata: {}, tensors: [{ ...vector, type: 'Q4_0' } as unknown as GgufTensor] },
    /unsupported type/,
  )
})
