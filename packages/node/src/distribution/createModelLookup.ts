import { modelRegistryAbi } from '@verity/contracts'
import { type Hash, hashManifest, parseManifest, toBaseError } from '@verity/protocol'
import { keccak256, stringToBytes } from 'viem'
import type { NodeChain } from '../chain/createNodeChain.ts'
import type { NodeLogger } from '../logger.ts'
import type { PeerDirectory } from '../verification/peerDirectory.ts'
import { requestPeerJson } from './requestPeerJson.ts'

/**
 * Finds which CID and manifest a model reference (a name, `name@version` or a CID) stands for,
 * when this node does not hold it.
 *
 * @example
 * ```ts
 * const found = await lookup('digits-mlp-int8', signal) // { cid, manifestHash } | undefined
 * ```
 */
export type ModelLookup = (
  reference: string,
  signal?: AbortSignal | undefined,
) => Promise<{ cid: string; manifestHash: Hash } | undefined>

/**
 * A lookup that asks peers (`GET /v1/models/:ref`, in directory order) and, on a connected node,
 * believes an answer only when ModelRegistry confirms it: the CID is registered, under a model
 * with the manifest's name, not deprecated, with that manifest hash. Without a chain the first
 * self-consistent answer wins (the bytes are still checked against the manifest when fetched).
 *
 * @example
 * ```ts
 * const lookup = createModelLookup({ peers, chain, logger, address })
 * const models = createModelService({ store, engine, logger, fetcher, lookup })
 * ```
 */
export function createModelLookup(components: {
  peers: PeerDirectory
  chain?: NodeChain | undefined
  logger: NodeLogger
  /** This node: never asked. */
  address: `0x${string}`
  timeoutMs?: number | undefined
}): ModelLookup {
  const { peers, chain } = components
  const logger = components.logger.child({ module: 'model-lookup' })

  async function confirmed(cid: string, name: string, manifestHash: Hash): Promise<boolean> {
    if (!chain) return true
    const address = chain.contracts.modelRegistry
    const [modelId, version] = await chain.publicClient.readContract({
      address,
      abi: modelRegistryAbi,
      functionName: 'modelByCid',
      args: [keccak256(stringToBytes(cid))],
    })
    if (modelId === 0n) return false
    const [model, [registeredCid, registeredHash]] = await Promise.all([
      chain.publicClient.readContract({
        address,
        abi: modelRegistryAbi,
        functionName: 'getModel',
        args: [modelId],
      }),
      chain.publicClient.readContract({
        address,
        abi: modelRegistryAbi,
        functionName: 'getVersion',
        args: [modelId, version],
      }),
    ])
    return (
      !model.deprecated &&
      model.name === name &&
      registeredCid === cid &&
      registeredHash.toLowerCase() === manifestHash.toLowerCase()
    )
  }

  return async (reference, signal) => {
    const list = await peers.list({ signal })
    for (const peer of list) {
      if (peer.address.toLowerCase() === components.address.toLowerCase()) continue
      try {
        const { status, body } = await requestPeerJson({
          url: `${peer.url}/v1/models/${encodeURIComponent(reference)}?local=1`,
          timeoutMs: components.timeoutMs ?? 3_000,
          maxBytes: 1 << 20,
          signal,
        })
        if (status !== 200 || typeof body !== 'object' || body === null) continue
        const manifest = parseManifest((body as { manifest?: unknown }).manifest)
        const manifestHash = hashManifest(manifest)
        if (!(await confirmed(manifest.cid, manifest.name, manifestHash))) {
          logger.warn(
            { peer: peer.address, reference, cid: manifest.cid },
            'peer named a model the registry does not confirm',
          )
          continue
        }
        return { cid: manifest.cid, manifestHash }
      } catch (error) {
        if (signal?.aborted) throw error
        logger.debug(
          { peer: peer.address, reference, err: toBaseError(error).shortMessage },
          'lookup: peer did not answer',
        )
      }
    }
    return undefined
  }
}
