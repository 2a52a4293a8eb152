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
  /** Extra headers for this request (e.g. `verity-mode`). */
  headers?: Record<string, string> | undefined
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
  /**
   * Like `request`, but hands back the body as it arrives (server-sent events). Error answers
   * still throw. The transport's timeout applies to the wait between two chunks.
   */
  stream?(request: TransportRequest): Promise<TransportStreamResponse>
}

/**
 * A successful streaming answer: status, headers and the body as it arrives.
 *
 * @example
 * ```ts
 * const { body } = await transport.stream!({ method: 'POST', path: '/v1/chat/completions', json })
 * for await (const chunk of body) console.log(chunk.length)
 * ```
 */
export type TransportStreamResponse = {
  status: number
  headers: Headers
  body: AsyncIterable<Uint8Array>
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

  /** Sends the request; `timeout` aborts it. Maps failures to reach the node to `BaseError`s. */
  const send = async (
    request: TransportRequest,
    accept: string,
    timeout: { signal: AbortSignal; aborted: () => boolean },
  ): Promise<{ response: Response; target: URL }> => {
    const target = new URL(`${root}${request.path}`)
    for (const [key, value] of Object.entries(request.query ?? {}))
      if (value !== undefined) target.searchParams.set(key, value)
    const signal = request.signal
      ? AbortSignal.any([request.signal, timeout.signal])
      : timeout.signal
    const headers: Record<string, string> = {
      accept,
      ...options.headers,
      ...request.headers,
    }
    let body: string | Uint8Array | undefined
    if (request.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream'
      body = request.bytes
    } else if (request.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(request.json)
    }
    try {
      const response = await fetcher(target, {
        method: request.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal,
      })
      return { response, target }
    } catch (cause) {
      throw failure(request, target, timeout.aborted(), cause)
    }
  }

  const failure = (
    request: TransportRequest,
    target: URL,
    timedOut: boolean,
    cause: unknown,
  ): BaseError => {
    if (request.signal?.aborted)
      return new BaseError('ABORTED', `The request to ${target.pathname} was aborted.`, {
        cause,
      })
    if (timedOut)
      return new BaseError(
        'REQUEST_TIMEOUT',
        `${root} did not answer ${request.method} ${target.pathname} within ${timeoutMs} ms.`,
        { metaMessages: ['Raise timeoutMs for slow models, or check the node.'], cause },
      )
    const reason = (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error).message
    return new BaseError(
      'NODE_UNAVAILABLE',
      `Cannot reach the Verity node at ${root}: ${reason}.`,
      {
        metaMessages: ['Check the URL and that the node is running (GET /v1/health).'],
        cause,
      },
    )
  }

  return {
    type: 'http',
    url: root,
    async request<T>(request: TransportRequest): Promise<TransportResponse<T>> {
      const timeout = AbortSignal.timeout(timeoutMs)
      const timer = { signal: timeout, aborted: () => timeout.aborted }
      const { response, target } = await send(request, 'application/json', timer)
      let text: string
      try {
        text = await response.text()
      } catch (cause) {
        throw failure(request, target, timeout.aborted, cause)
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

    async stream(request: TransportRequest): Promise<TransportStreamResponse> {
      // an idle timeout: reset by every chunk, so long generations that keep streaming never time out
      const idle = new AbortController()
      let timedOut = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const arm = () => {
        clearTimeout(timer)
        timer = setTimeout(() => {
          timedOut = true
          idle.abort()
        }, timeoutMs)
      }
      arm()
      let response: Response
      let target: URL
      try {
        ;({ response, target } = await send(request, 'text/event-stream', {
          signal: idle.signal,
          aborted: () => timedOut,
        }))
        if (!response.ok) {
          const text = await response.text().catch(() => '')
          throw errorFromBody(response.status, text, root)
        }
      } catch (error) {
        clearTimeout(timer)
        throw error
      }
      const reader = response.body
      async function* chunks(): AsyncGenerator<Uint8Array> {
        if (reader === null) return
        try {
          for await (const chunk of reader) {
            arm()
            yield chunk
          }
        } catch (cause) {
          throw failure(request, target, timedOut, cause)
        } finally {
          clearTimeout(timer)
        }
      }
      return { status: response.status, headers: response.headers, body: chunks() }
    },
  }
}
