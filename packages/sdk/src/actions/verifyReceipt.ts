import { verifyReceiptOnChain } from '@verity/contracts'
import {
  BaseError,
  type ReceiptVerdict,
  type VerifyReceiptOptions,
  verifyReceipt as verifyReceiptOffline,
} from '@verity/protocol'
import {
  type Chain,
  createPublicClient,
  http,
  type Transport,
  type Client as ViemClient,
} from 'viem'
import type { Client } from '../createClient.ts'

/**
 * Parameters of {@link verifyReceipt}: the receipt (untrusted JSON is fine), what to hold it
 * against and, for `online: true`, where the chain is.
 *
 * @example
 * ```ts
 * const parameters: VerifyReceiptParameters = { receipt, online: true, rpcUrl: 'http://127.0.0.1:8545' }
 * ```
 */
export type VerifyReceiptParameters = VerifyReceiptOptions & {
  receipt: unknown
  /**
   * Also check chain state: chain id, Settlement contract, model registration, executor and
   * verifier stakes, the selection block and, once settled, the batch. Needs `rpcUrl` (or
   * `publicClient`).
   */
  online?: boolean | undefined
  /** JSON-RPC endpoint of the receipt's chain (online only). Choose one you trust, not the node's. */
  rpcUrl?: string | undefined
  /** A viem client for the chain instead of `rpcUrl` (online only). */
  publicClient?: ViemClient<Transport, Chain | undefined> | undefined
  /** Online: fail with `RECEIPT_NOT_SETTLED` instead of skipping when the receipt has not settled. */
  requireSettlement?: boolean | undefined
}

/**
 * What {@link verifyReceipt} returns: every check with its outcome; `valid` when none failed.
 * Online verdicts also say which chain and block the state was read at.
 *
 * @example
 * ```ts
 * const { valid, code, checks }: VerifyReceiptReturnType = await verifyReceipt(client, { receipt })
 * ```
 */
export type VerifyReceiptReturnType = ReceiptVerdict & {
  chain?: { chainId: number; blockNumber: number } | undefined
}

function rpcClient(rpcUrl: string): ViemClient<Transport, Chain | undefined> {
  let url: URL
  try {
    url = new URL(rpcUrl)
  } catch {
    url = new URL('invalid:')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new BaseError(
      'INVALID_ARGUMENT',
      `rpcUrl ${JSON.stringify(rpcUrl)} is not an http(s) URL.`,
      { metaMessages: ["For example rpcUrl: 'http://127.0.0.1:8545'."] },
    )
  return createPublicClient({ transport: http(url.href, { retryCount: 1, timeout: 10_000 }) })
}

/**
 * Verifies a receipt. Offline (`@verity/protocol`'s `verifyReceipt`): schema, job id, output hash,
 * engine hash, manifest and inputs when given, requester and executor signatures, mode, Merkle
 * proof. With `online: true` also against the chain (`@verity/contracts`'
 * `verifyReceiptOnChain`): chain id, Settlement contract, model registration, stakes, selection
 * block, batch root, status and inclusion. Never throws on a bad receipt or an unreachable RPC
 * (a failed `CHAIN_UNAVAILABLE` check): read `valid`, `code` and `checks`. Throws
 * `INVALID_ARGUMENT` for `online` without `rpcUrl`. The client's `domain` (if set) is required
 * unless `parameters.domain` overrides it.
 *
 * @example
 * ```ts
 * const verdict = await verifyReceipt(client, { receipt })
 * const online = await verifyReceipt(client, { receipt, online: true, rpcUrl: 'http://127.0.0.1:8545' })
 * if (!online.valid) console.error(online.code, online.checks.filter((c) => c.status === 'fail'))
 * ```
 */
export async function verifyReceipt(
  client: Client,
  parameters: VerifyReceiptParameters,
): Promise<VerifyReceiptReturnType> {
  const { receipt, online, rpcUrl, publicClient, requireSettlement, ...options } = parameters
  const domain = options.domain ?? client.domain
  const offline = { ...options, ...(domain ? { domain } : {}) }
  if (!online) return verifyReceiptOffline(receipt, offline)
  if (publicClient === undefined && (typeof rpcUrl !== 'string' || rpcUrl === ''))
    throw new BaseError(
      'INVALID_ARGUMENT',
      'Online receipt verification needs the chain: rpcUrl (or publicClient) is missing.',
      {
        metaMessages: [
          "verifyReceipt(client, { receipt, online: true, rpcUrl: 'http://127.0.0.1:8545' })",
          "Use an RPC endpoint you trust for the receipt's chain; omit `online` to verify offline.",
        ],
      },
    )
  return verifyReceiptOnChain({
    ...offline,
    receipt,
    publicClient: publicClient ?? rpcClient(rpcUrl as string),
    requireSettlement,
  })
}
