import { BaseError, isBaseError } from '@verity/protocol'

/**
 * What {@link requestPeerJson} takes: the URL, the longest wait, the largest body read and the
 * caller's signal.
 *
 * @example
 * ```ts
 * const parameters: RequestPeerJsonParameters = { url: `${peer.url}/v1/network`, timeoutMs: 5000, maxBytes: 65536 }
 * ```
 */
export type RequestPeerJsonParameters = {
  url: string
  timeoutMs: number
  maxBytes: number
  signal?: AbortSignal | undefined
  fetch?: typeof globalThis.fetch | undefined
}

/**
 * The answer of a peer: its HTTP status and the parsed JSON body (`undefined` when it was not
 * JSON).
 *
 * @example
 * ```ts
 * const { status, body }: RequestPeerJsonReturnType = await requestPeerJson(parameters)
 * ```
 */
export type RequestPeerJsonReturnType = { status: number; body: unknown }

/**
 * `GET url` against another node's API (untrusted): no redirects, at most `timeoutMs` for the
 * whole exchange, at most `maxBytes` of body (read as a stream and cut off beyond). Any status is
 * returned; the caller decides.
 *
 * Errors: `PEER_UNREACHABLE` (connection refused, timeout, body too large), `ABORTED` (the
 * caller's signal).
 *
 * @example
 * ```ts
 * const { status, body } = await requestPeerJson({ url: `${url}/v1/network`, timeoutMs: 5000, maxBytes: 1 << 16 })
 * ```
 */
export async function requestPeerJson(
  parameters: RequestPeerJsonParameters,
): Promise<RequestPeerJsonReturnType> {
  const { status, bytes } = await requestPeerBytes(parameters, 'application/json')
  let body: unknown
  try {
    body = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    body = undefined
  }
  return { status, body }
}

/**
 * {@link requestPeerJson} for a body taken as bytes (a file a peer serves), with the same limits
 * and errors.
 *
 * @example
 * ```ts
 * const { status, bytes } = await requestPeerBytes({ url: `${url}/v1/zk/artifacts/${cid}`, timeoutMs: 60_000, maxBytes })
 * ```
 */
export async function requestPeerBytes(
  parameters: RequestPeerJsonParameters,
  accept = 'application/octet-stream',
): Promise<{ status: number; bytes: Uint8Array }> {
  const { url, timeoutMs, maxBytes, signal } = parameters
  const timeout = AbortSignal.timeout(timeoutMs)
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
  try {
    const response = await (parameters.fetch ?? globalThis.fetch)(url, {
      signal: combined,
      redirect: 'error',
      headers: { accept },
    })
    const declared = Number(response.headers.get('content-length') ?? Number.NaN)
    if (declared > maxBytes) {
      await response.body?.cancel().catch(() => {})
      throw tooLarge(url, maxBytes)
    }
    const chunks: Uint8Array[] = []
    let total = 0
    if (response.body)
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength
        if (total > maxBytes) {
          await response.body.cancel().catch(() => {})
          throw tooLarge(url, maxBytes)
        }
        chunks.push(chunk)
      }
    return { status: response.status, bytes: new Uint8Array(Buffer.concat(chunks)) }
  } catch (cause) {
    if (signal?.aborted)
      throw isBaseError(signal.reason)
        ? signal.reason
        : new BaseError('ABORTED', `GET ${url} was aborted.`, { cause: signal.reason })
    if (isBaseError(cause)) throw cause
    throw new BaseError('PEER_UNREACHABLE', `GET ${url} failed.`, {
      details: timeout.aborted
        ? `no answer within ${timeoutMs} ms`
        : cause instanceof Error
          ? `${cause.message}${cause.cause instanceof Error ? `: ${cause.cause.message}` : ''}`
          : String(cause),
      metaMessages: ['Check that the peer is running and that its URL in the peer list is right.'],
      cause,
    })
  }
}

function tooLarge(url: string, maxBytes: number): BaseError {
  return new BaseError('PEER_UNREACHABLE', `GET ${url} answered more than ${maxBytes} bytes.`, {
    metaMessages: ['The peer does not speak the Verity API; it was not trusted.'],
  })
}
