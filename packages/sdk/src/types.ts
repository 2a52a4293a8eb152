import type { EngineDescriptor, Hash, Manifest, VerityDomain } from '@verity/protocol'

/**
 * `GET /v1/network`: who the node is and what it signs under.
 *
 * @example
 * ```ts
 * const { domain, address } = await getNetwork(client)
 * ```
 */
export type NetworkInfo = {
  name: 'verity'
  version: string
  /** The node's key: the executor address in its receipts. */
  address: `0x${string}`
  chainId: number
  domain: VerityDomain
  roles: string[]
  /** Verification modes the node offers. */
  modes: string[]
  engine: EngineDescriptor & { settingsHash: Hash }
}

/**
 * One entry of `GET /v1/models`.
 *
 * @example
 * ```ts
 * const [first]: ModelSummary[] = await listModels(client)
 * ```
 */
export type ModelSummary = {
  name: string
  version: string
  cid: string
  manifestHash: Hash
  format: string
  description?: string
}

/**
 * A model as the node describes it; `manifestHash` is checked against the manifest by the SDK.
 *
 * @example
 * ```ts
 * const { cid, manifest }: ModelInfo = await getModel(client, { model: 'digits@1.0.0' })
 * ```
 */
export type ModelInfo = {
  cid: string
  manifestHash: Hash
  manifest: Manifest
  /** The model's on-chain price per call in wei, when the node is connected to its chain. */
  price?: bigint | undefined
}
