import {
  type Attestation,
  attestationSchema,
  BaseError,
  type Hash,
  toTypedDataDomain,
  type VerityDomain,
  verityTypes,
} from '@verity/protocol'
import { isAddressEqual, recoverTypedDataAddress } from 'viem'

// secp256k1 group order / 2: protocol's verifyReceipt refuses high-s (malleable) signatures.
const halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * What an attestation must be about: the job, the executor's output hash, the verifier expected to
 * sign it and the domain of the receipt it goes into.
 *
 * @example
 * ```ts
 * const expected: CheckAttestationParameters = { jobId, outputHash, verifier: peer.address, domain }
 * ```
 */
export type CheckAttestationParameters = {
  jobId: Hash
  outputHash: Hash
  verifier: `0x${string}`
  domain: VerityDomain
}

function invalid(message: string, hint: string): BaseError {
  return new BaseError('RECEIPT_ATTESTATION_INVALID', message, { metaMessages: [hint] })
}

/**
 * Checks a verifier's answer (untrusted) with the rules protocol's `verifyReceipt` applies to a
 * quorum certificate: the attestation schema, the expected verifier and output hash, and a low-s
 * EIP-712 `Attestation(jobId, outputHash, agree)` signature that recovers to the verifier under
 * the receipt's domain. Returns the parsed attestation; throws `RECEIPT_ATTESTATION_INVALID`.
 *
 * @example
 * ```ts
 * const attestation = await checkAttestation(answer.attestation, { jobId, outputHash, verifier, domain })
 * ```
 */
export async function checkAttestation(
  value: unknown,
  expected: CheckAttestationParameters,
): Promise<Attestation> {
  const parsed = attestationSchema.safeParse(value)
  if (!parsed.success)
    throw invalid(
      'The verifier answered with something that is not an attestation.',
      parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join('.') || '$'}: ${issue.message}`)
        .join('; '),
    )
  const attestation = parsed.data
  if (!isAddressEqual(attestation.verifier as `0x${string}`, expected.verifier))
    throw invalid(
      `The attestation names verifier ${attestation.verifier}; the node asked was ${expected.verifier}.`,
      'A peer must sign with the key its directory entry names.',
    )
  if (attestation.outputHash !== expected.outputHash)
    throw invalid(
      `The attestation is about output ${attestation.outputHash}, not ${expected.outputHash}.`,
      "A verifier judges the executor's output hash; its own goes in observedOutputHash.",
    )
  if (BigInt(`0x${attestation.signature.slice(66, 130)}`) > halfOrder)
    throw invalid(
      'The attestation signature has a high s value (malleable form).',
      'Sign with viem signTypedData (low-s).',
    )
  let recovered: `0x${string}`
  try {
    recovered = await recoverTypedDataAddress({
      domain: toTypedDataDomain(expected.domain),
      types: verityTypes,
      primaryType: 'Attestation',
      message: {
        jobId: expected.jobId,
        outputHash: expected.outputHash,
        agree: attestation.agree,
      },
      signature: attestation.signature as Hash,
    })
  } catch (cause) {
    throw new BaseError(
      'RECEIPT_ATTESTATION_INVALID',
      'The attestation signature cannot be recovered.',
      {
        details: (cause as Error).message.split('\n')[0],
        cause,
      },
    )
  }
  if (!isAddressEqual(recovered, expected.verifier))
    throw invalid(
      `The attestation signature recovers to ${recovered}, not the verifier ${expected.verifier}.`,
      `Attestations are signed under the receipt's domain (chain ${expected.domain.chainId}).`,
    )
  return attestation
}
