import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { encodeAbiParameters, keccak256, stringToBytes } from 'viem'
import { hashInferenceRequest } from './eip712.ts'
import type { Hash, Hex } from './hash.ts'
import type { Receipt } from './receipt.ts'
import { requestMessageFromReceipt } from './signing.ts'

/**
 * ABI types of a settlement leaf, in order. The Settlement contract hashes the same tuple, as
 * OpenZeppelin's `StandardMerkleTree` does: `keccak256(bytes.concat(keccak256(abi.encode(...))))`.
 */
export const receiptLeafAbiTypes = [
  'bytes32', // jobId
  'address', // requester
  'address', // executor
  'bytes32', // modelCidHash = keccak256(bytes(cid))
  'uint256', // fee charged to the requester
  'bytes32', // requestStructHash = hashStruct(InferenceRequest)
  'bytes32', // outputHash
  'uint8', // quorum the requester asked for
  'bytes32', // attestationsHash
] as const

/** One settled receipt as the chain sees it. */
export type ReceiptLeaf = {
  jobId: Hash
  requester: `0x${string}`
  executor: `0x${string}`
  modelCidHash: Hash
  fee: bigint
  requestStructHash: Hash
  outputHash: Hash
  quorum: number
  attestationsHash: Hash
}

/** A verifier's co-signature as committed in a leaf (signature over the `Attestation` typed data). */
export type LeafAttestation = { verifier: `0x${string}`; agree: boolean; signature: Hex }

/** The leaf as the ordered tuple of {@link receiptLeafAbiTypes}. */
export function receiptLeafValues(leaf: ReceiptLeaf) {
  return [
    leaf.jobId,
    leaf.requester,
    leaf.executor,
    leaf.modelCidHash,
    leaf.fee,
    leaf.requestStructHash,
    leaf.outputHash,
    leaf.quorum,
    leaf.attestationsHash,
  ] as const
}

/**
 * The leaf hash, identical to `StandardMerkleTree.leafHash` and to the contract's `hashLeaf`.
 *
 * @example
 * ```ts
 * const hash = hashReceiptLeaf(leaf)
 * ```
 */
export function hashReceiptLeaf(leaf: ReceiptLeaf): Hash {
  const types = receiptLeafAbiTypes.map((type) => ({ type }))
  return keccak256(keccak256(encodeAbiParameters(types, receiptLeafValues(leaf))))
}

/**
 * `keccak256(abi.encode(Attestation[]))` with `Attestation = (address verifier, bool agree, bytes signature)`.
 *
 * @example
 * ```ts
 * const leafAttestationsHash = hashAttestations([])
 * ```
 */
export function hashAttestations(attestations: readonly LeafAttestation[]): Hash {
  return keccak256(
    encodeAbiParameters(
      [
        {
          type: 'tuple[]',
          components: [
            { name: 'verifier', type: 'address' },
            { name: 'agree', type: 'bool' },
            { name: 'signature', type: 'bytes' },
          ],
        },
      ],
      [attestations.map((a) => ({ verifier: a.verifier, agree: a.agree, signature: a.signature }))],
    ),
  )
}

/**
 * A batch's Merkle tree (OpenZeppelin `StandardMerkleTree`: sorted pairs, double-hashed leaves).
 *
 * @example
 * ```ts
 * const tree = buildReceiptTree(leaves)
 * const proof = tree.getProof(0)
 * ```
 */
export function buildReceiptTree(
  leaves: readonly ReceiptLeaf[],
): StandardMerkleTree<ReturnType<typeof stringValues>> {
  return StandardMerkleTree.of(leaves.map(stringValues), [...receiptLeafAbiTypes])
}

function stringValues(leaf: ReceiptLeaf) {
  return receiptLeafValues(leaf).map((value) =>
    typeof value === 'bigint' ? value.toString() : value,
  )
}

/**
 * The settlement leaf a receipt stands for, charged `fee` wei: everything but the fee comes from
 * the signed receipt itself (its attestations, in receipt order, make `attestationsHash`).
 *
 * @example
 * ```ts
 * const leaf = receiptLeafFromReceipt(receipt, 10n ** 15n)
 * const hash = hashReceiptLeaf(leaf)
 * ```
 */
export function receiptLeafFromReceipt(receipt: Receipt, fee: bigint): ReceiptLeaf {
  return {
    jobId: receipt.job.id as Hash,
    requester: receipt.job.requester as `0x${string}`,
    executor: receipt.executor.address as `0x${string}`,
    modelCidHash: keccak256(stringToBytes(receipt.job.model.cid)),
    fee,
    requestStructHash: hashInferenceRequest(requestMessageFromReceipt(receipt)),
    outputHash: receipt.result.outputHash as Hash,
    quorum: receipt.job.quorum,
    attestationsHash: hashAttestations(
      (receipt.quorum?.attestations ?? []).map((a) => ({
        verifier: a.verifier as `0x${string}`,
        agree: a.agree,
        signature: a.signature as Hex,
      })),
    ),
  }
}

/**
 * Whether `proof` proves `leaf` under `root` in a `StandardMerkleTree` (sorted-pair hashing, as
 * OpenZeppelin's `MerkleProof.verify`).
 *
 * @example
 * ```ts
 * verifyReceiptLeafProof(tree.root, leaf, tree.getProof(0)) // true
 * ```
 */
export function verifyReceiptLeafProof(
  root: Hash,
  leaf: ReceiptLeaf,
  proof: readonly Hash[],
): boolean {
  let node: Hash = hashReceiptLeaf(leaf)
  for (const sibling of proof)
    node = keccak256(
      (node.toLowerCase() < sibling.toLowerCase()
        ? `${node}${sibling.slice(2)}`
        : `${sibling}${node.slice(2)}`) as Hex,
    )
  return node.toLowerCase() === root.toLowerCase()
}
