import { addressSchema, BaseError, type Hash, namedTensorsFromJson } from '@verity/protocol'
import type { InferCall } from '../executor.ts'
import { requestFromJson } from '../requestJson.ts'

const bodyFields = ['model', 'inputs', 'request', 'requester', 'signature', 'includeOutput']

/**
 * Validates the JSON body of `POST /v1/infer` (untrusted) and decodes its tensors:
 * `{ model, inputs, request?, requester?, signature?, includeOutput? }`. Throws `SCHEMA_INVALID`
 * for a wrong shape, `TENSOR_*` for bad tensors. Signatures are checked later, by the executor.
 *
 * @example
 * ```ts
 * const call = parseInferBody({ model: 'digits', inputs: { image: { dtype: 'uint8', shape: [1, 1, 28, 28], data } } })
 * ```
 */
export function parseInferBody(value: unknown): InferCall {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BaseError('SCHEMA_INVALID', 'The request body must be a JSON object.', {
      metaMessages: [
        'Expected {"model": "<cid|name|name@version>", "inputs": {"<name>": {"dtype", "shape", "data"}}}.',
      ],
    })
  const body = value as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(body))
    if (!bodyFields.includes(key)) problems.push(`${key}: unknown field`)
  if (typeof body.model !== 'string' || body.model.trim() === '' || body.model.length > 320)
    problems.push('model: expected a CID, a name or name@version')
  if (body.inputs === undefined) problems.push('inputs: required')
  if (body.requester !== undefined && !addressSchema.safeParse(body.requester).success)
    problems.push('requester: expected a 0x-prefixed 20-byte address')
  if (body.signature !== undefined && typeof body.signature !== 'string')
    problems.push('signature: expected 0x-prefixed hex')
  if (body.includeOutput !== undefined && typeof body.includeOutput !== 'boolean')
    problems.push('includeOutput: expected true or false')
  if (problems.length)
    throw new BaseError('SCHEMA_INVALID', 'The inference request body is not valid.', {
      metaMessages: problems.slice(0, 10),
    })
  return {
    model: (body.model as string).trim(),
    inputs: namedTensorsFromJson(body.inputs),
    ...(body.request === undefined ? {} : { request: requestFromJson(body.request) }),
    ...(body.requester === undefined ? {} : { requester: body.requester as `0x${string}` }),
    ...(body.signature === undefined ? {} : { signature: body.signature as Hash }),
    ...(body.includeOutput === undefined ? {} : { includeOutput: body.includeOutput as boolean }),
  }
}
