import {
  BaseError,
  type NamedTensors,
  namedTensorsFromJson,
  parseReceipt,
  type Receipt,
} from '@verity/protocol'

/**
 * A decoded `POST /v1/verify` body: the executor's signed receipt (mode `reexec`, output embedded,
 * no quorum yet) and the job's input tensors.
 *
 * @example
 * ```ts
 * const { receipt, inputs }: VerifyBody = parseVerifyBody(await request.json())
 * ```
 */
export type VerifyBody = { receipt: Receipt; inputs: NamedTensors }

/**
 * Validates the JSON body of `POST /v1/verify` (untrusted): `{ receipt, inputs }`. Throws
 * `SCHEMA_INVALID` for a wrong shape, `RECEIPT_INVALID` for a receipt that does not fit the
 * Receipt v1 schema, `TENSOR_*` for bad tensors. Signatures are checked by the verifier.
 *
 * @example
 * ```ts
 * const body = parseVerifyBody({ receipt, inputs: { image: { dtype: 'uint8', shape: [1, 1, 28, 28], base64 } } })
 * ```
 */
export function parseVerifyBody(value: unknown): VerifyBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BaseError('SCHEMA_INVALID', 'The verify request body must be a JSON object.', {
      metaMessages: ['Expected {"receipt": <the executor\'s signed receipt>, "inputs": {…}}.'],
    })
  const body = value as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(body))
    if (key !== 'receipt' && key !== 'inputs') problems.push(`${key}: unknown field`)
  if (body.receipt === undefined) problems.push('receipt: required')
  if (body.inputs === undefined) problems.push('inputs: required')
  if (problems.length)
    throw new BaseError('SCHEMA_INVALID', 'The verify request body is not valid.', {
      metaMessages: problems.slice(0, 10),
    })
  return { receipt: parseReceipt(body.receipt), inputs: namedTensorsFromJson(body.inputs) }
}
