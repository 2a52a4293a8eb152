import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import {
  type Address,
  createWalletClient,
  getContract,
  type Hex,
  http,
  maxUint256,
  parseEther,
  parseEventLogs,
  toFunctionSelector,
} from 'viem'
import { nodeRegistryAbi, nodeRegistryBytecode } from './generated/index.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

const ether = (value: string): bigint => parseEther(value)
const minStake = ether('1')
const maxStake = ether('100')
const weightCap = ether('10')
const day = 86_400n
const GATEWAY = 1
const EXECUTOR = 2
const VERIFIER = 4

let chain: TestChain
let address: Address
let snapshot: Hex
// accounts: 0 deployer, 1–6 nodes, 7 stranger, 8 settlement (slasher), 9 hub (slasher)
let settlement: Address
let hub: Address

before(async () => {
  chain = await createTestChain({ accounts: 10 })
  address = await chain.deploy(nodeRegistryAbi, nodeRegistryBytecode, [
    minStake,
    maxStake,
    weightCap,
    day,
  ])
  settlement = chain.accounts[8]!.address
  hub = chain.accounts[9]!.address
})
after(() => chain.close())
beforeEach(async () => {
  snapshot = await chain.snapshot()
})
afterEach(async () => {
  await chain.revert(snapshot)
})

const as = (index: number) =>
  getContract({
    address,
    abi: nodeRegistryAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[index]! },
  })
const addr = (index: number): Address => chain.accounts[index]!.address

async function mined(hash: Hex) {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })
  return {
    receipt,
    timestamp: block.timestamp,
    events: parseEventLogs({ abi: nodeRegistryAbi, logs: receipt.logs }).map((e) => [
      e.eventName,
      e.args,
    ]),
  }
}

async function register(index: number, stake = ether('2'), roles = EXECUTOR | VERIFIER) {
  return mined(
    await as(index).write.register([`http://node${index}.test`, `12D3KooW${index}`, roles], {
      value: stake,
    }),
  )
}

async function setSlashers() {
  return mined(await as(0).write.setSlashers([settlement, hub]))
}

const balance = (who: Address): Promise<bigint> => chain.publicClient.getBalance({ address: who })

test('default: the constructor stores and announces every parameter', async () => {
  const registry = as(0)
  assert.equal(await registry.read.MIN_STAKE(), minStake)
  assert.equal(await registry.read.MAX_STAKE(), maxStake)
  assert.equal(await registry.read.WEIGHT_CAP(), weightCap)
  assert.equal(await registry.read.UNBONDING_DELAY(), day)
  assert.equal(await registry.read.DEPLOYER(), addr(0))
  assert.equal(await registry.read.slashersSet(), false)
  assert.equal(await registry.read.activeNodeCount(), 0n)
  const events = await chain.publicClient.getContractEvents({
    address,
    abi: nodeRegistryAbi,
    eventName: 'ParametersSet',
    fromBlock: 0n,
  })
  assert.deepEqual(
    events.map((e) => e.args),
    [{ minStake, maxStake, weightCap, unbondingDelay: day }],
  )
})

test('error: the constructor rejects a zero minimum, a cap below it and a zero weight cap', async () => {
  const cases = [
    [[0n, maxStake, weightCap, day], 'minStake'],
    [[ether('2'), ether('1'), weightCap, day], 'maxStake'],
    [[minStake, maxStake, 0n, day], 'weightCap'],
  ] as const
  for (const [args, name] of cases) {
    await expectRevert(
      chain.deploy(nodeRegistryAbi, nodeRegistryBytecode, args),
      'InvalidParameter',
      [name],
      nodeRegistryAbi,
    )
  }
})

test('behavior: register stores the node, activates it and emits NodeRegistered', async (t) => {
  const { receipt, events, timestamp } = await register(1, ether('2'), GATEWAY | EXECUTOR)
  t.diagnostic(`gas register: ${receipt.gasUsed}`)
  assert.deepEqual(events, [
    [
      'NodeRegistered',
      {
        node: addr(1),
        endpoint: 'http://node1.test',
        peerId: '12D3KooW1',
        roles: 3,
        stake: ether('2'),
      },
    ],
  ])
  const registry = as(0)
  assert.deepEqual(await registry.read.getNode([addr(1)]), {
    endpoint: 'http://node1.test',
    peerId: '12D3KooW1',
    roles: 3,
    stake: ether('2'),
    unbonding: 0n,
    unbondAt: 0n,
    registeredAt: timestamp,
    exitingSince: 0n,
  })
  assert.equal(await registry.read.isActive([addr(1)]), true)
  assert.equal(await registry.read.hasRole([addr(1), GATEWAY]), true)
  assert.equal(await registry.read.hasRole([addr(1), EXECUTOR]), true)
  assert.equal(await registry.read.hasRole([addr(1), VERIFIER]), false)
  assert.equal(await registry.read.hasRole([addr(1), GATEWAY | EXECUTOR]), true)
  assert.equal(await registry.read.hasRole([addr(1), 0]), false)
  assert.equal(await registry.read.selectionWeight([addr(1)]), ether('2'))
  assert.deepEqual(await registry.read.activeNodes([0n, 10n]), [addr(1)])
  assert.equal(await balance(address), ether('2'))
  // Exactly the bounds are accepted.
  await register(2, minStake)
  await register(3, maxStake)
  assert.equal(await registry.read.activeNodeCount(), 3n)
})

test('error: register rejects a second registration, bad roles and stakes outside [min, max]', async () => {
  await register(1)
  await expectRevert(
    as(1).write.register(['e', 'p', EXECUTOR], { value: minStake }),
    'AlreadyRegistered',
    [addr(1)],
  )
  await expectRevert(as(2).write.register(['e', 'p', 0], { value: minStake }), 'InvalidRoles', [0])
  await expectRevert(as(2).write.register(['e', 'p', 8], { value: minStake }), 'InvalidRoles', [8])
  await expectRevert(
    as(2).write.register(['e', 'p', EXECUTOR], { value: minStake - 1n }),
    'StakeTooLow',
    [minStake - 1n, minStake],
  )
  await expectRevert(
    as(2).write.register(['e', 'p', EXECUTOR], { value: maxStake + 1n }),
    'StakeAboveCap',
    [maxStake + 1n, maxStake],
  )
  assert.equal((await as(0).read.getNode([addr(2)])).registeredAt, 0n)
})

test('behavior: topUp adds stake up to the cap and emits StakeAdded', async (t) => {
  await register(1, ether('2'))
  const { receipt, events } = await mined(await as(1).write.topUp({ value: ether('8') }))
  t.diagnostic(`gas topUp: ${receipt.gasUsed}`)
  assert.deepEqual(events, [
    ['StakeAdded', { node: addr(1), amount: ether('8'), stake: ether('10') }],
  ])
  await mined(await as(1).write.topUp({ value: ether('90') }))
  assert.equal((await as(0).read.getNode([addr(1)])).stake, maxStake)
})

test('error: topUp by an unknown node, above the cap, or by an exiting node', async () => {
  await expectRevert(as(1).write.topUp({ value: 1n }), 'NotRegistered', [addr(1)])
  await register(1, ether('99'))
  await expectRevert(as(1).write.topUp({ value: ether('1') + 1n }), 'StakeAboveCap', [
    maxStake + 1n,
    maxStake,
  ])
  const { timestamp } = await mined(await as(1).write.requestUnbond([ether('99')]))
  await expectRevert(as(1).write.topUp({ value: ether('5') }), 'NodeExiting', [addr(1), timestamp])
})

test('behavior: updateNode replaces endpoint, peer id and roles and emits NodeUpdated', async (t) => {
  await register(1)
  const { receipt, events } = await mined(
    await as(1).write.updateNode(['https://new.test', '12D3KooWnew', VERIFIER]),
  )
  t.diagnostic(`gas updateNode: ${receipt.gasUsed}`)
  assert.deepEqual(events, [
    [
      'NodeUpdated',
      { node: addr(1), endpoint: 'https://new.test', peerId: '12D3KooWnew', roles: VERIFIER },
    ],
  ])
  const node = await as(0).read.getNode([addr(1)])
  assert.equal(node.endpoint, 'https://new.test')
  assert.equal(node.peerId, '12D3KooWnew')
  assert.equal(node.roles, VERIFIER)
  assert.equal(await as(0).read.hasRole([addr(1), EXECUTOR]), false)
})

test('error: updateNode by an unknown node or with invalid roles', async () => {
  await expectRevert(as(1).write.updateNode(['e', 'p', EXECUTOR]), 'NotRegistered', [addr(1)])
  await register(1)
  await expectRevert(as(1).write.updateNode(['e', 'p', 0]), 'InvalidRoles', [0])
  await expectRevert(as(1).write.updateNode(['e', 'p', 255]), 'InvalidRoles', [255])
})

test('behavior: a partial unbond keeps the node active; each request restarts the delay', async (t) => {
  await register(1, ether('5'))
  const first = await mined(await as(1).write.requestUnbond([ether('1')]))
  t.diagnostic(`gas requestUnbond (partial): ${first.receipt.gasUsed}`)
  assert.deepEqual(first.events, [
    [
      'UnbondRequested',
      { node: addr(1), amount: ether('1'), unbondAt: first.timestamp + day, exiting: false },
    ],
  ])
  await chain.increaseTime(100)
  const second = await mined(await as(1).write.requestUnbond([ether('3')]))
  const node = await as(0).read.getNode([addr(1)])
  assert.equal(node.stake, ether('1'))
  assert.equal(node.unbonding, ether('4'))
  assert.equal(node.unbondAt, second.timestamp + day)
  assert.ok(second.timestamp + day > first.timestamp + day)
  assert.equal(node.exitingSince, 0n)
  assert.equal(await as(0).read.isActive([addr(1)]), true)
  assert.equal(await as(0).read.selectionWeight([addr(1)]), ether('1'))
})

test('behavior: an unbond below the minimum makes the node exiting and inactive at once', async (t) => {
  await register(1, ether('3'))
  await register(2, ether('3'))
  const { receipt, events, timestamp } = await mined(
    await as(1).write.requestUnbond([ether('2.5')]),
  )
  t.diagnostic(`gas requestUnbond (exit): ${receipt.gasUsed}`)
  assert.deepEqual(events, [
    [
      'UnbondRequested',
      { node: addr(1), amount: ether('2.5'), unbondAt: timestamp + day, exiting: true },
    ],
  ])
  const registry = as(0)
  assert.equal((await registry.read.getNode([addr(1)])).exitingSince, timestamp)
  assert.equal(await registry.read.isActive([addr(1)]), false)
  assert.equal(await registry.read.selectionWeight([addr(1)]), 0n)
  assert.deepEqual(await registry.read.activeNodes([0n, 10n]), [addr(2)])
  // The rest can be unbonded too; exitingSince does not move.
  await chain.increaseTime(10)
  await mined(await as(1).write.requestUnbond([ether('0.5')]))
  const node = await registry.read.getNode([addr(1)])
  assert.equal(node.exitingSince, timestamp)
  assert.equal(node.stake, 0n)
  assert.equal(node.unbonding, ether('3'))
})

test('error: requestUnbond by an unknown node, of nothing, or of more than the stake', async () => {
  await expectRevert(as(1).write.requestUnbond([1n]), 'NotRegistered', [addr(1)])
  await register(1, ether('2'))
  await expectRevert(as(1).write.requestUnbond([0n]), 'NothingToWithdraw', [])
  await expectRevert(as(1).write.requestUnbond([ether('2') + 1n]), 'StakeTooLow', [
    ether('2'),
    ether('2') + 1n,
  ])
})

test('behavior: withdrawUnbonded pays out after the delay; a full exit forgets the node', async (t) => {
  await register(1, ether('5'))
  const request = await mined(await as(1).write.requestUnbond([ether('2')]))
  const unbondAt = request.timestamp + day
  await expectRevert(as(1).write.withdrawUnbonded(), 'StillBonded', [unbondAt])
  await chain.increaseTime(day - 10n)
  await expectRevert(as(1).write.withdrawUnbonded(), 'StillBonded', [unbondAt])
  await chain.increaseTime(10n)

  const before = await balance(addr(1))
  const partial = await mined(await as(1).write.withdrawUnbonded())
  t.diagnostic(`gas withdrawUnbonded (partial): ${partial.receipt.gasUsed}`)
  assert.deepEqual(partial.events, [['UnbondedWithdrawn', { node: addr(1), amount: ether('2') }]])
  const fee = partial.receipt.gasUsed * partial.receipt.effectiveGasPrice
  assert.equal(await balance(addr(1)), before + ether('2') - fee)
  assert.equal(await balance(address), ether('3'))
  let node = await as(0).read.getNode([addr(1)])
  assert.equal(node.unbonding, 0n)
  assert.equal(node.stake, ether('3'))
  assert.equal(await as(0).read.isActive([addr(1)]), true)
  await expectRevert(as(1).write.withdrawUnbonded(), 'NothingToWithdraw', [])

  // Full exit: everything unbonded and withdrawn → the record is deleted, the address may return.
  await mined(await as(1).write.requestUnbond([ether('3')]))
  await chain.increaseTime(day)
  const full = await mined(await as(1).write.withdrawUnbonded())
  t.diagnostic(`gas withdrawUnbonded (full exit): ${full.receipt.gasUsed}`)
  node = await as(0).read.getNode([addr(1)])
  assert.equal(node.registeredAt, 0n)
  assert.equal(await balance(address), 0n)
  await expectRevert(as(1).write.withdrawUnbonded(), 'NotRegistered', [addr(1)])
  await register(1, ether('1'))
  assert.equal(await as(0).read.isActive([addr(1)]), true)
})

test('behavior: setSlashers works once, only for the deployer', async (t) => {
  await expectRevert(as(7).write.setSlashers([settlement, hub]), 'NotDeployer', [addr(7)])
  const { receipt, events } = await setSlashers()
  t.diagnostic(`gas setSlashers: ${receipt.gasUsed}`)
  assert.deepEqual(events, [['SlashersSet', { settlement, hub }]])
  assert.equal(await as(0).read.settlement(), settlement)
  assert.equal(await as(0).read.hub(), hub)
  assert.equal(await as(0).read.slashersSet(), true)
  await expectRevert(as(0).write.setSlashers([addr(7), addr(7)]), 'SlashersAlreadySet', [])
})

test('error: slash by anyone but the two slashers (also before they are set)', async () => {
  await register(1)
  await expectRevert(as(7).write.slash([addr(1), 1n]), 'NotSlasher', [addr(7)])
  await expectRevert(as(8).write.slash([addr(1), 1n]), 'NotSlasher', [addr(8)])
  await setSlashers()
  await expectRevert(as(7).write.slash([addr(1), 1n]), 'NotSlasher', [addr(7)])
  await expectRevert(as(0).write.slash([addr(1), 1n]), 'NotSlasher', [addr(0)])
  assert.equal((await as(0).read.getNode([addr(1)])).stake, ether('2'))
})

test('behavior: slash takes stake first, then unbonding funds, and sends them to the slasher', async (t) => {
  await setSlashers()
  await register(1, ether('5'))
  await mined(await as(1).write.requestUnbond([ether('2')]))
  const registry = as(8)
  const { result } = await registry.simulate.slash([addr(1), ether('1')], {
    account: chain.accounts[8]!,
  })
  assert.equal(result, ether('1'))

  const before = await balance(settlement)
  const first = await mined(await registry.write.slash([addr(1), ether('1')]))
  t.diagnostic(`gas slash (from stake): ${first.receipt.gasUsed}`)
  assert.deepEqual(first.events, [
    ['Slashed', { node: addr(1), by: settlement, amount: ether('1') }],
  ])
  const fee = first.receipt.gasUsed * first.receipt.effectiveGasPrice
  assert.equal(await balance(settlement), before + ether('1') - fee)
  let node = await registry.read.getNode([addr(1)])
  assert.equal(node.stake, ether('2'))
  assert.equal(node.unbonding, ether('2'))

  // 3 ether: 2 from the stake, 1 from unbonding; the node drops below the minimum → inactive.
  const second = await mined(await as(9).write.slash([addr(1), ether('3')]))
  t.diagnostic(`gas slash (stake + unbonding): ${second.receipt.gasUsed}`)
  assert.deepEqual(second.events, [['Slashed', { node: addr(1), by: hub, amount: ether('3') }]])
  node = await registry.read.getNode([addr(1)])
  assert.equal(node.stake, 0n)
  assert.equal(node.unbonding, ether('1'))
  assert.equal(await registry.read.isActive([addr(1)]), false)
  assert.deepEqual(await registry.read.activeNodes([0n, 10n]), [])

  // More than is left: takes what there is.
  const { result: rest } = await registry.simulate.slash([addr(1), ether('50')], {
    account: chain.accounts[8]!,
  })
  assert.equal(rest, ether('1'))
  await mined(await registry.write.slash([addr(1), ether('50')]))
  assert.equal(await balance(address), 0n)
  // Slashing an empty node or an unknown address takes nothing and emits nothing.
  const empty = await mined(await registry.write.slash([addr(1), ether('1')]))
  assert.deepEqual(empty.events, [])
  const unknown = await mined(await registry.write.slash([addr(7), ether('1')]))
  assert.deepEqual(unknown.events, [])
  assert.equal(
    (await registry.simulate.slash([addr(7), ether('1')], { account: chain.accounts[8]! })).result,
    0n,
  )
})

test('behavior: a node slashed below the minimum is inactive until it tops up', async () => {
  await setSlashers()
  await register(1, ether('2'))
  await mined(await as(8).write.slash([addr(1), ether('1.5')]))
  const registry = as(0)
  assert.equal(await registry.read.isActive([addr(1)]), false)
  assert.equal(await registry.read.selectionWeight([addr(1)]), 0n)
  assert.equal(await registry.read.activeNodeCount(), 0n)
  await mined(await as(1).write.topUp({ value: ether('0.5') }))
  assert.equal(await registry.read.isActive([addr(1)]), true)
  assert.deepEqual(await registry.read.activeNodes([0n, 10n]), [addr(1)])
})

test('behavior: slashing an exiting node to zero forgets it', async () => {
  await setSlashers()
  await register(1, ether('2'))
  await mined(await as(1).write.requestUnbond([ether('2')]))
  await mined(await as(8).write.slash([addr(1), ether('2')]))
  assert.equal((await as(0).read.getNode([addr(1)])).registeredAt, 0n)
  await register(1, ether('1'))
  assert.equal(await as(0).read.isActive([addr(1)]), true)
})

test('error: slash reverts with TransferFailed when the slasher refuses the wei', async () => {
  // A slasher contract whose code always reverts (PUSH0 PUSH0 REVERT), driven by impersonation.
  const rejecting = '0x00000000000000000000000000000000000000AA' as const
  await chain.testClient.setCode({ address: rejecting, bytecode: '0x5f5ffd' })
  await chain.testClient.setBalance({ address: rejecting, value: ether('1') })
  await chain.testClient.impersonateAccount({ address: rejecting })
  await mined(await as(0).write.setSlashers([rejecting, hub]))
  await register(1, ether('2'))
  await expectRevert(
    chain.publicClient.simulateContract({
      account: rejecting,
      address,
      abi: nodeRegistryAbi,
      functionName: 'slash',
      args: [addr(1), ether('1')],
    }),
    'TransferFailed',
    [rejecting, ether('1')],
  )
  assert.equal((await as(0).read.getNode([addr(1)])).stake, ether('2'))
})

test('behavior: a node contract that re-enters withdrawUnbonded is paid once', async () => {
  // Runtime code: on receiving ether, call registry.withdrawUnbonded() again, ignore the result.
  const selector = toFunctionSelector('withdrawUnbonded()').slice(2)
  const code =
    `0x63${selector}60e01b5f52` + `5f5f60045f5f73${address.slice(2).toLowerCase()}5af15000`
  const node = '0x00000000000000000000000000000000000000bb' as const
  await chain.testClient.setCode({ address: node, bytecode: code as Hex })
  await chain.testClient.setBalance({ address: node, value: ether('10') })
  await chain.testClient.impersonateAccount({ address: node })
  const wallet = createWalletClient({
    account: node,
    chain: chain.chain,
    transport: http(chain.anvil.rpcUrl),
  })
  const send = async (functionName: 'register' | 'requestUnbond' | 'withdrawUnbonded') => {
    const hash =
      functionName === 'register'
        ? await wallet.writeContract({
            address,
            abi: nodeRegistryAbi,
            functionName,
            args: ['e', 'p', EXECUTOR],
            value: ether('3'),
          })
        : functionName === 'requestUnbond'
          ? await wallet.writeContract({
              address,
              abi: nodeRegistryAbi,
              functionName,
              args: [ether('1')],
            })
          : await wallet.writeContract({
              address,
              abi: nodeRegistryAbi,
              functionName,
              gas: 300_000n,
            })
    return mined(hash)
  }
  await register(2, ether('4')) // another node's stake sits in the registry too
  await send('register')
  await send('requestUnbond')
  await chain.increaseTime(day)
  const { events, receipt } = await send('withdrawUnbonded')
  assert.deepEqual(events, [['UnbondedWithdrawn', { node, amount: ether('1') }]])
  // The trace shows the nested call was stopped by the reentrancy guard.
  type Frame = { to: string; output?: string; error?: string; calls?: Frame[] }
  const trace = (await chain.publicClient.request({
    method: 'debug_traceTransaction',
    params: [receipt.transactionHash, { tracer: 'callTracer' }],
  } as never)) as Frame
  const nested = trace.calls?.[0]?.calls?.[0]
  assert.equal(nested?.to.toLowerCase(), address.toLowerCase())
  assert.equal(nested?.output, toFunctionSelector('ReentrancyGuardReentrantCall()'))
  assert.equal(await balance(address), ether('6'))
  assert.equal((await as(0).read.getNode([node])).stake, ether('2'))
})

test('behavior: activeNodes pages over the active set; an exit swaps the last node into its slot', async () => {
  for (let i = 1; i <= 5; i++) await register(i, ether(String(i)))
  const registry = as(0)
  assert.equal(await registry.read.activeNodeCount(), 5n)
  const pages = [
    await registry.read.activeNodes([0n, 2n]),
    await registry.read.activeNodes([2n, 2n]),
    await registry.read.activeNodes([4n, 2n]),
  ]
  assert.deepEqual(
    pages.map((p) => p.length),
    [2, 2, 1],
  )
  assert.deepEqual(pages.flat(), [addr(1), addr(2), addr(3), addr(4), addr(5)])
  assert.deepEqual(await registry.read.activeNodes([5n, 2n]), [])
  assert.deepEqual(await registry.read.activeNodes([maxUint256, 2n]), [])
  assert.deepEqual(await registry.read.activeNodes([0n, 0n]), [])
  assert.deepEqual(await registry.read.activeNodes([3n, maxUint256]), [addr(4), addr(5)])

  // Node 2 exits: node 5 takes its slot.
  await mined(await as(2).write.requestUnbond([ether('2')]))
  assert.deepEqual(await registry.read.activeNodes([0n, 10n]), [addr(1), addr(5), addr(3), addr(4)])
  // The last node exits: plain pop.
  await mined(await as(4).write.requestUnbond([ether('4')]))
  assert.deepEqual(await registry.read.activeNodes([0n, 10n]), [addr(1), addr(5), addr(3)])
  assert.equal(await registry.read.activeNodeCount(), 3n)
})

test('behavior: wasActiveAt covers [registeredAt, exitingSince)', async () => {
  const { timestamp: registeredAt } = await register(1, ether('2'))
  const registry = as(0)
  assert.equal(await registry.read.wasActiveAt([addr(1), registeredAt - 1n]), false)
  assert.equal(await registry.read.wasActiveAt([addr(1), registeredAt]), true)
  assert.equal(await registry.read.wasActiveAt([addr(1), registeredAt + 1_000_000n]), true)
  await chain.increaseTime(500)
  const { timestamp: exitingSince } = await mined(await as(1).write.requestUnbond([ether('2')]))
  assert.ok(exitingSince > registeredAt)
  assert.equal(await registry.read.wasActiveAt([addr(1), registeredAt]), true)
  assert.equal(await registry.read.wasActiveAt([addr(1), exitingSince - 1n]), true)
  assert.equal(await registry.read.wasActiveAt([addr(1), exitingSince]), false)
  assert.equal(await registry.read.wasActiveAt([addr(1), exitingSince + 1n]), false)
  assert.equal(await registry.read.wasActiveAt([addr(7), registeredAt]), false)
})

test('behavior: selectionWeight is the stake capped at WEIGHT_CAP, 0 when inactive or unknown', async () => {
  await register(1, ether('3'))
  await register(2, ether('10'))
  await register(3, ether('60'))
  const registry = as(0)
  assert.equal(await registry.read.selectionWeight([addr(1)]), ether('3'))
  assert.equal(await registry.read.selectionWeight([addr(2)]), weightCap)
  assert.equal(await registry.read.selectionWeight([addr(3)]), weightCap)
  assert.equal(await registry.read.selectionWeight([addr(7)]), 0n)
  await mined(await as(3).write.requestUnbond([ether('59.5')]))
  assert.equal(await registry.read.selectionWeight([addr(3)]), 0n)
  // getNode of an unknown address is the zero struct.
  assert.equal((await registry.read.getNode([addr(7)])).registeredAt, 0n)
})
