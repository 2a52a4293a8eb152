import { BaseError, type Hash, hashManifest, parseManifest } from '@verity/protocol'
import type { Client } from '../createClient.ts'
import type { ModelInfo } from '../types.ts'

/**
 * Parameters of {@link getModel}.
 *
 * @example
 * ```ts
 * const parameters: GetModelParameters = { model: 'digits-int8@1.0.0' }
 * ```
 */
export type GetModelParameters = {
  /** A CID, a name (highest version) or `name@version`. */
  model: string
  /**
   * Reuse an answer cached on the client for up to 30 s when `model` is a CID (what `infer` does):
   * a CID's manifest never changes; only the reported price could. Names are always asked.
   */
  cache?: boolean | undefined
  signal?: AbortSignal | undefined
}

const cacheTtlMs = 30_000

/**
 * What {@link getModel} returns: the CID, the validated manifest and its (recomputed) hash.
 *
 * @example
 * ```ts
 * const { cid, manifest }: GetModelReturnType = await getModel(client, { model: 'digits' })
 * ```
 */
export type GetModelReturnType = ModelInfo

/**
 * A model's manifest (`GET /v1/models/:ref`). The node is not trusted: the manifest is validated,
 * its hash recomputed and its CID compared (`MANIFEST_INVALID`, `MANIFEST_HASH_MISMATCH`).
 *
 * @example
 * ```ts
 * const { cid, manifestHash, manifest } = await getModel(client, { model: 'digits-int8' })
 * ```
 */
export async function getModel(
  client: Client,
  parameters: GetModelParameters,
): Promise<GetModelReturnType> {
  const reference = typeof parameters.model === 'string' ? parameters.model.trim() : ''
  if (!parameters.cache || !/^baf[a-z2-7]{50,}$/.test(reference))
    return fetchModel(client, parameters)
  const key = `model:${reference}`
  const cached = client.cache.get(key) as { at: number; value: Promise<ModelInfo> } | undefined
  if (cached && performance.now() - cached.at < cacheTtlMs) return cached.value
  const value = fetchModel(client, { model: reference, signal: parameters.signal })
  client.cache.set(key, { at: performance.now(), value })
  value.catch(() => {
    if ((client.cache.get(key) as { value?: unknown } | undefined)?.value === value)
      client.cache.delete(key)
  })
  return value
}

async function fetchModel(
  client: Client,
  parameters: GetModelParameters,
): Promise<GetModelReturnType> {
  if (typeof parameters.model !== 'string' || parameters.model.trim() === '')
    throw new BaseError('INVALID_ARGUMENT', 'A model reference is a CID, a name or name@version.')
  const { data } = await client.transport.request<{
    cid: string
    manifestHash: Hash
    manifest: unknown
    price?: unknown
  }>({
    method: 'GET',
    path: `/v1/models/${encodeURIComponent(parameters.model.trim())}`,
    signal: parameters.signal,
  })
  const manifest = parseManifest(data?.manifest)
  const manifestHash = hashManifest(manifest)
  if (manifestHash !== data.manifestHash || manifest.cid !== data.cid)
    throw new BaseError(
      'MANIFEST_HASH_MISMATCH',
      `The node described ${parameters.model} inconsistently: its manifest hashes to ${manifestHash} (sent ${data.manifestHash}) for CID ${manifest.cid} (sent ${data.cid}).`,
      { metaMessages: ['Do not use this node for this model.'] },
    )
  const price =
    typeof data.price === 'string' && /^(0|[1-9]\d{0,76})$/.test(data.price)
      ? BigInt(data.price)
      : undefined
  return { cid: manifest.cid, manifestHash, manifest, ...(price === undefined ? {} : { price }) }
}
