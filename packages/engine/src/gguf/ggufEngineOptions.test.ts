import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import {
  defaultGgufEngineOptions,
  ggufEngineOptionsFromManifest,
  resolveGgufEngineOptions,
} from './ggufEngineOptions.ts'

test('default', () => {
  assert.deepEqual(resolveGgufEngineOptions(), defaultGgufEngineOptions)
  assert.deepEqual(resolveGgufEngineOptions({ contextSize: 4096, threads: undefined }), {
    ...defaultGgufEngineOptions,
    contextSize: 4096,
  })
})

test('behavior: a manifest pins the decoding settings', () => {
  const decoding = { contextSize: 1024, batchSize: 64, ubatchSize: 64, threads: 2, maxTokens: 256 }
  const manifest = { gguf: { decoding } } as Parameters<typeof ggufEngineOptionsFromManifest>[0]
  assert.deepEqual(ggufEngineOptionsFromManifest(manifest), {
    contextSize: 1024,
    batchSize: 64,
    ubatchSize: 64,
    threads: 2,
  })
  assert.deepEqual(ggufEngineOptionsFromManifest({} as typeof manifest), {})
})

test('error: invalid options', () => {
  for (const [options, fragment] of [
    [{ threads: 0 }, '"threads"'],
    [{ batchSize: 256 }, 'equal to batchSize'],
    [{ kvCacheType: 'q8' }, '"kvCacheType"'],
    [{ replayTolerance: -1 }, '"replayTolerance"'],
    [{ contextSize: 1.5 }, '"contextSize"'],
  ] as const)
    assert.throws(
      () => resolveGgufEngineOptions(options as never),
      (error) => isBaseError(error, 'INVALID_ARGUMENT') && error.message.includes(fragment),
    )
})
