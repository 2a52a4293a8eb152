import { BaseError, parseReceipt, type Receipt } from '@verity/protocol'
import type { Client } from '../createClient.ts'

/**
 * Parameters of {@link getReceipt}.
 *
 * @example
 * ```ts
 * const parameters: GetReceiptParameters = { id: receipt.job.id }
 * ```
 */
export type GetReceiptParameters = {
  /** The job id (`receipt.job.id`, computable from the request before sending it). */
  id: string
  signal?: AbortSignal | undefined
}

/**
 * What {@link getReceipt} returns: a receipt that matches the schema (not yet verified).
 *
 * @example
 * ```ts
 * const receipt: GetReceiptReturnType = await getReceipt(client, { id })
 * ```
 */
export type GetReceiptReturnType = Receipt

/**
 * Fetches a stored receipt by job id (`GET /v1/receipts/:id`) and checks its schema
 * (`RECEIPT_INVALID`). Check it with {@link verifyReceipt}.
 *
 * @example
 * ```ts
 * const receipt = await getReceipt(client, { id })
 * const { valid } = await verifyReceipt(client, { receipt })
 * ```
 */
export async function getReceipt(
  client: Client,
  parameters: GetReceiptParameters,
): Promise<GetReceiptReturnType> {
  if (typeof parameters.id !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(parameters.id))
    throw new BaseError('INVALID_ARGUMENT', `${JSON.stringify(parameters.id)} is not a job id.`, {
      metaMessages: ['A job id is 0x and 64 hex digits (receipt.job.id).'],
    })
  const { data } = await client.transport.request<{ receipt: unknown }>({
    method: 'GET',
    path: `/v1/receipts/${parameters.id.toLowerCase()}`,
    signal: parameters.signal,
  })
  const receipt = parseReceipt(data?.receipt)
  if (receipt.job.id !== parameters.id.toLowerCase())
    throw new BaseError(
      'RECEIPT_JOB_ID_MISMATCH',
      `Asked for job ${parameters.id}, the node sent ${receipt.job.id}.`,
    )
  return receipt
}
