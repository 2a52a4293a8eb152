import {
  addressSchema,
  BaseError,
  canonicalJson,
  type Hash,
  isBaseError,
  parseOpenAiRequest,
  toBaseError,
} from '@verity/protocol'
import type { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { httpStatusOf } from '../http/errorToResponse.ts'
import type { NodeLogger } from '../logger.ts'
import { requestFromJson } from '../requestJson.ts'
import type {
  SignedTextRequest,
  TextResult,
  TextService,
  TextVerificationRequest,
} from './createTextService.ts'

/**
 * Reads the verification an (unsigned) OpenAI request asks for from its headers: `verity-mode`
 * (`none`, the default, or `reexec`), `verity-quorum` (1–64, default 1) and `verity-verification`
 * (`replay`, the default, or `reexec`: how each verifier checks the output). Throws
 * `MODE_UNSUPPORTED` for another mode and `INVALID_ARGUMENT` for a bad quorum or method.
 *
 * @example
 * ```ts
 * const verification = verificationFromHeaders(new Headers({ 'verity-mode': 'reexec', 'verity-quorum': '2' }))
 * ```
 */
export function verificationFromHeaders(headers: Headers): TextVerificationRequest | undefined {
  const mode = headers.get('verity-mode')?.trim().toLowerCase()
  const quorumHeader = headers.get('verity-quorum')?.trim()
  const methodHeader = headers.get('verity-verification')?.trim().toLowerCase()
  if (mode === undefined || mode === '' || mode === 'none') {
    if (quorumHeader || methodHeader)
      throw new BaseError(
        'INVALID_ARGUMENT',
        'verity-quorum and verity-verification need verity-mode: reexec; the request has none.',
        { details: 'verity-mode', metaMessages: ['Add the header verity-mode: reexec.'] },
      )
    return undefined
  }
  if (mode !== 'reexec')
    throw new BaseError(
      'MODE_UNSUPPORTED',
      `verity-mode is "${mode}"; text generations support "none" and "reexec".`,
      { details: 'verity-mode' },
    )
  const quorum = quorumHeader ? Number(quorumHeader) : 1
  if (!/^\d+$/.test(quorumHeader ?? '1') || quorum < 1 || quorum > 64)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `verity-quorum is "${quorumHeader}"; expected an integer from 1 to 64.`,
      { details: 'verity-quorum' },
    )
  if (methodHeader !== undefined && methodHeader !== 'replay' && methodHeader !== 'reexec')
    throw new BaseError(
      'INVALID_ARGUMENT',
      `verity-verification is "${methodHeader}"; expected "replay" or "reexec".`,
      { details: 'verity-verification' },
    )
  return { mode: 'reexec', quorum, method: methodHeader ?? 'replay' }
}

/**
 * An OpenAI-style error body: `{ error: { message, type, param, code } }`.
 *
 * @example
 * ```ts
 * const body = openAiError(new BaseError('MODEL_NOT_FOUND', 'No model x.'))
 * ```
 */
export function openAiError(error: BaseError): {
  status: number
  body: { error: { message: string; type: string; param: string | null; code: string } }
} {
  const status = httpStatusOf(error.code)
  const type =
    status === 404
      ? 'not_found_error'
      : status >= 500
        ? 'server_error'
        : status === 402
          ? 'insufficient_quota'
          : 'invalid_request_error'
  return {
    status,
    body: {
      error: {
        message: error.shortMessage,
        type,
        param: error.details && /^[a-z_[\]0-9.]+$/.test(error.details) ? error.details : null,
        code: error.code,
      },
    },
  }
}

/**
 * Reads the `verity` field of an OpenAI-style body: `{ request, requester, signature }`, the
 * requester's signed `InferenceRequest` (bigints as decimal strings) for this generation. Throws
 * `SCHEMA_INVALID` for a wrong shape; the signature itself is checked by the text service.
 *
 * @example
 * ```ts
 * const signed = parseSignedTextRequest({ request: requestToJson(request), requester, signature })
 * ```
 */
export function parseSignedTextRequest(value: unknown): SignedTextRequest {
  const field = value as { request?: unknown; requester?: unknown; signature?: unknown }
  const problems: string[] = []
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    problems.push('verity: expected { request, requester, signature }')
  else {
    if (!addressSchema.safeParse(field.requester).success)
      problems.push('verity.requester: expected a 0x-prefixed 20-byte address')
    if (typeof field.signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(field.signature))
      problems.push('verity.signature: expected a 65-byte 0x-prefixed hex signature')
    if (typeof field.request !== 'object' || field.request === null)
      problems.push('verity.request: expected the signed InferenceRequest')
    for (const key of Object.keys(field))
      if (!['request', 'requester', 'signature'].includes(key))
        problems.push(`verity.${key}: unknown field`)
  }
  if (problems.length > 0)
    throw new BaseError('SCHEMA_INVALID', 'The signed request ("verity") is not valid.', {
      details: 'verity',
      metaMessages: problems,
    })
  return {
    request: requestFromJson(field.request),
    requester: field.requester as `0x${string}`,
    signature: (field.signature as string).toLowerCase() as Hash,
  }
}

function created(result: TextResult): number {
  return result.receipt.result.executedAt
}

function usage(result: TextResult) {
  const { promptTokens, completionTokens } = result.receipt.text?.usage ?? {
    promptTokens: 0,
    completionTokens: 0,
  }
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  }
}

/**
 * Mounts `POST /v1/chat/completions` and `POST /v1/completions` (OpenAI-compatible, streaming or
 * not). Every answer carries its receipt: in the body as `receipt` (and in the last SSE event),
 * and its job id in the `verity-receipt-id` header, so clients that ignore it are unaffected.
 * Errors are OpenAI-style objects with 4xx statuses; a client that disconnects mid-stream aborts
 * the generation and frees the engine. Headers `verity-mode: reexec`, `verity-quorum: K` and
 * `verity-verification: replay|reexec` ask for a re-execution quorum (see
 * {@link verificationFromHeaders}): the receipt then carries the quorum certificate.
 *
 * @example
 * ```ts
 * mountOpenAiRoutes(app, { text, logger })
 * ```
 */
export function mountOpenAiRoutes(
  app: Hono,
  components: {
    text: TextService | undefined
    logger: NodeLogger
    readJson: (request: Request) => Promise<unknown>
  },
): void {
  const logger = components.logger.child({ module: 'openai' })

  for (const [path, kind] of [
    ['/v1/chat/completions', 'chat'],
    ['/v1/completions', 'completion'],
  ] as const) {
    app.post(path, async (c) => {
      try {
        const { text } = components
        if (!text)
          throw new BaseError('NOT_SUPPORTED', 'This node serves no text models (no GGUF engine).')
        const verification = verificationFromHeaders(c.req.raw.headers)
        const raw = await components.readJson(c.req.raw)
        const { verity, ...body } =
          typeof raw === 'object' && raw !== null && !Array.isArray(raw)
            ? (raw as Record<string, unknown>)
            : { verity: undefined }
        const parsed = parseOpenAiRequest(
          kind,
          typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? body : raw,
        )
        const signed = verity === undefined ? undefined : parseSignedTextRequest(verity)
        const signal = c.req.raw.signal
        const chunkBase = (id: string, at: number) => ({
          id,
          object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
          created: at,
          model: parsed.model,
        })
        if (!parsed.stream) {
          const result = await text.generate({ ...parsed, signal, verification, signed })
          const { receipt } = result
          const content = receipt.text?.output.text ?? ''
          const finish = receipt.text?.finishReason ?? 'stop'
          c.header('verity-receipt-id', receipt.job.id)
          return c.body(
            JSON.stringify(
              kind === 'chat'
                ? {
                    id: `chatcmpl-${receipt.job.id.slice(2, 34)}`,
                    object: 'chat.completion',
                    created: created(result),
                    model: parsed.model,
                    choices: [
                      {
                        index: 0,
                        message: { role: 'assistant', content },
                        finish_reason: finish,
                        logprobs: null,
                      },
                    ],
                    usage: usage(result),
                    receipt,
                  }
                : {
                    id: `cmpl-${receipt.job.id.slice(2, 34)}`,
                    object: 'text_completion',
                    created: created(result),
                    model: parsed.model,
                    choices: [{ index: 0, text: content, finish_reason: finish, logprobs: null }],
                    usage: usage(result),
                    receipt,
                  },
            ),
            200,
            { 'content-type': 'application/json; charset=utf-8' },
          )
        }
        return streamSSE(c, async (stream) => {
          const controller = new AbortController()
          const abort = () => controller.abort()
          signal.addEventListener('abort', abort, { once: true })
          stream.onAbort(abort)
          const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID().replaceAll('-', '')}`
          const at = Math.floor(Date.now() / 1000)
          let writes = Promise.resolve()
          const send = (data: unknown) => {
            const text = data === '[DONE]' ? data : JSON.stringify(data)
            writes = writes.then(() => stream.writeSSE({ data: text }))
          }
          if (kind === 'chat')
            send({
              ...chunkBase(id, at),
              choices: [
                { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null },
              ],
            })
          try {
            const result = await text.generate({
              ...parsed,
              signal: controller.signal,
              verification,
              signed,
              onToken: (piece) =>
                send({
                  ...chunkBase(id, at),
                  choices: [
                    kind === 'chat'
                      ? { index: 0, delta: { content: piece }, finish_reason: null }
                      : { index: 0, text: piece, finish_reason: null, logprobs: null },
                  ],
                }),
            })
            const finish = result.receipt.text?.finishReason ?? 'stop'
            send({
              ...chunkBase(id, at),
              choices: [
                kind === 'chat'
                  ? { index: 0, delta: {}, finish_reason: finish }
                  : { index: 0, text: '', finish_reason: finish, logprobs: null },
              ],
              ...(parsed.includeUsage ? {} : { receipt: result.receipt }),
            })
            if (parsed.includeUsage)
              send({
                ...chunkBase(id, at),
                choices: [],
                usage: usage(result),
                receipt: result.receipt,
              })
            send('[DONE]')
            await writes
          } catch (error) {
            await writes.catch(() => undefined)
            if (controller.signal.aborted) {
              logger.info({ id }, 'client went away: generation aborted')
              return
            }
            const failure = toBaseError(error)
            await stream.writeSSE({ data: JSON.stringify(openAiError(failure).body) })
          } finally {
            signal.removeEventListener('abort', abort)
          }
        })
      } catch (error) {
        const failure = isBaseError(error) ? error : toBaseError(error)
        const { status, body } = openAiError(failure)
        if (status >= 500) logger.error({ err: error }, 'text route failed')
        return c.body(canonicalJson(body), status as 400, {
          'content-type': 'application/json; charset=utf-8',
        })
      }
    })
  }
}
