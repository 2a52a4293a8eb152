import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { buildDemoModels, type DemoModels } from '@verity/models'
import { computeInputCommitment, isBaseError, verifyGroth16 } from '@verity/protocol'
import { createGroth16Prover } from '../prover/createGroth16Prover.ts'
import { loadPowersOfTau } from '../setup/loadPowersOfTau.ts'
import { verifyTranscript } from '../setup/verifyTranscript.ts'
import { createZkArtifactStore } from './createZkArtifactStore.ts'
import { proveZkInference } from './proveZkInference.ts'
import { setupZkModel, type ZkModelArtifacts } from './setupZkModel.ts'

const PTAU14 = '/work/shared/assets/zk/pot14_final.ptau'

describe('setupZkModel', { skip: existsSync(PTAU14) ? false : `${PTAU14} absent` }, () => {
  let demo: DemoModels
  let artifacts: ZkModelArtifacts
  let dir = ''
  const prover = createGroth16Prover()
  const phases: string[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-zk-setup-'))
    demo = await buildDemoModels({ trainCount: 2000, testCount: 200, epochs: 3 })
    artifacts = await setupZkModel({
      onnx: demo.int8Model,
      name: 'digits-mlp-int8',
      ptau: await loadPowersOfTau(PTAU14),
      contributors: [
        { name: 'node-1', entropy: 'one' },
        { name: 'node-2', entropy: 'two' },
      ],
      beacon: { hash: `0x${'5a'.repeat(32)}`, iterationsExp: 10 },
      onProgress: (event) => phases.push(event.phase),
    })
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('default: the demo int8 MLP is compiled, set up by two contributors and a beacon, stored, proven and verified', async () => {
    assert.deepEqual(phases, [
      'compile',
      'compiled',
      'setup',
      'contribution',
      'contribution',
      'beacon',
      'verified',
    ])
    const { manifestZk, transcript } = artifacts
    assert.ok(manifestZk.constraints > 5_000 && manifestZk.constraints < 1 << 14)
    assert.deepEqual(
      transcript.contributions.map((c) => c.name),
      ['node-1', 'node-2'],
    )
    assert.match(artifacts.solidityVerifier, /contract Groth16Verifier/)
    const store = createZkArtifactStore({ dir })
    await store.put(artifacts)
    assert.deepEqual(await store.manifestFor(manifestZk.modelCommitment), manifestZk)
    const proving = await store.load(manifestZk)
    // the transcript re-verifies from the stored artifacts
    const r1cs = await store.read(manifestZk.artifacts.r1cs)
    const checked = await verifyTranscript(transcript, {
      r1cs,
      ptau: await loadPowersOfTau(PTAU14),
      finalZkey: proving.zkey,
    })
    assert.equal(checked.ok, true, checked.problems.join('; '))

    for (const sample of demo.samples.slice(0, 2)) {
      const { zk, outputs } = await proveZkInference({
        prover,
        artifacts: proving,
        input: sample.image,
        expected: Int32Array.from(sample.int8Logits),
      })
      assert.deepEqual([...outputs], sample.int8Logits)
      assert.equal(
        verifyGroth16({
          verificationKey: zk.verificationKey,
          publicSignals: zk.publicSignals,
          proof: zk.proof,
        }),
        true,
      )
      assert.equal(zk.publicSignals.at(-2), computeInputCommitment(sample.image).toString())
      assert.equal(zk.publicSignals.at(-1), manifestZk.modelCommitment)
    }
  })

  it('error: engine outputs that differ from the circuit, wrong input sizes, tampered artifacts', async () => {
    const store = createZkArtifactStore({ dir })
    const proving = await store.load(artifacts.manifestZk)
    const sample = demo.samples[0]!
    const wrong = Int32Array.from(sample.int8Logits)
    wrong[0] = (wrong[0] ?? 0) + 1
    await assert.rejects(
      proveZkInference({ prover, artifacts: proving, input: sample.image, expected: wrong }),
      (error: unknown) => isBaseError(error, 'ZK_PROVE_FAILED'),
    )
    await assert.rejects(
      proveZkInference({ prover, artifacts: proving, input: sample.image.subarray(1) }),
      (error: unknown) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
    )
    await writeFile(join(dir, artifacts.manifestZk.artifacts.wasm), 'not the witness generator')
    await assert.rejects(
      createZkArtifactStore({ dir }).load(artifacts.manifestZk),
      (error: unknown) => isBaseError(error, 'ZK_ARTIFACT_INVALID'),
    )
    await assert.rejects(
      setupZkModel({
        onnx: demo.floatModel,
        ptau: await loadPowersOfTau(PTAU14),
        contributors: [{ name: 'a' }],
        beacon: { hash: '0x01', iterationsExp: 1 },
      }),
      (error: unknown) => isBaseError(error),
    )
  })
})
