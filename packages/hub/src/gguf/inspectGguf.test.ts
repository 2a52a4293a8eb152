import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { type FileHandle, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, type TestContext, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type ErrorCode, isBaseError } from '@verity/protocol'
import { deterministicBytes } from '../deterministicBytes.ts'
import {
  type BuildGgufOptions,
  buildGguf,
  type GgufBuildTensor,
  type GgufBuildValue,
  gguf,
  tinyLlamaGguf,
} from './buildGguf.ts'
import { inspectGguf, resolveGgufLimits } from './inspectGguf.ts'
import { defaultGgufLimits, type GgufLimits, ggufArrayPreviewLength } from './parseGgufHeader.ts'
import { validateGguf } from './validateGguf.ts'

const stories = fileURLToPath(
  new URL('../../../../../shared/assets/llm/stories260K.gguf', import.meta.url),
)
const skipStories = existsSync(stories) ? false : `${stories} absent (…/shared/assets absent)`

function assertRefused(
  run: () => unknown,
  pattern: RegExp,
  code: ErrorCode = 'MODEL_INVALID',
): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isBaseError(error), `expected a BaseError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    assert.match(error.shortMessage, pattern)
    return true
  })
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-gguf-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** The tiny llama with some metadata entries replaced or added. */
function tinyWith(
  entries: ReadonlyArray<readonly [string, GgufBuildValue]>,
  more: Partial<BuildGgufOptions> = {},
): Uint8Array {
  const options = tinyLlamaGguf()
  const metadata = [...options.metadata]
  for (const [key, value] of entries) {
    const at = metadata.findIndex(([name]) => name === key)
    if (at >= 0) metadata[at] = [key, value]
    else metadata.push([key, value])
  }
  return buildGguf({ ...options, metadata, ...more })
}

/** A seeded stream of random integers. */
function random(seed: string) {
  const bytes = deterministicBytes(1 << 20, seed)
  const view = new DataView(bytes.buffer)
  let at = 0
  return (below: number): number => {
    if (at + 4 > bytes.length) at = 0
    const value = view.getUint32(at, true)
    at += 4
    return value % below
  }
}

describe('inspectGguf', () => {
  test('default', { skip: skipStories }, () => {
    const bytes = readFileSync(stories)
    const info = inspectGguf(bytes)
    assert.equal(info.version, 3)
    assert.equal(info.architecture, 'llama')
    assert.equal(info.name, 'llama')
    assert.equal(info.contextLength, 2048)
    assert.equal(info.embeddingLength, 64)
    assert.equal(info.blockCount, 5)
    assert.equal(info.fileType, undefined)
    assert.equal(info.chatTemplate, undefined)
    assert.deepEqual(info.tokenizer, {
      model: 'llama',
      vocabSize: 512,
      byteTokens: 256,
      bosTokenId: 1,
      eosTokenId: 2,
      addBosToken: undefined,
    })
    assert.deepEqual(info.tensorSummary, {
      count: 48,
      types: { f32: 48 },
      parameterCount: 292_800,
      dataBytes: 1_171_200,
    })
    assert.equal(info.alignment, 32)
    assert.equal(info.headerBytes, 14_152)
    assert.equal(info.dataOffset, 14_176)
    assert.equal(info.fileSize, 1_185_376)
    // the last tensor ends exactly at the end of the file
    const last = info.tensors.at(-1)
    assert.ok(last)
    assert.equal(info.dataOffset + last.offset + last.bytes, bytes.length)
    assert.deepEqual(info.tensors[0], {
      name: 'token_embd.weight',
      dims: [64, 512],
      type: { id: 0, name: 'f32', blockSize: 1, typeSize: 4 },
      offset: 0,
      elements: 32_768,
      bytes: 131_072,
    })
    assert.deepEqual(info.metadata.get('tokenizer.ggml.tokens'), {
      type: 'array',
      itemType: 'string',
      length: 512,
      values: undefined,
    })
    assert.deepEqual(info.metadata.get('llama.attention.head_count_kv'), {
      type: 'uint32',
      value: 4,
    })
    // "no separator/padding token" is 0xFFFFFFFF in the file
    assert.deepEqual(info.metadata.get('tokenizer.ggml.padding_token_id'), {
      type: 'uint32',
      value: 0xff_ff_ff_ff,
    })
  })

  test('behavior: a FileHandle gives the same facts as the bytes', {
    skip: skipStories,
  }, async () => {
    const handle = await open(stories)
    try {
      const fromHandle = await inspectGguf(handle)
      const fromBytes = inspectGguf(readFileSync(stories))
      assert.deepEqual(fromHandle, fromBytes)
    } finally {
      await handle.close()
    }
  })

  test('behavior: a FileHandle reads only the header, growing its read past 1 MiB when needed', async (t) => {
    // 150 000 tokens make a ~2.7 MB header; the embeddings add ~9.6 MB of data
    const vocab = Array.from({ length: 150_000 }, (_, i) => `token-${i}`)
    const options = tinyLlamaGguf()
    const metadata: Array<readonly [string, GgufBuildValue]> = [
      ...options.metadata.filter(([key]) => !key.startsWith('tokenizer.ggml.')),
      ['tokenizer.ggml.model', gguf.string('llama')],
      ['tokenizer.ggml.tokens', gguf.strings(vocab)],
    ]
    const bytes = buildGguf({
      metadata,
      tensors: [{ name: 'token_embd.weight', dims: [16, vocab.length] }],
    })
    const path = join(await tempDir(t), 'big-vocab.gguf')
    await writeFile(path, bytes)
    const handle = await open(path)
    let bytesRead = 0
    const counting = {
      stat: () => handle.stat(),
      read: async (...args: Parameters<FileHandle['read']>) => {
        const result = await (handle.read as (...a: unknown[]) => ReturnType<FileHandle['read']>)(
          ...args,
        )
        bytesRead += result.bytesRead
        return result
      },
    } as unknown as FileHandle
    try {
      const info = await inspectGguf(counting)
      assert.ok(info.headerBytes > 2 ** 21, `header ${info.headerBytes} bytes`)
      assert.equal(info.tokenizer?.vocabSize, 150_000)
      assert.deepEqual(info, inspectGguf(bytes))
      assert.ok(bytesRead < bytes.length / 2, `read ${bytesRead} of ${bytes.length} bytes`)
      assert.ok(bytesRead >= info.headerBytes)
    } finally {
      await handle.close()
    }
  })

  test('behavior: every metadata value type is read, arrays nested, long arrays measured', () => {
    const long = Array.from({ length: ggufArrayPreviewLength + 1 }, (_, i) => i)
    const bytes = buildGguf({
      metadata: [
        ['general.architecture', gguf.string('test')],
        ['v.uint8', { type: 'uint8', value: 255 }],
        ['v.int8', { type: 'int8', value: -128 }],
        ['v.uint16', { type: 'uint16', value: 65_535 }],
        ['v.int16', { type: 'int16', value: -32_768 }],
        ['v.uint32', { type: 'uint32', value: 0xff_ff_ff_ff }],
        ['v.int32', { type: 'int32', value: -(2 ** 31) }],
        ['v.float32', { type: 'float32', value: 0.5 }],
        ['v.bool', { type: 'bool', value: true }],
        ['v.string', gguf.string('héllo ✓')],
        ['v.uint64', { type: 'uint64', value: 2n ** 64n - 1n }],
        ['v.int64', { type: 'int64', value: -(2n ** 63n) }],
        ['v.float64', { type: 'float64', value: -1.25 }],
        ['v.short', gguf.i32s([1, -2, 3])],
        ['v.long', gguf.i32s(long)],
        ['v.strings', gguf.strings(['a', 'bc'])],
        [
          'v.nested',
          {
            type: 'array',
            itemType: 'array',
            items: [gguf.strings(['x']), gguf.f32s([1, 2]), gguf.i32s([])],
          },
        ],
      ],
    })
    const info = inspectGguf(bytes)
    const get = (key: string) => info.metadata.get(key)
    assert.deepEqual(get('v.uint8'), { type: 'uint8', value: 255 })
    assert.deepEqual(get('v.int8'), { type: 'int8', value: -128 })
    assert.deepEqual(get('v.uint16'), { type: 'uint16', value: 65_535 })
    assert.deepEqual(get('v.int16'), { type: 'int16', value: -32_768 })
    assert.deepEqual(get('v.uint32'), { type: 'uint32', value: 0xff_ff_ff_ff })
    assert.deepEqual(get('v.int32'), { type: 'int32', value: -(2 ** 31) })
    assert.deepEqual(get('v.float32'), { type: 'float32', value: 0.5 })
    assert.deepEqual(get('v.bool'), { type: 'bool', value: true })
    assert.deepEqual(get('v.string'), { type: 'string', value: 'héllo ✓' })
    assert.deepEqual(get('v.uint64'), { type: 'uint64', value: 2n ** 64n - 1n })
    assert.deepEqual(get('v.int64'), { type: 'int64', value: -(2n ** 63n) })
    assert.deepEqual(get('v.float64'), { type: 'float64', value: -1.25 })
    assert.deepEqual(get('v.short'), {
      type: 'array',
      itemType: 'int32',
      length: 3,
      values: [
        { type: 'int32', value: 1 },
        { type: 'int32', value: -2 },
        { type: 'int32', value: 3 },
      ],
    })
    assert.deepEqual(get('v.long'), {
      type: 'array',
      itemType: 'int32',
      length: ggufArrayPreviewLength + 1,
      values: undefined,
    })
    assert.deepEqual(get('v.strings'), {
      type: 'array',
      itemType: 'string',
      length: 2,
      values: [
        { type: 'string', value: 'a' },
        { type: 'string', value: 'bc' },
      ],
    })
    assert.deepEqual(get('v.nested'), {
      type: 'array',
      itemType: 'array',
      length: 3,
      values: undefined,
    })
    assert.deepEqual([...info.metadata.keys()][0], 'general.architecture')
    assert.equal(info.tensors.length, 0)
    assert.equal(info.tokenizer, undefined)
    assert.equal(info.contextLength, undefined)
  })

  test('behavior: facts of a synthetic model; 0xFFFFFFFF token ids mean none', () => {
    const info = inspectGguf(
      tinyWith([
        ['tokenizer.ggml.eos_token_id', gguf.u32(0xff_ff_ff_ff)],
        ['general.file_type', gguf.u32(7)],
      ]),
    )
    assert.equal(info.architecture, 'llama')
    assert.equal(info.contextLength, 64)
    assert.equal(info.fileType, 7)
    assert.equal(info.chatTemplate, '{% for m in messages %}{{ m.content }}{% endfor %}')
    assert.deepEqual(info.tokenizer, {
      model: 'llama',
      vocabSize: 264,
      byteTokens: 256,
      bosTokenId: 1,
      eosTokenId: undefined,
      addBosToken: true,
    })
    // embeddings and output 8 × 264, 3 norms of 8, 4 attention 8 × 8, 3 feed-forward 8 × 16
    const parameters = 2 * 8 * 264 + 3 * 8 + 4 * 64 + 3 * 128
    assert.deepEqual(info.tensorSummary, {
      count: 12,
      types: { f32: 12 },
      parameterCount: parameters,
      dataBytes: 4 * parameters,
    })
    assert.deepEqual(
      info.tensors.slice(0, 5).map((tensor) => tensor.offset),
      [0, 8448, 8480, 16_928, 16_960],
    )
  })

  test('behavior: general.alignment places the data section and quantized sizes follow ggml', () => {
    const options = tinyLlamaGguf()
    const bytes = buildGguf({
      metadata: [...options.metadata, ['general.alignment', gguf.u32(256)]],
      alignment: 256,
      tensors: [
        { name: 'token_embd.weight', dims: [8, 16] },
        { name: 'a.q4_0', dims: [64, 3], type: 2 },
        { name: 'b.q6_K', dims: [256, 2], type: 14 },
        { name: 'c.bf16', dims: [5, 1, 1, 3], type: 30 },
      ],
    })
    const info = inspectGguf(bytes)
    assert.equal(info.alignment, 256)
    assert.equal(info.dataOffset % 256, 0)
    assert.ok(info.dataOffset >= info.headerBytes && info.dataOffset - info.headerBytes < 256)
    assert.deepEqual(
      info.tensors.map((tensor) => [tensor.type.name, tensor.bytes, tensor.offset]),
      [
        ['f32', 512, 0],
        ['q4_0', 2 * 3 * 18, 512],
        ['q6_K', 2 * 210, 768],
        ['bf16', 30, 1280],
      ],
    )
    assert.deepEqual(info.tensorSummary.types, { bf16: 1, f32: 1, q4_0: 1, q6_K: 1 })
  })

  test('error: a file over maxModelBytes is MODEL_TOO_LARGE, before parsing', () => {
    const bytes = buildGguf(tinyLlamaGguf())
    assertRefused(
      () => inspectGguf(bytes, { maxModelBytes: bytes.length - 1 }),
      /maxModelBytes limit/,
      'MODEL_TOO_LARGE',
    )
    assertRefused(
      () => inspectGguf(new Uint8Array(bytes.length), { maxModelBytes: 100 }),
      /bytes; the maxModelBytes limit is 100/,
      'MODEL_TOO_LARGE',
    )
  })

  test('error: limits must be positive integers', () => {
    assert.equal(resolveGgufLimits({ maxTensors: 7 }).maxTensors, 7)
    assert.deepEqual(resolveGgufLimits(), { ...defaultGgufLimits })
    for (const bad of [0, -1, 1.5, Number.NaN])
      assertRefused(
        () => resolveGgufLimits({ maxKeyValues: bad }),
        /maxKeyValues/,
        'INVALID_ARGUMENT',
      )
  })

  test('error: not GGUF: wrong magic, LFS pointer, empty file, not bytes', () => {
    const bytes = buildGguf(tinyLlamaGguf())
    assertRefused(
      () => inspectGguf(buildGguf({ ...tinyLlamaGguf(), magic: 'GGUG' })),
      /47 47 55 46.*47 47 55 47/,
    )
    assertRefused(
      () =>
        inspectGguf(
          new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:…'),
        ),
      /Git LFS pointer/,
    )
    assertRefused(() => inspectGguf(new Uint8Array()), /inside the magic number/)
    assertRefused(() => inspectGguf(bytes.subarray(2)), /does not start with the GGUF magic/)
    assertRefused(
      () => inspectGguf('GGUF' as unknown as Uint8Array),
      /Uint8Array or a FileHandle/,
      'INVALID_ARGUMENT',
    )
  })

  test('error: GGUF versions other than 2 and 3', () => {
    assert.equal(inspectGguf(buildGguf({ ...tinyLlamaGguf(), version: 2 })).version, 2)
    for (const [version, hint] of [
      [1, /no longer supported/],
      [99, /newer GGUF version/],
      [0, /corrupted/],
      [0x03_00_00_00, /big-endian/],
    ] as const)
      assert.throws(
        () => inspectGguf(buildGguf({ ...tinyLlamaGguf(), version })),
        (error: unknown) =>
          isBaseError(error, 'MODEL_INVALID') &&
          error.shortMessage.includes(`version is ${version};`) &&
          hint.test(error.metaMessages.join('\n')),
      )
  })

  test('error: truncated at every byte of a synthetic file', () => {
    const bytes = buildGguf(tinyLlamaGguf())
    const info = inspectGguf(bytes)
    const end = Math.max(
      ...info.tensors.map((tensor) => info.dataOffset + tensor.offset + tensor.bytes),
    )
    assert.equal(end, bytes.length)
    for (let cut = 0; cut < bytes.length; cut++)
      assert.throws(
        () => inspectGguf(bytes.subarray(0, cut)),
        (error: unknown) => isBaseError(error, 'MODEL_INVALID'),
        `cut at ${cut}`,
      )
  })

  test('error: stories260K truncated at every byte of its header and inside its data', {
    skip: skipStories,
  }, () => {
    const bytes = readFileSync(stories)
    const cuts = [
      ...Array.from({ length: 14_200 }, (_, i) => i),
      100_000,
      1_000_000,
      bytes.length - 1,
    ]
    const started = performance.now()
    for (const cut of cuts)
      assert.throws(
        () => inspectGguf(bytes.subarray(0, cut)),
        (error: unknown) =>
          isBaseError(error, 'MODEL_INVALID') &&
          /truncated|file ends at byte|does not start/.test(error.message),
        `cut at ${cut}`,
      )
    const ms = performance.now() - started
    assert.ok(ms < 20_000, `${cuts.length} truncated parses took ${ms} ms`)
  })

  test('error: absurd counts name the limit, or the end of the file', () => {
    const options = tinyLlamaGguf()
    for (const [count, pattern] of [
      [2n ** 64n - 1n, /18446744073709551615 tensors; the maxTensors limit is 65536/],
      [65_537n, /65537 tensors; the maxTensors limit/],
      [1000n, /truncated|appears twice/],
    ] as const)
      assertRefused(() => inspectGguf(buildGguf({ ...options, tensorCount: count })), pattern)
    for (const [count, pattern] of [
      [2n ** 63n, /9223372036854775808 metadata entries; the maxKeyValues limit is 4096/],
      [4097n, /maxKeyValues/],
      [4000n, /./],
    ] as const)
      assertRefused(() => inspectGguf(buildGguf({ ...options, kvCount: count })), pattern)
    assertRefused(
      () => inspectGguf(buildGguf(options), { maxKeyValues: 3 }),
      /19 metadata entries; the maxKeyValues limit is 3/,
    )
  })

  test('error: absurd string lengths', () => {
    for (const [length, pattern] of [
      [2n ** 64n - 1n, /length of 18446744073709551615 bytes; the maxStringBytes limit/],
      [2n ** 40n, /maxStringBytes limit is 1048576/],
      [500_000n, /truncated/],
    ] as const)
      assertRefused(
        () => inspectGguf(tinyWith([['general.name', { type: 'string', value: 'x', length }]])),
        pattern,
      )
    assertRefused(
      () =>
        inspectGguf(tinyWith([['general.name', gguf.string('x'.repeat(100))]]), {
          maxStringBytes: 99,
        }),
      /The value of "general.name" at byte \d+ declares a length of 100 bytes; the maxStringBytes limit is 99/,
    )
    // keys and tensor names: the format's own cap
    assertRefused(
      () => inspectGguf(tinyWith([['k'.repeat(65_536), gguf.u32(1)]])),
      /key of metadata entry 19 .* 65536 bytes; the GGUF key length limit is 65535/,
    )
    assertRefused(
      () =>
        inspectGguf(
          buildGguf({ ...tinyLlamaGguf(), tensors: [{ name: 'n'.repeat(70_000), dims: [1] }] }),
        ),
      /name of tensor 0 .* the GGUF name length limit is 65535/,
    )
  })

  test('error: absurd array lengths and depths', () => {
    const array = (length: bigint): GgufBuildValue => ({
      type: 'array',
      itemType: 'uint8',
      items: [],
      length,
    })
    for (const [length, pattern] of [
      [2n ** 64n - 1n, /18446744073709551615 items; the maxArrayLength limit is 4194304/],
      [2n ** 22n + 1n, /maxArrayLength/],
      [2n ** 22n, /truncated/],
    ] as const)
      assertRefused(() => inspectGguf(tinyWith([['x.array', array(length)]])), pattern)
    assertRefused(
      () =>
        inspectGguf(
          tinyWith([
            ['x.strings', { ...gguf.strings(['a']), length: 2n ** 21n } as GgufBuildValue],
          ]),
        ),
      /2097152 items of the value of "x.strings"/,
    )
    let deep: GgufBuildValue = gguf.i32s([1])
    for (let depth = 0; depth < 5; depth++)
      deep = { type: 'array', itemType: 'array', items: [deep] }
    assertRefused(
      () => inspectGguf(tinyWith([['x.deep', deep]])),
      /more than 4 deep; the maxArrayDepth limit/,
    )
    assert.equal(
      inspectGguf(tinyWith([['x.deep', deep]]), { maxArrayDepth: 5 }).architecture,
      'llama',
    )
  })

  test('error: unknown value types, bad bools, invalid UTF-8, duplicate keys', () => {
    assertRefused(
      () => inspectGguf(tinyWith([['x.bad', { ...gguf.u32(1), rawType: 13 }]])),
      /type of "x.bad" at byte \d+ is 13; GGUF value types are 0 to 12/,
    )
    assertRefused(
      () => inspectGguf(tinyWith([['x.bad', { ...gguf.u32(1), rawType: 0xff_ff_ff_ff }]])),
      /is 4294967295; GGUF value types/,
    )
    const badItem = tinyWith([['x.bad', gguf.i32s([1])]])
    // patch the item type (u32 right after the value type) to 77
    const keyAt = Buffer.from(badItem).indexOf('x.bad')
    new DataView(badItem.buffer, badItem.byteOffset).setUint32(keyAt + 5 + 4, 77, true)
    assertRefused(() => inspectGguf(badItem), /item type of the value of "x.bad" .* is 77/)
    assertRefused(
      () => inspectGguf(tinyWith([['x.flag', { type: 'bool', value: 2 }]])),
      /bool stored as 2; expected 0 or 1/,
    )
    assertRefused(
      () =>
        inspectGguf(
          tinyWith([['general.name', { type: 'string', value: new Uint8Array([0xff, 0xfe]) }]]),
        ),
      /value of "general.name" at byte \d+ is not valid UTF-8/,
    )
    assertRefused(
      () =>
        inspectGguf(
          buildGguf({
            ...tinyLlamaGguf(),
            metadata: [...tinyLlamaGguf().metadata, ['llama.block_count', gguf.u32(2)]],
          }),
        ),
      /"llama.block_count" appears twice/,
    )
    assertRefused(() => inspectGguf(tinyWith([['', gguf.u32(1)]])), /empty key/)
  })

  test('error: malformed tensor infos', () => {
    const with1 = (tensor: GgufBuildTensor) =>
      buildGguf({ ...tinyLlamaGguf(), tensors: [...tinyLlamaGguf().tensors, tensor] })
    const cases: Array<[Uint8Array, RegExp]> = [
      [
        with1({ name: 'x', dims: [1, 1, 1, 1, 1] }),
        /has 5 dimensions; ggml tensors have at most 4/,
      ],
      [
        with1({ name: 'x', dims: [2n ** 64n - 1n] }),
        /Dimension 0 of tensor "x" .* is -1 as a signed 64-bit integer/,
      ],
      [with1({ name: 'x', dims: [4, 2n ** 63n] }), /Dimension 1 .* is -9223372036854775808/],
      [
        with1({ name: 'x', dims: [2n ** 60n] }),
        /is 1152921504606846976; dimensions above 2\^53 - 1/,
      ],
      [
        with1({ name: 'x', dims: [2 ** 31, 2 ** 31, 2 ** 31] }),
        /product overflows a 64-bit integer/,
      ],
      [
        with1({ name: 'x', dims: [2 ** 31, 2 ** 31] }),
        /occupies bytes \[\d+, \d+\) of the data section/,
      ],
      [with1({ name: 'x', dims: [4], type: 99 }), /ggml type unknown type 99/],
      [with1({ name: 'x', dims: [4], type: 4 }), /q4_2 \(4, removed from ggml\)/],
      [
        with1({ name: 'x', dims: [33, 1], type: 2 }),
        /33 elements in its first dimension, not a multiple of the q4_0 block size 32/,
      ],
      [
        with1({ name: 'x', dims: [4], offset: 2n ** 64n - 1n }),
        /occupies bytes \[18446744073709551615/,
      ],
      [with1({ name: 'x', dims: [4], offset: 1_000_000 }), /occupies bytes \[1000000, 1000016\)/],
      [
        // the tiny llama has 19552 bytes of data, x adds 32 (16 padded)
        with1({ name: 'x', dims: [4], offset: 19_576 }),
        /occupies bytes \[19576, 19592\) of the data section, which has 19584 bytes/,
      ],
      [
        with1({ name: 'token_embd.weight', dims: [4] }),
        /tensor name "token_embd.weight" appears twice/,
      ],
      [with1({ name: 'x', dims: [4], nDims: 2 ** 32 - 1 }), /has 4294967295 dimensions/],
    ]
    for (const [bytes, pattern] of cases) assertRefused(() => inspectGguf(bytes), pattern)
  })

  test('error: general.alignment not a power-of-two uint32', () => {
    for (const [value, pattern] of [
      [{ type: 'uint64', value: 32n }, /general.alignment is a uint64; GGUF requires a uint32/],
      [gguf.u32(0), /general.alignment is 0; it must be a power of two/],
      [gguf.u32(48), /general.alignment is 48/],
    ] as Array<[GgufBuildValue, RegExp]>)
      assertRefused(() => inspectGguf(tinyWith([['general.alignment', value]])), pattern)
  })

  test('error: facts of the wrong type, missing architecture', () => {
    assertRefused(
      () => inspectGguf(buildGguf({ metadata: [['general.name', gguf.string('x')]] })),
      /no "general.architecture"/,
    )
    assertRefused(
      () => inspectGguf(tinyWith([['general.architecture', gguf.string('../etc')]])),
      /general.architecture is "..\/etc"/,
    )
    assertRefused(
      () => inspectGguf(tinyWith([['llama.context_length', gguf.string('2048')]])),
      /"llama.context_length" is a string; expected an unsigned integer/,
    )
    assertRefused(
      () => inspectGguf(tinyWith([['llama.context_length', { type: 'int32', value: -1 }]])),
      /"llama.context_length" is -1; expected an integer from 0 to 2\^53 - 1/,
    )
    assertRefused(
      () => inspectGguf(tinyWith([['tokenizer.ggml.tokens', gguf.i32s([1, 2])]])),
      /"tokenizer.ggml.tokens" is a array of int32; expected an array of string/,
    )
    assertRefused(
      () => inspectGguf(tinyWith([['tokenizer.ggml.add_bos_token', gguf.u32(1)]])),
      /"tokenizer.ggml.add_bos_token" is a uint32; expected a bool/,
    )
  })

  test('error: a header over maxHeaderBytes, from bytes and from a FileHandle', async (t) => {
    const bytes = buildGguf(tinyLlamaGguf())
    assertRefused(
      () => inspectGguf(bytes, { maxHeaderBytes: 200 }),
      /goes on past byte 200 .* the maxHeaderBytes limit is 200/,
    )
    const path = join(await tempDir(t), 'tiny.gguf')
    await writeFile(path, bytes)
    const handle = await open(path)
    try {
      await assert.rejects(
        inspectGguf(handle, { maxHeaderBytes: 200 }),
        (error: unknown) =>
          isBaseError(error, 'MODEL_INVALID') && /maxHeaderBytes/.test(error.shortMessage),
      )
      await assert.rejects(inspectGguf(handle, { maxModelBytes: 10 }), (error: unknown) =>
        isBaseError(error, 'MODEL_TOO_LARGE'),
      )
      // a truncated file through a handle
      await writeFile(path, bytes.subarray(0, 300))
      await assert.rejects(
        inspectGguf(handle),
        (error: unknown) =>
          isBaseError(error, 'MODEL_INVALID') && /truncated/.test(error.shortMessage),
      )
    } finally {
      await handle.close()
    }
  })

  test('error: seeded random corruption is refused with MODEL_INVALID or read, never a crash or a hang', () => {
    const limits: Partial<GgufLimits> = { maxHeaderBytes: 1 << 20 }
    const seeds: Array<[string, Uint8Array]> = [['tiny', buildGguf(tinyLlamaGguf())]]
    if (existsSync(stories)) seeds.push(['stories', new Uint8Array(readFileSync(stories))])
    const rounds = 1500
    let slowest = 0
    for (const [seed, original] of seeds) {
      const next = random(`gguf-fuzz-${seed}`)
      const { headerBytes } = inspectGguf(original)
      // half the hits land in the last 3 KiB of the header: tensor infos and scalar metadata
      const tail = Math.min(headerBytes, 3072)
      let inspected = 0
      let validated = 0
      for (let round = 0; round < rounds; round++) {
        const bytes = new Uint8Array(original) // a copy: mutations never accumulate
        const view = new DataView(bytes.buffer)
        const mutations = 1 + next(4)
        for (let m = 0; m < mutations; m++) {
          const at = next(2) ? next(headerBytes - 8) : headerBytes - tail + next(tail - 8)
          const kind = next(4)
          if (kind === 0) bytes[at] = next(256)
          else if (kind === 1) view.setUint32(at, next(2 ** 32), true)
          else if (kind === 2)
            view.setBigUint64(at, BigInt(next(2 ** 32)) << BigInt(next(33)), true)
          else view.setBigUint64(at, 2n ** 64n - 1n - BigInt(next(4)), true)
        }
        const started = performance.now()
        for (const [check, count] of [
          [inspectGguf, () => inspected++],
          [validateGguf, () => validated++],
        ] as const)
          try {
            check(bytes, limits)
            count()
          } catch (error) {
            assert.ok(
              isBaseError(error, 'MODEL_INVALID'),
              `${seed} round ${round} (${check.name}): ${String(error)}`,
            )
          }
        slowest = Math.max(slowest, performance.now() - started)
      }
      // both outcomes happen: the corruption is neither always fatal nor always harmless
      assert.ok(inspected > 0 && inspected < rounds, `${seed}: ${inspected} of ${rounds} read`)
      assert.ok(validated <= inspected)
    }
    assert.ok(slowest < 1000, `slowest parse ${slowest} ms`)
  })
})
