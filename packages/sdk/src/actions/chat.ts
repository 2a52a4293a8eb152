import type { ChatMessage } from '@verity/protocol'
import type { Client } from '../createClient.ts'
import {
  type GenerationSettings,
  generateText,
  streamText,
  type TextGenerationResult,
  type TextStream,
} from '../utils/generateText.ts'

export type { GenerationSettings, TextGenerationResult, TextStream } from '../utils/generateText.ts'

/**
 * Parameters of {@link chat}: the model, the conversation and the generation settings.
 *
 * @example
 * ```ts
 * const parameters: ChatParameters = {
 *   model: 'tiny',
 *   messages: [{ role: 'user', content: 'once upon a time' }],
 *   maxTokens: 16,
 *   temperature: 0,
 * }
 * ```
 */
export type ChatParameters = GenerationSettings & {
  /** The conversation so far, oldest first (`system`, `user`, `assistant`; text content). */
  messages: ChatMessage[]
  /** Stream the answer: `chat` then returns a {@link ChatStream} instead of a promise. */
  stream?: boolean | undefined
}

/**
 * What {@link chat} resolves to once the receipt verified.
 *
 * @example
 * ```ts
 * const { text, finishReason, usage, receipt, verdict }: ChatReturnType = await chat(client, parameters)
 * ```
 */
export type ChatReturnType = TextGenerationResult

/**
 * What `chat(client, { …, stream: true })` returns: an async iterator of `{ text }` pieces with a
 * `result` promise of the verified {@link ChatReturnType}.
 *
 * @example
 * ```ts
 * const stream: ChatStream = chat(client, { model, messages, stream: true })
 * ```
 */
export type ChatStream = TextStream

/**
 * Chats with a text model on the node (`POST /v1/chat/completions`, OpenAI-compatible) and
 * verifies the receipt offline before returning: protocol's `verifyReceipt` (signatures, the
 * text section's hashes, executor = the node's key, the signing domain), then the receipt's
 * `text.input.messages` equal the messages sent, its `text.params` equal the asked values (the
 * unset ones at the node defaults), the mode is the asked one and the text received is the text
 * it binds. A failed check throws a `BaseError` with its code (`RECEIPT_*`), like `infer`.
 *
 * With `stream: true` it returns at once a {@link ChatStream}: iterate it for the pieces as they
 * are generated; the iteration ends (or throws) once the receipt at the end of the stream is
 * verified; `result` holds the same final object as the non-streaming call.
 *
 * `mode` and `quorum` go as the `verity-mode` / `verity-quorum` headers.
 *
 * Error codes: the node's (`MODEL_NOT_FOUND`, `INVALID_ARGUMENT`, `NOT_SUPPORTED`, …),
 * `RECEIPT_*` for a receipt that does not hold, `NODE_UNAVAILABLE`, `REQUEST_TIMEOUT`, `ABORTED`.
 *
 * @example
 * ```ts
 * const client = createClient({ transport: http('http://127.0.0.1:8080') })
 * const messages = [{ role: 'user' as const, content: 'once upon a time' }]
 * const { text, receipt } = await chat(client, { model: 'tiny', messages, temperature: 0 })
 *
 * const stream = chat(client, { model: 'tiny', messages, stream: true })
 * for await (const piece of stream) process.stdout.write(piece.text)
 * console.log((await stream.result).receipt.job.id)
 * ```
 */
export function chat(client: Client, parameters: ChatParameters & { stream: true }): ChatStream
export function chat(
  client: Client,
  parameters: ChatParameters & { stream?: false | undefined },
): Promise<ChatReturnType>
export function chat(
  client: Client,
  parameters: ChatParameters,
): ChatStream | Promise<ChatReturnType>
export function chat(
  client: Client,
  parameters: ChatParameters,
): ChatStream | Promise<ChatReturnType> {
  const { messages, stream, ...settings } = parameters
  const input = { messages: messages.map(({ role, content }) => ({ role, content })) }
  return stream === true
    ? streamText(client, 'chat', settings, input)
    : generateText(client, 'chat', settings, input)
}
