import { BaseError, type VerityDomain } from '@verity/protocol'
import type { LocalAccount } from 'viem'
import type { Transport } from './transports/http.ts'

/**
 * Parameters of {@link createClient}.
 *
 * @example
 * ```ts
 * const parameters: CreateClientParameters = { transport: http(url), account: privateKeyToAccount(key) }
 * ```
 */
export type CreateClientParameters = {
  transport: Transport
  /** Signs inference requests; without it requests go unsigned (requester = zero address). */
  account?: LocalAccount | undefined
  /**
   * The signing domain the client expects (chain id, settlement contract). When set, `infer`
   * refuses a node that signs under another domain instead of signing for it.
   */
  domain?: Partial<Pick<VerityDomain, 'chainId' | 'verifyingContract'>> | undefined
}

/**
 * A Verity client: a transport, an optional account and a small cache (the node's network info, models by CID).
 * Actions are standalone functions that take the client first: `infer(client, { … })`.
 *
 * @example
 * ```ts
 * const { receipt } = await infer(client, { model: 'digits', inputs })
 * ```
 */
export type Client = {
  readonly transport: Transport
  readonly account: LocalAccount | undefined
  readonly domain: CreateClientParameters['domain']
  /** Per-client memo of values that do not change while a node runs (network info). */
  readonly cache: Map<string, unknown>
}

/**
 * Creates a client for one node.
 *
 * @example
 * ```ts
 * import { createClient, http, infer } from '@verity/sdk'
 * const client = createClient({ transport: http('http://127.0.0.1:8080'), account })
 * const { outputs, receipt } = await infer(client, { model: 'digits-int8', inputs: { image } })
 * ```
 */
export function createClient(parameters: CreateClientParameters): Client {
  if (typeof parameters?.transport?.request !== 'function')
    throw new BaseError('INVALID_ARGUMENT', 'createClient needs a transport.', {
      metaMessages: ["createClient({ transport: http('http://127.0.0.1:8080') })"],
    })
  return {
    transport: parameters.transport,
    account: parameters.account,
    domain: parameters.domain,
    cache: new Map(),
  }
}
