import { BaseError } from '@verity/protocol'
import { type ImporterOptions, importer, type WritableStorage } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

/**
 * The UnixFS import profile Verity pins, as plain data. It is what Kubo's
 * `ipfs add --cid-version=1` produces (Kubo's default profile, `unixfs-v0-2015`, with CIDv1, which
 * turns raw leaves on):
 *
 * - CIDv1, base32 string form (`bafy…` for multi-block files, `bafk…` for single-block files),
 * - raw leaves (codec `raw`, 0x55): file bytes are stored unwrapped,
 * - fixed-size chunks of 262144 bytes (Kubo's `size-262144` chunker),
 * - balanced DAG layout with at most 174 links per node (Kubo's `UnixFSFileMaxLinks`),
 * - a file that fits in one chunk is that chunk's raw block (`reduceSingleLeafToSelf`),
 * - sha2-256 multihashes, inner nodes are dag-pb (0x70) UnixFS `File` nodes.
 *
 * Helia's own default (1 MiB chunks) gives different CIDs: always import with
 * {@link kuboImporterOptions}.
 *
 * @example
 * ```ts
 * kuboCidProfile.chunkSize // 262144
 * ```
 */
export const kuboCidProfile = {
  cidVersion: 1,
  rawLeaves: true,
  chunkSize: 262_144,
  layout: 'balanced',
  maxChildrenPerNode: 174,
  reduceSingleLeafToSelf: true,
  hash: 'sha2-256',
} as const

/**
 * Importer options for `ipfs-unixfs-importer` (and `@helia/unixfs`, which takes the same options)
 * that reproduce Kubo's `ipfs add --cid-version=1` CIDs: see {@link kuboCidProfile}. No `profile`
 * is set, so nothing is overridden by an importer default.
 *
 * @example
 * ```ts
 * import { importBytes } from 'ipfs-unixfs-importer'
 * const { cid } = await importBytes(bytes, blockstore, kuboImporterOptions)
 * ```
 */
export const kuboImporterOptions: Readonly<ImporterOptions> = Object.freeze({
  cidVersion: kuboCidProfile.cidVersion,
  rawLeaves: kuboCidProfile.rawLeaves,
  reduceSingleLeafToSelf: kuboCidProfile.reduceSingleLeafToSelf,
  chunker: fixedSize({ chunkSize: kuboCidProfile.chunkSize }),
  layout: balanced({ maxChildrenPerNode: kuboCidProfile.maxChildrenPerNode }),
  wrapWithDirectory: false,
})

/** A block sink that keeps nothing: computing a CID only needs the hashes. */
const discardBlocks: WritableStorage = {
  put: (cid) => cid,
}

/**
 * The CIDv1 (base32) that Kubo's `ipfs add --cid-version=1` gives the same bytes.
 * Accepts the whole file or a stream of chunks (any chunk sizes; the importer re-chunks).
 *
 * @example
 * ```ts
 * await computeCid(new TextEncoder().encode('hello world'))
 * // 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'
 * await computeCid(createReadStream('model.onnx'))
 * ```
 */
export async function computeCid(
  content: Uint8Array | AsyncIterable<Uint8Array>,
  options: Pick<ImporterOptions, 'onProgress'> = {},
): Promise<string> {
  let root: string | undefined
  try {
    for await (const entry of importer([{ content }], discardBlocks, {
      ...kuboImporterOptions,
      ...options,
    }))
      root = entry.cid.toString()
  } catch (cause) {
    throw new BaseError('INVALID_ARGUMENT', 'Could not compute the CID of the content.', {
      details: cause instanceof Error ? cause.message : String(cause),
      metaMessages: ['Pass a Uint8Array or an async iterable of Uint8Array chunks.'],
      cause,
    })
  }
  if (root === undefined)
    throw new BaseError('INTERNAL', 'The UnixFS importer produced no root CID.')
  return root
}
