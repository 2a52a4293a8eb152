import { BaseError, type HubResultMessage } from '@verity/protocol'
import { getAddress, isAddress, isAddressEqual, type TypedDataDomain } from 'viem'
import type { NodePeer } from '../verification/peerDirectory.ts'
import { postToPeer } from '../verification/postToPeer.ts'
import { checkHubSignature, type HubSigned } from './hubResult.ts'

/**
 * Parameters of {@link requestHubSignature}.
 *
 * @example
 * ```ts
 * const parameters: RequestHubSignatureParameters = { peer, body, message, domain, timeoutMs: 10_000 }
 * ```
 */
export type RequestHubSignatureParameters = {
  peer: NodePeer
  /** The JSON body (`hubVerifyBodyToJson`), serialized once for every verifier. */
  body: string
  /** What the answer must sign: the request, its input hash and the executor's output hash. */
  message: HubResultMessage
  /** The hub's EIP-712 domain. */
  domain: TypedDataDomain
  /** The whole call, answer included, must finish within this time. */
  timeoutMs: number
  signal?: AbortSignal | undefined
  fetch?: typeof fetch | undefined
}

/**
 * Asks one peer to co-sign a hub result (`POST <peer>/v1/hub/verify`) and checks its answer: a
 * low-s `HubResult` signature by that peer over exactly `message`, under the hub's domain — what
 * `InferenceHub.fulfill` will accept.
 *
 * Error codes: `REQUEST_TIMEOUT`, `ABORTED` (the caller's signal), `PEER_UNREACHABLE`, the peer's
 * own code when it refuses (`OUTPUT_MISMATCH` when it computed another output, `MODEL_NOT_FOUND`,
 * …; `HTTP_ERROR` if it sends none), and `SIGNATURE_INVALID` for an answer that does not check out.
 *
 * @example
 * ```ts
 * const signed = await requestHubSignature({ peer, body, message: { requestId, inputHash, outputHash }, domain, timeoutMs: 10_000 })
 * ```
 */
export async function requestHubSignature(
  parameters: RequestHubSignatureParameters,
): Promise<HubSigned> {
  const { peer, timeoutMs, message } = parameters
  const answer = await postToPeer({
    peer,
    path: '/v1/hub/verify',
    body: parameters.body,
    what: `request ${message.requestId}`,
    timeoutMs,
    maxAnswerBytes: 16 * 1024,
    oversizeCode: 'SIGNATURE_INVALID',
    signal: parameters.signal,
    fetch: parameters.fetch,
  })
  const signer = answer?.signer
  const signature = answer?.signature
  if (
    typeof signer !== 'string' ||
    !isAddress(signer, { strict: false }) ||
    typeof signature !== 'string'
  )
    throw new BaseError(
      'SIGNATURE_INVALID',
      `Verifier ${peer.address} answered without {signer, signature}.`,
    )
  if (!isAddressEqual(signer, peer.address))
    throw new BaseError(
      'SIGNATURE_INVALID',
      `Verifier ${peer.address} answered with a signature of ${signer}.`,
      { metaMessages: ['A peer must sign with the key its directory entry names.'] },
    )
  const signed: HubSigned = { signer: getAddress(signer), signature: signature as `0x${string}` }
  await checkHubSignature(signed, parameters.domain, message)
  return signed
}
