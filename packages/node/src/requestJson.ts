import {
  BaseError,
  type Hash,
  hash32Schema,
  type InferenceRequestMessage,
  type Mode,
  modeIds,
} from '@verity/protocol'
import type { InferenceRequestJson } from './db/createJobStore.ts'

/**
 * The JSON form of a request message (`maxFee` and `deadline` as decimal strings), as stored and as
 * sent over HTTP.
 *
 * @example
 * ```ts
 * requestToJson(request).deadline // '1767225600'
 * ```
 */
export function requestToJson(request: InferenceRequestMessage): InferenceRequestJson {
  return { ...request, maxFee: request.maxFee.toString(), deadline: request.deadline.toString() }
}

const requestFields = [
  'modelCid',
  'manifestHash',
  'inputHash',
  'paramsHash',
  'mode',
  'quorum',
  'maxFee',
  'nonce',
  'deadline',
] as const

function uint(value: unknown, bits: number, field: string, problems: string[]): bigint {
  let result: bigint | undefined
  if (typeof value === 'string' && /^(0|[1-9]\d{0,77})$/.test(value)) result = BigInt(value)
  else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
    result = BigInt(value)
  if (result === undefined || result >= 2n ** BigInt(bits)) {
    problems.push(`request.${field}: expected a decimal string of a uint${bits}`)
    return 0n
  }
  return result
}

/**
 * Validates the JSON form of an `InferenceRequest` (untrusted input) and returns the message.
 * `mode` may be the numeric id or the name (`"none"`). Throws `SCHEMA_INVALID` listing every
 * problem.
 *
 * @example
 * ```ts
 * const request = requestFromJson(body.request) // { …, maxFee: 0n, deadline: 1767225600n }
 * ```
 */
export function requestFromJson(value: unknown): InferenceRequestMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BaseError('SCHEMA_INVALID', '"request" must be an object.', {
      metaMessages: [`Expected the fields ${requestFields.join(', ')}.`],
    })
  const input = value as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(input))
    if (!(requestFields as readonly string[]).includes(key))
      problems.push(`request.${key}: unknown field`)
  const hash = (field: 'manifestHash' | 'inputHash' | 'paramsHash' | 'nonce'): Hash => {
    const parsed = hash32Schema.safeParse(input[field])
    if (!parsed.success)
      problems.push(`request.${field}: expected a 0x-prefixed lowercase 32-byte hex`)
    return (parsed.success ? parsed.data : '0x') as Hash
  }
  const modelCid = input.modelCid
  if (typeof modelCid !== 'string' || modelCid.length === 0 || modelCid.length > 256)
    problems.push('request.modelCid: expected a CID string')
  let mode = 0
  if (typeof input.mode === 'string' && Object.hasOwn(modeIds, input.mode))
    mode = modeIds[input.mode as Mode]
  else if (typeof input.mode === 'number' && Object.values(modeIds).includes(input.mode as never))
    mode = input.mode
  else problems.push(`request.mode: expected one of ${Object.keys(modeIds).join(', ')} (or its id)`)
  const quorum = input.quorum
  if (!Number.isInteger(quorum) || (quorum as number) < 0 || (quorum as number) > 255)
    problems.push('request.quorum: expected an integer 0–255')
  const request: InferenceRequestMessage = {
    modelCid: modelCid as string,
    manifestHash: hash('manifestHash'),
    inputHash: hash('inputHash'),
    paramsHash: hash('paramsHash'),
    mode,
    quorum: quorum as number,
    maxFee: uint(input.maxFee, 256, 'maxFee', problems),
    nonce: hash('nonce'),
    deadline: uint(input.deadline, 64, 'deadline', problems),
  }
  if (problems.length)
    throw new BaseError('SCHEMA_INVALID', 'The inference request is not valid.', {
      metaMessages: problems.slice(0, 10),
    })
  return request
}
