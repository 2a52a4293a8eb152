import { BaseError, ErrorCode, type HubResultMessage } from '@verity/protocol'
import { getAddress, isAddress, isAddressEqual, type TypedDataDomain } from 'viem'
import type { NodePeer } from '../verification/peerDirectory.ts'
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

const maxAnswerBytes = 16 * 1024
const knownCodes = new Set<string>(Object.values(ErrorCode))

async function readBounded(response: Response): Promise<string> {
  const reader = response.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxAnswerBytes) {
      await reader.cancel()
      throw new BaseError(
        'SIGNATURE_INVALID',
        `The verifier's answer exceeds ${maxAnswerBytes} bytes.`,
      )
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
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
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = parameters.signal ? AbortSignal.any([parameters.signal, timeout]) : timeout
  const doFetch = parameters.fetch ?? fetch
  let text: string
  let status: number
  try {
    const response = await doFetch(`${peer.url}/v1/hub/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: parameters.body,
      signal,
    })
    status = response.status
    text = await readBounded(response)
  } catch (cause) {
    if (timeout.aborted)
      throw new BaseError(
        'REQUEST_TIMEOUT',
        `Verifier ${peer.address} did not answer within ${timeoutMs} ms.`,
        { cause },
      )
    if (parameters.signal?.aborted)
      throw new BaseError('ABORTED', `The call to verifier ${peer.address} was cancelled.`, {
        cause,
      })
    if (cause instanceof BaseError) throw cause
    throw new BaseError(
      'PEER_UNREACHABLE',
      `Verifier ${peer.address} at ${peer.url} is unreachable.`,
      {
        details: (cause as Error).message,
        cause,
      },
    )
  }
  let answer: Record<string, unknown> | undefined
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      answer = parsed as Record<string, unknown>
  } catch {
    answer = undefined
  }
  if (status !== 200) {
    const error = answer?.error as { code?: unknown; message?: unknown } | undefined
    const code =
      typeof error?.code === 'string' && knownCodes.has(error.code)
        ? (error.code as ErrorCode)
        : 'HTTP_ERROR'
    throw new BaseError(
      code,
      `Verifier ${peer.address} refused request ${message.requestId} (${status}): ${typeof error?.message === 'string' ? error.message.slice(0, 500) : 'no error body'}`,
    )
  }
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
