import {
  BaseError,
  canonicalJson,
  computeJobId,
  createInferenceRequest,
  defaultGenerationParams,
  type ErrorCode,
  type GenerationParams,
  generationParamsSchema,
  type Hash,
  type Mode,
  type Receipt,
  type ReceiptVerdict,
  type ResponseFormat,
  signInferenceRequest,
  type TextInput,
  verifyReceipt,
} from '@verity/protocol'
import { getModel } from '../actions/getModel.ts'
import { getNetwork } from '../actions/getNetwork.ts'
import type { Client } from '../createClient.ts'
import { readSse } from './readSse.ts'

/**
 * The generation settings shared by `chat` and `complete`. Unset values take the node's defaults
 * (`defaultGenerationParams`), and the receipt must record exactly these values.
 *
 * @example
 * ```ts
 * const settings: GenerationSettings = { model: 'tiny', maxTokens: 16, temperature: 0 }
 * ```
 */
export type GenerationSettings = {
  /** A CID, a name (highest version) or `name@version` of a GGUF model the node serves. */
  model: string
  maxTokens?: number | undefined
  /** 0 = greedy. */
  temperature?: number | undefined
  topP?: number | undefined
  topK?: number | undefined
  seed?: number | undefined
  stop?: string | string[] | undefined
  /** Verification mode, sent as header `verity-mode` (default: the node's, `none`). */
  mode?: Mode | undefined
  /** Sent as header `verity-quorum` (with mode `reexec`). */
  quorum?: number | undefined
  /**
   * `json_object` (any JSON object) or `{ type: 'json_schema', schema }`: every token is
   * constrained by a grammar, and the receipt records the format. Default `text`.
   */
  responseFormat?: ResponseFormat | undefined
  /**
   * With a client account the request is signed (EIP-712 `InferenceRequest`): the receipt names
   * the account as requester and the job can be settled. `maxFee` defaults to the model's price as
   * the node reports it.
   */
  maxFee?: bigint | undefined
  /** Unix seconds after which no node may execute the signed request (default now + 1 hour). */
  deadline?: bigint | undefined
  /**
   * A 32-byte nonce for the signed request (default: random). The same nonce and deadline, the
   * same job: pass both to retry idempotently.
   */
  nonce?: Hash | undefined
  signal?: AbortSignal | undefined
}

/**
 * What a text generation returns once its receipt verified: the text, why it stopped, token
 * counts, the receipt and the verdict of every check.
 *
 * @example
 * ```ts
 * const { text, receipt }: TextGenerationResult = await chat(client, { model, messages })
 * ```
 */
export type TextGenerationResult = {
  text: string
  finishReason: 'stop' | 'length'
  usage: { promptTokens: number; completionTokens: number; totalTokens: number }
  receipt: Receipt
  verdict: ReceiptVerdict
}

/**
 * A streamed generation: iterate it for the text pieces as the node produces them; `result`
 * resolves once the stream ended and its receipt verified (iteration also ends only then, and
 * throws what `result` rejects with). Breaking out of the loop aborts the generation.
 *
 * @example
 * ```ts
 * const stream = chat(client, { model, messages, stream: true })
 * for await (const { text } of stream) process.stdout.write(text)
 * const { receipt } = await stream.result
 * ```
 */
export type TextStream = AsyncIterable<{ text: string }> & {
  result: Promise<TextGenerationResult>
}

type Kind = 'chat' | 'completion'

const paths = { chat: '/v1/chat/completions', completion: '/v1/completions' } as const

/** The parameters the receipt must record: the asked values, defaults filled in as the node does. */
function expectedParams(settings: GenerationSettings): GenerationParams {
  const params = {
    maxTokens: settings.maxTokens ?? defaultGenerationParams.maxTokens,
    temperature: settings.temperature ?? defaultGenerationParams.temperature,
    topP: settings.topP ?? defaultGenerationParams.topP,
    topK: settings.topK ?? defaultGenerationParams.topK,
    seed: settings.seed ?? defaultGenerationParams.seed,
    stop:
      settings.stop === undefined
        ? []
        : typeof settings.stop === 'string'
          ? [settings.stop]
          : settings.stop,
    responseFormat: settings.responseFormat ?? ('text' as const),
  }
  const parsed = generationParamsSchema.safeParse(params)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${String(issue?.path[0] ?? 'parameters')}: ${issue?.message ?? 'invalid'}.`,
      {
        metaMessages: [
          'maxTokens ≥ 1, temperature 0–2, topP in (0, 1], topK ≥ 0, seed 0–2³²−1, at most 16 stops.',
        ],
      },
    )
  }
  return parsed.data
}

/** OpenAI's `response_format` for a Verity response format. */
function responseFormatBody(format: ResponseFormat | undefined): Record<string, unknown> {
  if (format === undefined || format === 'text') return {}
  if (format === 'json_object') return { response_format: { type: 'json_object' } }
  return {
    response_format: {
      type: 'json_schema',
      json_schema: {
        ...(format.name === undefined ? {} : { name: format.name }),
        schema: format.schema,
      },
    },
  }
}

/**
 * Signs the generation's `InferenceRequest` with the client's account (nothing without one): the
 * body's `verity` field and the job id the receipt must carry.
 */
async function signedRequest(
  client: Client,
  settings: GenerationSettings,
  input: TextInput,
  params: GenerationParams,
): Promise<{ verity?: Record<string, unknown>; jobId?: Hash }> {
  const { account } = client
  if (account === undefined) return {}
  const [model, network] = await Promise.all([
    getModel(client, { model: settings.model, cache: true, signal: settings.signal }),
    getNetwork(client, { cache: true, signal: settings.signal }),
  ])
  const maxFee = settings.maxFee ?? model.price
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    text: { input, params },
    ...(settings.mode === undefined ? {} : { mode: settings.mode }),
    ...(settings.quorum === undefined ? {} : { quorum: settings.quorum }),
    ...(maxFee === undefined ? {} : { maxFee }),
    ...(settings.deadline === undefined ? {} : { deadline: settings.deadline }),
    ...(settings.nonce === undefined ? {} : { nonce: settings.nonce }),
  })
  const signature = await signInferenceRequest({ account, request, domain: network.domain })
  return {
    verity: {
      request: {
        ...request,
        maxFee: request.maxFee.toString(),
        deadline: request.deadline.toString(),
      },
      requester: account.address,
      signature,
    },
    jobId: computeJobId(account.address, request),
  }
}

function checkJobId(expected: Hash | undefined, receipt: Receipt): void {
  if (expected !== undefined && receipt.job.id !== expected)
    throw new BaseError(
      'RECEIPT_JOB_ID_MISMATCH',
      `The receipt is for job ${receipt.job.id}; the signed request is job ${expected}.`,
      { metaMessages: ['The node answered another request than the one signed: do not trust it.'] },
    )
}

function requestBody(
  settings: GenerationSettings,
  input: TextInput,
  stream: boolean,
): Record<string, unknown> {
  const optional = (name: string, value: unknown) => (value === undefined ? {} : { [name]: value })
  return {
    model: settings.model,
    ...input,
    ...optional('max_tokens', settings.maxTokens),
    ...optional('temperature', settings.temperature),
    ...optional('top_p', settings.topP),
    ...optional('top_k', settings.topK),
    ...optional('seed', settings.seed),
    ...optional('stop', settings.stop),
    ...responseFormatBody(settings.responseFormat),
    ...(stream ? { stream: true } : {}),
  }
}

function requestHeaders(settings: GenerationSettings): Record<string, string> {
  return {
    ...(settings.mode === undefined ? {} : { 'verity-mode': settings.mode }),
    ...(settings.quorum === undefined ? {} : { 'verity-quorum': String(settings.quorum) }),
  }
}

/**
 * Verifies a text receipt offline and holds it to what was asked: protocol's `verifyReceipt`
 * (signatures, hashes of the text section, executor = the node's address, the client's domain),
 * then the recorded input equals the sent one, the recorded parameters equal the asked ones, the
 * mode is the asked one and the text the node sent is the text the receipt binds.
 */
async function verifyTextReceipt(
  client: Client,
  settings: GenerationSettings,
  input: TextInput,
  params: GenerationParams,
  receipt: unknown,
  sentText: string,
): Promise<TextGenerationResult> {
  const network = await getNetwork(client, { cache: true, signal: settings.signal })
  const domain = client.domain ?? {
    chainId: network.domain.chainId,
    ...(network.domain.verifyingContract
      ? { verifyingContract: network.domain.verifyingContract }
      : {}),
  }
  const verdict = await verifyReceipt(receipt, { expectedExecutor: network.address, domain })
  const verified = verdict.receipt
  const refuse = (code: ErrorCode, message: string, hints: string[]) =>
    new BaseError(code, message, {
      metaMessages: [...hints, 'The signed receipt does not cover this answer: do not trust it.'],
    })
  if (!verdict.valid || verified === undefined) {
    const failed = verdict.checks.filter((check) => check.status === 'fail')
    throw new BaseError(
      verdict.code ?? 'RECEIPT_INVALID',
      `The node's receipt for the ${settings.model} generation does not verify.`,
      { metaMessages: failed.map((check) => `${check.name}: ${check.reason}`) },
    )
  }
  const text = verified.text
  if (text === undefined)
    throw refuse('RECEIPT_INVALID', 'The receipt has no text section.', [
      'Expected a text-generation receipt (with `text.input`, `text.params`, `text.output`).',
    ])
  if (canonicalJson(text.input) !== canonicalJson(input))
    throw refuse(
      'RECEIPT_INPUT_HASH_MISMATCH',
      'The receipt records another input than the one sent.',
      [
        `sent ${canonicalJson(input).slice(0, 120)}`,
        `got ${canonicalJson(text.input).slice(0, 120)}`,
      ],
    )
  if (canonicalJson(text.params) !== canonicalJson(params))
    throw refuse(
      'RECEIPT_INVALID',
      'The receipt records other generation parameters than the ones asked.',
      [`asked ${canonicalJson(params)}`, `got ${canonicalJson(text.params)}`],
    )
  if (settings.mode !== undefined && verified.job.mode !== settings.mode)
    throw refuse(
      'RECEIPT_MODE_UNSUPPORTED',
      `The receipt is for mode ${verified.job.mode}, mode ${settings.mode} was asked.`,
      ['Use a node that offers the mode (GET /v1/network lists them).'],
    )
  if (text.output.text !== sentText)
    throw refuse(
      'RECEIPT_OUTPUT_HASH_MISMATCH',
      'The text the node sent differs from the text its receipt binds.',
      [
        `sent ${JSON.stringify(sentText.slice(0, 80))}`,
        `receipt ${JSON.stringify(text.output.text.slice(0, 80))}`,
      ],
    )
  const { promptTokens, completionTokens } = text.usage
  return {
    text: text.output.text,
    finishReason: text.finishReason,
    usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
    receipt: verified,
    verdict,
  }
}

type CompletionBody = {
  choices?: { message?: { content?: unknown }; text?: unknown }[]
  receipt?: unknown
}

/**
 * One non-streaming generation (`POST /v1/chat/completions` or `/v1/completions`), its receipt
 * verified before it is returned.
 *
 * @example
 * ```ts
 * const result = await generateText(client, 'chat', settings, { messages })
 * ```
 */
export async function generateText(
  client: Client,
  kind: Kind,
  settings: GenerationSettings,
  input: TextInput,
): Promise<TextGenerationResult> {
  const params = expectedParams(settings)
  const { verity, jobId } = await signedRequest(client, settings, input, params)
  const { data, headers } = await client.transport.request<CompletionBody>({
    method: 'POST',
    path: paths[kind],
    json: { ...requestBody(settings, input, false), ...(verity ? { verity } : {}) },
    headers: requestHeaders(settings),
    signal: settings.signal,
  })
  const choice = data?.choices?.[0]
  const sent = kind === 'chat' ? choice?.message?.content : choice?.text
  const result = await verifyTextReceipt(
    client,
    settings,
    input,
    params,
    data?.receipt,
    typeof sent === 'string' ? sent : '',
  )
  checkJobId(jobId, result.receipt)
  const headerId = headers.get('verity-receipt-id')
  if (headerId !== null && headerId !== result.receipt.job.id)
    throw new BaseError(
      'RECEIPT_JOB_ID_MISMATCH',
      `Header verity-receipt-id names job ${headerId}, the receipt is for ${result.receipt.job.id}.`,
      { metaMessages: ['The node answered inconsistently: do not trust it.'] },
    )
  return result
}

type StreamEvent = {
  choices?: { delta?: { content?: unknown }; text?: unknown }[]
  receipt?: unknown
  error?: { code?: unknown; message?: unknown }
}

/**
 * One streaming generation: pieces as they arrive, and the verified result at the end.
 *
 * @example
 * ```ts
 * const stream = streamText(client, 'chat', settings, { messages })
 * for await (const { text } of stream) process.stdout.write(text)
 * ```
 */
export function streamText(
  client: Client,
  kind: Kind,
  settings: GenerationSettings,
  input: TextInput,
): TextStream {
  const pieces: { text: string }[] = []
  let settled = false
  let failure: unknown
  let wake: (() => void) | undefined
  const notify = () => {
    wake?.()
    wake = undefined
  }
  const stop = new AbortController()
  const signal = settings.signal ? AbortSignal.any([settings.signal, stop.signal]) : stop.signal

  const run = async (): Promise<TextGenerationResult> => {
    const params = expectedParams(settings)
    const { verity, jobId } = await signedRequest(client, settings, input, params)
    const { transport } = client
    if (transport.stream === undefined)
      throw new BaseError('NOT_SUPPORTED', `The ${transport.type} transport cannot stream.`, {
        metaMessages: ['Use the http transport, or call without `stream: true`.'],
      })
    const { body } = await transport.stream({
      method: 'POST',
      path: paths[kind],
      json: { ...requestBody(settings, input, true), ...(verity ? { verity } : {}) },
      headers: requestHeaders(settings),
      signal,
    })
    let text = ''
    let receipt: unknown
    for await (const data of readSse(body)) {
      if (data === '[DONE]') break
      let event: StreamEvent
      try {
        event = JSON.parse(data) as StreamEvent
      } catch (cause) {
        throw new BaseError('INVALID_JSON', 'The node sent a stream event that is not JSON.', {
          details: data.slice(0, 200),
          cause,
        })
      }
      if (event.error) {
        const { code, message } = event.error
        throw new BaseError(
          (typeof code === 'string' ? code : 'INTERNAL') as ErrorCode,
          typeof message === 'string' ? message : 'The node failed mid-stream.',
        )
      }
      const choice = event.choices?.[0]
      const piece = kind === 'chat' ? choice?.delta?.content : choice?.text
      if (typeof piece === 'string' && piece !== '') {
        text += piece
        pieces.push({ text: piece })
        notify()
      }
      if (event.receipt !== undefined) receipt = event.receipt
    }
    if (receipt === undefined)
      throw new BaseError('RECEIPT_NOT_FOUND', 'The stream ended without a receipt.', {
        metaMessages: [
          'Expected the receipt in the last event before [DONE]: is this a Verity node?',
        ],
      })
    const verified = await verifyTextReceipt(client, settings, input, params, receipt, text)
    checkJobId(jobId, verified.receipt)
    return verified
  }

  const result = run()
  result.then(
    () => {
      settled = true
      notify()
    },
    (error: unknown) => {
      failure = error
      settled = true
      notify()
    },
  )
  // a caller that only iterates still gets the failure there; do not also report it unhandled
  result.catch(() => undefined)

  return {
    result,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const piece = pieces.shift()
          if (piece !== undefined) {
            yield piece
            continue
          }
          if (settled) {
            if (failure !== undefined) throw failure
            return
          }
          await new Promise<void>((resolve) => {
            wake = resolve
          })
        }
      } finally {
        if (!settled) stop.abort()
      }
    },
  }
}
