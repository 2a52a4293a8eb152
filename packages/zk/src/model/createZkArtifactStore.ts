import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { computeCid } from '@verity/hub'
import {
  BaseError,
  canonicalJsonBytes,
  hashVerificationKey,
  type ManifestZk,
} from '@verity/protocol'
import type { Groth16VerificationKey } from '../prover/parseGroth16.ts'
import { parseGroth16VerificationKey } from '../prover/parseGroth16.ts'
import type { ZkModelArtifacts } from './setupZkModel.ts'

/**
 * What proving needs of a model's artifacts, read back and checked against its manifest.
 *
 * @example
 * ```ts
 * const { wasm, zkey, verificationKey } = await artifacts.load(manifest.zk)
 * ```
 */
export type ProvingArtifacts = {
  wasm: Uint8Array
  zkey: Uint8Array
  verificationKey: Groth16VerificationKey
  manifestZk: ManifestZk
}

/**
 * A directory of zk artifacts, each stored under its CID (`<dir>/<cid>`), plus the manifest
 * sections by model commitment (`<dir>/models/<modelCommitment>.json`), so a node that adds a
 * model can find its zk section. Writes are atomic; reads are checked against the CIDs the
 * manifest names (a corrupted or substituted file is `ZK_ARTIFACT_INVALID`).
 *
 * @example
 * ```ts
 * const store = createZkArtifactStore({ dir: join(dataDir, 'zk') })
 * await store.put(artifacts)
 * ```
 */
export type ZkArtifactStore = {
  readonly dir: string
  /** Stores every artifact of a set-up model and its manifest section. */
  put(artifacts: ZkModelArtifacts): Promise<void>
  /**
   * Stores artifacts received by CID (from a peer) and then the manifest section naming them, so
   * `manifestFor` finds the model only once all of them are here. Each file must hash to the CID
   * it is given as, and every CID must be one the section names (`ZK_ARTIFACT_INVALID`).
   */
  putFiles(manifestZk: ManifestZk, files: ReadonlyMap<string, Uint8Array>): Promise<void>
  /** The CIDs among the section's artifacts that this store does not hold. */
  missing(manifestZk: ManifestZk): Promise<string[]>
  /** The manifest section stored for a model commitment, if any. */
  manifestFor(modelCommitment: string): Promise<ManifestZk | undefined>
  /** The witness generator, proving key and verification key of a model, checked by CID. */
  load(manifestZk: ManifestZk): Promise<ProvingArtifacts>
  /** One artifact's bytes by CID (checked), e.g. to serve or copy it. */
  read(cid: string): Promise<Uint8Array>
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, bytes)
  await rename(temporary, path)
}

/**
 * Creates a zk artifact store in `dir`.
 *
 * @example
 * ```ts
 * const store = createZkArtifactStore({ dir: '/data/zk' })
 * const proving = await store.load(manifest.zk)
 * ```
 */
export function createZkArtifactStore(options: { dir: string }): ZkArtifactStore {
  const { dir } = options
  const cached = new Map<string, Promise<ProvingArtifacts>>()

  async function read(cid: string): Promise<Uint8Array> {
    if (!/^[a-z0-9]{20,128}$/.test(cid))
      throw new BaseError('ZK_ARTIFACT_INVALID', `"${cid.slice(0, 80)}" is not a CID.`)
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await readFile(join(dir, cid)))
    } catch (cause) {
      throw new BaseError('ZK_ARTIFACT_NOT_FOUND', `zk artifact ${cid} is not in ${dir}.`, {
        metaMessages: ['Set the model up for zk (verity zk compile) or copy its artifacts here.'],
        cause,
      })
    }
    const actual = await computeCid(bytes)
    if (actual !== cid)
      throw new BaseError(
        'ZK_ARTIFACT_INVALID',
        `zk artifact ${cid} in ${dir} has CID ${actual}: it was changed or replaced.`,
      )
    return bytes
  }

  /** Writes every file under its CID (each checked first), then the section that names them. */
  async function putFiles(
    manifestZk: ManifestZk,
    files: ReadonlyMap<string, Uint8Array>,
  ): Promise<void> {
    const named = new Set(Object.values(manifestZk.artifacts))
    for (const [cid, bytes] of files) {
      if (!named.has(cid))
        throw new BaseError(
          'ZK_ARTIFACT_INVALID',
          `${cid.slice(0, 80)} is not an artifact of the zk section of model commitment ${manifestZk.modelCommitment}.`,
        )
      const actual = await computeCid(bytes)
      if (actual !== cid)
        throw new BaseError(
          'ZK_ARTIFACT_INVALID',
          `An artifact hashes to ${actual}, its manifest section says ${cid}.`,
        )
    }
    await mkdir(join(dir, 'models'), { recursive: true })
    for (const [cid, bytes] of files) await writeAtomic(join(dir, cid), bytes)
    await writeAtomic(
      join(dir, 'models', `${manifestZk.modelCommitment}.json`),
      canonicalJsonBytes(manifestZk),
    )
  }

  return {
    dir,
    put(artifacts) {
      const { manifestZk } = artifacts
      const { artifacts: cids } = manifestZk
      return putFiles(
        manifestZk,
        new Map([
          [cids.circuit, new TextEncoder().encode(artifacts.circuit)],
          [cids.r1cs, artifacts.r1cs],
          [cids.wasm, artifacts.wasm],
          [cids.zkey, artifacts.zkey],
          [cids.verificationKey, canonicalJsonBytes(artifacts.verificationKey)],
          [cids.transcript, canonicalJsonBytes(artifacts.transcript)],
        ]),
      )
    },
    putFiles,
    async missing(manifestZk) {
      const absent: string[] = []
      for (const cid of new Set(Object.values(manifestZk.artifacts))) {
        if (!/^[a-z0-9]{20,128}$/.test(cid)) {
          absent.push(cid)
          continue
        }
        try {
          await access(join(dir, cid))
        } catch {
          absent.push(cid)
        }
      }
      return absent
    },
    async manifestFor(modelCommitment) {
      if (!/^[0-9]{1,80}$/.test(modelCommitment)) return undefined
      try {
        const text = await readFile(join(dir, 'models', `${modelCommitment}.json`), 'utf8')
        return JSON.parse(text) as ManifestZk
      } catch {
        return undefined
      }
    },
    load(manifestZk) {
      const key = manifestZk.artifacts.zkey
      let loading = cached.get(key)
      if (loading === undefined) {
        loading = (async () => {
          const [wasm, zkey, keyBytes] = await Promise.all([
            read(manifestZk.artifacts.wasm),
            read(manifestZk.artifacts.zkey),
            read(manifestZk.artifacts.verificationKey),
          ])
          // kept exactly as stored (the manifest pins the hash of these bytes' JSON); parsed to check
          const verificationKey = JSON.parse(
            new TextDecoder().decode(keyBytes),
          ) as Groth16VerificationKey
          parseGroth16VerificationKey(verificationKey)
          if (hashVerificationKey(verificationKey) !== manifestZk.verificationKeyHash)
            throw new BaseError(
              'ZK_ARTIFACT_INVALID',
              'The stored verification key is not the one the manifest pins.',
            )
          return { wasm, zkey, verificationKey, manifestZk }
        })()
        cached.set(key, loading)
        loading.catch(() => cached.delete(key))
      }
      return loading
    },
    read,
  }
}
