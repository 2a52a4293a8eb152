import { BaseError, type ErrorCode } from '@verity/protocol'

/**
 * One call to a node: method, path under the node URL, query, and a JSON or raw body.
 *
 * @example
 * ```ts
 * const request: TransportRequest = { method: 'GET', path: '/v1/models' }
 * ```
 */
export type TransportRequest = {
  method: 'GET' | 'POST'
  path: string
  query?: Record<string, string | undefined> | undefined
  /** Sent as JSON. */
  json?: unknown
  /** Sent as `application/octet-stream` (model uploads). */
  bytes?: Uint8Array | undefined
  signal?: AbortSignal | undefined
}

/**
 * A successful answer: status, headers and the parsed JSON body.
 *
 * @example
 * ```ts
 * const { data } = await transport.request<{ models: ModelSummary[] }>({ method: 'GET', path: '/v1/models' })
 * ```
 */
export type TransportResponse<T> = { status: number; headers: Headers; data: T }

/**
 * How a client talks to a node. Error answers (`{ error: { code, message, hints? } }`) become a
 * `BaseError` with the node's code, so `isBaseError(error, 'MODEL_NOT_FOUND')` works the same on
 * both sides of the wire.
 *
 * @example
 * ```ts
 * const transport: Transport = http('http://127.0.0.1:8080')
 * ```
 */
export type Transport = {
  readonly type: 'http'
  readonly url: string
  request<T>(request: TransportRequest): Promise<TransportResponse<T>>
}

/**
 * Options of the {@link http} transport.
 *
 * @example
 * ```ts
 * const options: HttpTransportOptions = { timeoutMs: 10_000 }
 * ```
 */
export type HttpTransportOptions = {
  /** Per request, including reading the body (default 60 s). */
  timeoutMs?: number | undefined
  /** Extra headers on every request (e.g. an API key for a gateway). */
  headers?: Record<string, string> | undefined
  /** Default: the global `fetch`. */
  fetch?: typeof fetch | undefined
}

type ErrorBody = {
  error?: { code?: unknown; message?: unknown; hints?: unknown; details?: unknown }
}

function errorFromBody(status: number, text: string, url: string): BaseError {
  let body: ErrorBody | undefined
  try {
    body = JSON.parse(text) as ErrorBody
  } catch {}
  const error = body?.error
  if (error && typeof error.code === 'string' && typeof error.message === 'string')
    return new BaseError(error.code as ErrorCode, error.message, {
      metaMessages: Array.isArray(error.hints) ? error.hints.map(String) : [],
      details: typeof error.details === 'string' ? error.details : undefined,
    })
  return new BaseError(
    'HTTP_ERROR',
    `${url} answered HTTP ${status} without a Verity error body.`,
    {
      metaMessages: ['Check that the URL points at a Verity node (GET /v1/network).'],
      details: text.slice(0, 200),
    },
  )
}

/**
 * The HTTP transport (fetch-based).
 *
 * @example
 * ```ts
 * const client = createClient({ transport: http('http://127.0.0.1:8080', { timeoutMs: 5_000 }) })
 * ```
 */
export function http(url: string, options: HttpTransportOptions = {}): Transport {
  let base: URL
  try {
    base = new URL(url)
  } catch {
    throw new BaseError('INVALID_ARGUMENT', `${JSON.stringify(url)} is not a URL.`, {
      metaMessages: ['Pass the node URL, e.g. http://127.0.0.1:8080.'],
    })
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new BaseError('INVALID_ARGUMENT', `${url} is not an http(s) URL.`)
  const root = base.href.replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? 60_000
  const fetcher = options.fetch ?? fetch

  return {
    type: 'http',
    url: root,
    async request<T>(request: TransportRequest): Promise<TransportResponse<T>> {
      const target = new URL(`${root}${request.path}`)
      for (const [key, value] of Object.entries(request.query ?? {}))
        if (value !== undefined) target.searchParams.set(key, value)
      const timeout = AbortSignal.timeout(timeoutMs)
      const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout
      const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
      let body: string | Uint8Array | undefined
      if (request.bytes !== undefined) {
        headers['content-type'] = 'application/octet-stream'
        body = request.bytes
      } else if (request.json !== undefined) {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(request.json)
      }
      let response: Response
      let text: string
      try {
        response = await fetcher(target, {
          method: request.method,
          headers,
          ...(body === undefined ? {} : { body }),
          signal,
        })
        text = await response.text()
      } catch (cause) {
        if (request.signal?.aborted)
          throw new BaseError('ABORTED', `The request to ${target.pathname} was aborted.`, {
            cause,
          })
        if (timeout.aborted)
          throw new BaseError(
            'REQUEST_TIMEOUT',
            `${root} did not answer ${request.method} ${target.pathname} within ${timeoutMs} ms.`,
            { metaMessages: ['Raise timeoutMs for slow models, or check the node.'], cause },
          )
        const reason =
          (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error).message
        throw new BaseError(
          'NODE_UNAVAILABLE',
          `Cannot reach the Verity node at ${root}: ${reason}.`,
          {
            metaMessages: ['Check the URL and that the node is running (GET /v1/health).'],
            cause,
          },
        )
      }
      if (!response.ok) throw errorFromBody(response.status, text, root)
      let data: T
      try {
        data = JSON.parse(text) as T
      } catch (cause) {
        throw new BaseError(
          'INVALID_JSON',
          `${root}${target.pathname} answered with a body that is not JSON.`,
          {
            details: text.slice(0, 200),
            cause,
          },
        )
      }
      return { status: response.status, headers: response.headers, data }
    },
  }
}
