import assert from 'node:assert/strict'
import { test } from 'node:test'
import { keccak256, toHex } from 'viem'
import { isBaseError } from './errors.ts'
import { selectionSeed, selectVerifiers, type VerifierCandidate } from './selectVerifiers.ts'

const address = (i: number) => `0x${(i + 1).toString(16).padStart(40, '0')}` as `0x${string}`
const candidates: VerifierCandidate[] = Array.from({ length: 8 }, (_, i) => ({
  address: address(i),
  weight: BigInt(i + 1) * 10n ** 18n,
}))

test('default: deterministic for a seed, independent of candidate order', () => {
  const seed = selectionSeed(keccak256(toHex('job')), keccak256(toHex('block')))
  const first = selectVerifiers({ seed, candidates, count: 3 })
  assert.deepEqual(
    selectVerifiers({ seed, candidates: [...candidates].reverse(), count: 3 }),
    first,
  )
  assert.equal(new Set(first).size, 3)
  const other = selectVerifiers({
    seed: selectionSeed(keccak256(toHex('job')), keccak256(toHex('other'))),
    candidates,
    count: 3,
  })
  assert.notDeepEqual(other, first)
})

test('behavior: excludes the executor, and selection follows capped stake', () => {
  const counts = new Map<string, number>()
  const whale = { address: address(99), weight: 1000n * 10n ** 18n }
  for (let i = 0; i < 2000; i++) {
    const seed = keccak256(toHex(`seed ${i}`))
    const [picked] = selectVerifiers({
      seed,
      candidates: [...candidates, whale],
      count: 1,
      exclude: [address(0)],
      weightCap: 8n * 10n ** 18n,
    })
    assert.notEqual(picked, address(0))
    counts.set(picked!, (counts.get(picked!) ?? 0) + 1)
  }
  // capped at 8, the whale weighs like the largest honest node (8) instead of 1000
  const whaleShare = (counts.get(whale.address) ?? 0) / 2000
  assert.ok(whaleShare > 0.1 && whaleShare < 0.3, `whale share ${whaleShare}`)
  assert.ok(
    (counts.get(address(7)) ?? 0) > (counts.get(address(1)) ?? 0) * 2,
    'weight 8 beats weight 2',
  )
})

test('error: more verifiers than eligible nodes', () => {
  assert.throws(
    () =>
      selectVerifiers({
        seed: keccak256('0x01'),
        candidates: candidates.slice(0, 2),
        count: 2,
        exclude: [address(0)],
      }),
    (error) => isBaseError(error, 'SELECTION_INVALID'),
  )
})
