import { createOnnxEngine, type Engine } from '@verity/engine'
import { BaseError, type Hash, selectionSeed, selectVerifiers } from '@verity/protocol'
import { concat, keccak256, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createVerityNode, type NodeComponents, type VerityNode } from '../../createVerityNode.ts'
import { createLogger } from '../../logger.ts'
import type { NodeOptionsInput } from '../../options.ts'
import { tempDir } from '../../testing/fixtures.ts'
import type { NodePeer, PeerDirectory } from '../peerDirectory.ts'
import { createLocalSeedSource } from '../seedSource.ts'
import { createSwitchableEngine, type SwitchableEngine } from './createSwitchableEngine.ts'

/**
 * One node of a {@link Cluster}: the node, its switchable engine, key, data folder and URL.
 *
 * @example
 * ```ts
 * const { node, engine, url }: ClusterNode = cluster.nodes[0]
 * ```
 */
export type ClusterNode = {
  node: VerityNode
  engine: SwitchableEngine
  account: LocalAccount
  dir: string
  url: string
  /** The node's local seed nonce (fixed, so tests can recompute its verifier draws). */
  nonce: Hash
}

/**
 * In-process nodes on loopback that know each other (real HTTP between them, one real ONNX engine
 * shared behind per-node {@link SwitchableEngine}s), each holding the same model.
 *
 * @example
 * ```ts
 * const cluster = await startCluster({ count: 4, model: demo.int8Model })
 * const order = cluster.drawOrder(0, jobId) // who node 0 asks first, second, …
 * await cluster.stop()
 * ```
 */
export type Cluster = {
  nodes: ClusterNode[]
  /** The peer list every node's directory reads (URLs change when a node restarts). */
  peers: NodePeer[]
  model: { cid: string; manifestHash: Hash }
  /** The verifiers node `executor` draws for a job, in order (protocol's `selectVerifiers`). */
  drawOrder(executor: number, jobId: Hash): `0x${string}`[]
  /** The cluster node with this address. */
  byAddress(address: string): ClusterNode
  /** Starts a stopped node again on its data folder and key; its peers learn the new URL. */
  restart(index: number): Promise<ClusterNode>
  stop(): Promise<void>
}

/**
 * Options of {@link startCluster}.
 *
 * @example
 * ```ts
 * const options: StartClusterOptions = { count: 4, model: demo.int8Model, node: { verifyTimeoutMs: 500 } }
 * ```
 */
export type StartClusterOptions = {
  count: number
  /** ONNX bytes published to every node as `name`. */
  model: Uint8Array
  name?: string | undefined
  /** Extra node options for every node. */
  node?: NodeOptionsInput | undefined
  /** A GGUF model published to every node as well (after the ONNX one). */
  textModel?: { name: string; bytes: Uint8Array } | undefined
  /** The text engine factory of node `index` (default: the node's own). */
  textEngineFor?: ((index: number) => NodeComponents['textEngineFor']) | undefined
}

/**
 * Starts a {@link Cluster}. Keys and seed nonces are fixed (test-only values).
 *
 * @example
 * ```ts
 * const cluster = await startCluster({ count: 4, model: demo.int8Model })
 * ```
 */
export async function startCluster(options: StartClusterOptions): Promise<Cluster> {
  const shared: Engine = createOnnxEngine()
  const logger = createLogger({ level: 'silent' })
  const peers: NodePeer[] = []
  const removals: (() => Promise<void>)[] = []
  const directory: PeerDirectory = {
    async list() {
      return peers.map((peer) => ({ ...peer }))
    },
    async get(address) {
      return peers.find((peer) => peer.address.toLowerCase() === address.toLowerCase())
    },
  }
  const nodes: ClusterNode[] = []
  const name = options.name ?? 'digits-int8'
  let model: { cid: string; manifestHash: Hash } | undefined

  async function launch(
    slot: Omit<ClusterNode, 'node' | 'url'>,
    index: number,
  ): Promise<ClusterNode> {
    const node = await createVerityNode(
      { ...options.node, dataDir: slot.dir },
      {
        account: slot.account,
        engine: slot.engine,
        logger,
        peers: directory,
        seeds: createLocalSeedSource({ nonce: slot.nonce }),
        textEngineFor: options.textEngineFor?.(index),
      },
    )
    const url = await node.start()
    return { ...slot, node, url }
  }

  for (let index = 0; index < options.count; index++) {
    const { dir, remove } = await tempDir('verity-cluster-')
    removals.push(remove)
    const byte = (index + 3).toString(16).padStart(2, '0')
    const member = await launch(
      {
        account: privateKeyToAccount(`0x${byte.repeat(32)}`),
        engine: createSwitchableEngine(shared),
        dir,
        nonce: `0x${'a5'.repeat(31)}${byte}`,
      },
      index,
    )
    const published = await member.node.app.request(`/v1/models?name=${name}`, {
      method: 'POST',
      body: options.model,
    })
    if (published.status !== 201)
      throw new BaseError('INTERNAL', `Publishing to cluster node ${index} failed.`, {
        details: await published.text(),
      })
    model = (await published.json()) as { cid: string; manifestHash: Hash }
    if (options.textModel) {
      const text = await member.node.app.request(
        `/v1/models?name=${options.textModel.name}&license=MIT`,
        { method: 'POST', body: options.textModel.bytes },
      )
      if (text.status !== 201)
        throw new BaseError(
          'INTERNAL',
          `Publishing the text model to cluster node ${index} failed.`,
          {
            details: await text.text(),
          },
        )
    }
    nodes.push(member)
    peers.push({ address: member.account.address, url: member.url })
  }

  const cluster: Cluster = {
    nodes,
    peers,
    model: model as { cid: string; manifestHash: Hash },

    drawOrder(executor, jobId) {
      const member = nodes[executor] as ClusterNode
      const seed = selectionSeed(jobId, keccak256(concat([jobId, member.nonce])))
      return selectVerifiers({
        seed,
        candidates: peers.map((peer) => ({ address: peer.address, weight: 1n })),
        count: peers.length - 1,
        exclude: [member.account.address],
      })
    },

    byAddress(address) {
      const member = nodes.find(
        (candidate) => candidate.account.address.toLowerCase() === address.toLowerCase(),
      )
      if (!member) throw new BaseError('INTERNAL', `No cluster node ${address}.`)
      return member
    },

    async restart(index) {
      const previous = nodes[index] as ClusterNode
      await previous.node.stop()
      const member = await launch(previous, index)
      nodes[index] = member
      const peer = peers.find((candidate) => candidate.address === member.account.address)
      if (peer) peer.url = member.url
      return member
    },

    async stop() {
      for (const member of nodes) await member.node.stop()
      await shared.close()
      for (const remove of removals) await remove()
    },
  }
  return cluster
}
