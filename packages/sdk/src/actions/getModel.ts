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
  signal?: AbortSignal | undefined
}

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
