import { BaseError, domainSchema } from '@verity/protocol'
import type { Client } from '../createClient.ts'
import type { NetworkInfo } from '../types.ts'

/**
 * Parameters of {@link getNetwork}.
 *
 * @example
 * ```ts
 * const parameters: GetNetworkParameters = { cache: true }
 * ```
 */
export type GetNetworkParameters = {
  /** Reuse the answer cached on the client (what `infer` does); default false (always ask). */
  cache?: boolean | undefined
  signal?: AbortSignal | undefined
}

/**
 * What {@link getNetwork} returns.
 *
 * @example
 * ```ts
 * const { address }: GetNetworkReturnType = await getNetwork(client)
 * ```
 */
export type GetNetworkReturnType = NetworkInfo

/**
 * The node's identity and signing domain (`GET /v1/network`).
 *
 * @example
 * ```ts
 * const { address, domain, modes } = await getNetwork(client)
 * ```
 */
export async function getNetwork(
  client: Client,
  parameters: GetNetworkParameters = {},
): Promise<GetNetworkReturnType> {
  const fetchNetwork = async () => {
    const { data } = await client.transport.request<NetworkInfo>({
      method: 'GET',
      path: '/v1/network',
      signal: parameters.signal,
    })
    if (!domainSchema.safeParse(data?.domain).success || typeof data.address !== 'string')
      throw new BaseError(
        'SCHEMA_INVALID',
        `${client.transport.url} sent network info without a valid domain.`,
        {
          metaMessages: ['Is the URL a Verity node?'],
        },
      )
    return data
  }
  if (!parameters.cache) return fetchNetwork()
  let cached = client.cache.get('network') as Promise<NetworkInfo> | undefined
  if (cached === undefined) {
    cached = fetchNetwork()
    client.cache.set('network', cached)
    cached.catch(() => client.cache.delete('network'))
  }
  return cached
}
