import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Hash } from '@verity/protocol'
import { concat, keccak256 } from 'viem'
import { createLocalSeedSource } from './seedSource.ts'

const jobId: Hash = `0x${'ab'.repeat(32)}`

test('default: a local seed is keccak256(jobId ‖ nonce) with no selection block', async () => {
  const nonce: Hash = `0x${'01'.repeat(32)}`
  const seeds = createLocalSeedSource({ nonce })
  const block = await seeds.seedFor({ jobId })
  assert.deepEqual(block, { blockHash: keccak256(concat([jobId, nonce])) })
  assert.deepEqual(await seeds.seedFor({ jobId }), block, 'deterministic per job')
  assert.notEqual(
    (await seeds.seedFor({ jobId: `0x${'cd'.repeat(32)}` })).blockHash,
    block.blockHash,
  )
})

test('behavior: without a given nonce each source draws its own', async () => {
  const a = createLocalSeedSource()
  const b = createLocalSeedSource()
  assert.match(a.nonce, /^0x[0-9a-f]{64}$/)
  assert.notEqual(a.nonce, b.nonce)
  assert.notEqual((await a.seedFor({ jobId })).blockHash, (await b.seedFor({ jobId })).blockHash)
})
