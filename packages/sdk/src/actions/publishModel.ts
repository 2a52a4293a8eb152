import { BaseError, type Hash, hashManifest, type Manifest, parseManifest } from '@verity/protocol'
import type { Client } from '../createClient.ts'

/**
 * Parameters of {@link publishModel}.
 *
 * @example
 * ```ts
 * const parameters: PublishModelParameters = { bytes, name: 'digits', version: '1.0.0', license: 'MIT' }
 * ```
 */
export type PublishModelParameters = {
  /** The ONNX file. */
  bytes: Uint8Array
  name: string
  version?: string | undefined
  license?: string | undefined
  description?: string | undefined
  signal?: AbortSignal | undefined
}

/**
 * What {@link publishModel} returns; `added` is false when the node already had it.
 *
 * @example
 * ```ts
 * const { cid, added }: PublishModelReturnType = await publishModel(client, { bytes, name: 'm' })
 * ```
 */
export type PublishModelReturnType = {
  cid: string
  manifestHash: Hash
  manifest: Manifest
  added: boolean
}

/**
 * Uploads an ONNX model to a node (`POST /v1/models`), which validates it (structure, operators,
 * opsets, a trial load), computes its CID and manifest and stores both. Errors carry the hub's
 * codes (`MODEL_INVALID`, `MODEL_UNSUPPORTED_OPERATOR`, `MODEL_AMBIGUOUS`, `MODEL_TOO_LARGE`, …).
 *
 * @example
 * ```ts
 * const { cid, manifestHash } = await publishModel(client, { bytes: await readFile('m.onnx'), name: 'm' })
 * ```
 */
export async function publishModel(
  client: Client,
  parameters: PublishModelParameters,
): Promise<PublishModelReturnType> {
  if (!(parameters.bytes instanceof Uint8Array) || parameters.bytes.length === 0)
    throw new BaseError('INVALID_ARGUMENT', 'publishModel needs the model file as non-empty bytes.')
  const { data } = await client.transport.request<{
    cid: string
    manifestHash: Hash
    manifest: unknown
    added: boolean
  }>({
    method: 'POST',
    path: '/v1/models',
    query: {
      name: parameters.name,
      version: parameters.version,
      license: parameters.license,
      description: parameters.description,
    },
    bytes: parameters.bytes,
    signal: parameters.signal,
  })
  const manifest = parseManifest(data.manifest)
  const manifestHash = hashManifest(manifest)
  if (manifestHash !== data.manifestHash || manifest.cid !== data.cid)
    throw new BaseError(
      'MANIFEST_HASH_MISMATCH',
      'The node answered with a manifest that does not match its hash or CID.',
    )
  return { cid: manifest.cid, manifestHash, manifest, added: data.added === true }
}
