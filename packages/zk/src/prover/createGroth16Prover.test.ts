import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { before, describe, it } from 'node:test'
import { isBaseError, verifyGroth16 } from '@verity/protocol'
import { calculateWitnessBinary } from '../circom/calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { contribute } from '../setup/contribute.ts'
import { exportVerificationKey } from '../setup/exportVerificationKey.ts'
import { loadPowersOfTau } from '../setup/loadPowersOfTau.ts'
import { startCeremony } from '../setup/startCeremony.ts'
import { tinyCircuitInput, tinyCircuitSource } from '../testing/tinyCircuit.ts'
import { BN254_SCALAR_FIELD } from './bn254.ts'
import { createGroth16Prover } from './createGroth16Prover.ts'
import type { Groth16VerificationKey } from './parseGroth16.ts'
import type { ProveProgressEvent } from './prover.ts'

const PTAU14 = '/work/shared/assets/zk/pot14_final.ptau'
const haveAssets = existsSync(PTAU14)

describe('createGroth16Prover', { skip: haveAssets ? false : `${PTAU14} absent` }, () => {
  let compiled: CompileCircomReturnType
  let zkey: Uint8Array
  let vkey: Groth16VerificationKey
  const prover = createGroth16Prover()

  before(async () => {
    compiled = await compileCircom({ source: tinyCircuitSource, name: 'tiny' })
    const zkey0 = await startCeremony(compiled.r1cs, await loadPowersOfTau(PTAU14))
    zkey = (await contribute(zkey0, { name: 'test', entropy: 'seed-1' })).zkey
    vkey = await exportVerificationKey(zkey)
  })

  it('default', async () => {
    const events: ProveProgressEvent[] = []
    const { proof, publicSignals, witnessMs, proveMs } = await prover.prove(
      { zkey, wasm: compiled.wasm, input: tinyCircuitInput },
      { onProgress: (event) => events.push(event) },
    )
    assert.equal(prover.system, 'groth16')
    assert.deepEqual(publicSignals.slice(0, 2), [33n, BN254_SCALAR_FIELD - 6n])
    assert.equal(publicSignals[3], 42n)
    assert.equal(publicSignals.length, 4)
    assert.ok(witnessMs >= 0 && proveMs > 0)
    assert.deepEqual(JSON.parse(JSON.stringify(proof)), proof, 'the proof is JSON-serialisable')
    assert.equal(await prover.verify(vkey, publicSignals, proof), true)
    assert.equal(
      await prover.verify(
        vkey,
        publicSignals.map((s) => s.toString()),
        proof,
      ),
      true,
    )

    const phases = events.filter((e) => e.status !== 'step').map((e) => `${e.phase}:${e.status}`)
    assert.deepEqual(phases, ['witness:start', 'witness:end', 'prove:start', 'prove:end'])
    assert.ok(events.some((e) => e.status === 'step' && typeof e.step === 'string'))
    const times = events.map((e) => e.elapsedMs)
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'elapsed times grow',
    )
  })

  it("behavior: protocol's verifyGroth16 (noble pairing, no snarkjs) agrees with snarkjs", async () => {
    const { proof, publicSignals } = await prover.prove({
      zkey,
      wasm: compiled.wasm,
      input: { in: ['9', '8', '7', '6'] },
    })
    const signals = publicSignals.map(String)
    const tampered = [...signals]
    tampered[0] = String(BigInt(tampered[0]!) + 1n)
    for (const candidate of [signals, tampered])
      assert.equal(
        verifyGroth16({ verificationKey: vkey, publicSignals: candidate, proof }),
        await prover.verify(vkey, candidate, proof),
      )
    assert.equal(verifyGroth16({ verificationKey: vkey, publicSignals: signals, proof }), true)
  })

  it('behavior: proves from a precomputed witness, single-threaded too', async () => {
    const witness = await calculateWitnessBinary(compiled.wasm, { in: ['2', '5', '9', '200'] })
    const single = createGroth16Prover({ singleThread: true })
    const events: ProveProgressEvent[] = []
    const { proof, publicSignals } = await single.prove(
      { zkey, witness },
      { onProgress: (event) => events.push(event) },
    )
    assert.deepEqual(publicSignals.slice(0, 2), [10n, 602n])
    assert.ok(events.every((e) => e.phase === 'prove'))
    assert.equal(await prover.verify(vkey, publicSignals, proof), true)
  })

  it('behavior: concurrent proofs do not interfere', async () => {
    const inputs = [{ in: ['1', '1', '7', '0'] }, { in: ['255', '255', '255', '255'] }]
    const results = await Promise.all(
      inputs.map((input) => prover.prove({ zkey, wasm: compiled.wasm, input })),
    )
    assert.deepEqual(
      results.map((r) => r.publicSignals[0]),
      [1n, 65025n],
    )
    const checks = await Promise.all(
      results.map((r) => prover.verify(vkey, r.publicSignals, r.proof)),
    )
    assert.deepEqual(checks, [true, true])
  })

  it('behavior: verify returns false for a changed public signal or swapped proof points', async () => {
    const { proof, publicSignals } = await prover.prove({
      zkey,
      wasm: compiled.wasm,
      input: tinyCircuitInput,
    })
    const changed = [...publicSignals]
    changed[0] = 34n
    assert.equal(await prover.verify(vkey, changed, proof), false)
    assert.equal(
      await prover.verify(vkey, publicSignals, { ...proof, pi_a: proof.pi_c, pi_c: proof.pi_a }),
      false,
    )
  })

  it('error: an aborted proof rejects with ABORTED and leaves no thread behind', async () => {
    const controller = new AbortController()
    const pending = prover.prove(
      { zkey, wasm: compiled.wasm, input: tinyCircuitInput },
      {
        signal: controller.signal,
        onProgress: (event) => {
          if (event.phase === 'prove' && event.status === 'start') controller.abort()
        },
      },
    )
    await assert.rejects(pending, (error) => isBaseError(error, 'ABORTED'))
    await assert.rejects(
      prover.prove({ zkey, witness: new Uint8Array() }, { signal: AbortSignal.abort() }),
      (error) => isBaseError(error, 'ABORTED'),
    )
  })

  it('error: an input the circuit rejects is ZK_WITNESS_FAILED', async () => {
    await assert.rejects(
      prover.prove({ zkey, wasm: compiled.wasm, input: { in: ['256', '0', '0', '0'] } }),
      (error) => isBaseError(error, 'ZK_WITNESS_FAILED'),
    )
  })

  it('error: a witness of another circuit is ZK_PROVE_FAILED', async () => {
    const other = await compileCircom({
      name: 'other',
      source:
        'pragma circom 2.1.0;\ntemplate O() { signal input a; signal output b; b <== a * a; }\ncomponent main = O();\n',
    })
    const witness = await calculateWitnessBinary(other.wasm, { a: '3' })
    await assert.rejects(prover.prove({ zkey, witness }), (error) =>
      isBaseError(error, 'ZK_PROVE_FAILED'),
    )
  })

  it('error: malformed untrusted input to verify throws instead of crashing', async () => {
    const { proof, publicSignals } = await prover.prove({
      zkey,
      wasm: compiled.wasm,
      input: tinyCircuitInput,
    })
    await assert.rejects(prover.verify(vkey, publicSignals.slice(1), proof), (error) =>
      isBaseError(error, 'ZK_PROOF_INVALID'),
    )
    await assert.rejects(prover.verify(vkey, publicSignals, { pi_a: 'x' }), (error) =>
      isBaseError(error, 'ZK_PROOF_INVALID'),
    )
    await assert.rejects(prover.verify({ ...vkey, IC: [] }, publicSignals, proof), (error) =>
      isBaseError(error, 'ZK_VKEY_INVALID'),
    )
  })
})
