import { type Client, createClient, http } from '@verity/sdk'
import type { LocalAccount } from 'viem'

/**
 * Options of {@link createNodeClient}.
 *
 * @example
 * ```ts
 * const options: NodeClientOptions = { account, onUploadProgress: (sent, total) => bar(sent, total) }
 * ```
 */
export type NodeClientOptions = {
  account?: LocalAccount | undefined
  /** Per request (default 120 s: re-execution waits for verifiers). */
  timeoutMs?: number | undefined
  /** Called as a request body (a model upload) is handed to the socket. */
  onUploadProgress?: ((sent: number, total: number) => void) | undefined
}

const uploadChunkBytes = 256 * 1024

/**
 * `fetch` that streams a byte body in chunks and reports how much of it was handed over, for
 * upload progress. JSON and empty bodies go through unchanged.
 */
function progressFetch(onProgress: (sent: number, total: number) => void): typeof fetch {
  return (input, init) => {
    const body = init?.body
    if (!(body instanceof Uint8Array)) return fetch(input, init)
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= body.length) {
          controller.close()
          return
        }
        const chunk = body.subarray(sent, sent + uploadChunkBytes)
        sent += chunk.length
        controller.enqueue(chunk)
        onProgress(sent, body.length)
      },
    })
    const headers = new Headers(init?.headers)
    headers.set('content-length', String(body.length))
    return fetch(input, { ...init, headers, body: stream, duplex: 'half' } as RequestInit)
  }
}

/**
 * The SDK client the CLI uses for every call to a node (`--node URL`), optionally with the local
 * key as the requester and upload progress.
 *
 * @example
 * ```ts
 * const client = createNodeClient('http://127.0.0.1:8546', { account })
 * await listModels(client)
 * ```
 */
export function createNodeClient(url: string, options: NodeClientOptions = {}): Client {
  return createClient({
    transport: http(url, {
      timeoutMs: options.timeoutMs ?? 120_000,
      ...(options.onUploadProgress ? { fetch: progressFetch(options.onUploadProgress) } : {}),
    }),
    account: options.account,
  })
}
