import assert from 'node:assert/strict'
import { test } from 'node:test'
import { multiaddrPeerId, selectDialAddresses } from './selectDialAddresses.ts'

const peer = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'
const other = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'

test('default', () => {
  assert.deepEqual(
    selectDialAddresses(
      [`/ip4/127.0.0.1/tcp/4001/p2p/${peer}`, '/ip4/10.0.0.7/tcp/4001', '/ip6/::1/tcp/4001/'],
      peer,
    ),
    {
      dial: [
        `/ip4/127.0.0.1/tcp/4001/p2p/${peer}`,
        `/ip4/10.0.0.7/tcp/4001/p2p/${peer}`,
        `/ip6/::1/tcp/4001/p2p/${peer}`,
      ],
      refused: [],
    },
  )
  assert.equal(multiaddrPeerId(`/ip4/127.0.0.1/tcp/4001/p2p/${peer}`), peer)
  assert.equal(multiaddrPeerId(`/ip4/127.0.0.1/tcp/4001/ipfs/${peer}`), peer)
  assert.equal(multiaddrPeerId('/ip4/127.0.0.1/tcp/4001'), undefined)
})

test('behavior: addresses naming another peer id are refused', () => {
  const { dial, refused } = selectDialAddresses(
    [
      `/ip4/127.0.0.1/tcp/4001/p2p/${other}`,
      // a relayed address: the last /p2p/ is the target
      `/ip4/127.0.0.1/tcp/4002/p2p/${peer}/p2p-circuit/p2p/${other}`,
      `/ip4/127.0.0.1/tcp/4003/p2p/${peer}`,
    ],
    peer,
  )
  assert.deepEqual(dial, [`/ip4/127.0.0.1/tcp/4003/p2p/${peer}`])
  assert.equal(refused.length, 2)
  assert.match(refused[0]?.reason ?? '', new RegExp(`names peer ${other}, expected ${peer}`))
})

test('behavior: junk, duplicates and more than 16 addresses are dropped', () => {
  const many = Array.from({ length: 20 }, (_, i) => `/ip4/127.0.0.1/tcp/${5000 + i}`)
  const { dial, refused } = selectDialAddresses(
    [42, 'not-a-multiaddr', `/ip4/127.0.0.1/tcp/5000/p2p/${peer}`, ...many, `/${'x'.repeat(2000)}`],
    peer,
  )
  assert.equal(dial.length, 16)
  assert.equal(new Set(dial).size, 16)
  assert.ok(dial.every((address) => address.endsWith(`/p2p/${peer}`)))
  assert.deepEqual(
    refused.map((entry) => entry.reason),
    [
      'not a multiaddr',
      'not a multiaddr',
      ...Array(4).fill('more than 16 addresses'),
      'not a multiaddr',
    ],
  )
})
