import { hasGgufMagic, type ModelStore } from '@verity/hub'
import { BaseError, type ManifestZk, manifestZkSchema } from '@verity/protocol'
import { computeModelCommitment, type ZkArtifactStore } from '@verity/zk'

/**
 * The `zk` section a zk artifact store holds for an ONNX file (looked up by the file's model
 * commitment), or `undefined`. A stored section that is not a valid manifest section is
 * `ZK_ARTIFACT_INVALID`: silently leaving it out would give this node another manifest hash than
 * its peers.
 *
 * @example
 * ```ts
 * const zk = await findZkManifest(createZkArtifactStore({ dir }), onnxBytes)
 * ```
 */
export async function findZkManifest(
  artifacts: Pick<ZkArtifactStore, 'manifestFor' | 'dir'>,
  bytes: Uint8Array,
): Promise<ManifestZk | undefined> {
  const commitment = computeModelCommitment(bytes).toString()
  const found = await artifacts.manifestFor(commitment)
  if (found === undefined) return undefined
  const parsed = manifestZkSchema.safeParse(found)
  if (!parsed.success || parsed.data.modelCommitment !== commitment)
    throw new BaseError(
      'ZK_ARTIFACT_INVALID',
      `The zk section stored for model commitment ${commitment} in ${artifacts.dir} is invalid.`,
      {
        metaMessages: [
          `Compile the model again (verity zk compile --out ${artifacts.dir}) or remove models/${commitment}.json there.`,
        ],
        details: parsed.success ? 'it names another model commitment' : parsed.error.message,
      },
    )
  return parsed.data
}

/**
 * A model store whose `add` gives an ONNX model the `zk` section the artifact store holds for it
 * (unless the caller passes one): a model added or published after `verity zk compile` can be
 * proven, and every node holding the same artifacts derives the same manifest (and hash).
 *
 * @example
 * ```ts
 * const store = withZkManifests(createModelStore({ dir }), { artifacts: createZkArtifactStore({ dir: zkDir }) })
 * const { manifest } = await store.add({ bytes, name: 'digits', engine })
 * manifest.zk?.verificationKeyHash
 * ```
 */
export function withZkManifests(
  store: ModelStore,
  components: { artifacts: Pick<ZkArtifactStore, 'manifestFor' | 'dir'> },
): ModelStore {
  return {
    dir: store.dir,
    resolve: (reference) => store.resolve(reference),
    read: (cid, options) => store.read(cid, options),
    list: () => store.list(),
    async add(parameters) {
      const { bytes } = parameters
      if (parameters.zk !== undefined || !(bytes instanceof Uint8Array) || hasGgufMagic(bytes))
        return store.add(parameters)
      const zk = await findZkManifest(components.artifacts, bytes)
      return store.add(zk === undefined ? parameters : { ...parameters, zk })
    },
  }
}
