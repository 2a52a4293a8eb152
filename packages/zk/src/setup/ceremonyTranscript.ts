import {
  BaseError,
  canonicalJsonBytes,
  type Hex,
  verifyZkContribution,
  type ZkContributionStatement,
} from '@verity/protocol'
import { readR1csHeader } from '../circom/readR1csHeader.ts'
import type { Groth16VerificationKey } from '../prover/parseGroth16.ts'
import { exportVerificationKey } from './exportVerificationKey.ts'
import type { PowersOfTau } from './loadPowersOfTau.ts'
import { readPtauHeader } from './loadPowersOfTau.ts'
import { readZkeyContributions } from './readZkeyContributions.ts'
import { sha256Hex } from './sha256Hex.ts'
import { verifyCeremony } from './verifyCeremony.ts'

/**
 * A content-addressed record of a Groth16 phase-2 ceremony: every artifact is named by its
 * sha256, every contribution by snarkjs's contribution hash. Anyone holding the r1cs, the ptau
 * and the final zkey can re-check it with `verifyTranscript`.
 */
export type CeremonyTranscript = {
  version: 1
  protocol: 'groth16'
  curve: 'bn128'
  circuit: {
    r1csSha256: Hex
    constraints: number
    publicSignals: number
    /** snarkjs's circuit hash (blake2b-512), the same in every zkey of the ceremony. */
    circuitHash: Hex
  }
  ptau: { sha256: Hex; power: number }
  /** sha256 of the initial zkey (`startCeremony`). */
  initialZkeySha256: Hex
  /**
   * Contributions in order, each with the sha256 of the zkey it produced and, when its
   * contributor signed it, the signer and its signature over `contributionStatement` (EIP-191).
   */
  contributions: {
    name: string
    contributionHash: Hex
    zkeySha256: Hex
    signer?: `0x${string}` | undefined
    signature?: Hex | undefined
  }[]
  /** The random beacon that closed the ceremony, or null when none was applied. */
  beacon: {
    name: string
    beaconHash: Hex
    iterationsExp: number
    contributionHash: Hex
    zkeySha256: Hex
  } | null
  finalZkeySha256: Hex
  /** sha256 of the verification key's RFC 8785 canonical JSON (`vkeySha256`). */
  vkeySha256: Hex
}

/**
 * sha256 of a verification key's RFC 8785 canonical JSON: the vkey's content address.
 *
 * @example
 * ```ts
 * vkeySha256(await exportVerificationKey(finalZkey))
 * ```
 */
export function vkeySha256(vkey: Groth16VerificationKey): Hex {
  return sha256Hex(canonicalJsonBytes(vkey))
}

/**
 * sha256 of a transcript's canonical JSON: the ceremony's content address.
 *
 * @example
 * ```ts
 * const ceremonyId = hashCeremonyTranscript(transcript)
 * ```
 */
export function hashCeremonyTranscript(transcript: CeremonyTranscript): Hex {
  return sha256Hex(canonicalJsonBytes(transcript))
}

/**
 * A contributor's signature over its contribution (see `ZkContributionStatement`).
 *
 * @example
 * ```ts
 * const signed: ContributionSignature = { signer: account.address, signature }
 * ```
 */
export type ContributionSignature = { signer: `0x${string}`; signature: Hex }

/**
 * What contribution `index` (0-based, beacon excluded) of a transcript states: the key before it,
 * its hash, the key after it. Its signature, if any, is over this.
 *
 * @example
 * ```ts
 * const statement = contributionStatement(transcript, 0)
 * ```
 */
export function contributionStatement(
  transcript: Pick<CeremonyTranscript, 'circuit' | 'initialZkeySha256' | 'contributions'>,
  index: number,
): ZkContributionStatement {
  const contribution = transcript.contributions[index]
  if (contribution === undefined)
    throw new BaseError('INVALID_ARGUMENT', `The transcript has no contribution #${index + 1}.`)
  return {
    circuitHash: transcript.circuit.circuitHash,
    previousZkeySha256:
      index === 0 ? transcript.initialZkeySha256 : transcript.contributions[index - 1]!.zkeySha256,
    contributionHash: contribution.contributionHash,
    zkeySha256: contribution.zkeySha256,
  }
}

/**
 * Problems with the signed contributions of a transcript (untrusted JSON; unsigned contributions
 * are not checked), one line each.
 *
 * @example
 * ```ts
 * const problems = await contributionSignatureProblems(transcript) // [] when every signature holds
 * ```
 */
export async function contributionSignatureProblems(
  transcript: Pick<CeremonyTranscript, 'circuit' | 'initialZkeySha256' | 'contributions'>,
): Promise<string[]> {
  const problems: string[] = []
  for (const [i, contribution] of transcript.contributions.entries()) {
    const previous =
      i === 0 ? { zkeySha256: transcript.initialZkeySha256 } : transcript.contributions[i - 1]
    if (
      typeof contribution !== 'object' ||
      contribution === null ||
      typeof previous !== 'object' ||
      previous === null
    ) {
      problems.push(`contribution #${i + 1} is not a record`)
      continue
    }
    const { signer, signature } = contribution
    if (signer === undefined && signature === undefined) continue
    const valid =
      signer !== undefined &&
      signature !== undefined &&
      (await verifyZkContribution({
        signer,
        signature,
        statement: contributionStatement(transcript, i),
      }))
    if (!valid)
      problems.push(
        `contribution #${i + 1} (${contribution.name}): the signature is not ${String(signer)}'s over this contribution`,
      )
  }
  return problems
}

function samePrefix(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])
}

/**
 * Builds the transcript of a finished ceremony from its artifacts: the r1cs, the ptau and every
 * zkey in order (`[initial, afterContribution1, …, final]`). Verifies the final zkey from
 * scratch first (`verifyCeremony`) and checks each intermediate zkey extends the previous one.
 *
 * @throws BaseError `ZK_CEREMONY_INVALID` when the ceremony does not verify or the zkeys are
 * not one chain.
 *
 * @example
 * ```ts
 * const transcript = await buildCeremonyTranscript({
 *   r1cs, ptau, zkeys: [zkey0, zkey1.zkey, zkey2.zkey, final.zkey],
 * })
 * ```
 */
export async function buildCeremonyTranscript(parameters: {
  r1cs: Uint8Array
  ptau: PowersOfTau | Uint8Array
  zkeys: readonly Uint8Array[]
  /** Per contribution (beacon excluded), in order: its contributor's signature, if it signed. */
  signatures?: readonly (ContributionSignature | undefined)[] | undefined
}): Promise<CeremonyTranscript> {
  const { r1cs, ptau, zkeys, signatures = [] } = parameters
  const final = zkeys.at(-1)
  const initial = zkeys[0]
  if (!final || !initial) {
    throw new BaseError('INVALID_ARGUMENT', 'buildCeremonyTranscript needs at least one zkey.', {
      metaMessages: ['Pass [initialZkey, …each contribution’s zkey…, finalZkey].'],
    })
  }
  const fail = (problem: string) =>
    new BaseError('ZK_CEREMONY_INVALID', `The ceremony does not check out: ${problem}`, {
      metaMessages: ['Pass the artifacts of one ceremony, in order, and re-run the failed step.'],
    })
  const finalMpc = readZkeyContributions(final)
  if (zkeys.length !== finalMpc.contributions.length + 1) {
    throw fail(
      `the final zkey has ${finalMpc.contributions.length} contributions, so ${finalMpc.contributions.length + 1} zkeys are expected; got ${zkeys.length}`,
    )
  }
  zkeys.forEach((zkey, i) => {
    const mpc = readZkeyContributions(zkey)
    if (mpc.circuitHash !== finalMpc.circuitHash) throw fail(`zkey #${i} is for another circuit`)
    if (mpc.contributions.length !== i) {
      throw fail(`zkey #${i} has ${mpc.contributions.length} contributions, expected ${i}`)
    }
    mpc.contributions.forEach((c, j) => {
      const f = finalMpc.contributions[j]
      if (!f || !samePrefix(c.record, f.record)) {
        throw fail(`zkey #${i}'s contribution #${j + 1} differs from the final zkey's`)
      }
    })
  })
  // the chain of zkeys is checked first (cheap), then the ceremony from scratch (seconds)
  const verified = await verifyCeremony(r1cs, ptau, final)
  if (!verified.ok) throw fail(verified.errors.join('; '))
  const header = readR1csHeader(r1cs)
  const ptauBytes = ptau instanceof Uint8Array ? ptau : ptau.bytes
  const power = ptau instanceof Uint8Array ? readPtauHeader(ptau).power : ptau.power
  const contributions: CeremonyTranscript['contributions'] = []
  let beacon: CeremonyTranscript['beacon'] = null
  verified.contributions.forEach((c, i) => {
    const zkeySha256 = sha256Hex(zkeys[i + 1] ?? new Uint8Array())
    if (c.type === 'beacon') {
      if (i !== verified.contributions.length - 1) throw fail('a beacon is not the last step')
      beacon = {
        name: c.name,
        beaconHash: c.beaconHash ?? '0x',
        iterationsExp: c.iterationsExp ?? 0,
        contributionHash: c.contributionHash,
        zkeySha256,
      }
    } else {
      const signed = signatures[contributions.length]
      contributions.push({
        name: c.name,
        contributionHash: c.contributionHash,
        zkeySha256,
        ...(signed ? { signer: signed.signer, signature: signed.signature } : {}),
      })
    }
  })
  const transcript: CeremonyTranscript = {
    version: 1,
    protocol: 'groth16',
    curve: 'bn128',
    circuit: {
      r1csSha256: sha256Hex(r1cs),
      constraints: header.constraints,
      publicSignals: header.publicOutputs + header.publicInputs,
      circuitHash: verified.circuitHash,
    },
    ptau: { sha256: sha256Hex(ptauBytes), power },
    initialZkeySha256: sha256Hex(initial),
    contributions,
    beacon,
    finalZkeySha256: sha256Hex(final),
    vkeySha256: vkeySha256(await exportVerificationKey(final)),
  }
  const unsigned = await contributionSignatureProblems(transcript)
  if (unsigned.length > 0) throw fail(unsigned.join('; '))
  return transcript
}
