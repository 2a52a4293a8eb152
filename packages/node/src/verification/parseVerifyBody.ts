import {
  BaseError,
  type NamedTensors,
  namedTensorsFromJson,
  parseReceipt,
  type Receipt,
} from '@verity/protocol'

/**
 * How a verifier checks a text generation: `replay` (one batched forward pass over the claimed
 * tokens: every token must be what the pinned sampler chooses) or `reexec` (generate again and
 * compare the token ids exactly).
 *
 * @example
 * ```ts
 * const method: TextVerifyMethod = 'replay'
 * ```
 */
export type TextVerifyMethod = 'replay' | 'reexec'

/**
 * A decoded `POST /v1/verify` body: the executor's signed receipt (mode `reexec`, no quorum yet)
 * and either the job's input tensors (tensor jobs, output embedded) or, for a text receipt (its
 * `text` section holds input and output), how to check it (`method`, default `replay`).
 *
 * @example
 * ```ts
 * const { receipt, inputs }: VerifyBody = parseVerifyBody(await request.json())
 * ```
 */
export type VerifyBody =
  | { receipt: Receipt; inputs: NamedTensors; method?: undefined }
  | { receipt: Receipt; inputs?: undefined; method: TextVerifyMethod }

/**
 * Validates the JSON body of `POST /v1/verify` (untrusted): `{ receipt, inputs }` for a tensor
 * job, `{ receipt, method? }` for a text generation (`method`: `replay` | `reexec`, default
 * `replay`). Throws `SCHEMA_INVALID` for a wrong shape, `RECEIPT_INVALID` for a receipt that does
 * not fit the Receipt v1 schema, `TENSOR_*` for bad tensors. Signatures are checked by the
 * verifier.
 *
 * @example
 * ```ts
 * const body = parseVerifyBody({ receipt, inputs: { image: { dtype: 'uint8', shape: [1, 1, 28, 28], base64 } } })
 * const text = parseVerifyBody({ receipt: textReceipt, method: 'reexec' })
 * ```
 */
export function parseVerifyBody(value: unknown): VerifyBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BaseError('SCHEMA_INVALID', 'The verify request body must be a JSON object.', {
      metaMessages: [
        'Expected {"receipt": <the executor\'s signed receipt>, "inputs": {…}} (tensor jobs) or {"receipt": …, "method": "replay" | "reexec"} (text generations).',
      ],
    })
  const body = value as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(body))
    if (key !== 'receipt' && key !== 'inputs' && key !== 'method')
      problems.push(`${key}: unknown field`)
  if (body.receipt === undefined) problems.push('receipt: required')
  const isText =
    typeof body.receipt === 'object' &&
    body.receipt !== null &&
    (body.receipt as Record<string, unknown>).text !== undefined
  if (isText) {
    if (body.inputs !== undefined)
      problems.push('inputs: not allowed for a text receipt (its input is in receipt.text)')
    if (body.method !== undefined && body.method !== 'replay' && body.method !== 'reexec')
      problems.push(`method: expected "replay" or "reexec", found ${JSON.stringify(body.method)}`)
  } else {
    if (body.inputs === undefined) problems.push('inputs: required')
    if (body.method !== undefined) problems.push('method: only for text receipts')
  }
  if (problems.length)
    throw new BaseError('SCHEMA_INVALID', 'The verify request body is not valid.', {
      metaMessages: problems.slice(0, 10),
    })
  const receipt = parseReceipt(body.receipt)
  if (isText) return { receipt, method: (body.method as TextVerifyMethod | undefined) ?? 'replay' }
  return { receipt, inputs: namedTensorsFromJson(body.inputs) }
}
