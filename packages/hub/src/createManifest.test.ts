import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  bn254ScalarField,
  hashManifest,
  isBaseError,
  type ManifestZk,
  parseManifest,
} from '@verity/protocol'
import { buildOnnxModel } from './buildOnnxModel.ts'
import { computeCid } from './computeCid.ts'
import { createManifest, defaultManifestLimits } from './createManifest.ts'
import { defaultOnnxLimits, inspectOnnx } from './inspectOnnx.ts'

const engine = { name: 'onnxruntime', version: '1.30.0', settings: { threads: 1 } }

async function model(outputs: Array<{ name: string; elemType: number; shape: number[] }>) {
  const bytes = buildOnnxModel({
    outputs,
    nodes: outputs.map((output) => ({ opType: 'Cast', input: ['x'], output: [output.name] })),
  })
  return { bytes, cid: await computeCid(bytes), info: inspectOnnx(bytes) }
}

describe('createManifest', () => {
  test('default', async () => {
    const { bytes, cid, info } = await model([{ name: 'y', elemType: 1, shape: [1, 4] }])
    const manifest = createManifest({ bytes, cid, info, name: 'relu', engine })
    assert.deepEqual(manifest, {
      schema: 'verity.manifest/1',
      name: 'relu',
      version: '1.0.0',
      format: 'onnx',
      cid,
      size: bytes.length,
      inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [1, 4] }],
      comparison: { kind: 'tolerance', absolute: 1e-5, relative: 1e-4 },
      engine,
      limits: {
        maxInputBytes: 16 * 1024 * 1024,
        maxDim: defaultOnnxLimits.maxDim,
        timeoutMs: 30_000,
      },
      license: 'UNLICENSED',
      pricing: { perCall: '0' },
      onnx: {
        irVersion: 8,
        opsets: { 'ai.onnx': 17 },
        producer: 'verity-test 1',
        operators: ['ai.onnx:Cast'],
      },
    })
    assert.deepEqual(parseManifest(structuredClone(manifest)), manifest)
    assert.match(hashManifest(manifest), /^0x[0-9a-f]{64}$/)
  })

  test('behavior: integer and bool outputs are compared exactly, any float makes it a tolerance', async () => {
    const ints = await model([
      { name: 'label', elemType: 7, shape: [1] },
      { name: 'mask', elemType: 9, shape: [1, 4] },
      { name: 'q', elemType: 2, shape: [4] },
    ])
    assert.deepEqual(createManifest({ ...ints, name: 'ints', engine }).comparison, {
      kind: 'exact',
    })
    const mixed = await model([
      { name: 'label', elemType: 7, shape: [1] },
      { name: 'half', elemType: 10, shape: [1] },
    ])
    assert.equal(createManifest({ ...mixed, name: 'mixed', engine }).comparison.kind, 'tolerance')
  })

  test('behavior: explicit fields override the defaults', async () => {
    const { bytes, cid, info } = await model([{ name: 'y', elemType: 1, shape: [1, 4] }])
    const manifest = createManifest({
      bytes,
      cid,
      info,
      name: 'relu',
      version: '2.1.0-rc.1',
      license: 'MIT',
      description: 'A ReLU.',
      creator: '0x00000000000000000000000000000000000000aa',
      pricing: { perCall: '1000' },
      engine,
      comparison: { kind: 'exact' },
      limits: { timeoutMs: 5000 },
    })
    assert.equal(manifest.version, '2.1.0-rc.1')
    assert.equal(manifest.license, 'MIT')
    assert.equal(manifest.description, 'A ReLU.')
    assert.equal(manifest.creator, '0x00000000000000000000000000000000000000aa')
    assert.deepEqual(manifest.pricing, { perCall: '1000' })
    assert.deepEqual(manifest.comparison, { kind: 'exact' })
    assert.deepEqual(manifest.limits, { ...defaultManifestLimits, timeoutMs: 5000 })
  })

  test('error: names and fields the schema refuses are MANIFEST_INVALID', async () => {
    const { bytes, cid, info } = await model([{ name: 'y', elemType: 1, shape: [1, 4] }])
    for (const name of ['MNIST 8', '', '-x', 'a'.repeat(65), 'model/../x'])
      assert.throws(
        () => createManifest({ bytes, cid, info, name, engine }),
        (error) =>
          isBaseError(error, 'MANIFEST_INVALID') &&
          error.metaMessages.some((hint) => /lowercase letters/.test(hint)),
        name,
      )
    assert.throws(
      () => createManifest({ bytes, cid, info, name: 'MNIST 8', engine }),
      (error) => isBaseError(error) && /"mnist-8"/.test(error.message),
    )
    assert.throws(
      () => createManifest({ bytes, cid, info, name: 'ok', version: 'v1', engine }),
      (error) => isBaseError(error, 'MANIFEST_INVALID') && /version/.test(error.message),
    )
    assert.throws(
      () => createManifest({ bytes, cid: 'QmNotACidV1', info, name: 'ok', engine }),
      (error) => isBaseError(error, 'MANIFEST_INVALID') && /cid/.test(error.message),
    )
    assert.throws(
      () => createManifest({ bytes, cid, info, name: 'ok', pricing: { perCall: '-1' }, engine }),
      (error) => isBaseError(error, 'MANIFEST_INVALID'),
    )
  })

  test('behavior: a zk section of these bytes and tensors is kept in the manifest', async () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: 'x', elemType: 2, shape: [1, 4] }],
      outputs: [{ name: 'y', elemType: 6, shape: [1, 4] }],
      nodes: [
        { opType: 'Cast', input: ['x'], output: ['y'], attribute: [{ name: 'to', i: 6, type: 2 }] },
      ],
    })
    const cid = await computeCid(bytes)
    const info = inspectOnnx(bytes)
    const commitment =
      BigInt(`0x${createHash('sha256').update(bytes).digest('hex')}`) % bn254ScalarField
    const zk: ManifestZk = {
      system: 'groth16',
      curve: 'bn128',
      verificationKeyHash: `0x${'ab'.repeat(32)}`,
      modelCommitment: commitment.toString(),
      constraints: 100,
      ptau: { power: 14, sha256: `0x${'cd'.repeat(32)}` },
      artifacts: {
        circuit: 'bafkreicircuit',
        r1cs: 'bafkreir1cs',
        wasm: 'bafkreiwasm',
        zkey: 'bafkreizkey',
        verificationKey: 'bafkreivkey',
        transcript: 'bafkreitranscript',
      },
      input: { name: 'x', dtype: 'uint8', shape: [1, 4] },
      output: { name: 'y', dtype: 'int32', shape: [1, 4] },
    }
    const manifest = createManifest({ bytes, cid, info, name: 'cast', engine, zk })
    assert.deepEqual(manifest.zk, zk)
    assert.notEqual(
      hashManifest(manifest),
      hashManifest(createManifest({ bytes, cid, info, name: 'cast', engine })),
    )

    for (const [other, pattern] of [
      [{ ...zk, modelCommitment: '12345' }, /another file was compiled/],
      [{ ...zk, input: { ...zk.input, name: 'image' } }, /no uint8 input "image"/],
      [{ ...zk, output: { ...zk.output, name: 'logits' } }, /no int32 output "logits"/],
    ] as const)
      assert.throws(
        () => createManifest({ bytes, cid, info, name: 'cast', engine, zk: other }),
        (error) => isBaseError(error, 'MANIFEST_INVALID') && pattern.test(error.message),
      )
  })
})
