import assert from 'node:assert/strict'
import { test } from 'node:test'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { keccak256, toHex } from 'viem'
import {
  buildReceiptTree,
  hashAttestations,
  hashReceiptLeaf,
  type ReceiptLeaf,
  receiptLeafAbiTypes,
} from './receiptLeaf.ts'

const leaf = (i: number): ReceiptLeaf => ({
  jobId: keccak256(toHex(`job ${i}`)),
  requester: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  executor: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  modelCidHash: keccak256(toHex('bafkrei…')),
  fee: 10n ** 15n + BigInt(i),
  requestStructHash: keccak256(toHex(`request ${i}`)),
  outputHash: keccak256(toHex(`output ${i}`)),
  quorum: 2,
  attestationsHash: hashAttestations([]),
})

test('default: leaf hashes equal OpenZeppelin StandardMerkleTree leaf hashes', () => {
  const leaves = Array.from({ length: 5 }, (_, i) => leaf(i))
  const tree = buildReceiptTree(leaves)
  for (const [index, value] of leaves.entries()) {
    assert.equal(tree.leafHash(tree.at(index)!), hashReceiptLeaf(value))
    assert.ok(
      StandardMerkleTree.verify(
        tree.root,
        [...receiptLeafAbiTypes],
        tree.at(index)!,
        tree.getProof(index),
      ),
    )
  }
})

test('behavior: any field change changes the leaf hash', () => {
  const base = leaf(1)
  const hash = hashReceiptLeaf(base)
  assert.notEqual(hashReceiptLeaf({ ...base, fee: base.fee + 1n }), hash)
  assert.notEqual(hashReceiptLeaf({ ...base, quorum: 3 }), hash)
  assert.notEqual(hashReceiptLeaf({ ...base, executor: base.requester }), hash)
  assert.notEqual(
    hashAttestations([{ verifier: base.executor, agree: true, signature: '0x01' }]),
    hashAttestations([{ verifier: base.executor, agree: false, signature: '0x01' }]),
  )
})
