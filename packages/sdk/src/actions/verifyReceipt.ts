import {
  BaseError,
  type ReceiptVerdict,
  type VerifyReceiptOptions,
  verifyReceipt as verifyReceiptOffline,
} from '@verity/protocol'
import type { Client } from '../createClient.ts'

/**
 * Parameters of {@link verifyReceipt}: the receipt (untrusted JSON is fine) and what to hold it
 * against.
 *
 * @example
 * ```ts
 * const parameters: VerifyReceiptParameters = { receipt, manifest, inputs, expectedExecutor }
 * ```
 */
export type VerifyReceiptParameters = VerifyReceiptOptions & {
  receipt: unknown
  /** Also check chain state (settlement, stake): not supported yet. */
  online?: boolean | undefined
}

/**
 * What {@link verifyReceipt} returns: every check with its outcome; `valid` when none failed.
 *
 * @example
 * ```ts
 * const { valid, code, checks }: VerifyReceiptReturnType = await verifyReceipt(client, { receipt })
 * ```
 */
export type VerifyReceiptReturnType = ReceiptVerdict

/**
 * Verifies a receipt offline (`@verity/protocol`'s `verifyReceipt`): schema, job id, output hash,
 * engine hash, manifest and inputs when given, requester and executor signatures, mode. Never
 * throws on a bad receipt: read `valid`, `code` and `checks`. The client's `domain` (if set) is
 * required unless `parameters.domain` overrides it.
 *
 * @example
 * ```ts
 * const verdict = await verifyReceipt(client, { receipt })
 * if (!verdict.valid) console.error(verdict.code)
 * ```
 */
export async function verifyReceipt(
  client: Client,
  parameters: VerifyReceiptParameters,
): Promise<VerifyReceiptReturnType> {
  const { receipt, online, ...options } = parameters
  if (online)
    throw new BaseError('NOT_SUPPORTED', 'Online receipt verification is not supported yet.', {
      metaMessages: [
        'It will check settlement and stake on-chain; for now verify offline (omit `online`).',
      ],
    })
  const domain = options.domain ?? client.domain
  return verifyReceiptOffline(receipt, { ...options, ...(domain ? { domain } : {}) })
}
