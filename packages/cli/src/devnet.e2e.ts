import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  encodeZkFulfillment,
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  modelRegistryAbi,
  nodeRegistryAbi,
  parseNetworkConfig,
  settlementAbi,
  zkModelVerifierAbi,
} from '@verity/contracts'
import {
  decodeTensors,
  encodeTensors,
  fromFieldElement,
  hashTensors,
  namedTensorsFromJson,
  type Receipt,
  verifyReceipt,
} from '@verity/protocol'
import { createClient, getModel, http as sdkHttp, infer as sdkInfer } from '@verity/sdk'
import { encodeGroth16Proof } from '@verity/zk'
import OpenAI from 'openai'
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  hexToBytes,
  http,
  keccak256,
  parseEventLogs,
  stringToBytes,
  toHex,
} from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { allocatePorts } from './devnet/allocatePorts.ts'
import { loadPeerId } from './devnet/loadPeerId.ts'
import { spawnNodeProcess } from './devnet/nodeProcess.ts'
import { devnetNodeFlags } from './devnet/options.ts'
import {
  createChainClients,
  ensureModelRegistered,
  ensureNodeRegistered,
  nodeRoleBits,
} from './devnet/registerOnChain.ts'
import type { DevnetSummary } from './devnet/startDevnet.ts'
import { runCli } from './test/runCli.ts'

// End to end, every part real and in its own process: `verity devnet` (anvil, contracts, 4 node
// daemons, demo models) driven from the outside like a user would, then the CLI against it.
// `npm run test:e2e` runs this file alone, after the unit tests: its first start runs the zk
// ceremonies, and its timeouts (verifiers, challenges) are about a devnet, not a crowded machine.

const bin = fileURLToPath(new URL('../bin/verity.ts', import.meta.url))
let dataDir = ''
let home = ''
const running: ChildProcess[] = []

type Devnet = { process: ChildProcess; summary: DevnetSummary; stderr: () => string }

/**
 * Runs `verity --json devnet` and resolves with its summary once it is up. A devnet that is not up
 * within `upWithinMs` is stopped and the start fails with the progress lines it printed, so that a
 * slow or stuck step shows in the test's output instead of a bare test timeout.
 */
function startDevnet(upWithinMs: number): Promise<Devnet> {
  const child = spawn(
    process.execPath,
    [bin, '--json', 'devnet', '--data-dir', dataDir, '--port-base', '0', '--nodes', '4'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VERITY_PRIVATE_KEY: undefined } },
  )
  running.push(child)
  let stdout = ''
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const timer = setTimeout(() => {
      child.kill('SIGINT')
      reject(new Error(`verity devnet was not up after ${upWithinMs / 1000} s:\n${stderr}`))
    }, upWithinMs)
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      try {
        const summary = JSON.parse(stdout) as DevnetSummary
        clearTimeout(timer)
        console.log(`# devnet up in ${((performance.now() - started) / 1000).toFixed(0)} s`)
        resolve({ process: child, summary, stderr: () => stderr })
      } catch {} // not the whole object yet
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`verity devnet exited (${code ?? signal}) before it was up:\n${stderr}`))
    })
  })
}

function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode ?? -1)
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  )
}

/** Processes whose command line mentions the devnet's data directory (anvil, its watchdog, nodes). */
async function processesUsing(dir: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes(dir)) found.push(`${entry} ${cmdline.replaceAll('\0', ' ').slice(0, 160)}`)
  }
  return found
}

/** Waits until no process uses `dir` (they stop by themselves; bounded). */
async function noProcessesLeft(dir: string, timeoutMs: number): Promise<string[]> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const left = await processesUsing(dir)
    if (left.length === 0 || performance.now() > deadline) return left
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Fails with what a CLI run printed and the last warnings and errors of the nodes involved (their
 * pino logs, level 40 and up), so that a failure on a CI machine says why.
 */
async function assertRan(
  run: { code: number; stdout: string; stderr: string },
  nodes: readonly { logFile: string }[],
): Promise<void> {
  if (run.code === 0) return
  const logs: string[] = []
  for (const { logFile } of nodes) {
    const problems = (await readFile(logFile, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => {
        try {
          return (JSON.parse(line) as { level?: number }).level! >= 40
        } catch {
          return false
        }
      })
    logs.push(`${logFile} (last warnings and errors):`, ...problems.slice(-8))
  }
  assert.fail(`exit ${run.code}\n${run.stderr}${run.stdout}\n${logs.join('\n')}`)
}

/** The devnet's funded requester key and a wallet client that sends from it. */
function requesterWallet(summary: DevnetSummary) {
  const requester = summary.testKeys.find((k) => k.role === 'requester')!
  const wallet = createWalletClient({
    account: privateKeyToAccount(requester.privateKey),
    chain: {
      id: summary.chainId,
      name: 'devnet',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [summary.rpcUrl] } },
    },
    transport: http(summary.rpcUrl, { retryCount: 0 }),
  })
  return { requester, wallet }
}

function chainClient(summary: DevnetSummary) {
  return createPublicClient({ transport: http(summary.rpcUrl, { retryCount: 0 }) })
}

/** A node's NodeRegistry record (endpoint, peer id, stake, …). */
function nodeRecord(summary: DevnetSummary, address: `0x${string}`) {
  return chainClient(summary).readContract({
    address: summary.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'getNode',
    args: [address],
  })
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'verity-devnet-'))
  home = await mkdtemp(join(tmpdir(), 'verity-devnet-home-'))
})
after(async () => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
  await noProcessesLeft(dataDir, 10_000)
  await rm(dataDir, { recursive: true, force: true })
  await rm(home, { recursive: true, force: true })
})

let first: Devnet
const cli = (...argv: string[]) => runCli(['--home', home, ...argv])

/**
 * Has the deployed ExampleConsumer `ask` InferenceHub (args: model id, input bytes, mode, quorum,
 * callback gas; the price paid along) and waits for the request's `InferenceFulfilled`.
 */
async function askThroughHub(
  summary: DevnetSummary,
  wallet: ReturnType<typeof requesterWallet>['wallet'],
  consumer: `0x${string}`,
  request: {
    what: string
    timeoutMs: number
    args: readonly [bigint, `0x${string}`, number, number, number]
  },
) {
  const chain = chainClient(summary)
  const asked = await chain.waitForTransactionReceipt({
    hash: await wallet.writeContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'ask',
      args: request.args,
      value: BigInt(summary.settlement.pricePerCall),
    }),
  })
  const [requested] = parseEventLogs({
    abi: inferenceHubAbi,
    logs: asked.logs,
    eventName: 'InferenceRequested',
  })
  const requestId = requested!.args.requestId
  const fulfilled = await eventually(request.what, request.timeoutMs, async () => {
    const [log] = await chain.getContractEvents({
      address: summary.contracts.inferenceHub,
      abi: inferenceHubAbi,
      eventName: 'InferenceFulfilled',
      args: { requestId },
      fromBlock: asked.blockNumber,
    })
    return log
  })
  return { requestId, fulfilled }
}

test('default: devnet brings up 4 registered, staked nodes that all serve the demo models', {
  // the first start runs the zk ceremonies of the int8 demo models: about 4 minutes on 2 CPUs
  // (this file runs alone, after the unit tests: `npm run test:e2e`)
  timeout: 780_000,
}, async () => {
  first = await startDevnet(720_000)
  const { summary } = first
  assert.equal(summary.nodes.length, 4)
  assert.equal(summary.reusedContracts, false)
  assert.equal(new Set(summary.nodes.map((n) => n.url)).size, 4)
  assert.equal(new Set(summary.nodes.map((n) => n.address)).size, 4)
  assert.match(first.stderr(), /✓ Starting anvil/)
  assert.match(first.stderr(), /✓ Registering and staking 4 nodes/)

  // key files: private, and never on a command line
  for (const node of summary.nodes) {
    assert.equal((await stat(node.keyFile)).mode & 0o777, 0o600, node.keyFile)
    const key = JSON.parse(await readFile(node.keyFile, 'utf8')).privateKey as string
    assert.deepEqual(
      (await processesUsing(dataDir)).filter((line) => line.includes(key.slice(2))),
      [],
    )
  }

  // node 1 was given the demo models; the others fetch them over IPFS on first use
  const int8 = summary.models.find((m) => m.name === 'digits-mlp-int8')
  assert.ok(int8, 'the int8 demo model is published')
  assert.equal(summary.modelDistribution, 'ipfs-on-first-use')
  const listed = await cli('--json', 'models', '--node', summary.nodes[0]!.url)
  assert.equal(listed.code, 0, listed.stderr + listed.stdout)
  assert.deepEqual(
    listed
      .json()
      .map((m: { name: string; cid: string }) => `${m.name} ${m.cid}`)
      .sort(),
    summary.models.map((m) => `${m.name} ${m.cid}`).sort(),
  )

  // on-chain: the nodes are registered with their endpoints and staked; the models are registered
  const chain = chainClient(summary)
  const active = await chain.readContract({
    address: summary.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'activeNodes',
    args: [0n, 100n],
  })
  assert.deepEqual([...active].sort(), summary.nodes.map((n) => n.address).sort())
  for (const node of summary.nodes) {
    const record = await nodeRecord(summary, node.address)
    assert.equal(record.endpoint, node.url)
    assert.equal(record.peerId, node.peerId)
    assert.match(record.peerId, /^12D3KooW/)
    assert.equal(record.roles, 7)
    assert.equal(record.stake, 10n ** 18n)
  }
  const [modelId] = await chain.readContract({
    address: summary.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'modelByCid',
    args: [keccak256(stringToBytes(int8.cid))],
  })
  assert.equal(modelId.toString(), int8.modelId)
  const model = await chain.readContract({
    address: summary.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'getModel',
    args: [modelId],
  })
  assert.equal(model.royaltyBps, 1000)
  assert.equal(model.creator, summary.testKeys.find((k) => k.role === 'model creator')?.address)
})

test('behavior: `verity infer --node <node 2> --mode none` writes a receipt that `verity verify` accepts', async () => {
  const { summary } = first
  const node2 = summary.nodes[1]!
  const requester = summary.testKeys.find((k) => k.role === 'requester')!
  const out = join(home, 'receipt-none.json')
  const infer = await cli(
    '--json',
    'infer',
    'digits-mlp-int8',
    '--input',
    join(summary.samples, 'digit-7.png'),
    '--node',
    node2.url,
    '--key',
    requester.keyFile!,
    '--mode',
    'none',
    '--out',
    out,
  )
  await assertRan(infer, first.summary.nodes)
  const receipt = JSON.parse(await readFile(out, 'utf8'))
  assert.equal(receipt.executor.address, node2.address)
  assert.equal(receipt.job.requester, requester.address)
  assert.equal(receipt.domain.chainId, summary.chainId)
  assert.equal(receipt.domain.verifyingContract, summary.contracts.settlement)
  const verify = await cli('--json', 'verify', out, '--executor', node2.address)
  assert.equal(verify.code, 0, verify.stdout)
  assert.equal(verify.json().valid, true)
})

test('behavior: `--mode reexec --quorum 2` brings back a receipt co-signed by two other devnet nodes', async () => {
  const { summary } = first
  assert.ok(summary.modes.includes('reexec'), `modes: ${summary.modes}`)
  const node2 = summary.nodes[1]!
  const requester = summary.testKeys.find((k) => k.role === 'requester')!
  const out = join(home, 'receipt-reexec.json')
  const infer = await cli(
    'infer',
    'digits-mlp-int8',
    '--input',
    join(summary.samples, 'digit-2.png'),
    '--node',
    node2.url,
    '--key',
    requester.keyFile!,
    '--mode',
    'reexec',
    '--quorum',
    '2',
    '--out',
    out,
  )
  await assertRan(infer, first.summary.nodes)
  assert.match(infer.stdout, /quorum {4}2\/2 verifiers agree/)
  const receipt = JSON.parse(await readFile(out, 'utf8'))
  assert.equal(receipt.job.mode, 'reexec')
  assert.equal(receipt.quorum.threshold, 2)
  const verifiers = receipt.quorum.attestations
    .filter((a: { agree: boolean }) => a.agree)
    .map((a: { verifier: string }) => a.verifier)
  assert.ok(verifiers.length >= 2, JSON.stringify(receipt.quorum))
  assert.equal(new Set(verifiers).size, verifiers.length, 'distinct verifiers')
  assert.ok(!verifiers.includes(node2.address), 'the executor does not verify itself')
  const others = summary.nodes.filter((n) => n !== node2).map((n) => n.address)
  for (const verifier of verifiers) assert.ok(others.includes(verifier), verifier)
  const verify = await cli('--json', 'verify', out)
  assert.equal(verify.code, 0, verify.stdout)
  assert.ok(
    verify
      .json()
      .checks.some(
        (c: { name: string; status: string }) => c.name === 'quorum' && c.status === 'pass',
      ),
  )
})

const settlementRead = (
  summary: DevnetSummary,
  functionName: 'earnings' | 'balanceOf',
  address: `0x${string}`,
  blockNumber?: bigint,
) =>
  chainClient(summary).readContract({
    address: summary.contracts.settlement,
    abi: settlementAbi,
    functionName,
    args: [address],
    ...(blockNumber === undefined ? {} : { blockNumber }),
  })

/** Polls `check` every 250 ms until it returns a value (not undefined) or `timeoutMs` passes. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** Moves anvil's clock (the devnet chain) forward and mines a block. */
async function increaseTime(summary: DevnetSummary, seconds: number): Promise<void> {
  const test = createTestClient({
    mode: 'anvil',
    transport: http(summary.rpcUrl, { retryCount: 0 }),
  })
  const latest = await chainClient(summary).getBlock({ blockTag: 'latest' })
  const target = latest.timestamp + BigInt(seconds)
  await test.setNextBlockTimestamp({ timestamp: target })
  await test.mine({ blocks: 1 })
  await test.request({ method: 'evm_setTime', params: [Number(target)] } as never)
}

test('behavior: a model published on node 1 and inferred on node 3 (fetched over IPFS) with reexec quorum 2 verifies offline and online, settles, and the fee is split exactly', {
  timeout: 180_000,
}, async () => {
  const { summary } = first
  const node3 = summary.nodes[2]!
  const requester = summary.testKeys.find((k) => k.role === 'requester')!
  const creator = summary.testKeys.find((k) => k.role === 'model creator')!
  const treasury = summary.testKeys.find((k) => k.role === 'deployer (treasury)')!
  const chain = chainClient(summary)
  const escrowBefore = await settlementRead(summary, 'balanceOf', requester.address)

  // the devnet published the model to node 1 only (SDK publishModel); node 3 fetches it over IPFS
  const int8 = summary.models.find((m) => m.name === 'digits-mlp-int8')!

  const out = join(home, 'receipt-settled.json')
  // the executor commits its batch (size/time trigger): `--wait-settled` waits for the receipt's
  // settlement section with a progress line
  const infer = await cli(
    'infer',
    int8.cid,
    '--input',
    join(summary.samples, 'digit-4.png'),
    '--node',
    node3.url,
    '--key',
    requester.keyFile!,
    '--mode',
    'reexec',
    '--quorum',
    '2',
    '--wait-settled',
    '60',
    '--out',
    out,
  )
  await assertRan(infer, first.summary.nodes)
  assert.match(infer.stdout, /settled {3}batch \d+, fee 0\.001 ETH/)
  const settled = JSON.parse(await readFile(out, 'utf8')) as {
    job: { id: string; maxFee: string }
    settlement: { batchId: string; fee: string }
    quorum: { attestations: { verifier: `0x${string}` }[] }
  }
  const price = BigInt(summary.settlement.pricePerCall)
  assert.equal(BigInt(settled.job.maxFee), price, 'the SDK signs the node-reported price as maxFee')
  assert.equal(BigInt(settled.settlement.fee), price)

  const online = await cli('--json', 'verify', out, '--rpc', summary.rpcUrl)
  assert.equal(online.code, 0, online.stdout)
  const checks = online.json().checks as { name: string; status: string }[]
  for (const name of [
    'settlement',
    'settlement.batch',
    'settlement.inclusion',
    'model.registry',
    'executor.stake',
  ])
    assert.equal(
      checks.find((c) => c.name === name)?.status,
      'pass',
      `${name}: ${JSON.stringify(checks)}`,
    )
  // the batch charged the payer exactly the price per receipt, reserved from its escrow at commit
  // (earlier tests' receipts may share the batch: all are the requester's, at the same price)
  const batchId = BigInt(settled.settlement.batchId)
  const [committed] = await chain.getContractEvents({
    address: summary.contracts.settlement,
    abi: settlementAbi,
    eventName: 'BatchCommitted',
    args: { batchId },
    fromBlock: 0n,
  })
  const { payers, count } = committed!.args
  assert.deepEqual(payers, [{ payer: requester.address, total: price * BigInt(count!) }])
  assert.ok(escrowBefore - (await settlementRead(summary, 'balanceOf', requester.address)) >= price)

  // after the challenge window the executor finalizes; every party's credit moves by its share
  await increaseTime(summary, summary.settlement.challengeWindowSeconds + 1)
  const finalized = await eventually('the batch to be finalized', 60_000, async () => {
    const [log] = await chain.getContractEvents({
      address: summary.contracts.settlement,
      abi: settlementAbi,
      eventName: 'BatchFinalized',
      args: { batchId },
      fromBlock: 0n,
    })
    return log
  })
  const block = finalized.blockNumber
  const delta = async (address: `0x${string}`) =>
    (await settlementRead(summary, 'earnings', address, block)) -
    (await settlementRead(summary, 'earnings', address, block - 1n))
  const params = JSON.parse(await readFile(join(dataDir, 'network.json'), 'utf8')).parameters
  const batch = finalized.args
  const total = batch.total!
  const royalty = (price * BigInt(int8.royaltyBps)) / 10_000n
  assert.ok(total >= price)
  assert.equal(await delta(creator.address), batch.royalties)
  assert.equal(await delta(treasury.address), (total * BigInt(params.treasuryBps)) / 10_000n)
  assert.equal(batch.treasuryAmount, (total * BigInt(params.treasuryBps)) / 10_000n)
  if (total === price) assert.equal(batch.royalties, royalty)
  const pool = (total * BigInt(params.verifierBps)) / 10_000n
  const verifiers = settled.quorum.attestations.map((a: { verifier: `0x${string}` }) => a.verifier)
  let verifierSum = 0n
  for (const verifier of verifiers) verifierSum += await delta(verifier)
  assert.equal(verifierSum, batch.verifierPool)
  assert.ok(verifierSum <= pool && pool - verifierSum < BigInt(verifiers.length) + 1n)
  assert.equal(await delta(node3.address), batch.executorAmount)
  assert.equal(
    batch.executorAmount,
    total - batch.royalties! - batch.verifierPool! - batch.treasuryAmount!,
  )

  // and the executor withdraws its earnings to its wallet by itself, this share included (credits
  // that land later, such as its verifier shares of other nodes' batches, go on the next check)
  const withdrawn = await eventually('the executor to withdraw', 30_000, async () => {
    const [log] = await chain.getContractEvents({
      address: summary.contracts.settlement,
      abi: settlementAbi,
      eventName: 'EarningsWithdrawn',
      args: { party: node3.address },
      fromBlock: block,
    })
    return log
  })
  assert.ok(withdrawn.args.amount! >= batch.executorAmount!)
})

test('behavior: a node that returns wrong outputs (tensors or tokens) is caught by the quorum, challenged on-chain by a verifier and slashed', {
  timeout: 180_000,
}, async () => {
  const { summary } = first
  const config = parseNetworkConfig(await readFile(join(dataDir, 'network.json'), 'utf8'))
  const chain = createChainClients(config)
  // a fifth, cheating node (anvil dev key 7), staked like the others
  const account = mnemonicToAccount('test test test test test test test test test test test junk', {
    addressIndex: 7,
  })
  const dir = join(dataDir, 'node-cheater')
  const keyFile = join(dir, 'key.json')
  await mkdir(dir, { recursive: true })
  await writeFile(
    keyFile,
    JSON.stringify({
      version: 1,
      address: account.address,
      privateKey: toHex(account.getHdKey().privateKey!),
    }),
    { mode: 0o600 },
  )
  const [port] = await allocatePorts(0, 1)
  const cheater = spawnNodeProcess({
    dataDir: dir,
    port: port!,
    keyFile,
    logFile: join(dir, 'node.log'),
    chainId: config.chainId,
    networkFile: join(dataDir, 'network.json'),
    extraArgs: [...devnetNodeFlags, '--fault', 'wrong-output'],
    env: { VERITY_ALLOW_FAULTS: '1' },
  })
  running.push(cheater.process)
  try {
    await ensureNodeRegistered(chain, {
      account,
      endpoint: cheater.url,
      peerId: await loadPeerId(join(dir, 'ipfs', 'peer.key')),
      roles: nodeRoleBits.all,
    })
    await cheater.ready({ timeoutMs: 60_000 })
    const stakeOf = async () => (await nodeRecord(summary, account.address)).stake
    const stakeBefore = await stakeOf()

    const requester = summary.testKeys.find((k) => k.role === 'requester')!
    const out = join(home, 'receipt-cheated.json')
    const infer = await cli(
      '--json',
      'infer',
      'digits-mlp-int8',
      '--input',
      join(summary.samples, 'digit-5.png'),
      '--node',
      cheater.url,
      '--key',
      requester.keyFile!,
      '--mode',
      'reexec',
      '--quorum',
      '2',
      '--out',
      out,
    )
    // the client is not fooled: the receipt's quorum certificate does not check out
    assert.notEqual(infer.code, 0, infer.stdout)
    assert.match(`${infer.stdout}${infer.stderr}`, /RECEIPT_QUORUM_NOT_MET|OUTPUT_MISMATCH/)
    // text too: the cheater signs one altered token; the replay verifiers refuse to co-sign, and
    // the certificate it answers with anyway does not check out
    const chat = await cli(
      '--json',
      'chat',
      'tiny-llama',
      'the',
      '--node',
      cheater.url,
      '--max-tokens',
      '8',
      '--temperature',
      '0',
      '--mode',
      'reexec',
      '--quorum',
      '2',
    )
    assert.notEqual(chat.code, 0, chat.stdout)
    assert.match(`${chat.stdout}${chat.stderr}`, /RECEIPT_QUORUM_NOT_MET|OUTPUT_MISMATCH/)

    // the cheater commits it anyway; a verifier that signed the disagreement challenges the batch
    const challenged = await eventually('the challenge', 90_000, async () => {
      const [log] = await chainClient(summary).getContractEvents({
        address: summary.contracts.settlement,
        abi: settlementAbi,
        eventName: 'BatchReverted',
        args: { executor: account.address },
        fromBlock: 0n,
      })
      return log
    })
    assert.equal(challenged.args.slashed, config.parameters.slashAmount)
    assert.ok(
      summary.nodes.some((n) => n.address === challenged.args.challenger),
      String(challenged.args.challenger),
    )
    assert.equal(stakeBefore - (await stakeOf()), config.parameters.slashAmount)
  } finally {
    await cheater.stop({ timeoutMs: 10_000 })
  }
})

test('behavior: a contract asks InferenceHub for an inference; devnet nodes execute, co-sign (quorum 2) and call it back', {
  timeout: 120_000,
}, async () => {
  const { summary } = first
  const int8 = summary.models.find((m) => m.name === 'digits-mlp-int8')!
  const { wallet } = requesterWallet(summary)
  const chain = chainClient(summary)
  const deployed = await chain.waitForTransactionReceipt({
    hash: await wallet.deployContract({
      abi: exampleConsumerAbi,
      bytecode: exampleConsumerBytecode,
      args: [summary.contracts.inferenceHub],
    }),
  })
  const consumer = deployed.contractAddress!
  const inputs = namedTensorsFromJson(
    JSON.parse(await readFile(join(summary.samples, 'digit-6.int8.json'), 'utf8')),
  )
  const { requestId, fulfilled } = await askThroughHub(summary, wallet, consumer, {
    what: 'the hub request to be fulfilled',
    timeoutMs: 90_000,
    args: [BigInt(int8.modelId), toHex(encodeTensors(inputs)), 1, 2, 500_000],
  })
  const nodes = summary.nodes.map((n) => n.address)
  assert.ok(nodes.includes(fulfilled.args.executor!), String(fulfilled.args.executor))
  assert.ok(fulfilled.args.cosigners!.length >= 2)
  for (const cosigner of fulfilled.args.cosigners!) assert.ok(nodes.includes(cosigner))
  // the consumer got the model's output for that input: the same as a node computes over HTTP
  const result = await chain.readContract({
    address: consumer,
    abi: exampleConsumerAbi,
    functionName: 'resultOf',
    args: [requestId],
  })
  const outputs = decodeTensors(hexToBytes(result))
  const client = createClient({ transport: sdkHttp(summary.nodes[0]!.url) })
  const direct = await sdkInfer(client, { model: int8.cid, inputs })
  assert.equal(hashTensors(outputs), direct.receipt.result.outputHash)
  const logits = Array.from(outputs.logits!.data as Int32Array)
  assert.equal(logits.indexOf(Math.max(...logits)), 6)
})

test('behavior: zero knowledge: the demo MLP and CNN are proven on the devnet; receipts verify offline, the registered verifiers accept the proofs through InferenceHub, tampering fails offline and on-chain', {
  timeout: 300_000,
}, async (t) => {
  const { summary } = first
  if (!summary.zk || summary.zk.models.length === 0) {
    t.skip(summary.zk?.note ?? 'the devnet ran without zk')
    return
  }
  const { requester, wallet } = requesterWallet(summary)
  const chain = chainClient(summary)
  const consumer = (
    await chain.waitForTransactionReceipt({
      hash: await wallet.deployContract({
        abi: exampleConsumerAbi,
        bytecode: exampleConsumerBytecode,
        args: [summary.contracts.inferenceHub],
      }),
    })
  ).contractAddress!
  const client = createClient({ transport: sdkHttp(summary.nodes[1]!.url) })
  const inputs = namedTensorsFromJson(
    JSON.parse(await readFile(join(summary.samples, 'digit-3.int8.json'), 'utf8')),
  )
  const image = inputs.image!.data as Uint8Array
  assert.deepEqual(
    summary.zk.models.map((m) => m.name),
    ['digits-mlp-int8', 'digits-cnn-int8'],
  )
  for (const zkModel of summary.zk.models) {
    // over HTTP with the CLI: a signed mode-zk request, its receipt written and verified offline
    const out = join(home, `receipt-zk-${zkModel.name}.json`)
    const infer = await cli(
      '--json',
      'infer',
      zkModel.name,
      '--input',
      join(summary.samples, 'digit-3.png'),
      '--node',
      summary.nodes[1]!.url,
      '--key',
      requester.keyFile!,
      '--mode',
      'zk',
      '--out',
      out,
    )
    await assertRan(infer, summary.nodes.slice(0, 2))
    const receipt = JSON.parse(await readFile(out, 'utf8')) as Receipt
    assert.equal(receipt.job.mode, 'zk')
    const model = await getModel(client, { model: zkModel.name })
    // node 2 proved it with artifacts it fetched over IPFS from node 1 into its own zk folder
    for (const cid of Object.values(model.manifest.zk!.artifacts))
      assert.ok(existsSync(join(dataDir, 'node-2', 'zk', cid)), `node 2 holds artifact ${cid}`)
    const verdict = await verifyReceipt(receipt, { manifest: model.manifest, inputs })
    assert.equal(
      verdict.valid,
      true,
      JSON.stringify(verdict.checks.filter((c) => c.status !== 'pass')),
    )
    for (const name of ['zk.proof', 'zk.output', 'zk.input', 'zk.model'])
      assert.equal(verdict.checks.find((c) => c.name === name)?.status, 'pass', name)
    const tampered = structuredClone(receipt)
    tampered.zk!.publicSignals[0] = String(BigInt(tampered.zk!.publicSignals[0]!) + 1n)
    const rejected = await verifyReceipt(tampered, { manifest: model.manifest, inputs })
    assert.equal(rejected.code, 'RECEIPT_ZK_PROOF_INVALID')
    const outputs = receipt.zk!.publicSignals.slice(0, 10).map((v) => fromFieldElement(BigInt(v)))

    // on-chain: the registered verifier accepts this proof, and refuses it for another output
    const fulfilment = encodeZkFulfillment({
      groth16Proof: encodeGroth16Proof(receipt.zk!.proof as never),
      input: image,
      outputs,
    })
    const check = (proof: `0x${string}`, outputHash: `0x${string}`) =>
      chain.readContract({
        address: zkModel.verifier,
        abi: zkModelVerifierAbi,
        functionName: 'verifyProof',
        args: [proof, keccak256(image), outputHash],
      })
    assert.equal(await check(fulfilment.proof, fulfilment.outputHash), true)
    const wrong = encodeZkFulfillment({
      groth16Proof: encodeGroth16Proof(receipt.zk!.proof as never),
      input: image,
      outputs: outputs.map((v, i) => (i === 0 ? v + 1n : v)),
    })
    assert.equal(await check(wrong.proof, wrong.outputHash), false)

    // through InferenceHub: a contract asks in mode 2; a node proves and the verifier accepts
    const { requestId, fulfilled } = await askThroughHub(summary, wallet, consumer, {
      what: `the ${zkModel.name} zk request`,
      timeoutMs: 120_000,
      args: [BigInt(zkModel.modelId), toHex(image), 2, 0, 500_000],
    })
    assert.ok(summary.nodes.some((n) => n.address === fulfilled.args.executor))
    const result = await chain.readContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'resultOf',
      args: [requestId],
    })
    assert.equal(result, fulfilment.output, 'the consumer got the proven logits')
  }
})

test('behavior: the openai client on a devnet gateway chats with stories260K (published on node 1, fetched over IPFS): greedy reference reproduced, receipts co-signed by a quorum of 2', {
  timeout: 180_000,
}, async (t) => {
  const stories = fileURLToPath(
    new URL('../../../../shared/assets/llm/stories260K.gguf', import.meta.url),
  )
  if (!existsSync(stories)) {
    t.skip('../shared/assets absent: stories260K not available')
    return
  }
  const { summary } = first
  const publish = await cli(
    '--json',
    'model',
    'publish',
    stories,
    '--name',
    'stories260k',
    '--license',
    'MIT',
    '--node',
    summary.nodes[0]!.url,
  )
  assert.equal(publish.code, 0, publish.stdout)
  // registered on-chain by its creator: other nodes only believe a name the registry confirms
  const published = publish.json() as { cid: string; manifestHash: `0x${string}` }
  const creator = summary.testKeys.find((k) => k.role === 'model creator')!
  await ensureModelRegistered(
    createChainClients(parseNetworkConfig(await readFile(join(dataDir, 'network.json'), 'utf8'))),
    {
      account: privateKeyToAccount(creator.privateKey),
      name: 'stories260k',
      cid: published.cid,
      manifestHash: published.manifestHash,
      royaltyBps: 1000,
      pricePerCall: BigInt(summary.settlement.pricePerCall),
    },
  )
  const reference = JSON.parse(
    await readFile(join(dirname(stories), 'stories260K_expected_greedy.json'), 'utf8'),
  ) as { expected_stdout: string }
  const openai = new OpenAI({
    baseURL: `${summary.nodes[1]!.url}/v1`,
    apiKey: 'unused',
    maxRetries: 0,
    defaultHeaders: { 'verity-mode': 'reexec', 'verity-quorum': '2' },
  })
  const completion = await openai.completions.create({
    model: 'stories260k',
    prompt: 'Once upon a time',
    max_tokens: 48,
    temperature: 0,
  })
  const text = completion.choices[0]?.text ?? ''
  assert.ok(reference.expected_stdout.startsWith(`Once upon a time${text}`), JSON.stringify(text))
  const receipt = (completion as unknown as { receipt: Receipt }).receipt
  assert.equal((await verifyReceipt(receipt)).valid, true)
  assert.equal(receipt.quorum?.attestations.filter((a) => a.agree).length, 2)

  // chat, streaming and not: the same tokens, each receipt co-signed and valid offline
  const request = {
    model: 'stories260k',
    messages: [{ role: 'user' as const, content: 'Once upon a time' }],
    max_tokens: 24,
    temperature: 0,
  }
  const plain = await openai.chat.completions.create(request)
  let streamed = ''
  let streamedReceipt: Receipt | undefined
  for await (const chunk of await openai.chat.completions.create({ ...request, stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? ''
    streamedReceipt = (chunk as unknown as { receipt?: Receipt }).receipt ?? streamedReceipt
  }
  assert.equal(streamed, plain.choices[0]?.message.content)
  for (const r of [(plain as unknown as { receipt: Receipt }).receipt, streamedReceipt!]) {
    assert.equal((await verifyReceipt(r)).valid, true)
    assert.equal(r.quorum?.attestations.filter((a) => a.agree).length, 2)
  }

  // a chat signed with the requester's key is a paid job: quoted against its escrow, stored, and
  // committed in the executor's next settlement batch at the model's on-chain price
  const requester = summary.testKeys.find((k) => k.role === 'requester')!
  const chat = await cli(
    '--json',
    'chat',
    'stories260k',
    'Once upon a time',
    '--node',
    summary.nodes[1]!.url,
    '--max-tokens',
    '8',
    '--temperature',
    '0',
    '--key',
    requester.keyFile!,
  )
  await assertRan(chat, first.summary.nodes)
  const signed = (chat.json() as { receipt: Receipt }).receipt
  assert.equal(signed.job.requester.toLowerCase(), requester.address.toLowerCase())
  assert.equal(BigInt(signed.job.maxFee), BigInt(summary.settlement.pricePerCall))
  const settled = await eventually('the signed chat receipt to settle', 60_000, async () => {
    const response = await fetch(`${summary.nodes[1]!.url}/v1/receipts/${signed.job.id}`)
    const { receipt } = (await response.json()) as { receipt: Receipt }
    return receipt.settlement ? receipt : undefined
  })
  assert.equal(BigInt(settled.settlement!.fee), BigInt(summary.settlement.pricePerCall))
  assert.equal((await verifyReceipt(settled)).valid, true)
})

test('behavior: a verifier that stops answering (SIGSTOP) is replaced after the verify timeout and the job completes', {
  timeout: 150_000,
}, async () => {
  const { summary } = first
  const [node1, , , node4] = summary.nodes
  const requester = summary.testKeys.find((k) => k.role === 'requester')!
  const int8 = summary.models.find((m) => m.name === 'digits-mlp-int8')!
  // the node-4 daemon: its full command line names its data directory and the node's main.ts
  // (processesUsing cuts command lines short, and a long checkout path pushes main.ts out)
  let pid = 0
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes(join(dataDir, 'node-4')) && cmdline.includes('main.ts'))
      pid = Number(entry)
  }
  const log = await readFile(join(dataDir, 'node-4', 'node.log'), 'utf8').catch(() => '')
  assert.ok(pid > 0, `node 4 runs; the end of its log:\n${log.slice(-3000)}`)
  const timeouts = async () => {
    const text = await (await fetch(`${node1!.url}/v1/metrics`)).text()
    const found = text
      .split('\n')
      .find((l) => l.startsWith('verity_verifications_total{outcome="timeout"}'))
    return found ? Number(found.split(' ')[1]) : 0
  }
  const before = await timeouts()
  const client = createClient({
    transport: sdkHttp(node1!.url, { timeoutMs: 60_000 }),
    account: privateKeyToAccount(requester.privateKey),
  })
  const inputs = namedTensorsFromJson(
    JSON.parse(await readFile(join(summary.samples, 'digit-3.int8.json'), 'utf8')),
  )
  // every peer holds the model first (quorum 3 draws them all): a verifier that has to fetch it
  // could otherwise ask the frozen node and time out itself
  await sdkInfer(client, { model: int8.cid, inputs, mode: 'reexec', quorum: 3 })
  process.kill(pid, 'SIGSTOP')
  try {
    // node 1 draws 2 of its 3 peers per job: within a few jobs it draws the frozen node 4
    for (let attempt = 0; attempt < 8 && (await timeouts()) === before; attempt++) {
      const { receipt, verdict } = await sdkInfer(client, {
        model: int8.cid,
        inputs,
        mode: 'reexec',
        quorum: 2,
      })
      assert.equal(verdict.valid, true)
      const verifiers = receipt.quorum!.attestations.filter((a) => a.agree).map((a) => a.verifier)
      assert.equal(verifiers.length, 2)
      assert.ok(!verifiers.includes(node4!.address), 'the frozen node never attests')
    }
    assert.ok((await timeouts()) > before, 'node 4 was drawn, timed out and was replaced')
  } finally {
    process.kill(pid, 'SIGCONT')
  }
})

test('behavior: SIGINT stops the nodes, then anvil, and leaves no process behind', {
  timeout: 60_000,
}, async () => {
  first.process.kill('SIGINT')
  assert.equal(await exited(first.process), 0, first.stderr())
  assert.match(first.stderr(), /✓ SIGINT: stopping the nodes, then anvil/)
  // anvil's watchdog shell may take a moment to reap itself after anvil exits
  assert.deepEqual(await noProcessesLeft(dataDir, 5_000), [])
  assert.equal(existsSync(join(dataDir, 'devnet.pid')), false, 'the data directory is released')
  assert.ok((await stat(join(dataDir, 'anvil', 'state.json'))).size > 0, 'chain state was saved')
})

test('behavior: a second run reuses contracts, keys and models and comes up faster; SIGKILL takes the children along', {
  timeout: 120_000,
}, async () => {
  const second = await startDevnet(110_000)
  const a = first.summary
  const b = second.summary
  assert.equal(b.reusedContracts, true, second.stderr())
  assert.deepEqual(b.contracts, a.contracts)
  assert.deepEqual(
    b.nodes.map((n) => [n.address, n.peerId]),
    a.nodes.map((n) => [n.address, n.peerId]),
  )
  assert.deepEqual(
    b.models.map((m) => [m.cid, m.modelId]),
    a.models.map((m) => [m.cid, m.modelId]),
  )
  assert.ok(
    b.models.every((m) => !m.uploaded),
    'no model was uploaded again',
  )
  assert.ok(
    b.nodes.every((n) => n.registration !== 'registered'),
    'no node registered twice',
  )
  assert.ok(
    b.startupMs < a.startupMs,
    `warm start ${b.startupMs} ms should beat cold ${a.startupMs} ms`,
  )
  // endpoints moved (free ports): the registry follows
  for (const node of b.nodes) {
    const record = await nodeRecord(b, node.address)
    assert.equal(record.endpoint, node.url)
  }

  second.process.kill('SIGKILL')
  await exited(second.process)
  assert.deepEqual(await noProcessesLeft(dataDir, 20_000), [])
})

test('error: a node that cannot start fails the devnet with its error and stops everything else', {
  timeout: 120_000,
}, async () => {
  await writeFile(join(dataDir, 'node-2', 'node.sqlite'), 'not a database')
  await rm(join(dataDir, 'node-2', 'node.sqlite-wal'), { force: true })
  const child = spawn(
    process.execPath,
    [bin, 'devnet', '--data-dir', dataDir, '--port-base', '0', '--nodes', '4'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  running.push(child)
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  assert.equal(await exited(child), 1, stderr)
  assert.match(stderr, /✗ Starting 4 nodes/)
  assert.match(
    stderr,
    /^error NODE_UNAVAILABLE: The node at http:\/\/127\.0\.0\.1:\d+ exited \(1\) before it was healthy\.$/m,
  )
  assert.match(stderr, /details: error INTERNAL: Cannot open the node database .*node-2/)
  assert.deepEqual(await noProcessesLeft(dataDir, 20_000), [])
  assert.equal(existsSync(join(dataDir, 'devnet.pid')), false)
})

test('error: a busy port, a running devnet and bad flags are one-line errors', async () => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  try {
    const busy = await cli('devnet', '--data-dir', join(home, 'busy'), '--port-base', String(port))
    assert.equal(busy.code, 1)
    assert.match(
      busy.stderr,
      new RegExp(`^error INVALID_ARGUMENT: Port ${port} on 127\\.0\\.0\\.1 is in use`),
    )
    assert.equal(existsSync(join(home, 'busy', 'devnet.pid')), false, 'the lock is released')
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  // a live process holds the data directory (the test runner's parent stands in for a devnet)
  const taken = join(home, 'taken')
  await mkdir(taken, { recursive: true })
  await writeFile(join(taken, 'devnet.pid'), `${process.ppid}\n`)
  const twice = await cli('devnet', '--data-dir', taken, '--port-base', '0')
  assert.equal(twice.code, 1)
  assert.match(
    twice.stderr,
    new RegExp(`^error INVALID_ARGUMENT: A devnet \\(pid ${process.ppid}\\) is already running on`),
  )
  assert.equal(
    await readFile(join(taken, 'devnet.pid'), 'utf8'),
    `${process.ppid}\n`,
    'not taken over',
  )

  const nodes = await cli('devnet', '--data-dir', join(home, 'x'), '--nodes', '0')
  assert.equal(nodes.code, 1)
  assert.match(
    nodes.stderr,
    /^error INVALID_ARGUMENT: --nodes must be an integer from 1 to 64; got 0\./,
  )
  const base = await cli('devnet', '--data-dir', join(home, 'x'), '--port-base', 'low')
  assert.equal(base.code, 1)
  assert.match(base.stderr, /^error INVALID_ARGUMENT: --port-base must be a non-negative integer/)
})
