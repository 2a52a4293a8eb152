import { encodeAbiParameters, hashStruct, keccak256, type TypedDataDomain } from 'viem'
import type { Hash } from './hash.ts'

/** Verification modes, with the numeric ids used in signed data and on-chain. */
export const modeIds = { none: 0, reexec: 1, zk: 2, tee: 3 } as const
export type Mode = keyof typeof modeIds
export const modes = Object.keys(modeIds) as Mode[]

/**
 * EIP-712 domain of every Verity signature. `chainId` is the settlement chain (31337 for a local
 * anvil); `verifyingContract` is set once receipts settle on a contract.
 */
export type VerityDomain = {
  name: 'Verity'
  version: '1'
  chainId: number
  verifyingContract?: `0x${string}`
}

/** The default domain for receipts made before any chain is involved (anvil's chain id). */
export const localDomain: VerityDomain = { name: 'Verity', version: '1', chainId: 31337 }

/**
 * EIP-712 types. Contracts recompute these struct hashes, so the field order and types here are
 * part of the protocol: never reorder, only add new primary types.
 */
export const verityTypes = {
  InferenceRequest: [
    { name: 'modelCid', type: 'string' },
    { name: 'manifestHash', type: 'bytes32' },
    { name: 'inputHash', type: 'bytes32' },
    { name: 'paramsHash', type: 'bytes32' },
    { name: 'mode', type: 'uint8' },
    { name: 'quorum', type: 'uint8' },
    { name: 'maxFee', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
    { name: 'deadline', type: 'uint64' },
  ],
  ExecutionReceipt: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'requester', type: 'address' },
    { name: 'modelCid', type: 'string' },
    { name: 'manifestHash', type: 'bytes32' },
    { name: 'inputHash', type: 'bytes32' },
    { name: 'paramsHash', type: 'bytes32' },
    { name: 'mode', type: 'uint8' },
    { name: 'outputHash', type: 'bytes32' },
    { name: 'engineSettingsHash', type: 'bytes32' },
    { name: 'executedAt', type: 'uint64' },
  ],
  /** A verifier's statement about a re-executed job: same output (agree) or not. */
  Attestation: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'outputHash', type: 'bytes32' },
    { name: 'agree', type: 'bool' },
  ],
  /** A node's signature over an InferenceHub result (contract-callable inference). */
  HubResult: [
    { name: 'requestId', type: 'uint256' },
    { name: 'inputHash', type: 'bytes32' },
    { name: 'outputHash', type: 'bytes32' },
  ],
} as const

/** The fields a requester signs. */
export type InferenceRequestMessage = {
  modelCid: string
  manifestHash: Hash
  inputHash: Hash
  paramsHash: Hash
  mode: number
  quorum: number
  maxFee: bigint
  nonce: Hash
  deadline: bigint
}

/** The fields an executor signs. */
export type ExecutionReceiptMessage = {
  jobId: Hash
  requester: `0x${string}`
  modelCid: string
  manifestHash: Hash
  inputHash: Hash
  paramsHash: Hash
  mode: number
  outputHash: Hash
  engineSettingsHash: Hash
  executedAt: bigint
}

/** The fields a verifier signs. */
export type AttestationMessage = { jobId: Hash; outputHash: Hash; agree: boolean }

/** The fields a node signs for an InferenceHub result. */
export type HubResultMessage = { requestId: bigint; inputHash: Hash; outputHash: Hash }

/**
 * `hashStruct(InferenceRequest)`: the domain-independent hash of a request, as committed in
 * settlement leaves.
 *
 * @example
 * ```ts
 * const structHash = hashInferenceRequest(request)
 * ```
 */
export function hashInferenceRequest(request: InferenceRequestMessage): Hash {
  return hashStruct({ data: request, primaryType: 'InferenceRequest', types: verityTypes })
}

export function toTypedDataDomain(domain: VerityDomain): TypedDataDomain {
  return domain.verifyingContract === undefined
    ? { name: domain.name, version: domain.version, chainId: domain.chainId }
    : { ...domain }
}

/**
 * The job id: `keccak256(abi.encode(requester, hashStruct(InferenceRequest)))`. It is independent of
 * the domain so the same request keeps its id across gateways; a contract computes it the same way.
 *
 * @example
 * ```ts
 * const id = computeJobId('0xf39F…', request)
 * ```
 */
export function computeJobId(requester: `0x${string}`, request: InferenceRequestMessage): Hash {
  const structHash = hashStruct({
    data: request,
    primaryType: 'InferenceRequest',
    types: verityTypes,
  })
  return keccak256(
    encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [requester, structHash]),
  )
}
