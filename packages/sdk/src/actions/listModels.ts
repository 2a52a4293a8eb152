import type { Client } from '../createClient.ts'
import type { ModelSummary } from '../types.ts'

/**
 * Parameters of {@link listModels}.
 *
 * @example
 * ```ts
 * const parameters: ListModelsParameters = {}
 * ```
 */
export type ListModelsParameters = { signal?: AbortSignal | undefined }

/**
 * What {@link listModels} returns, sorted by name then version.
 *
 * @example
 * ```ts
 * const models: ListModelsReturnType = await listModels(client)
 * ```
 */
export type ListModelsReturnType = ModelSummary[]

/**
 * The models a node serves (`GET /v1/models`).
 *
 * @example
 * ```ts
 * for (const { name, version, cid } of await listModels(client)) console.log(name, version, cid)
 * ```
 */
export async function listModels(
  client: Client,
  parameters: ListModelsParameters = {},
): Promise<ListModelsReturnType> {
  const { data } = await client.transport.request<{ models: ModelSummary[] }>({
    method: 'GET',
    path: '/v1/models',
    signal: parameters.signal,
  })
  return data.models
}
