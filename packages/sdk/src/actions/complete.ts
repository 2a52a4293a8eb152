import type { Client } from '../createClient.ts'
import {
  type GenerationSettings,
  generateText,
  streamText,
  type TextGenerationResult,
  type TextStream,
} from '../utils/generateText.ts'

/**
 * Parameters of {@link complete}: the model, a raw prompt and the generation settings.
 *
 * @example
 * ```ts
 * const parameters: CompleteParameters = { model: 'tiny', prompt: 'once upon a time', maxTokens: 16 }
 * ```
 */
export type CompleteParameters = GenerationSettings & {
  /** The raw prompt (no chat template). */
  prompt: string
  /** Stream the answer: `complete` then returns a {@link CompleteStream} instead of a promise. */
  stream?: boolean | undefined
}

/**
 * What {@link complete} resolves to once the receipt verified.
 *
 * @example
 * ```ts
 * const { text, receipt }: CompleteReturnType = await complete(client, parameters)
 * ```
 */
export type CompleteReturnType = TextGenerationResult

/**
 * What `complete(client, { …, stream: true })` returns: `{ text }` pieces and a `result` promise.
 *
 * @example
 * ```ts
 * const stream: CompleteStream = complete(client, { model, prompt, stream: true })
 * ```
 */
export type CompleteStream = TextStream

/**
 * Continues a raw prompt (`POST /v1/completions`, OpenAI-compatible); the receipt is verified
 * offline exactly as {@link chat} does it, with `text.input.prompt` held to the prompt sent.
 *
 * @example
 * ```ts
 * const { text } = await complete(client, { model: 'tiny', prompt: 'once upon a time', temperature: 0 })
 * ```
 */
export function complete(
  client: Client,
  parameters: CompleteParameters & { stream: true },
): CompleteStream
export function complete(
  client: Client,
  parameters: CompleteParameters & { stream?: false | undefined },
): Promise<CompleteReturnType>
export function complete(
  client: Client,
  parameters: CompleteParameters,
): CompleteStream | Promise<CompleteReturnType>
export function complete(
  client: Client,
  parameters: CompleteParameters,
): CompleteStream | Promise<CompleteReturnType> {
  const { prompt, stream, ...settings } = parameters
  return stream === true
    ? streamText(client, 'completion', settings, { prompt })
    : generateText(client, 'completion', settings, { prompt })
}
