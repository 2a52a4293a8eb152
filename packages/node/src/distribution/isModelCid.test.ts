import assert from 'node:assert/strict'
import { test } from 'node:test'
import { computeCid } from '@verity/hub'
import { isModelCid } from './isModelCid.ts'

test('default', async () => {
  // a raw-leaf file (one block) and a dag-pb file (several 256 KiB chunks), as the hub computes them
  const raw = await computeCid(new TextEncoder().encode('hello'))
  const dagPb = await computeCid(new Uint8Array(600 * 1024))
  assert.match(raw, /^bafkrei/)
  assert.match(dagPb, /^bafybei/)
  assert.equal(isModelCid(raw), true)
  assert.equal(isModelCid(dagPb), true)
})

test('behavior: names, other CIDs and non-canonical forms are not model CIDs', async () => {
  const cid = await computeCid(new TextEncoder().encode('hello'))
  for (const value of [
    'digits',
    'digits@1.0.0',
    // a valid model name of the right length and alphabet, but not a CID
    `b${'a'.repeat(58)}`,
    cid.toUpperCase(),
    cid.slice(0, -1),
    `${cid}a`,
    // the last digit carries two padding bits: a non-zero one is not canonical base32
    `${cid.slice(0, -1)}${cid.endsWith('q') ? 'r' : 'q'}`,
    // CIDv0 (base58 Qm…) and a dag-cbor CIDv1
    'QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u',
    'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    undefined,
    42,
  ])
    assert.equal(isModelCid(value), false, String(value))
})
