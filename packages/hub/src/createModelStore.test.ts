import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, type TestContext, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { BaseError, canonicalJson, hashManifest, isBaseError } from '@verity/protocol'
import { buildOnnxModel } from './buildOnnxModel.ts'
import { computeCid } from './computeCid.ts'
import { createModelStore } from './createModelStore.ts'
import { buildGguf, gguf, tinyLlamaGguf } from './gguf/buildGguf.ts'
import { llamaCppEngineDescriptor } from './gguf/createGgufManifest.ts'

const engine = { name: 'onnxruntime', version: '1.30.0', settings: { threads: 1 } }
const mnist8 = fileURLToPath(
  new URL('../../../../shared/assets/onnx/onnx-model-zoo-mnist/mnist-8.onnx', import.meta.url),
)

const stories = fileURLToPath(
  new URL('../../../../shared/assets/llm/stories260K.gguf', import.meta.url),
)
/** `ipfs add --cid-version=1` of stories260K.gguf. */
const storiesCid = 'bafybeiatwpy6miidvwxi2klvvabcgj4raczu7er7fe3phd3pqs2tr2kmoe'

/** A tiny valid GGUF; different `name`s give different bytes (and CIDs). */
function ggufBytes(name: string): Uint8Array {
  const options = tinyLlamaGguf()
  return buildGguf({
    ...options,
    metadata: options.metadata.map(([key, value]) =>
      key === 'general.name' ? ([key, gguf.string(name)] as const) : ([key, value] as const),
    ),
  })
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-store-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A small valid model; different `variant`s give different bytes (and CIDs). */
const modelBytes = (variant: string) => buildOnnxModel({ producerVersion: variant })

describe('createModelStore', () => {
  test('default', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const bytes = modelBytes('a')
    const added = await store.add({ bytes, name: 'relu', engine })
    assert.equal(added.added, true)
    assert.equal(added.cid, await computeCid(bytes))
    assert.equal(added.manifestHash, hashManifest(added.manifest))

    // Layout: <dir>/models/<cid> and <dir>/manifests/<cid>.json (canonical JSON).
    assert.deepEqual(await readFile(join(dir, 'models', added.cid)), Buffer.from(bytes))
    assert.equal(
      await readFile(join(dir, 'manifests', `${added.cid}.json`), 'utf8'),
      canonicalJson(added.manifest),
    )

    for (const reference of [added.cid, 'relu', 'relu@1.0.0']) {
      const model = await store.resolve(reference)
      assert.equal(model.cid, added.cid, reference)
      assert.equal(model.manifestHash, added.manifestHash)
      assert.equal(model.path, join(dir, 'models', added.cid))
    }
    assert.deepEqual(await store.read(added.cid, { verify: true }), Buffer.from(bytes))
    assert.deepEqual(
      (await store.list()).map((model) => model.cid),
      [added.cid],
    )
  })

  test('behavior: adding the same file twice is idempotent', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const first = await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    const before = await readdir(join(dir, 'manifests'))
    const second = await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    assert.equal(second.added, false)
    assert.equal(second.cid, first.cid)
    assert.equal(second.manifestHash, first.manifestHash)
    assert.deepEqual(await readdir(join(dir, 'manifests')), before)
    assert.equal((await store.list()).length, 1)
  })

  test('behavior: a fresh instance on the same dir sees everything', async (t) => {
    const dir = await tempDir(t)
    const added = await createModelStore({ dir }).add({
      bytes: modelBytes('a'),
      name: 'relu',
      engine,
    })
    const reopened = createModelStore({ dir })
    assert.equal((await reopened.resolve('relu')).manifestHash, added.manifestHash)
    assert.equal(
      (await reopened.add({ bytes: modelBytes('a'), name: 'relu', engine })).added,
      false,
    )
  })

  test('behavior: a name resolves to its highest semantic version', async (t) => {
    const store = createModelStore({ dir: await tempDir(t) })
    const versions = ['1.0.0', '1.10.0', '1.9.0', '2.0.0-rc.1']
    const cids: Record<string, string> = {}
    for (const version of versions)
      cids[version] = (
        await store.add({ bytes: modelBytes(version), name: 'relu', version, engine })
      ).cid
    assert.equal((await store.resolve('relu')).cid, cids['2.0.0-rc.1'])
    assert.equal((await store.resolve('relu@1.9.0')).cid, cids['1.9.0'])
    await store.add({ bytes: modelBytes('2.0.0'), name: 'relu', version: '2.0.0', engine })
    assert.equal((await store.resolve('relu')).manifest.version, '2.0.0')
    assert.deepEqual(
      (await store.list()).map((model) => model.manifest.version),
      ['1.0.0', '1.9.0', '1.10.0', '2.0.0-rc.1', '2.0.0'],
    )
  })

  test('behavior: the real mnist-8 round-trips', {
    skip: existsSync(mnist8) ? false : `${mnist8} absent`,
  }, async (t) => {
    const store = createModelStore({ dir: await tempDir(t) })
    const bytes = readFileSync(mnist8)
    const { cid, manifest } = await store.add({ bytes, name: 'mnist-8', license: 'MIT', engine })
    assert.equal(manifest.size, 26454)
    assert.deepEqual(manifest.inputs, [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }])
    assert.deepEqual(await store.read(cid, { verify: true }), bytes)
  })

  test('behavior: leftover temporary files from a crash are ignored', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const { cid } = await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    await writeFile(
      join(dir, 'manifests', `.${cid}.json.0123456789ab.tmp`),
      '{"schema":"verity.man',
    )
    await writeFile(join(dir, 'models', `.${cid}.0123456789ab.tmp`), 'partial')
    assert.equal((await store.list()).length, 1)
    assert.equal((await store.resolve('relu')).cid, cid)
  })

  test('error: the same name@version for two different files is MODEL_AMBIGUOUS', async (t) => {
    const store = createModelStore({ dir: await tempDir(t) })
    const first = await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    const otherCid = await computeCid(modelBytes('b'))
    await assert.rejects(
      store.add({ bytes: modelBytes('b'), name: 'relu', engine }),
      (error) =>
        isBaseError(error, 'MODEL_AMBIGUOUS') &&
        error.message.includes(first.cid) &&
        error.message.includes(otherCid),
    )
    // Concurrent adds race for the same name@version: exactly one wins.
    const results = await Promise.allSettled([
      store.add({ bytes: modelBytes('c'), name: 'race', engine }),
      store.add({ bytes: modelBytes('d'), name: 'race', engine }),
    ])
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'rejected'],
    )
    // One file has one manifest: the same bytes under another name are refused too.
    await assert.rejects(
      store.add({ bytes: modelBytes('a'), name: 'other', engine }),
      (error) => isBaseError(error, 'MODEL_AMBIGUOUS') && /name/.test(error.message),
    )
  })

  test('error: unknown references are MODEL_NOT_FOUND with a hint', async (t) => {
    const store = createModelStore({ dir: await tempDir(t) })
    await assert.rejects(
      store.resolve('mnist'),
      (error) =>
        isBaseError(error, 'MODEL_NOT_FOUND') &&
        error.metaMessages.some((hint) => hint.includes('verity model add')),
    )
    await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    for (const reference of ['relu@9.9.9', '../../etc/passwd', await computeCid(modelBytes('zz'))])
      await assert.rejects(
        store.resolve(reference),
        (error) => isBaseError(error, 'MODEL_NOT_FOUND'),
        reference,
      )
    await assert.rejects(store.read('../../etc/passwd'), (error) =>
      isBaseError(error, 'INVALID_ARGUMENT'),
    )
    await assert.rejects(store.read(await computeCid(modelBytes('zz'))), (error) =>
      isBaseError(error, 'MODEL_NOT_FOUND'),
    )
  })

  test('error: a corrupted model file is MODEL_CID_MISMATCH with verify, and add repairs it', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const bytes = modelBytes('a')
    const { cid } = await store.add({ bytes, name: 'relu', engine })
    const path = join(dir, 'models', cid)
    const corrupted = Buffer.from(bytes)
    corrupted.writeUInt8(corrupted.readUInt8(corrupted.length - 1) ^ 0xff, corrupted.length - 1)
    await writeFile(path, corrupted)
    assert.deepEqual(await store.read(cid), corrupted) // without verify the bytes come back as is
    await assert.rejects(
      store.read(cid, { verify: true }),
      (error) => isBaseError(error, 'MODEL_CID_MISMATCH') && error.message.includes(cid),
    )
    const repaired = await store.add({ bytes, name: 'relu', engine })
    assert.equal(repaired.added, false)
    assert.deepEqual(await store.read(cid, { verify: true }), Buffer.from(bytes))
    await writeFile(path, corrupted.subarray(1)) // a size change is caught without hashing
    await assert.rejects(store.resolve('relu'), (error) => isBaseError(error, 'MODEL_CID_MISMATCH'))
  })

  test('error: a tampered manifest on disk is MANIFEST_INVALID', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const { cid, manifest } = await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    const other = await store.add({ bytes: modelBytes('b'), name: 'other', engine })
    const file = join(dir, 'manifests', `${cid}.json`)
    const tamperings: Array<[string, string]> = [
      ['not JSON', '{"schema":'],
      ['schema violation', canonicalJson({ ...manifest, inputs: [] })],
      ['unknown field', canonicalJson({ ...manifest, backdoor: true })],
      ['names another CID', canonicalJson({ ...manifest, cid: other.cid })],
      ['hand-edited (not canonical)', JSON.stringify(manifest, null, 2)],
    ]
    for (const [what, text] of tamperings) {
      await writeFile(file, text)
      for (const action of [
        () => store.resolve(cid),
        () => store.resolve('relu'),
        () => store.list(),
      ])
        await assert.rejects(
          action(),
          (error) => isBaseError(error, 'MANIFEST_INVALID') && error.message.includes(file),
          what,
        )
    }
  })
  test('behavior: the real stories260K GGUF round-trips beside an ONNX model', {
    skip: existsSync(stories) ? false : `${stories} absent (…/shared/assets absent)`,
  }, async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const bytes = readFileSync(stories)
    const added = await store.add({ bytes, name: 'stories260k', license: 'MIT' })
    assert.equal(added.added, true)
    assert.equal(added.cid, storiesCid)
    assert.equal(added.manifest.format, 'gguf')
    assert.equal(added.manifest.size, bytes.length)
    assert.equal(added.manifest.gguf?.tokenizer.vocabSize, 512)
    assert.equal(added.manifest.engine.name, 'llama.cpp')
    assert.equal(
      await readFile(join(dir, 'manifests', `${storiesCid}.json`), 'utf8'),
      canonicalJson(added.manifest),
    )
    const onnx = await store.add({ bytes: modelBytes('a'), name: 'relu', engine })
    assert.equal(onnx.manifest.format, 'onnx')
    for (const reference of [storiesCid, 'stories260k', 'stories260k@1.0.0']) {
      const model = await store.resolve(reference)
      assert.equal(model.cid, storiesCid, reference)
      assert.equal(model.manifestHash, added.manifestHash)
    }
    assert.deepEqual(await store.read(storiesCid, { verify: true }), bytes)
    assert.deepEqual(
      (await store.list()).map((model) => [model.manifest.name, model.manifest.format]),
      [
        ['relu', 'onnx'],
        ['stories260k', 'gguf'],
      ],
    )
    const again = await createModelStore({ dir }).add({
      bytes,
      name: 'stories260k',
      license: 'MIT',
    })
    assert.equal(again.added, false)
    assert.equal(again.manifestHash, added.manifestHash)
  })

  test('behavior: a GGUF gets its decoding, engine and admission like an ONNX model', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir })
    const bytes = ggufBytes('a')
    const decoding = { contextSize: 32, batchSize: 16, ubatchSize: 16, threads: 1, maxTokens: 8 }
    const seen: string[] = []
    const added = await store.add({
      bytes,
      name: 'tiny',
      decoding,
      engine: llamaCppEngineDescriptor(decoding),
      supportedArchitectures: new Set(['llama']),
      admit: async ({ manifest }) => {
        seen.push(`${manifest.format} ${manifest.cid}`)
      },
    })
    assert.deepEqual(seen, [`gguf ${await computeCid(bytes)}`])
    assert.deepEqual(added.manifest.gguf?.decoding, decoding)
    assert.deepEqual((await store.resolve('tiny')).manifest, added.manifest)
    assert.deepEqual(await store.read(added.cid, { verify: true }), Buffer.from(bytes))
    // a refusing admission leaves the store unchanged
    await assert.rejects(
      store.add({
        bytes: ggufBytes('b'),
        name: 'tiny-b',
        admit: async () => {
          throw new BaseError('ENGINE_LOAD_FAILED', 'the engine cannot load it')
        },
      }),
      (error) => isBaseError(error, 'ENGINE_LOAD_FAILED'),
    )
    assert.deepEqual(
      (await store.list()).map((model) => model.manifest.name),
      ['tiny'],
    )
    assert.deepEqual(await readdir(join(dir, 'models')), [added.cid])
  })

  test('error: an invalid or refused GGUF is not stored', async (t) => {
    const dir = await tempDir(t)
    const store = createModelStore({ dir, ggufLimits: { maxTensors: 3 } })
    const bytes = ggufBytes('a')
    await assert.rejects(
      store.add({ bytes, name: 'tiny' }),
      (error) => isBaseError(error, 'MODEL_INVALID') && /maxTensors limit is 3/.test(error.message),
    )
    const open = createModelStore({ dir })
    await assert.rejects(
      open.add({ bytes: bytes.subarray(0, bytes.length - 1), name: 'tiny' }),
      (error) => isBaseError(error, 'MODEL_INVALID') && /data section/.test(error.message),
    )
    await assert.rejects(
      open.add({ bytes, name: 'tiny', supportedArchitectures: new Set(['qwen2']) }),
      (error) =>
        isBaseError(error, 'MODEL_INVALID') && /not one the engine runs/.test(error.message),
    )
    await assert.rejects(
      open.add({ bytes, name: 'tiny', engine }),
      (error) =>
        isBaseError(error, 'MANIFEST_INVALID') &&
        /GGUF models run on llama.cpp/.test(error.message),
    )
    await assert.rejects(
      createModelStore({ dir, ggufLimits: { maxModelBytes: 100 } }).add({ bytes, name: 'tiny' }),
      (error) => isBaseError(error, 'MODEL_TOO_LARGE'),
    )
    // ONNX still needs its engine descriptor
    await assert.rejects(
      open.add({ bytes: modelBytes('a'), name: 'relu' }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT') && /engine descriptor/.test(error.message),
    )
    assert.deepEqual(await open.list(), [])
    assert.equal(existsSync(join(dir, 'models')), false)
  })
})
