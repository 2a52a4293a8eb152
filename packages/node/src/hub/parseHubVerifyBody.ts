import { BaseError, type Hash } from '@verity/protocol'
import { getAddress, isAddress } from 'viem'
import type { HubSigned } from './hubResult.ts'

/**
 * A decoded `POST /v1/hub/verify` body: which request, the executor's output bytes to judge
 * (`encodeTensors(outputs)`, hex) and the executor's own `HubResult` signature over them, which
 * authenticates the caller (as the executor's signed receipt does on `/v1/verify`).
 *
 * @example
 * ```ts
 * const { requestId, output, executor }: HubVerifyBody = parseHubVerifyBody(await request.json())
 * ```
 */
export type HubVerifyBody = {
  requestId: bigint
  output: Hash
  executor: HubSigned
}

/**
 * The answer of `POST /v1/hub/verify`: the verifier's `HubResult` signature, ready for
 * `InferenceHub.fulfill`'s `signatures`.
 *
 * @example
 * ```ts
 * const { signer, signature }: HubVerifyResponse = await hub.verify(body)
 * ```
 */
export type HubVerifyResponse = HubSigned

/**
 * The JSON form of a {@link HubVerifyBody} (`requestId` as a decimal string).
 *
 * @example
 * ```ts
 * const text = JSON.stringify(hubVerifyBodyToJson({ requestId: 7n, output, executor }))
 * ```
 */
export function hubVerifyBodyToJson(body: HubVerifyBody): {
  requestId: string
  output: Hash
  executor: HubSigned
} {
  return { requestId: body.requestId.toString(), output: body.output, executor: body.executor }
}

const maxUint256 = (1n << 256n) - 1n

/**
 * Validates the JSON body of `POST /v1/hub/verify` (untrusted):
 * `{ "requestId": "7", "output": "0x…", "executor": { "signer": "0x…", "signature": "0x…" } }`.
 * `requestId` is a decimal string (or a safe integer); `output` is even-length hex of at most
 * `maxOutputBytes` bytes. Throws `SCHEMA_INVALID` listing the problems, or `TENSOR_TOO_LARGE`.
 * Signatures are checked by the verifier.
 *
 * @example
 * ```ts
 * const body = parseHubVerifyBody({ requestId: '7', output: '0x01000000…', executor: { signer, signature } })
 * ```
 */
export function parseHubVerifyBody(
  value: unknown,
  options: { maxOutputBytes?: number } = {},
): HubVerifyBody {
  const maxOutputBytes = options.maxOutputBytes ?? 1 << 20
  const expected =
    'Expected {"requestId": "<decimal>", "output": "0x<encodeTensors(outputs)>", "executor": {"signer": "0x…", "signature": "0x…"}}.'
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BaseError('SCHEMA_INVALID', 'The hub verify request body must be a JSON object.', {
      metaMessages: [expected],
    })
  const body = value as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(body))
    if (key !== 'requestId' && key !== 'output' && key !== 'executor')
      problems.push(`${key}: unknown field`)

  let requestId: bigint | undefined
  const rawId = body.requestId
  if (typeof rawId === 'string' && /^[0-9]{1,78}$/.test(rawId)) requestId = BigInt(rawId)
  else if (typeof rawId === 'number' && Number.isSafeInteger(rawId)) requestId = BigInt(rawId)
  if (requestId === undefined || requestId < 1n || requestId > maxUint256)
    problems.push('requestId: expected a decimal string of a request id ≥ 1')

  const output = body.output
  if (typeof output !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(output))
    problems.push('output: expected 0x-prefixed, even-length hex')
  else if ((output.length - 2) / 2 > maxOutputBytes)
    throw new BaseError(
      'TENSOR_TOO_LARGE',
      `The output to verify is ${(output.length - 2) / 2} bytes; this verifier judges at most ${maxOutputBytes}.`,
    )

  const executor = body.executor as Record<string, unknown> | undefined
  let signer: `0x${string}` | undefined
  let signature: Hash | undefined
  if (typeof executor !== 'object' || executor === null || Array.isArray(executor))
    problems.push('executor: expected {signer, signature}')
  else {
    for (const key of Object.keys(executor))
      if (key !== 'signer' && key !== 'signature') problems.push(`executor.${key}: unknown field`)
    if (typeof executor.signer === 'string' && isAddress(executor.signer, { strict: false }))
      signer = getAddress(executor.signer)
    else problems.push('executor.signer: expected a 0x-prefixed 20-byte address')
    if (typeof executor.signature === 'string' && /^0x[0-9a-fA-F]{130}$/.test(executor.signature))
      signature = executor.signature as Hash
    else problems.push('executor.signature: expected 65 bytes of hex')
  }
  if (problems.length || requestId === undefined || signer === undefined || signature === undefined)
    throw new BaseError('SCHEMA_INVALID', 'The hub verify request body is not valid.', {
      metaMessages: [...problems.slice(0, 10), expected],
    })
  return {
    requestId,
    output: (output as string).toLowerCase() as Hash,
    executor: { signer, signature },
  }
}
