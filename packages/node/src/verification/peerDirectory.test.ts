import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  createStaticPeerDirectory,
  hasPeerRole,
  normalizePeers,
  parsePeer,
  peerRoles,
} from './peerDirectory.ts'

const address = '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A'

test('default: a static directory lists its peers and finds them by address, case-insensitively', async () => {
  const peers = createStaticPeerDirectory([
    { address: address.toLowerCase() as `0x${string}`, url: 'http://127.0.0.1:8081/' },
    {
      address: '0x1563915e194D8CfBA1943570603F7606A3115508',
      url: 'https://node.example',
      weight: 5n,
    },
  ])
  assert.deepEqual(await peers.list(), [
    { address, url: 'http://127.0.0.1:8081' },
    {
      address: '0x1563915e194D8CfBA1943570603F7606A3115508',
      url: 'https://node.example',
      weight: 5n,
    },
  ])
  assert.deepEqual(await peers.get(address.toUpperCase().replace('0X', '0x') as `0x${string}`), {
    address,
    url: 'http://127.0.0.1:8081',
  })
  assert.equal(await peers.get('0x0000000000000000000000000000000000000001'), undefined)
  const listed = await peers.list()
  listed.pop()
  assert.equal((await peers.list()).length, 2, 'callers cannot change the directory')
})

test('behavior: --peer <address>@<url> parses into a checksummed peer', () => {
  assert.deepEqual(parsePeer(`${address.toLowerCase()}@http://127.0.0.1:8081`), {
    address,
    url: 'http://127.0.0.1:8081',
  })
  assert.equal(parsePeer(`${address}@http://user@host:1/`).url, 'http://user@host:1')
})

test('error: bad peers are INVALID_ARGUMENT naming the entry', () => {
  assert.throws(() => parsePeer('http://127.0.0.1:8081'), {
    code: 'INVALID_ARGUMENT',
    message: /not <address>@<url>/,
  })
  assert.throws(() => parsePeer('0x12@http://127.0.0.1:1'), { message: /address.*20-byte/ })
  assert.throws(() => parsePeer(`${address}@ftp://host`), { message: /url.*http\(s\)/ })
  assert.throws(() => parsePeer(`${address}@nowhere`), { message: /url.*http\(s\)/ })
  assert.throws(
    () =>
      normalizePeers([
        { address, url: 'http://a' },
        { address: address.toLowerCase() as `0x${string}`, url: 'http://b' },
      ]),
    { message: /peers\[1\]\.address .* listed twice/ },
  )
  assert.throws(() => normalizePeers([{ address, url: 'http://a', weight: 0n }]), {
    message: /peers\[0\]\.weight/,
  })
})

test('behavior: peer ids and role bitmasks are kept (an empty peer id is dropped) and roles gate hasPeerRole', () => {
  const [withRoles, plain] = normalizePeers([
    { address, url: 'http://a', peerId: '12D3KooWabc', roles: peerRoles.executor },
    { address: '0x1563915e194D8CfBA1943570603F7606A3115508', url: 'http://b', peerId: '' },
  ])
  assert.deepEqual(withRoles, { address, url: 'http://a', peerId: '12D3KooWabc', roles: 2 })
  assert.deepEqual(plain, {
    address: '0x1563915e194D8CfBA1943570603F7606A3115508',
    url: 'http://b',
  })
  assert.equal(hasPeerRole(withRoles!, 'verifier'), false)
  assert.equal(hasPeerRole(withRoles!, 'executor'), true)
  assert.equal(hasPeerRole(plain!, 'verifier'), true, 'unknown roles: any role')
  for (const roles of [0, 8, 1.5])
    assert.throws(() => normalizePeers([{ address, url: 'http://a', roles }]), {
      code: 'INVALID_ARGUMENT',
      message: /peers\[0\]\.roles/,
    })
  assert.throws(() => normalizePeers([{ address, url: 'http://a', peerId: 'a b' }]), {
    message: /peers\[0\]\.peerId/,
  })
})
