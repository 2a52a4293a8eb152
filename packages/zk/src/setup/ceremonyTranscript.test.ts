/**
 * The whole Groth16 pipeline on a tiny circuit: compile → pot14 → 2 contributions + beacon →
 * verify ceremony → transcript → prove in a worker → verify offline → tampering rejected →
 * Solidity verifier exported.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isBaseError, signZkContribution } from '@verity/protocol'
import { zKey } from 'snarkjs'
import { privateKeyToAccount } from 'viem/accounts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { createGroth16Prover } from '../prover/createGroth16Prover.ts'
import { decodeGroth16Proof, encodeGroth16Proof } from '../prover/encodeGroth16Proof.ts'
import type { Groth16VerificationKey } from '../prover/parseGroth16.ts'
import { tinyCircuitInput, tinyCircuitSource } from '../testing/tinyCircuit.ts'
import { applyBeacon } from './applyBeacon.ts'
import {
  buildCeremonyTranscript,
  type CeremonyTranscript,
  contributionStatement,
  hashCeremonyTranscript,
} from './ceremonyTranscript.ts'
import { contribute } from './contribute.ts'
import { exportSolidityVerifier } from './exportSolidityVerifier.ts'
import { exportVerificationKey } from './exportVerificationKey.ts'
import { loadPowersOfTau, type PowersOfTau } from './loadPowersOfTau.ts'
import { readZkeyContributions } from './readZkeyContributions.ts'
import { sha256Hex } from './sha256Hex.ts'
import { startCeremony } from './startCeremony.ts'
import { verifyCeremony } from './verifyCeremony.ts'
import { verifyTranscript } from './verifyTranscript.ts'

const PTAU14 = '/work/shared/assets/zk/pot14_final.ptau'
const PTAU14_SHA256 = '5dfbdc6ee6e7c7dc4d30d389badf9f358901203b77d26a56b2efca76b68096db'
const BEACON = '0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20'

describe('ceremony pipeline', { skip: existsSync(PTAU14) ? false : `${PTAU14} absent` }, () => {
  let compiled: CompileCircomReturnType
  let ptau: PowersOfTau
  let zkeys: Uint8Array[]
  let hashes: string[]
  let finalZkey: Uint8Array
  let vkey: Groth16VerificationKey
  let transcript: CeremonyTranscript
  const timings: Record<string, number> = {}
  const timed = async <T>(label: string, task: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    const result = await task()
    timings[label] = Math.round(performance.now() - started)
    return result
  }

  before(async () => {
    compiled = await timed('compile', () =>
      compileCircom({ source: tinyCircuitSource, name: 'tiny' }),
    )
    ptau = await loadPowersOfTau(PTAU14, { expectedSha256: PTAU14_SHA256 })
    const zkey0 = await timed('startCeremony', () => startCeremony(compiled.r1cs, ptau))
    const alice = await timed('contribute', () =>
      contribute(zkey0, { name: 'alice', entropy: 'alice-dice-rolls' }),
    )
    const bob = await contribute(alice.zkey, { name: 'bob' })
    const beacon = await timed('applyBeacon', () =>
      applyBeacon(bob.zkey, { beaconHash: BEACON, iterationsExp: 10 }),
    )
    zkeys = [zkey0, alice.zkey, bob.zkey, beacon.zkey]
    hashes = [alice.contributionHash, bob.contributionHash, beacon.contributionHash]
    finalZkey = beacon.zkey
    vkey = await exportVerificationKey(finalZkey)
    transcript = await timed('buildCeremonyTranscript', () =>
      buildCeremonyTranscript({ r1cs: compiled.r1cs, ptau, zkeys }),
    )
  })

  it('default', async () => {
    const verified = await timed('verifyCeremony', () =>
      verifyCeremony(compiled.r1cs, ptau, finalZkey),
    )
    assert.equal(verified.ok, true)
    assert.deepEqual(
      verified.contributions.map((c) => [c.type, c.name, c.contributionHash]),
      [
        ['contribution', 'alice', hashes[0]],
        ['contribution', 'bob', hashes[1]],
        ['beacon', 'final beacon', hashes[2]],
      ],
    )
    assert.equal(verified.contributions[2]?.beaconHash, BEACON)
    assert.equal(verified.contributions[2]?.iterationsExp, 10)

    const prover = createGroth16Prover()
    const { proof, publicSignals, proveMs } = await timed('prove', () =>
      prover.prove({ zkey: finalZkey, wasm: compiled.wasm, input: tinyCircuitInput }),
    )
    timings.proveInWorker = proveMs
    assert.equal(await timed('verify', () => prover.verify(vkey, publicSignals, proof)), true)

    // tampered public signal
    const tampered = [...publicSignals]
    tampered[2] = (tampered[2] ?? 0n) + 1n
    assert.equal(await prover.verify(vkey, tampered, proof), false)

    // the proof as the Solidity verifier takes it, one byte changed
    const encoded = encodeGroth16Proof(proof)
    assert.deepEqual(decodeGroth16Proof(encoded), proof)
    for (const position of [10, 200, 400]) {
      const i = 2 + position * 2
      const flipped = `${encoded.slice(0, i)}${((Number.parseInt(encoded.slice(i, i + 2), 16) ^ 1) & 0xff).toString(16).padStart(2, '0')}${encoded.slice(i + 2)}`
      let rejected: boolean
      try {
        rejected = !(await prover.verify(vkey, publicSignals, decodeGroth16Proof(flipped)))
      } catch (error) {
        rejected = isBaseError(error, 'ZK_PROOF_INVALID')
      }
      assert.ok(rejected, `byte ${position} flipped`)
    }

    const solidity = await exportSolidityVerifier(finalZkey)
    assert.match(solidity, /contract Groth16Verifier/)
    assert.match(solidity, /uint\[4\] calldata _pubSignals/)
    assert.match(solidity, /SPDX-License-Identifier: GPL-3\.0/)
    assert.equal(await exportSolidityVerifier(vkey), solidity)
    console.log(`ceremony pipeline timings (ms): ${JSON.stringify(timings)}`)
  })

  it('behavior: the Solidity source equals snarkjs’s own export', async () => {
    const templates = {
      groth16: await readFile(
        join(
          dirname(fileURLToPath(import.meta.resolve('snarkjs'))),
          'templates',
          'verifier_groth16.sol.ejs',
        ),
        'utf8',
      ),
    }
    const reference = await zKey.exportSolidityVerifier({ type: 'mem', data: finalZkey }, templates)
    assert.equal(await exportSolidityVerifier(vkey), reference)
  })

  it('behavior: the transcript names every artifact by hash and re-verifies', async () => {
    assert.equal(transcript.circuit.r1csSha256, sha256Hex(compiled.r1cs))
    assert.equal(transcript.ptau.sha256, `0x${PTAU14_SHA256}`)
    assert.equal(transcript.ptau.power, 14)
    assert.equal(transcript.circuit.constraints, compiled.constraints)
    assert.equal(transcript.initialZkeySha256, sha256Hex(zkeys[0]!))
    assert.deepEqual(
      transcript.contributions.map((c) => [c.name, c.contributionHash, c.zkeySha256]),
      [
        ['alice', hashes[0], sha256Hex(zkeys[1]!)],
        ['bob', hashes[1], sha256Hex(zkeys[2]!)],
      ],
    )
    assert.equal(transcript.beacon?.beaconHash, BEACON)
    assert.equal(transcript.beacon?.contributionHash, hashes[2])
    assert.equal(transcript.finalZkeySha256, sha256Hex(finalZkey))
    assert.match(hashCeremonyTranscript(transcript), /^0x[0-9a-f]{64}$/)

    const roundTripped = JSON.parse(JSON.stringify(transcript)) as unknown
    const result = await verifyTranscript(roundTripped, {
      r1cs: compiled.r1cs,
      ptau: ptau.bytes,
      finalZkey,
      zkeys,
    })
    assert.deepEqual(result, { ok: true, problems: [] })
  })

  it('error: a transcript that lies is caught', async () => {
    const lie: CeremonyTranscript = {
      ...transcript,
      contributions: [
        { ...transcript.contributions[0]!, name: 'mallory' },
        transcript.contributions[1]!,
      ],
      vkeySha256: sha256Hex('another key'),
    }
    const result = await verifyTranscript(lie, {
      r1cs: compiled.r1cs,
      ptau,
      finalZkey,
      zkeys: [zkeys[0]!, zkeys[2]!, zkeys[1]!, zkeys[3]!],
    })
    assert.equal(result.ok, false)
    const problems = result.problems.join('\n')
    assert.match(problems, /contribution #1 name: transcript says mallory, artifacts give alice/)
    assert.match(problems, /vkey sha256/)
    assert.match(problems, /zkey #1 sha256/)
    assert.match(problems, /zkey #2 does not carry exactly 2 contributions/)
    assert.doesNotMatch(problems, /ceremony does not verify/)

    assert.deepEqual(
      await verifyTranscript({ version: 2 }, { r1cs: compiled.r1cs, ptau, finalZkey }),
      { ok: false, problems: ['the transcript is not a version-1 Groth16 ceremony transcript'] },
    )
    const other = await verifyTranscript(
      { ...transcript, beacon: null },
      { r1cs: new Uint8Array(compiled.r1cs.byteLength), ptau, finalZkey },
    )
    assert.equal(other.ok, false)
    assert.match(other.problems.join('\n'), /r1cs sha256/)
  })

  it('error: a corrupted zkey or a broken chain of zkeys fails', async () => {
    const corrupt = finalZkey.slice()
    assert.equal(readZkeyContributions(finalZkey).contributions.length, 3)
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] ?? 0) ^ 0xff
    const verified = await verifyCeremony(compiled.r1cs, ptau, corrupt).catch((error) => error)
    assert.ok(
      isBaseError(verified, 'ZK_ZKEY_INVALID') || verified.ok === false,
      'a corrupted zkey does not verify',
    )
    await assert.rejects(
      buildCeremonyTranscript({
        r1cs: compiled.r1cs,
        ptau,
        zkeys: [zkeys[0]!, zkeys[2]!, zkeys[1]!, zkeys[3]!],
      }),
      (error) => isBaseError(error, 'ZK_CEREMONY_INVALID'),
    )
  })

  it('error: bad contribution and beacon parameters are refused', async () => {
    await assert.rejects(contribute(finalZkey, { name: '' }), (error) =>
      isBaseError(error, 'INVALID_ARGUMENT'),
    )
    await assert.rejects(contribute(finalZkey, { name: 'x'.repeat(65) }), (error) =>
      isBaseError(error, 'INVALID_ARGUMENT'),
    )
    await assert.rejects(contribute(new Uint8Array(10), { name: 'x' }), (error) =>
      isBaseError(error, 'ZK_ZKEY_INVALID'),
    )
    await assert.rejects(
      applyBeacon(zkeys[2]!, { beaconHash: '0xabc', iterationsExp: 10 }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    await assert.rejects(
      applyBeacon(zkeys[2]!, { beaconHash: BEACON, iterationsExp: 9 }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })

  it('behavior: signed contributions are recorded and re-verified; a wrong signer or signature is refused', async () => {
    const alice = privateKeyToAccount(`0x${'a1'.repeat(32)}`)
    const mallory = privateKeyToAccount(`0x${'b2'.repeat(32)}`)
    const aliceStatement = {
      circuitHash: readZkeyContributions(zkeys[1]!).circuitHash,
      previousZkeySha256: sha256Hex(zkeys[0]!),
      contributionHash: hashes[0]! as `0x${string}`,
      zkeySha256: sha256Hex(zkeys[1]!),
    }
    const signature = await signZkContribution({ account: alice, statement: aliceStatement })
    const signed = await buildCeremonyTranscript({
      r1cs: compiled.r1cs,
      ptau,
      zkeys,
      signatures: [{ signer: alice.address, signature }, undefined],
    })
    assert.equal(signed.contributions[0]?.signer, alice.address)
    assert.equal(signed.contributions[0]?.signature, signature)
    assert.equal(signed.contributions[1]?.signer, undefined)
    assert.deepEqual(contributionStatement(signed, 0), aliceStatement)
    const artifacts = { r1cs: compiled.r1cs, ptau, finalZkey }
    assert.deepEqual(await verifyTranscript(signed, artifacts), { ok: true, problems: [] })

    // claimed by someone else, or signed over another contribution: refused when built and checked
    await assert.rejects(
      buildCeremonyTranscript({
        r1cs: compiled.r1cs,
        ptau,
        zkeys,
        signatures: [{ signer: mallory.address, signature }],
      }),
      (error) => isBaseError(error, 'ZK_CEREMONY_INVALID') && /contribution #1/.test(error.message),
    )
    const bobsSignature = await signZkContribution({
      account: alice,
      statement: contributionStatement(signed, 1),
    })
    for (const forged of [
      { signer: mallory.address, signature },
      { signer: alice.address, signature: bobsSignature },
      { signer: alice.address, signature: '0x1234' },
    ]) {
      const tampered = structuredClone(signed)
      Object.assign(tampered.contributions[0]!, forged)
      const verdict = await verifyTranscript(tampered, artifacts)
      assert.equal(verdict.ok, false)
      assert.match(verdict.problems.join('\n'), /contribution #1 \(alice\): the signature/)
    }
  })
})
