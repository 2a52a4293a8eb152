import { BaseError, type ErrorCode, ErrorCode as ErrorCodes } from '@verity/protocol'
import type { NodePeer } from './peerDirectory.ts'

/**
 * One node-to-node call: what to send, to whom, and how the answer is bounded.
 *
 * @example
 * ```ts
 * const parameters: PostToPeerParameters = { peer, path: '/v1/verify', body, what: 'job 0x…', timeoutMs: 10_000, maxAnswerBytes: 65_536, oversizeCode: 'RECEIPT_ATTESTATION_INVALID' }
 * ```
 */
export type PostToPeerParameters = {
  peer: NodePeer
  path: string
  /** The JSON body, already serialized. */
  body: string
  /** What the call is about, for refusal messages ("job 0x…", "request 7"). */
  what: string
  /** The whole call, answer included, must finish within this time. */
  timeoutMs: number
  maxAnswerBytes: number
  /** The code of an answer larger than `maxAnswerBytes`. */
  oversizeCode: ErrorCode
  signal?: AbortSignal | undefined
  fetch?: typeof fetch | undefined
}

const knownCodes = new Set<string>(Object.values(ErrorCodes))

async function readBounded(
  response: Response,
  maxBytes: number,
  oversizeCode: ErrorCode,
): Promise<string> {
  const reader = response.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      throw new BaseError(oversizeCode, `The verifier's answer exceeds ${maxBytes} bytes.`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * POSTs JSON to a peer node and returns its answer as a JSON object (`undefined` when the body is
 * not one), after mapping failures to stable codes: `REQUEST_TIMEOUT`, `ABORTED` (the caller's
 * signal), `PEER_UNREACHABLE`, `oversizeCode` for an answer over the bound, and for a non-200 the
 * peer's own error code (`HTTP_ERROR` if it sends none).
 *
 * @example
 * ```ts
 * const answer = await postToPeer({ peer, path: '/v1/verify', body, what: `job ${jobId}`, timeoutMs, maxAnswerBytes: 65_536, oversizeCode: 'RECEIPT_ATTESTATION_INVALID' })
 * ```
 */
export async function postToPeer(
  parameters: PostToPeerParameters,
): Promise<Record<string, unknown> | undefined> {
  const { peer, timeoutMs } = parameters
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = parameters.signal ? AbortSignal.any([parameters.signal, timeout]) : timeout
  const doFetch = parameters.fetch ?? fetch
  let text: string
  let status: number
  try {
    const response = await doFetch(`${peer.url}${parameters.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: parameters.body,
      signal,
    })
    status = response.status
    text = await readBounded(response, parameters.maxAnswerBytes, parameters.oversizeCode)
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
      { details: (cause as Error).message, cause },
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
      `Verifier ${peer.address} refused ${parameters.what} (${status}): ${typeof error?.message === 'string' ? error.message.slice(0, 500) : 'no error body'}`,
    )
  }
  return answer
}
