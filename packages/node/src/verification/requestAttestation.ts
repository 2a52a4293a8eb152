import {
  type Attestation,
  BaseError,
  ErrorCode,
  type Hash,
  hash32Schema,
  type VerityDomain,
} from '@verity/protocol'
import { checkAttestation } from './checkAttestation.ts'
import type { NodePeer } from './peerDirectory.ts'

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

const maxAnswerBytes = 64 * 1024
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
        'RECEIPT_ATTESTATION_INVALID',
        `The verifier's answer exceeds ${maxAnswerBytes} bytes.`,
      )
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
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
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = parameters.signal ? AbortSignal.any([parameters.signal, timeout]) : timeout
  const doFetch = parameters.fetch ?? fetch
  let text: string
  let status: number
  try {
    const response = await doFetch(`${peer.url}/v1/verify`, {
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
      `Verifier ${peer.address} refused job ${parameters.jobId} (${status}): ${typeof error?.message === 'string' ? error.message.slice(0, 500) : 'no error body'}`,
    )
  }
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
