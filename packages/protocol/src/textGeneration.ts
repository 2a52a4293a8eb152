import { z } from 'zod'
import { BaseError } from './errors.ts'
import { type Hash, hashCanonicalJson } from './hash.ts'
import { parseResponseJsonSchema } from './responseJsonSchema.ts'

/**
 * Text generation (GGUF models) in receipts. The signed request fields stay the same as for
 * tensors, with their meaning fixed here:
 * - `inputHash = keccak256(JCS(input))`, input = `{ prompt }` or `{ messages }` exactly as sent;
 * - `paramsHash = keccak256(JCS(params))`, params = every generation-affecting field the request
 *   set (max_tokens, temperature, top_p, top_k, seed, stop, response_format), with the defaults
 *   filled in, so two requests that decode alike hash alike;
 * - `outputHash = keccak256(JCS({ tokens, text }))`: the generated token ids and their text.
 * The receipt carries all three in its `text` section, so anyone can recompute the hashes offline.
 */

const maxMessages = 256
const maxTextLength = 1 << 20

/** One chat message (OpenAI shape, text content only). */
export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string().max(maxTextLength),
  })
  .strict()

export type ChatMessage = z.infer<typeof chatMessageSchema>

/** What the model was asked: a raw prompt (completions) or messages (chat completions). */
export const textInputSchema = z.union([
  z.object({ prompt: z.string().max(maxTextLength) }).strict(),
  z.object({ messages: z.array(chatMessageSchema).min(1).max(maxMessages) }).strict(),
])

export type TextInput = z.infer<typeof textInputSchema>

/**
 * What the output must look like: free `text`, any JSON object (`json_object`), or JSON matching a
 * schema (`json_schema`, the subset {@link parseResponseJsonSchema} accepts). JSON modes constrain
 * every token with a grammar, so they are part of the parameters the receipt covers.
 */
export const responseFormatSchema = z.union([
  z.enum(['text', 'json_object']),
  z
    .object({
      type: z.literal('json_schema'),
      name: z.string().min(1).max(64).optional(),
      schema: z.record(z.string(), z.unknown()).superRefine((schema, context) => {
        try {
          parseResponseJsonSchema(schema)
        } catch (error) {
          context.addIssue({ code: 'custom', message: (error as Error).message })
        }
      }),
    })
    .strict(),
])

export type ResponseFormat = z.infer<typeof responseFormatSchema>

/** Every field that changes the generated tokens, defaults filled in. */
export const generationParamsSchema = z
  .object({
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 20),
    /** 0 = greedy. */
    temperature: z.number().min(0).max(2),
    topP: z.number().gt(0).max(1),
    topK: z
      .number()
      .int()
      .min(0)
      .max(1 << 20),
    /** The sampler's seed (ignored by greedy decoding, still recorded). */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    stop: z.array(z.string().min(1).max(256)).max(16),
    responseFormat: responseFormatSchema,
  })
  .strict()

export type GenerationParams = z.infer<typeof generationParamsSchema>

/** What the model produced. */
export const textOutputSchema = z
  .object({
    tokens: z.array(z.number().int().min(0)).max(1 << 20),
    text: z.string().max(16 * maxTextLength),
  })
  .strict()

export type TextOutput = z.infer<typeof textOutputSchema>

/**
 * The receipt's `text` section: input, parameters and output of a text generation, each of which
 * hashes to the field the signatures cover.
 */
export const textSectionSchema = z
  .object({
    input: textInputSchema,
    params: generationParamsSchema,
    output: textOutputSchema,
    finishReason: z.enum(['stop', 'length']),
    usage: z
      .object({
        promptTokens: z.number().int().min(0),
        completionTokens: z.number().int().min(0),
      })
      .strict(),
  })
  .strict()

export type TextSection = z.infer<typeof textSectionSchema>

/**
 * Generation defaults, as OpenAI documents them where it does (temperature 1, top_p 1) and
 * llama.cpp's otherwise (top_k 40); `seed` 0 when the request gives none.
 *
 * @example
 * ```ts
 * const params = { ...defaultGenerationParams, maxTokens: 64, temperature: 0 }
 * ```
 */
export const defaultGenerationParams: Readonly<GenerationParams> = Object.freeze({
  maxTokens: 128,
  temperature: 1,
  topP: 1,
  topK: 40,
  seed: 0,
  stop: [],
  responseFormat: 'text',
})

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success)
    throw new BaseError('SCHEMA_INVALID', `The ${what} is invalid.`, {
      metaMessages: parsed.error.issues
        .slice(0, 10)
        .map((issue) => `${issue.path.join('.') || '$'}: ${issue.message}`),
    })
  return parsed.data
}

/**
 * `inputHash` of a text generation.
 *
 * @example
 * ```ts
 * const inputHash = hashTextInput({ messages: [{ role: 'user', content: 'Hi' }] })
 * ```
 */
export function hashTextInput(input: TextInput): Hash {
  return hashCanonicalJson(parse(textInputSchema, input, 'text input'))
}

/**
 * `paramsHash` of a text generation (parameters validated; pass them with defaults filled in).
 *
 * @example
 * ```ts
 * const paramsHash = hashGenerationParams({ ...defaultGenerationParams, temperature: 0 })
 * ```
 */
export function hashGenerationParams(params: GenerationParams): Hash {
  return hashCanonicalJson(parse(generationParamsSchema, params, 'generation parameters'))
}

/**
 * `outputHash` of a text generation: the token ids and their text.
 *
 * @example
 * ```ts
 * const outputHash = hashTextOutput({ tokens: [1, 2, 3], text: ' a b' })
 * ```
 */
export function hashTextOutput(output: TextOutput): Hash {
  return hashCanonicalJson(parse(textOutputSchema, output, 'text output'))
}

/** The schema `json_object` stands for: any JSON object. */
const anyJsonObject: Readonly<Record<string, unknown>> = Object.freeze({
  type: 'object',
  additionalProperties: true,
})

/**
 * The JSON schema a response format constrains generation to: `undefined` for `text`, any object
 * for `json_object`, the request's schema for `json_schema`. Executor and verifiers derive the
 * grammar the same way from the receipt's `params.responseFormat`.
 *
 * @example
 * ```ts
 * jsonSchemaOfResponseFormat('json_object') // { type: 'object', additionalProperties: true }
 * ```
 */
export function jsonSchemaOfResponseFormat(
  format: ResponseFormat,
): Readonly<Record<string, unknown>> | undefined {
  if (format === 'text') return undefined
  if (format === 'json_object') return anyJsonObject
  return format.schema
}
