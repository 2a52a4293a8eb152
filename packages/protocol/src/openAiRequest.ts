import { BaseError } from './errors.ts'
import { parseResponseJsonSchema } from './responseJsonSchema.ts'
import {
  type ChatMessage,
  defaultGenerationParams,
  type GenerationParams,
  generationParamsSchema,
  type ResponseFormat,
  type TextInput,
  textInputSchema,
} from './textGeneration.ts'

/**
 * An OpenAI-style request (`POST /v1/chat/completions` or `/v1/completions`) read into Verity's
 * terms: the model reference, the text input and the generation parameters with every default
 * filled in (so client and node hash the same `paramsHash`), and the transport switches.
 *
 * @example
 * ```ts
 * const { model, input, params, stream } = parseOpenAiRequest('chat', await request.json())
 * ```
 */
export type OpenAiRequest = {
  model: string
  input: TextInput
  params: GenerationParams
  stream: boolean
  /** `stream_options.include_usage`: a last chunk with usage. */
  includeUsage: boolean
}

/** OpenAI request fields that change nothing about the generated tokens: accepted and ignored. */
const ignoredFields = new Set([
  'user',
  'metadata',
  'store',
  'service_tier',
  'logprobs',
  'parallel_tool_calls',
])
/** Fields that would change the tokens in ways this node does not implement: refused unless neutral. */
const neutralValues: Record<string, (value: unknown) => boolean> = {
  n: (value) => value === 1,
  presence_penalty: (value) => value === 0,
  frequency_penalty: (value) => value === 0,
  logit_bias: (value) =>
    typeof value === 'object' && value !== null && Object.keys(value).length === 0,
  tools: (value) => Array.isArray(value) && value.length === 0,
  tool_choice: (value) => value === 'none',
  top_logprobs: (value) => value === 0,
  echo: (value) => value === false,
  best_of: (value) => value === 1,
  suffix: (value) => value === null || value === '',
}

function invalid(param: string, message: string): BaseError {
  return new BaseError('INVALID_ARGUMENT', message, { details: param })
}

function optionalNumber(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalid(name, `"${name}" must be a number; got ${JSON.stringify(value)}.`)
  return value
}

/** OpenAI's `response_format`: `{type: text | json_object}` or `{type: json_schema, json_schema: {name, schema, strict}}`. */
function parseResponseFormat(value: unknown): ResponseFormat {
  if (value === undefined || value === null) return 'text'
  const format = value as { type?: unknown; json_schema?: unknown }
  if (typeof value === 'object' && (format.type === 'text' || format.type === 'json_object'))
    return format.type
  if (typeof value !== 'object' || format.type !== 'json_schema')
    throw invalid(
      'response_format',
      '"response_format" must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name": …, "schema": {…}}}.',
    )
  const spec = format.json_schema as { name?: unknown; schema?: unknown; strict?: unknown }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw invalid(
      'response_format',
      '"response_format.json_schema" must be an object with "schema".',
    )
  if (
    spec.name !== undefined &&
    (typeof spec.name !== 'string' || !/^[\w-]{1,64}$/.test(spec.name))
  )
    throw invalid(
      'response_format',
      '"response_format.json_schema.name" must be 1 to 64 letters, digits, _ or -.',
    )
  const schema = parseResponseJsonSchema(spec.schema)
  return {
    type: 'json_schema',
    ...(spec.name === undefined ? {} : { name: spec.name as string }),
    schema,
  }
}

function content(value: unknown, index: number): string {
  if (typeof value === 'string') return value
  // the array form: only text parts
  if (Array.isArray(value)) {
    return value
      .map((part, j) => {
        if (
          typeof part === 'object' &&
          part !== null &&
          (part as { type?: unknown }).type === 'text'
        ) {
          const text = (part as { text?: unknown }).text
          if (typeof text === 'string') return text
        }
        throw invalid(
          `messages[${index}].content[${j}]`,
          `messages[${index}].content[${j}] is not a text part; only text content is supported.`,
        )
      })
      .join('')
  }
  throw invalid(
    `messages[${index}].content`,
    `messages[${index}].content must be a string or text parts.`,
  )
}

/**
 * Reads an untrusted OpenAI-style body. Throws `INVALID_ARGUMENT` (OpenAI's
 * `invalid_request_error`; `details` names the parameter) for anything malformed or unsupported:
 * a missing model, malformed messages, out-of-range sampling values, `n > 1`, penalties, tools.
 *
 * @example
 * ```ts
 * parseOpenAiRequest('chat', { model: 'stories', messages: [{ role: 'user', content: 'Hi' }], temperature: 0 })
 * ```
 */
export function parseOpenAiRequest(kind: 'chat' | 'completion', value: unknown): OpenAiRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid('body', 'The request body must be a JSON object.')
  const body = value as Record<string, unknown>
  const known = new Set([
    'model',
    kind === 'chat' ? 'messages' : 'prompt',
    'max_tokens',
    'max_completion_tokens',
    'temperature',
    'top_p',
    'top_k',
    'seed',
    'stop',
    'stream',
    'stream_options',
    'response_format',
  ])
  for (const [key, field] of Object.entries(body)) {
    if (known.has(key) || ignoredFields.has(key)) continue
    const neutral = neutralValues[key]
    if (neutral) {
      if (field === undefined || field === null || neutral(field)) continue
      throw invalid(key, `"${key}" is not supported by this node (only its neutral value is).`)
    }
    throw invalid(key, `Unknown parameter "${key}".`)
  }
  if (typeof body.model !== 'string' || body.model.trim() === '')
    throw invalid('model', '"model" must name a model (a CID, a name or name@version).')

  let input: TextInput
  if (kind === 'chat') {
    if (!Array.isArray(body.messages) || body.messages.length === 0)
      throw invalid('messages', '"messages" must be a non-empty array.')
    const messages: ChatMessage[] = body.messages.map((message, index) => {
      if (typeof message !== 'object' || message === null)
        throw invalid(`messages[${index}]`, `messages[${index}] must be an object.`)
      const { role } = message as { role?: unknown }
      if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'developer')
        throw invalid(
          `messages[${index}].role`,
          `messages[${index}].role must be system, developer, user or assistant; got ${JSON.stringify(role)}.`,
        )
      return {
        role: role === 'developer' ? 'system' : role,
        content: content((message as { content?: unknown }).content, index),
      }
    })
    input = { messages }
  } else {
    if (typeof body.prompt !== 'string')
      throw invalid('prompt', '"prompt" must be a string (one prompt per request).')
    input = { prompt: body.prompt }
  }
  const parsedInput = textInputSchema.safeParse(input)
  if (!parsedInput.success)
    throw invalid(
      kind === 'chat' ? 'messages' : 'prompt',
      parsedInput.error.issues[0]?.message ?? 'invalid',
    )

  const maxTokens =
    optionalNumber(body, 'max_completion_tokens') ?? optionalNumber(body, 'max_tokens')
  let stop: string[] = []
  if (typeof body.stop === 'string') stop = [body.stop]
  else if (Array.isArray(body.stop)) stop = body.stop as string[]
  else if (body.stop !== undefined && body.stop !== null)
    throw invalid('stop', '"stop" must be a string or an array of strings.')
  const responseFormat = parseResponseFormat(body.response_format)
  const params = {
    maxTokens: maxTokens ?? defaultGenerationParams.maxTokens,
    temperature: optionalNumber(body, 'temperature') ?? defaultGenerationParams.temperature,
    topP: optionalNumber(body, 'top_p') ?? defaultGenerationParams.topP,
    topK: optionalNumber(body, 'top_k') ?? defaultGenerationParams.topK,
    seed: optionalNumber(body, 'seed') ?? defaultGenerationParams.seed,
    stop,
    responseFormat,
  }
  const parsedParams = generationParamsSchema.safeParse(params)
  if (!parsedParams.success) {
    const issue = parsedParams.error.issues[0]
    const field = String(issue?.path[0] ?? 'params')
    const names: Record<string, string> = {
      maxTokens: 'max_tokens',
      topP: 'top_p',
      topK: 'top_k',
    }
    throw invalid(names[field] ?? field, `"${names[field] ?? field}": ${issue?.message}.`)
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    throw invalid('stream', '"stream" must be true or false.')
  const options = body.stream_options as { include_usage?: unknown } | undefined | null
  return {
    model: body.model.trim(),
    input: parsedInput.data,
    params: parsedParams.data,
    stream: body.stream === true,
    includeUsage: options?.include_usage === true,
  }
}
