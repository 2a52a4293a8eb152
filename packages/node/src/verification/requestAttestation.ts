import {
  type Attestation,
  BaseError,
  type Hash,
  hash32Schema,
  type VerityDomain,
} from '@verity/protocol'
import { checkAttestation } from './checkAttestation.ts'
import type { NodePeer } from './peerDirectory.ts'
import { postToPeer } from './postToPeer.ts'

/**
 * Parameters of {@link requestAttestation}.
 *
 * @example
 * ```ts
 * const parameters: RequestAttestationParameters = { peer, body, jobId, outputHash, domain, timeoutMs: 10_000 }
 * ```
 */
export type RequestAttestationParameters = {
  peer: NodePeer
  /** The JSON body `{ receipt, inputs }`, serialized once for every verifier. */
  body: string
  jobId: Hash
  /** The executor's output hash the attestation must be about. */
  outputHash: Hash
  /** The receipt's domain (the attestation must be signed under it). */
  domain: VerityDomain
  /** The whole call, answer included, must finish within this time. */
  timeoutMs: number
  signal?: AbortSignal | undefined
  fetch?: typeof fetch | undefined
}

/**
 * A verifier's checked answer.
 *
 * @example
 * ```ts
 * const { attestation, observedOutputHash }: AttestationAnswer = await requestAttestation(parameters)
 * ```
 */
export type AttestationAnswer = {
  attestation: Attestation
  /** The verifier's own output hash, sent when it disagrees (not signed). */
  observedOutputHash?: Hash | undefined
  /** Why it disagrees (not signed). */
  reason?: string | undefined
}

/**
 * Asks one peer to re-execute a job (`POST <peer>/v1/verify`) and checks its answer: the
 * attestation must be signed by that peer, about this job and this output hash, under the
 * receipt's domain (see `checkAttestation`).
 *
 * Error codes: `REQUEST_TIMEOUT` (no answer within `timeoutMs`), `ABORTED` (the caller's signal),
 * `PEER_UNREACHABLE` (connection failed), the peer's own code when it refuses (for example
 * `MODEL_NOT_FOUND`, `RECEIPT_SIGNER_MISMATCH`; `HTTP_ERROR` if it sends none), and
 * `RECEIPT_ATTESTATION_INVALID` for an answer that does not check out.
 *
 * @example
 * ```ts
 * const body = JSON.stringify({ receipt, inputs: namedTensorsToJson(inputs) })
 * const { attestation } = await requestAttestation({ peer, body, jobId, outputHash, domain, timeoutMs: 10_000 })
 * ```
 */
export async function requestAttestation(
  parameters: RequestAttestationParameters,
): Promise<AttestationAnswer> {
  const { peer, timeoutMs } = parameters
  const answer = await postToPeer({
    peer,
    path: '/v1/verify',
    body: parameters.body,
    what: `job ${parameters.jobId}`,
    timeoutMs,
    maxAnswerBytes: 64 * 1024,
    oversizeCode: 'RECEIPT_ATTESTATION_INVALID',
    signal: parameters.signal,
    fetch: parameters.fetch,
  })
  if (answer === undefined)
    throw new BaseError(
      'RECEIPT_ATTESTATION_INVALID',
      `Verifier ${peer.address} answered with something that is not a JSON object.`,
    )
  const attestation = await checkAttestation(answer.attestation, {
    jobId: parameters.jobId,
    outputHash: parameters.outputHash,
    verifier: peer.address,
    domain: parameters.domain,
  })
  const observed = hash32Schema.safeParse(answer.observedOutputHash)
  return {
    attestation,
    ...(observed.success ? { observedOutputHash: observed.data as Hash } : {}),
    ...(typeof answer.reason === 'string' ? { reason: answer.reason.slice(0, 500) } : {}),
  }
}
