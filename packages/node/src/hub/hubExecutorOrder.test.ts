import assert from 'node:assert/strict'
import { test } from 'node:test'
import { selectionSeed, selectVerifiers } from '@verity/protocol'
import { keccak256, numberToHex, stringToBytes } from 'viem'
import { hubExecutorOrder, hubSelectionSeed, hubVerifierOrder } from './hubExecutorOrder.ts'
import type { ActiveNode } from './readActiveNodes.ts'

const address = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as `0x${string}`
const blockHash = keccak256(stringToBytes('block'))
// roles: 2 executor, 4 verifier, 6 both
const nodes: ActiveNode[] = [
  { address: address(1), roles: 6, weight: 10n },
  { address: address(2), roles: 2, weight: 1n },
  { address: address(3), roles: 4, weight: 5n },
  { address: address(4), roles: 6, weight: 3n },
  { address: address(5), roles: 6, weight: 0n },
  { address: address(6), roles: 1, weight: 7n },
]

test('default: the executor order is protocol selectVerifiers over weighted executors, seeded by (requestId, blockHash)', () => {
  const seed = hubSelectionSeed(42n, blockHash)
  assert.equal(seed, selectionSeed(numberToHex(42n, { size: 32 }), blockHash))
  const order = hubExecutorOrder({ requestId: 42n, blockHash, nodes })
  assert.deepEqual(
    order,
    selectVerifiers({
      seed,
      candidates: [nodes[0]!, nodes[1]!, nodes[3]!].map(({ address, weight }) => ({
        address,
        weight,
      })),
      count: 3,
    }),
  )
  // every node computes the same order, whatever order it read the registry in
  assert.deepEqual(
    hubExecutorOrder({ requestId: 42n, blockHash, nodes: [...nodes].reverse() }),
    order,
  )
})

test('behavior: verifier-only and zero-weight nodes never execute; the draw follows the weights', () => {
  const firsts = new Map<string, number>()
  for (let id = 1n; id <= 600n; id++) {
    const order = hubExecutorOrder({ requestId: id, blockHash, nodes })
    assert.ok(
      !order.includes(address(3)) && !order.includes(address(5)) && !order.includes(address(6)),
    )
    firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1)
  }
  // weights 10 : 1 : 3 → ≈ 429 : 43 : 129 of 600
  assert.ok((firsts.get(address(1)) ?? 0) > 350, JSON.stringify([...firsts]))
  assert.ok((firsts.get(address(2)) ?? 0) < 90, JSON.stringify([...firsts]))
  assert.ok((firsts.get(address(4)) ?? 0) > 80, JSON.stringify([...firsts]))
})

test('behavior: the verifier order excludes the executor and non-verifiers', () => {
  const order = hubVerifierOrder({ requestId: 9n, blockHash, nodes, executor: address(1) })
  assert.deepEqual([...order].sort(), [address(3), address(4)])
  assert.deepEqual(
    hubVerifierOrder({ requestId: 9n, blockHash, nodes, executor: address(1) }),
    order,
  )
})
