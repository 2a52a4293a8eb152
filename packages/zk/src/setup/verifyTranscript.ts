import { isBaseError } from '@verity/protocol'
import {
  type CeremonyTranscript,
  contributionSignatureProblems,
  vkeySha256,
} from './ceremonyTranscript.ts'
import { exportVerificationKey } from './exportVerificationKey.ts'
import type { PowersOfTau } from './loadPowersOfTau.ts'
import { readZkeyContributions } from './readZkeyContributions.ts'
import { sha256Hex } from './sha256Hex.ts'
import { verifyCeremony } from './verifyCeremony.ts'

export type VerifyTranscriptReturnType = {
  /** True iff every check passed. */
  ok: boolean
  /** What did not match, one line each (empty when `ok`). */
  problems: string[]
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Re-verifies a ceremony transcript (untrusted JSON) against the artifacts: the sha256 of the
 * r1cs, ptau and final zkey, the whole ceremony from scratch (`verifyCeremony`), every
 * contribution's name and hash and the beacon as recomputed by snarkjs, and the verification
 * key's hash, and each signed contribution's signature (EIP-191, by the signer it names, over
 * `contributionStatement`). Optional intermediate zkeys (`[initial, after #1, …]`) are checked against their
 * recorded sha256 and must be prefixes of the final one.
 *
 * @example
 * ```ts
 * const { ok, problems } = await verifyTranscript(transcript, { r1cs, ptau, finalZkey })
 * ```
 */
export async function verifyTranscript(
  transcript: unknown,
  artifacts: {
    r1cs: Uint8Array
    ptau: PowersOfTau | Uint8Array
    finalZkey: Uint8Array
    zkeys?: readonly Uint8Array[] | undefined
  },
): Promise<VerifyTranscriptReturnType> {
  const problems: string[] = []
  const t = transcript as Partial<CeremonyTranscript>
  if (
    !isRecord(transcript) ||
    t.version !== 1 ||
    t.protocol !== 'groth16' ||
    !isRecord(t.circuit) ||
    !isRecord(t.ptau) ||
    !Array.isArray(t.contributions) ||
    !(t.beacon === null || isRecord(t.beacon))
  ) {
    return {
      ok: false,
      problems: ['the transcript is not a version-1 Groth16 ceremony transcript'],
    }
  }
  const ptauBytes = artifacts.ptau instanceof Uint8Array ? artifacts.ptau : artifacts.ptau.bytes
  const check = (what: string, expected: unknown, found: unknown) => {
    if (expected !== found) {
      problems.push(`${what}: transcript says ${String(expected)}, artifacts give ${String(found)}`)
    }
  }
  check('r1cs sha256', t.circuit.r1csSha256, sha256Hex(artifacts.r1cs))
  check('ptau sha256', t.ptau.sha256, sha256Hex(ptauBytes))
  check('final zkey sha256', t.finalZkeySha256, sha256Hex(artifacts.finalZkey))
  try {
    const verified = await verifyCeremony(artifacts.r1cs, artifacts.ptau, artifacts.finalZkey)
    if (!verified.ok) {
      problems.push(`the ceremony does not verify: ${verified.errors.join('; ')}`)
    } else {
      check('circuit hash', t.circuit.circuitHash, verified.circuitHash)
      const listed = [
        ...t.contributions.map((c) => ({ ...c, type: 'contribution' })),
        ...(t.beacon ? [{ ...t.beacon, type: 'beacon' }] : []),
      ]
      check('number of contributions', listed.length, verified.contributions.length)
      verified.contributions.forEach((c, i) => {
        const l = listed[i]
        if (!l) return
        check(`contribution #${i + 1} type`, l.type, c.type)
        check(`contribution #${i + 1} name`, l.name, c.name)
        check(`contribution #${i + 1} hash`, l.contributionHash, c.contributionHash)
        if (c.type === 'beacon' && t.beacon) {
          check('beacon hash', t.beacon.beaconHash, c.beaconHash)
          check('beacon iterationsExp', t.beacon.iterationsExp, c.iterationsExp)
        }
      })
      const last = listed.at(-1)
      if (last) check('last contribution zkey sha256', last.zkeySha256, t.finalZkeySha256)
      problems.push(...(await contributionSignatureProblems(t as CeremonyTranscript)))
    }
    check('vkey sha256', t.vkeySha256, vkeySha256(await exportVerificationKey(artifacts.finalZkey)))
  } catch (error) {
    if (!isBaseError(error)) throw error
    problems.push(`${error.code}: ${error.shortMessage}`)
  }
  if (artifacts.zkeys) {
    const recorded = [
      t.initialZkeySha256,
      ...t.contributions.map((c) => c.zkeySha256),
      ...(t.beacon ? [t.beacon.zkeySha256] : []),
    ]
    check('number of zkeys', recorded.length, artifacts.zkeys.length)
    const finalRecords = safeRecords(artifacts.finalZkey)
    artifacts.zkeys.forEach((zkey, i) => {
      check(`zkey #${i} sha256`, recorded[i], sha256Hex(zkey))
      const records = safeRecords(zkey)
      if (!records || !finalRecords || records.length !== i) {
        problems.push(`zkey #${i} does not carry exactly ${i} contributions`)
        return
      }
      records.forEach((record, j) => {
        const f = finalRecords[j]
        if (!f || Buffer.compare(Buffer.from(record), Buffer.from(f)) !== 0) {
          problems.push(`zkey #${i}'s contribution #${j + 1} differs from the final zkey's`)
        }
      })
    })
  }
  return { ok: problems.length === 0, problems }
}

function safeRecords(zkey: Uint8Array): Uint8Array[] | undefined {
  try {
    return readZkeyContributions(zkey).contributions.map((c) => c.record)
  } catch {
    return undefined
  }
}
