import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import {
  BaseError,
  type ChatMessage,
  canonicalJson,
  type Mode,
  parseResponseJsonSchema,
  type ResponseFormat,
} from '@verity/protocol'
import {
  type ChatReturnType,
  type Client,
  chat as chatAction,
  type GenerationSettings,
} from '@verity/sdk'
import { loadAccount } from '../keystore.ts'
import { createNodeClient } from '../nodeClient.ts'
import { type CliOptions, homePaths } from '../options.ts'
import type { Io } from '../output.ts'
import { writeAtomic } from '../writeAtomic.ts'

/**
 * Flags of `verity chat`.
 *
 * @example
 * ```ts
 * const flags: ChatFlags = { node: 'http://127.0.0.1:8546', maxTokens: '64', temperature: '0' }
 * ```
 */
export type ChatFlags = {
  node: string
  maxTokens?: string | undefined
  temperature?: string | undefined
  seed?: string | undefined
  topP?: string | undefined
  topK?: string | undefined
  /** Stop strings (repeatable). */
  stop?: string[] | undefined
  /** A system message before the conversation. */
  system?: string | undefined
  /** `none` (default) or `reexec`. */
  mode?: string | undefined
  /** Verifiers that re-check each answer (with `--mode reexec`). */
  quorum?: string | undefined
  /** Constrain answers to any JSON object. */
  jsonObject?: boolean | undefined
  /** A JSON schema file: answers are JSON of this schema. */
  jsonSchema?: string | undefined
  /** Sign requests with this key file (or `$VERITY_PRIVATE_KEY`); unsigned otherwise. */
  key?: string | undefined
  /** Where to write the receipt (interactive: the last answer's). */
  out?: string | undefined
}

type Settings = Omit<GenerationSettings, 'model' | 'signal'>

function parseNumber(
  flag: string,
  value: string | undefined,
  integer: boolean,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (value.trim() === '' || !Number.isFinite(number) || (integer && !Number.isInteger(number)))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${flag} must be ${integer ? 'an integer' : 'a number'}; got "${value}".`,
    )
  if (number < min || number > max)
    throw new BaseError('INVALID_ARGUMENT', `${flag} must be from ${min} to ${max}; got ${number}.`)
  return number
}

async function parseSettings(flags: ChatFlags): Promise<Settings> {
  const maxTokens = parseNumber('--max-tokens', flags.maxTokens, true, 1, 1 << 20)
  const temperature = parseNumber('--temperature', flags.temperature, false, 0, 2)
  const seed = parseNumber('--seed', flags.seed, true, 0, 2 ** 32 - 1)
  const topP = parseNumber('--top-p', flags.topP, false, 0, 1)
  const topK = parseNumber('--top-k', flags.topK, true, 0, 1 << 20)
  const quorum = parseNumber('--quorum', flags.quorum, true, 1, 64)
  const mode = flags.mode ?? (quorum === undefined ? undefined : 'reexec')
  if (mode !== undefined && mode !== 'none' && mode !== 'reexec')
    throw new BaseError('INVALID_ARGUMENT', `--mode must be none or reexec; got "${mode}".`)
  if (quorum !== undefined && mode !== 'reexec')
    throw new BaseError('INVALID_ARGUMENT', '--quorum needs --mode reexec.')
  if (flags.jsonObject && flags.jsonSchema !== undefined)
    throw new BaseError('INVALID_ARGUMENT', 'Give --json-object or --json-schema, not both.')
  let responseFormat: ResponseFormat | undefined = flags.jsonObject ? 'json_object' : undefined
  if (flags.jsonSchema !== undefined) {
    let schema: unknown
    try {
      schema = JSON.parse(await readFile(resolve(flags.jsonSchema), 'utf8'))
    } catch (cause) {
      throw new BaseError(
        'INVALID_ARGUMENT',
        `--json-schema ${flags.jsonSchema} is not a readable JSON file.`,
        {
          cause,
        },
      )
    }
    responseFormat = { type: 'json_schema', schema: parseResponseJsonSchema(schema) }
  }
  return {
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(seed === undefined ? {} : { seed }),
    ...(topP === undefined ? {} : { topP }),
    ...(topK === undefined ? {} : { topK }),
    ...(flags.stop === undefined || flags.stop.length === 0 ? {} : { stop: flags.stop }),
    ...(mode === undefined ? {} : { mode: mode as Mode }),
    ...(quorum === undefined ? {} : { quorum }),
    ...(responseFormat === undefined ? {} : { responseFormat }),
  }
}

/** One answer: streamed to stdout as it arrives (unless `--json`), its receipt verified. */
async function answer(
  io: Io,
  options: CliOptions,
  client: Client,
  model: string,
  settings: Settings,
  messages: ChatMessage[],
): Promise<ChatReturnType> {
  if (options.json) return chatAction(client, { model, messages, ...settings })
  const stream = chatAction(client, { model, messages, ...settings, stream: true })
  let last = ''
  for await (const { text } of stream) {
    io.stdout(text)
    last = text
  }
  if (!last.endsWith('\n')) io.stdout('\n')
  const result = await stream.result
  io.stderr(
    `receipt ${result.receipt.job.id} (verified offline; ${result.usage.completionTokens} tokens, ${result.finishReason})\n`,
  )
  return result
}

function turnJson(result: ChatReturnType) {
  return {
    text: result.text,
    finishReason: result.finishReason,
    usage: result.usage,
    jobId: result.receipt.job.id,
    verified: result.verdict.valid,
    receipt: result.receipt,
  }
}

/**
 * `verity chat MODEL [PROMPT] --node URL [--max-tokens N] [--temperature T] [--top-p P] [--top-k K]
 * [--seed S] [--stop S]… [--system TEXT] [--mode reexec --quorum K] [--json-object | --json-schema FILE]
 * [--key FILE] [--out FILE]`:
 * chats with a text model on a node (SDK `chat`, OpenAI-compatible route), streaming the answer to
 * stdout and then the id of its receipt, verified offline (to stderr; `--out` writes it). `--json`
 * prints one document at the end instead (text, usage, receipt). Without a prompt it is
 * interactive: one user message per stdin line, the conversation kept as history, until end of
 * input or `/exit`. Exit 0 only when every receipt verified.
 *
 * @example
 * ```ts
 * await chat(io, options, 'tiny', 'once upon a time', { node: 'http://127.0.0.1:8546' })
 * ```
 */
export async function chat(
  io: Io,
  options: CliOptions,
  model: string,
  prompt: string | undefined,
  flags: ChatFlags,
): Promise<number> {
  const settings = await parseSettings(flags)
  const signs = flags.key !== undefined || process.env.VERITY_PRIVATE_KEY !== undefined
  const account = signs
    ? await loadAccount({
        file: resolve(flags.key ?? homePaths(options.home).key),
        explicitFile: flags.key !== undefined,
        env: process.env,
      })
    : undefined
  const client = createNodeClient(flags.node, { account })
  const system: ChatMessage[] =
    flags.system === undefined ? [] : [{ role: 'system', content: flags.system }]
  const out = flags.out === undefined ? undefined : resolve(flags.out)
  const save = async (result: ChatReturnType) => {
    if (out !== undefined) await writeAtomic(out, `${canonicalJson(result.receipt)}\n`)
  }

  if (prompt !== undefined) {
    const result = await answer(io, options, client, model, settings, [
      ...system,
      { role: 'user', content: prompt },
    ])
    await save(result)
    if (options.json)
      io.stdout(
        `${JSON.stringify({ model, node: client.transport.url, ...turnJson(result), ...(out ? { receiptPath: out } : {}) }, null, 2)}\n`,
      )
    else if (out !== undefined) io.stderr(`receipt written to ${out}\n`)
    return 0
  }

  const messages: ChatMessage[] = [...system]
  const turns: ReturnType<typeof turnJson>[] = []
  const interactive = io.stderrIsTTY === true && !options.json
  if (interactive)
    io.stderr(`Chatting with ${model} on ${client.transport.url}; /exit or Ctrl+D to end.\n> `)
  if (io.stdin !== undefined) {
    const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY })
    try {
      for await (const raw of lines) {
        const line = raw.trim()
        if (line === '/exit') break
        if (line !== '') {
          messages.push({ role: 'user', content: line })
          const result = await answer(io, options, client, model, settings, messages)
          messages.push({ role: 'assistant', content: result.text })
          turns.push(turnJson(result))
          await save(result)
        }
        if (interactive) io.stderr('> ')
      }
    } finally {
      lines.close()
    }
  }
  if (options.json)
    io.stdout(
      `${JSON.stringify({ model, node: client.transport.url, messages, turns, ...(out && turns.length > 0 ? { receiptPath: out } : {}) }, null, 2)}\n`,
    )
  else if (out !== undefined && turns.length > 0) io.stderr(`last receipt written to ${out}\n`)
  return 0
}
