import type { TextCompletion, TextEngine, TextTokenEvent } from '@verity/engine'
import { type GenerationParams, jsonSchemaOfResponseFormat, type TextInput } from '@verity/protocol'

/**
 * Runs one text generation on a loaded engine exactly as a receipt describes it: the input
 * (`messages` → `chat`, `prompt` → `complete`) and every generation parameter, the response
 * format as its grammar. The executor generates with it and a re-executing verifier regenerates
 * with it, so both decode the same way.
 *
 * @example
 * ```ts
 * const completion = await generateWithEngine(engine, { id: model.cid, input, params, signal })
 * ```
 */
export function generateWithEngine(
  engine: TextEngine,
  parameters: {
    id: string
    input: TextInput
    params: GenerationParams
    signal?: AbortSignal | undefined
    onToken?: ((event: TextTokenEvent) => void) | undefined
  },
): Promise<TextCompletion> {
  const { id, input, params, signal, onToken } = parameters
  const common = {
    id,
    maxTokens: params.maxTokens,
    stop: params.stop,
    temperature: params.temperature,
    topP: params.topP,
    topK: params.topK,
    seed: params.seed,
    jsonSchema: jsonSchemaOfResponseFormat(params.responseFormat),
    signal,
    onToken,
  }
  return 'messages' in input
    ? engine.chat({ ...common, messages: input.messages })
    : engine.complete({ ...common, prompt: input.prompt })
}
