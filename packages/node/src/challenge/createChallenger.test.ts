import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { nodeRegistryAbi, settlementAbi } from '@verity/contracts'
import {
  buildReceiptTree,
  canonicalJson,
  createInferenceRequest,
  createReceipt,
  type Hash,
  hashCanonicalJson,
  type NamedTensors,
  type Receipt,
  receiptLeafFromReceipt,
  signAttestation,
  signInferenceRequest,
  type VerityDomain,
} from '@verity/protocol'
import { parseEther } from 'viem'
import { createNodeChain } from '../chain/createNodeChain.ts'
import { createLogger } from '../logger.ts'
import { tempDir } from '../testing/fixtures.ts'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createVerificationStore } from '../verification/createVerificationStore.ts'
import { createStaticPeerDirectory } from '../verification/peerDirectory.ts'
import { type BatchDocument, createChallenger } from './createChallenger.ts'

let network: TestNetwork
let server: Server
let served: BatchDocument | undefined
let serverUrl: string
const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const manifestHash = hashCanonicalJson({ model: 'challenger test' })
const inputs: NamedTensors = {
  x: { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) },
}
const engine = { name: 'onnxruntime-node', version: '1.30.0', settings: {} }

before(async () => {
  network = await createTestNetwork()
  const [, executor, verifier, other] = network.chain.accounts
  for (const [account, port] of [
    [executor!, 1],
    [verifier!, 2],
    [other!, 3],
    [network.chain.accounts[6]!, 4],
  ] as const)
    await network.registerNode(account, { endpoint: `http://127.0.0.1:${port}` })
  await network.registerModel(network.chain.accounts[5]!, { name: 'm', cid, manifestHash })
  await network.deposit(network.chain.accounts[4]!, parseEther('1'))
  server = createServer((request, response) => {
    if (served && request.url === `/v1/batches/${served.batchId}`) {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify(served))
    } else {
      response.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(async () => {
  server?.close()
  await network?.close()
})

function domain(): VerityDomain {
  return {
    name: 'Verity',
    version: '1',
    chainId: network.config.chainId,
    verifyingContract: network.config.contracts.settlement,
  }
}

/** The executor signs a reexec receipt for `nonce`; `logit` picks its (possibly wrong) output. */
async function signedReceipt(
  nonce: string,
  logit: number,
  executor = network.chain.accounts[1],
): Promise<Receipt> {
  const payer = network.chain.accounts[4]
  const request = createInferenceRequest({
    modelCid: cid,
    manifestHash,
    inputs,
    mode: 'reexec',
    quorum: 1,
    maxFee: parseEther('0.01'),
    nonce: `0x${nonce.repeat(32)}`,
    deadline: 4_000_000_000n,
  })
  return createReceipt({
    account: executor!,
    requester: payer!.address,
    request,
    requestSignature: await signInferenceRequest({ account: payer!, request, domain: domain() }),
    outputs: { y: { dtype: 'int32', shape: [1], data: new Int32Array([logit]) } },
    engine,
    domain: domain(),
  })
}

/** Commits `receipts` as one batch from the executor key; returns the settled receipts. */
async function commit(
  receipts: Receipt[],
  executor = network.chain.accounts[1],
): Promise<{ batchId: bigint; settled: Receipt[] }> {
  const payer = network.chain.accounts[4]
  const fee = parseEther('0.001')
  const tree = buildReceiptTree(receipts.map((r) => receiptLeafFromReceipt(r, fee)))
  const chain = createNodeChain(
    {
      rpcUrl: network.config.rpcUrl,
      chainId: network.config.chainId,
      contracts: network.config.contracts,
      pollingIntervalMs: 20,
    },
    { account: executor! },
  )
  const total = fee * BigInt(receipts.length)
  const tx = await chain.write('commitBatch', {
    address: network.config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'commitBatch',
    args: [
      tree.root,
      receipts.length,
      [{ payer: payer!.address, total }],
      [{ modelId: 1n, total }],
      [],
    ],
  })
  const batchId = await network.chain.publicClient.readContract({
    address: network.config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'batchCount',
  })
  const settled = receipts.map((receipt, index) => ({
    ...receipt,
    settlement: {
      fee: fee.toString(),
      batchId: batchId.toString(),
      root: tree.root as Hash,
      proof: tree.getProof(index) as Hash[],
      transactionHash: tx.transactionHash,
      blockNumber: Number(tx.blockNumber),
    },
  }))
  return { batchId, settled }
}

async function stakeOf(address: `0x${string}`): Promise<bigint> {
  const node = await network.chain.publicClient.readContract({
    address: network.config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'getNode',
    args: [address],
  })
  return node.stake
}

test('behavior: a batch whose leaf carries a failed quorum is challenged and its executor slashed', async () => {
  const [, executor, verifier] = network.chain.accounts
  const { dir, remove } = await tempDir('challenger')
  const store = createVerificationStore({ path: `${dir}/node.sqlite` })
  after(async () => {
    store.close()
    await remove()
  })
  const unsigned = await signedReceipt('01', 7)
  const honest: Receipt = {
    ...unsigned,
    quorum: {
      threshold: 1,
      attestations: [
        await signAttestation({
          account: network.chain.accounts[3]!,
          jobId: unsigned.job.id as Hash,
          outputHash: unsigned.result.outputHash as Hash,
          agree: true,
          domain: domain(),
        }),
      ],
    },
  }
  const wrong = await signedReceipt('02', 8)
  // the verifier re-executed the wrong job and signed that its output is wrong
  const disagree = await signAttestation({
    account: verifier!,
    jobId: wrong.job.id as Hash,
    outputHash: wrong.result.outputHash as Hash,
    agree: false,
    domain: domain(),
  })
  store.putAttestation({
    jobId: wrong.job.id as Hash,
    executor: executor!.address,
    attestation: disagree,
    receiptJson: canonicalJson(wrong),
  })
  // the cheating executor keeps the receipt anyway, with the disagreement, and commits it
  const cheated: Receipt = { ...wrong, quorum: { threshold: 1, attestations: [disagree] } }
  const { batchId, settled } = await commit([honest, cheated])
  served = {
    batchId: batchId.toString(),
    root: settled[0]!.settlement!.root as Hash,
    executor: executor!.address,
    receipts: settled,
  }
  const chain = createNodeChain(
    {
      rpcUrl: network.config.rpcUrl,
      chainId: network.config.chainId,
      contracts: network.config.contracts,
      pollingIntervalMs: 20,
    },
    { account: verifier! },
  )
  const challenger = createChallenger(
    { pollIntervalMs: 60_000, auditAll: false },
    {
      chain,
      store,
      peers: createStaticPeerDirectory([{ address: executor!.address, url: serverUrl }]),
      logger: createLogger({ level: 'silent' }),
    },
  )
  const stakeBefore = await stakeOf(executor!.address)
  await challenger.tick()
  const [record] = challenger.challenges()
  assert.equal(record?.status, 'sent', JSON.stringify(challenger.challenges()))
  assert.equal(record?.kind, 'quorum')
  assert.equal(record?.jobId, wrong.job.id)
  assert.equal(
    stakeBefore - (await stakeOf(executor!.address)),
    network.config.parameters.slashAmount,
  )
  const batch = await network.chain.publicClient.readContract({
    address: network.config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'getBatch',
    args: [batchId],
  })
  assert.notEqual(batch.status, 1, 'the batch is no longer pending')
  const reward =
    (network.config.parameters.slashAmount *
      BigInt(network.config.parameters.challengerRewardBps)) /
    10_000n
  assert.equal(
    await network.chain.publicClient.readContract({
      address: network.config.contracts.settlement,
      abi: settlementAbi,
      functionName: 'earnings',
      args: [verifier!.address],
    }),
    reward,
  )
  // a second pass does not look at the same events again
  await challenger.tick()
  assert.equal(challenger.challenges().length, 1)
  await challenger.stop()
})

test('behavior: a clean batch from a suspect executor is checked and left alone', async () => {
  const [, , , other] = network.chain.accounts
  const executor = network.chain.accounts[6]
  const { dir, remove } = await tempDir('challenger-clean')
  const store = createVerificationStore({ path: `${dir}/node.sqlite` })
  after(async () => {
    store.close()
    await remove()
  })
  const receipt = await signedReceipt('03', 7, executor)
  const agree = await signAttestation({
    account: other!,
    jobId: receipt.job.id as Hash,
    outputHash: receipt.result.outputHash as Hash,
    agree: true,
    domain: domain(),
  })
  // an old disagreement about some other job makes the executor a suspect
  store.putAttestation({
    jobId: `0x${'99'.repeat(32)}`,
    executor: executor!.address,
    attestation: { ...agree, agree: false },
    receiptJson: canonicalJson(receipt),
  })
  const { batchId, settled } = await commit(
    [{ ...receipt, quorum: { threshold: 1, attestations: [agree] } }],
    executor,
  )
  served = {
    batchId: batchId.toString(),
    root: settled[0]!.settlement!.root as Hash,
    executor: executor!.address,
    receipts: settled,
  }
  const challenger = createChallenger(
    { pollIntervalMs: 60_000, auditAll: false },
    {
      chain: createNodeChain(
        {
          rpcUrl: network.config.rpcUrl,
          chainId: network.config.chainId,
          contracts: network.config.contracts,
        },
        { account: other! },
      ),
      store,
      peers: createStaticPeerDirectory([{ address: executor!.address, url: serverUrl }]),
      logger: createLogger({ level: 'silent' }),
    },
  )
  await challenger.tick()
  assert.deepEqual(challenger.challenges(), [])
  const batch = await network.chain.publicClient.readContract({
    address: network.config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'getBatch',
    args: [batchId],
  })
  assert.equal(batch.status, 1, 'still pending')
  await challenger.stop()
})
