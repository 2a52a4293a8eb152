import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { test } from 'node:test'
import { localDomain } from '@verity/protocol'
import { defaultNodeOptions, nodeDomain, nodePaths, resolveNodeOptions } from './options.ts'

test('default: loopback, any port, every role, 8 MiB bodies', () => {
  const options = resolveNodeOptions()
  assert.equal(options.host, '127.0.0.1')
  assert.equal(options.port, 0)
  assert.deepEqual(options.roles, ['gateway', 'executor', 'verifier'])
  assert.equal(options.maxBodyBytes, 8 * 1024 * 1024)
  assert.equal(options.dataDir, resolve(defaultNodeOptions.dataDir))
  assert.equal(options.network, undefined)
})

test('behavior: paths become absolute, roles canonical, undefined means default', () => {
  const options = resolveNodeOptions({
    dataDir: 'data',
    keyFile: 'k.json',
    roles: ['verifier', 'gateway'],
    port: undefined,
  })
  assert.equal(options.dataDir, resolve('data'))
  assert.equal(options.keyFile, resolve('k.json'))
  assert.deepEqual(options.roles, ['gateway', 'verifier'])
  assert.equal(options.port, 0)
  assert.deepEqual(nodePaths('/d'), {
    database: '/d/node.sqlite',
    store: '/d/store',
    key: '/d/key.json',
    ipfs: '/d/ipfs',
    zk: '/d/zk',
  })
})

test('behavior: zk is automatic by default, its folder in the data directory, with a generous budget', () => {
  const options = resolveNodeOptions({ dataDir: '/d' })
  assert.deepEqual(options.zk, {
    enabled: 'auto',
    dir: '/d/zk',
    budget: { maxConstraints: 65_536, maxMemoryBytes: 2 ** 31, maxProveMs: 60_000 },
    coordinators: [],
  })
  const custom = resolveNodeOptions({
    dataDir: '/d',
    zk: {
      enabled: false,
      dir: 'artifacts',
      budget: { maxConstraints: 1000 },
      coordinators: ['0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a'],
    },
  })
  assert.deepEqual(custom.zk, {
    enabled: false,
    dir: resolve('artifacts'),
    budget: { maxConstraints: 1000, maxMemoryBytes: 2 ** 31, maxProveMs: 60_000 },
    coordinators: ['0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A'],
  })
})

test('error: invalid zk options name the option', () => {
  assert.throws(() => resolveNodeOptions({ zk: { budget: { maxProveMs: 0 } } }), {
    code: 'INVALID_ARGUMENT',
    message: /"zk\.budget\.maxProveMs"/,
  })
  assert.throws(() => resolveNodeOptions({ zk: { enabled: 'yes' as unknown as boolean } }), {
    code: 'INVALID_ARGUMENT',
    message: /"zk\.enabled"/,
  })
  assert.throws(() => resolveNodeOptions({ zk: { dir: '' } }), { message: /"zk\.dir"/ })
  assert.throws(() => resolveNodeOptions({ zk: { coordinators: ['alice'] } }), {
    code: 'INVALID_ARGUMENT',
    message: /"zk\.coordinators"/,
  })
})

test('behavior: peers are validated and normalized; the verifier timeout defaults to 10 s', () => {
  const defaults = resolveNodeOptions()
  assert.deepEqual(defaults.peers, [])
  assert.equal(defaults.verifyTimeoutMs, 10_000)
  const options = resolveNodeOptions({
    peers: [
      { address: '0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a', url: 'http://127.0.0.1:8081/' },
    ],
    verifyTimeoutMs: 500,
  })
  assert.deepEqual(options.peers, [
    { address: '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A', url: 'http://127.0.0.1:8081' },
  ])
  assert.equal(options.verifyTimeoutMs, 500)
  assert.deepEqual(defaultNodeOptions.peers, [], 'the defaults are not shared and mutated')
  assert.throws(() => resolveNodeOptions({ peers: [{ address: '0x1', url: 'http://a' }] }), {
    code: 'INVALID_ARGUMENT',
    message: /peers\[0\]\.address/,
  })
  assert.throws(() => resolveNodeOptions({ verifyTimeoutMs: 0 }), { message: /"verifyTimeoutMs"/ })
})

test('behavior: the signing domain follows the network options', () => {
  assert.deepEqual(nodeDomain(undefined), localDomain)
  assert.deepEqual(
    nodeDomain({ chainId: 10, settlement: '0x5fbdb2315678afecb367f032d93f642f64180aa3' }),
    {
      name: 'Verity',
      version: '1',
      chainId: 10,
      verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    },
  )
})

test('error: invalid options name the option', () => {
  assert.throws(() => resolveNodeOptions({ port: 70000 }), {
    code: 'INVALID_ARGUMENT',
    message: /"port" is 70000/,
  })
  assert.throws(() => resolveNodeOptions({ roles: [] }), { message: /"roles"/ })
  assert.throws(() => resolveNodeOptions({ roles: ['miner' as 'gateway'] }), { message: /"roles"/ })
  assert.throws(() => resolveNodeOptions({ logLevel: 'loud' as 'info' }), { message: /"logLevel"/ })
  assert.throws(() => resolveNodeOptions({ dataDir: '' }), { message: /"dataDir"/ })
  assert.throws(() => resolveNodeOptions({ network: { chainId: 0 } }), {
    message: /"network.chainId"/,
  })
  assert.throws(() => resolveNodeOptions({ network: { chainId: 1, settlement: '0x12' } }), {
    message: /"network.settlement"/,
  })
})

test('behavior: a chain connection pins the domain to its Settlement; settlement knobs merge with defaults', () => {
  const contracts = {
    modelRegistry: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
    nodeRegistry: '0xe7f1725e7734ce288f8367e1bb143e90bb3f0512',
    settlement: '0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0',
    inferenceHub: '0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9',
  } as const
  const options = resolveNodeOptions({
    network: { chainId: 31337, rpcUrl: 'http://127.0.0.1:8545', contracts },
    settlement: { maxBatchSize: 8 } as never,
  })
  assert.equal(options.network?.settlement, '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0')
  assert.equal(nodeDomain(options.network).verifyingContract, options.network?.settlement)
  assert.deepEqual(options.settlement, {
    maxBatchSize: 8,
    maxBatchDelayMs: 10_000,
    pollIntervalMs: 2_000,
  })
  assert.throws(
    () => resolveNodeOptions({ network: { chainId: 31337, rpcUrl: 'http://127.0.0.1:8545' } }),
    /rpcUrl and contracts together/,
  )
  assert.throws(
    () =>
      resolveNodeOptions({
        network: {
          chainId: 31337,
          rpcUrl: 'http://x',
          contracts,
          settlement: contracts.nodeRegistry,
        },
      }),
    /network.settlement/,
  )
  assert.throws(() => resolveNodeOptions({ fault: 'lie' as never }), /wrong-output/)
})
