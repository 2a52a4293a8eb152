/**
 * Gas report of the Verity contracts (a report, not a test): starts a private anvil, deploys with
 * the devnet parameters and prints the gas of every operation, then the amortized settlement gas
 * per inference next to the cost of checking one EIP-712 signature on-chain per inference.
 *
 *   npm run gas            (node packages/contracts/scripts/gas.ts)
 *   npm run gas -- --json  (machine-readable)
 *
 * A batch's on-chain cost depends on its parties (payers, models, verifiers), never on how many
 * receipts it holds: the receipts are only a Merkle root. So the amortized cost is measured for a
 * 1-payer and a many-payer batch and divided by 1, 100 and 10 000 receipts.
 */
import { parseArgs } from 'node:util'
import {
  BaseError,
  buildReceiptTree,
  computeJobId,
  createInferenceRequest,
  hashAttestations,
  hashInferenceRequest,
  hashReceiptLeaf,
  isBaseError,
  type LeafAttestation,
  type ReceiptLeaf,
  signInferenceRequest,
  verityTypes,
} from '@verity/protocol'
import {
  type Address,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  encodePacked,
  getAddress,
  getContract,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  parseEther,
  parseEventLogs,
  stringToBytes,
  type TestClient,
  type Transport,
  toHex,
  type WalletClient,
  zeroAddress,
} from 'viem'
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts'
import { startAnvil } from '../src/anvil.ts'
import { deployVerity } from '../src/deploy.ts'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  modelRegistryAbi,
  nodeRegistryAbi,
  settlementAbi,
  signatureCostAbi,
  signatureCostBytecode,
  testZkVerifierAbi,
  testZkVerifierBytecode,
} from '../src/generated/index.ts'

const ACCOUNTS = 24
const PAYER_COUNTS = [1, 10, 100, 256] as const
const SIGNATURE_COUNTS = [1, 2, 4, 8, 16] as const
const RECEIPT_COUNTS = [1, 100, 10_000] as const

type Row = { section: string; operation: string; gas: bigint; note: string }

type Context = {
  chain: Chain
  publicClient: PublicClient<Transport, Chain>
  testClient: TestClient<'anvil', Transport, Chain>
  wallets: WalletClient<Transport, Chain, PrivateKeyAccount>[]
  accounts: PrivateKeyAccount[]
  settlement: Address
  hub: Address
  nodeRegistry: Address
  modelRegistry: Address
}

const rows: Row[] = []

async function gasOf(ctx: Context, hash: Promise<Hex>): Promise<bigint> {
  const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash: await hash })
  if (receipt.status !== 'success') {
    throw new BaseError('INTERNAL', `Transaction ${receipt.transactionHash} reverted.`, {
      metaMessages: ['The gas report expects every measured operation to succeed.'],
    })
  }
  return receipt.gasUsed
}

function record(section: string, operation: string, gas: bigint, note = ''): bigint {
  rows.push({ section, operation, gas, note })
  return gas
}

async function advance(ctx: Context, seconds: number): Promise<void> {
  const latest = await ctx.publicClient.getBlock()
  await ctx.testClient.setNextBlockTimestamp({ timestamp: latest.timestamp + BigInt(seconds) })
  await ctx.testClient.mine({ blocks: 1 })
}

/** A deterministic address that has never sent a transaction (a synthetic payer). */
const syntheticAddress = (i: number): Address =>
  getAddress(keccak256(toHex(`payer ${i}`)).slice(0, 42))

// ------------------------------------------------------------------ setup

async function setup(rpcUrl: string, privateKeys: Hex[], chainId: number): Promise<Context> {
  const chain = defineChain({
    id: chainId,
    name: 'Anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
  const transport = http(rpcUrl, { retryCount: 0 })
  const pollingInterval = 10
  const accounts = privateKeys.map((key) => privateKeyToAccount(key))
  const ctx: Omit<Context, 'settlement' | 'hub' | 'nodeRegistry' | 'modelRegistry'> = {
    chain,
    publicClient: createPublicClient({ chain, transport, pollingInterval }),
    testClient: createTestClient({ chain, transport, mode: 'anvil', pollingInterval }),
    wallets: accounts.map((account) =>
      createWalletClient({ account, chain, transport, pollingInterval }),
    ),
    accounts,
  }
  const config = await deployVerity({ rpcUrl, account: accounts[0]!, pollingInterval })
  return {
    ...ctx,
    settlement: getAddress(config.contracts.settlement),
    hub: getAddress(config.contracts.inferenceHub),
    nodeRegistry: getAddress(config.contracts.nodeRegistry),
    modelRegistry: getAddress(config.contracts.modelRegistry),
  }
}

const contracts = (ctx: Context, index: number) => {
  const client = { public: ctx.publicClient, wallet: ctx.wallets[index]! }
  return {
    settlement: getContract({ address: ctx.settlement, abi: settlementAbi, client }),
    hub: getContract({ address: ctx.hub, abi: inferenceHubAbi, client }),
    nodes: getContract({ address: ctx.nodeRegistry, abi: nodeRegistryAbi, client }),
    models: getContract({ address: ctx.modelRegistry, abi: modelRegistryAbi, client }),
  }
}

// Roles: account 1 creator, 2 executor, 3.. verifiers / co-signers, last account the payer.
const CREATOR = 1
const EXECUTOR = 2
const FIRST_VERIFIER = 3

async function registrations(ctx: Context): Promise<void> {
  const section = 'registries'
  const zk = await ctx.wallets[0]!.deployContract({
    abi: testZkVerifierAbi,
    bytecode: testZkVerifierBytecode,
    args: [],
  })
  const zkAddress = (await ctx.publicClient.waitForTransactionReceipt({ hash: zk }))
    .contractAddress!
  const creator = contracts(ctx, CREATOR).models
  const manifest = keccak256(stringToBytes('manifest'))
  record(
    section,
    'ModelRegistry.registerModel (first model)',
    await gasOf(
      ctx,
      creator.write.registerModel([
        'digits',
        'bafy-digits',
        manifest,
        1000,
        parseEther('0.001'),
        zeroAddress,
      ]),
    ),
  )
  record(
    section,
    'ModelRegistry.registerModel (with zk verifier)',
    await gasOf(
      ctx,
      creator.write.registerModel([
        'digits-zk',
        'bafy-digits-zk',
        manifest,
        1000,
        parseEther('0.001'),
        zkAddress,
      ]),
    ),
  )
  const stake = parseEther('2')
  record(
    section,
    'NodeRegistry.register (executor)',
    await gasOf(
      ctx,
      contracts(ctx, EXECUTOR).nodes.write.register(['http://127.0.0.1:7000', 'peer-executor', 6], {
        value: stake,
      }),
    ),
    'endpoint + peer id strings, stake 2 ETH',
  )
  for (let i = FIRST_VERIFIER; i < ACCOUNTS - 1; i++) {
    await gasOf(
      ctx,
      contracts(ctx, i).nodes.write.register([`http://127.0.0.1:${7000 + i}`, `peer-${i}`, 4], {
        value: stake,
      }),
    )
  }
}

// ------------------------------------------------------------------ settlement

async function escrow(ctx: Context): Promise<void> {
  const section = 'settlement escrow'
  const payer = contracts(ctx, ACCOUNTS - 1).settlement
  record(
    section,
    'deposit (first)',
    await gasOf(ctx, payer.write.deposit({ value: parseEther('100') })),
  )
  record(
    section,
    'deposit (top-up)',
    await gasOf(ctx, payer.write.deposit({ value: parseEther('1') })),
  )
  record(
    section,
    'depositFor (new payer)',
    await gasOf(
      ctx,
      contracts(ctx, 0).settlement.write.depositFor([syntheticAddress(0)], { value: 1n }),
    ),
  )
  const id = await ctx.testClient.snapshot()
  record(
    section,
    'requestWithdrawal',
    await gasOf(ctx, payer.write.requestWithdrawal([parseEther('1')])),
  )
  await advance(ctx, 86_400)
  record(section, 'withdraw', await gasOf(ctx, payer.write.withdraw()))
  await ctx.testClient.revert({ id })
}

/** Commits and finalizes a batch of `receipts` receipts from `payers` distinct payers. */
async function batch(ctx: Context, receipts: number, payers: number, verifiers: number) {
  // Synthetic leaves: only their root and the party totals reach the chain, so their content does
  // not change the gas (they would not survive a challenge: their job ids are made up).
  const leaves: ReceiptLeaf[] = []
  const totals = new Map<Address, bigint>()
  const fee = 1_000_000_000_000n
  for (let i = 0; i < receipts; i++) {
    const requester = syntheticAddress(i % payers)
    const requestStructHash = keccak256(toHex(`request ${i}`))
    leaves.push({
      jobId: keccak256(toHex(`job ${i}`)),
      requester,
      executor: ctx.accounts[EXECUTOR]!.address,
      modelCidHash: keccak256(stringToBytes('bafy-digits')),
      fee,
      requestStructHash,
      outputHash: keccak256(toHex(`output ${i}`)),
      quorum: 2,
      attestationsHash: hashAttestations([]),
    })
    totals.set(requester, (totals.get(requester) ?? 0n) + fee)
  }
  const tree = buildReceiptTree(leaves)
  const total = fee * BigInt(receipts)
  const executor = contracts(ctx, EXECUTOR).settlement
  const verifierShares = Array.from({ length: verifiers }, (_, i) => ({
    verifier: ctx.accounts[FIRST_VERIFIER + i]!.address,
    count: Math.ceil((receipts * 2) / verifiers),
  }))
  const commitGas = await gasOf(
    ctx,
    executor.write.commitBatch([
      tree.root as Hex,
      receipts,
      [...totals].map(([payer, t]) => ({ payer, total: t })),
      [{ modelId: 1n, total }],
      verifierShares,
    ]),
  )
  const batchId = await executor.read.batchCount()
  await advance(ctx, 3600)
  const finalizeGas = await gasOf(ctx, contracts(ctx, 0).settlement.write.finalize([batchId]))
  return { commitGas, finalizeGas }
}

async function fundSyntheticPayers(ctx: Context, count: number): Promise<void> {
  const settlement = contracts(ctx, 0).settlement
  for (let i = 0; i < count; i++) {
    await gasOf(ctx, settlement.write.depositFor([syntheticAddress(i)], { value: parseEther('1') }))
  }
}

async function batches(ctx: Context) {
  const section = 'settlement batches'
  await fundSyntheticPayers(ctx, Math.max(...PAYER_COUNTS))
  await batch(ctx, 4, 2, 3) // warm-up: first-batch storage (batchCount, earnings slots)
  const byPayers = new Map<number, bigint>()
  for (const payers of PAYER_COUNTS) {
    const { commitGas, finalizeGas } = await batch(ctx, payers, payers, 3)
    record(section, `commitBatch, ${payers} payer(s)`, commitGas, '1 model, 3 verifiers')
    record(section, `finalize, ${payers} payer(s)`, finalizeGas, '1 model, 3 verifiers')
    byPayers.set(payers, commitGas + finalizeGas)
  }
  return byPayers
}

async function signedJob(
  ctx: Context,
  seed: number,
  options: { fee?: bigint; maxFee?: bigint } = {},
) {
  const payerAccount = ctx.accounts[ACCOUNTS - 1]!
  const domain = {
    name: 'Verity',
    version: '1',
    chainId: ctx.chain.id,
    verifyingContract: ctx.settlement,
  } as const
  const request = createInferenceRequest({
    modelCid: 'bafy-digits',
    manifestHash: keccak256(stringToBytes('manifest')),
    inputs: { x: { dtype: 'int32', shape: [1], data: new Int32Array([seed]) } },
    mode: 'reexec',
    quorum: 2,
    maxFee: options.maxFee ?? parseEther('0.01'),
    deadline: 4_000_000_000n,
    nonce: keccak256(toHex(`gas ${seed}`)),
  })
  const jobId = computeJobId(payerAccount.address, request)
  const outputHash = keccak256(toHex(`out ${seed}`))
  const attestations: LeafAttestation[] = []
  for (const index of [FIRST_VERIFIER, FIRST_VERIFIER + 1]) {
    attestations.push({
      verifier: ctx.accounts[index]!.address,
      agree: true,
      signature: await ctx.accounts[index]!.signTypedData({
        domain,
        types: verityTypes,
        primaryType: 'Attestation',
        message: { jobId, outputHash, agree: true },
      }),
    })
  }
  const leaf: ReceiptLeaf = {
    jobId,
    requester: payerAccount.address,
    executor: ctx.accounts[EXECUTOR]!.address,
    modelCidHash: keccak256(stringToBytes('bafy-digits')),
    fee: options.fee ?? parseEther('0.01'),
    requestStructHash: hashInferenceRequest(request),
    outputHash,
    quorum: 2,
    attestationsHash: hashAttestations(attestations),
  }
  const signature = await signInferenceRequest({ account: payerAccount, request, domain })
  return { request, leaf, attestations, signature, domain }
}

async function commitJobs(ctx: Context, leaves: ReceiptLeaf[]) {
  const tree = buildReceiptTree(leaves)
  const total = leaves.reduce((sum, l) => sum + l.fee, 0n)
  const executor = contracts(ctx, EXECUTOR).settlement
  await gasOf(
    ctx,
    executor.write.commitBatch([
      tree.root as Hex,
      leaves.length,
      [{ payer: ctx.accounts[ACCOUNTS - 1]!.address, total }],
      [{ modelId: 1n, total }],
      [],
    ]),
  )
  return { tree, batchId: await executor.read.batchCount() }
}

async function challenges(ctx: Context): Promise<void> {
  const section = 'settlement challenges'
  const challenger = contracts(ctx, 0).settlement
  const filler = await Promise.all(
    Array.from({ length: 15 }, async (_, i) => (await signedJob(ctx, 100 + i)).leaf),
  )
  const note = 'batch of 16 receipts, slash + reward'

  let id = await ctx.testClient.snapshot()
  const overcharge = await signedJob(ctx, 1, { fee: parseEther('0.02') })
  let committed = await commitJobs(ctx, [overcharge.leaf, ...filler])
  record(
    section,
    'challengeRequest (over-charge)',
    await gasOf(
      ctx,
      challenger.write.challengeRequest([
        committed.batchId,
        overcharge.leaf,
        committed.tree.getProof(0) as Hex[],
        overcharge.request,
        overcharge.signature,
      ]),
    ),
    note,
  )
  await ctx.testClient.revert({ id })

  id = await ctx.testClient.snapshot()
  const short = await signedJob(ctx, 2)
  const oneAttestation = short.attestations.slice(0, 1)
  short.leaf.attestationsHash = hashAttestations(oneAttestation)
  committed = await commitJobs(ctx, [short.leaf, ...filler])
  record(
    section,
    'challengeQuorum (1 of 2 attestations)',
    await gasOf(
      ctx,
      challenger.write.challengeQuorum([
        committed.batchId,
        short.leaf,
        committed.tree.getProof(0) as Hex[],
        oneAttestation,
      ]),
    ),
    note,
  )
  await ctx.testClient.revert({ id })

  id = await ctx.testClient.snapshot()
  const honest = await signedJob(ctx, 3)
  committed = await commitJobs(ctx, [honest.leaf, ...filler])
  const other = {
    jobId: honest.leaf.jobId,
    requester: honest.leaf.requester,
    modelCid: 'bafy-digits',
    manifestHash: honest.request.manifestHash,
    inputHash: honest.request.inputHash,
    paramsHash: honest.request.paramsHash,
    mode: 1,
    outputHash: keccak256(toHex('another output')),
    engineSettingsHash: keccak256(toHex('engine')),
    executedAt: 1_800_000_000n,
  }
  const equivocation = await ctx.accounts[EXECUTOR]!.signTypedData({
    domain: honest.domain,
    types: verityTypes,
    primaryType: 'ExecutionReceipt',
    message: other,
  })
  record(
    section,
    'challengeEquivocation',
    await gasOf(
      ctx,
      challenger.write.challengeEquivocation([
        committed.batchId,
        honest.leaf,
        committed.tree.getProof(0) as Hex[],
        other,
        equivocation,
      ]),
    ),
    note,
  )
  await ctx.testClient.revert({ id })

  id = await ctx.testClient.snapshot()
  await ctx.testClient.setAutomine(false)
  const exitTree = buildReceiptTree([honest.leaf, ...filler])
  const executor = contracts(ctx, EXECUTOR)
  await executor.settlement.write.commitBatch(
    [
      exitTree.root as Hex,
      16,
      [{ payer: ctx.accounts[ACCOUNTS - 1]!.address, total: parseEther('0.01') }],
      [{ modelId: 1n, total: parseEther('0.01') }],
      [],
    ],
    { gas: 1_000_000n },
  )
  await executor.nodes.write.requestUnbond([parseEther('2')], { gas: 300_000n })
  await ctx.testClient.mine({ blocks: 1 })
  await ctx.testClient.setAutomine(true)
  const exitBatch = await executor.settlement.read.batchCount()
  record(
    section,
    'challengeExecutor (exited at commit)',
    await gasOf(ctx, challenger.write.challengeExecutor([exitBatch])),
    'slash from unbonding funds',
  )
  await ctx.testClient.revert({ id })

  id = await ctx.testClient.snapshot()
  const disputed = await signedJob(ctx, 4)
  committed = await commitJobs(ctx, [disputed.leaf, ...filler])
  const payer = contracts(ctx, ACCOUNTS - 1).settlement
  record(
    section,
    'disputeRequest',
    await gasOf(
      ctx,
      payer.write.disputeRequest([
        committed.batchId,
        disputed.leaf,
        committed.tree.getProof(0) as Hex[],
      ]),
    ),
    'payer says it never signed',
  )
  const answerId = await ctx.testClient.snapshot()
  record(
    section,
    'answerDispute',
    await gasOf(
      ctx,
      executor.settlement.write.answerDispute([
        committed.batchId,
        disputed.leaf,
        disputed.request,
        disputed.signature,
      ]),
    ),
    'executor shows the signed request',
  )
  await ctx.testClient.revert({ id: answerId })
  await advance(ctx, 3601)
  record(
    section,
    'resolveDispute (unanswered)',
    await gasOf(
      ctx,
      challenger.write.resolveDispute([committed.batchId, hashReceiptLeaf(disputed.leaf)]),
    ),
    'slash + reward',
  )
  await ctx.testClient.revert({ id })
}

// ------------------------------------------------------------------ hub

async function hubOperations(ctx: Context): Promise<void> {
  const section = 'inference hub'
  const deploy = await ctx.wallets[0]!.deployContract({
    abi: exampleConsumerAbi,
    bytecode: exampleConsumerBytecode,
    args: [ctx.hub],
  })
  const consumer = (await ctx.publicClient.waitForTransactionReceipt({ hash: deploy }))
    .contractAddress!
  const asker = getContract({
    address: consumer,
    abi: exampleConsumerAbi,
    client: { public: ctx.publicClient, wallet: ctx.wallets[0]! },
  })
  const input = toHex(new Uint8Array(64).fill(7))
  const output = toHex(new Uint8Array(32).fill(9))
  const price = parseEther('0.001')
  const hubDomain = {
    name: 'Verity',
    version: '1',
    chainId: ctx.chain.id,
    verifyingContract: ctx.hub,
  } as const
  const sign = (requestId: bigint, signers: number[]) =>
    Promise.all(
      signers.map(async (index) => ({
        signer: ctx.accounts[index]!.address,
        signature: await ctx.accounts[index]!.signTypedData({
          domain: hubDomain,
          types: verityTypes,
          primaryType: 'HubResult',
          message: { requestId, inputHash: keccak256(input), outputHash: keccak256(output) },
        }),
      })),
    )
  // Warm-up: one request fulfilled by every signer, so each earnings slot is already non-zero
  // (steady state; a party's very first credit costs ~15k gas more).
  const maxK = Math.max(...SIGNATURE_COUNTS)
  const everyone = [EXECUTOR, ...Array.from({ length: maxK - 1 }, (_, i) => FIRST_VERIFIER + i)]
  await gasOf(ctx, asker.write.ask([1n, input, 1, 0, 100_000], { value: price }))
  await gasOf(
    ctx,
    contracts(ctx, EXECUTOR).hub.write.fulfill([1n, output, await sign(1n, everyone)]),
  )
  let requestId = 1n
  for (const k of SIGNATURE_COUNTS) {
    const gas = await gasOf(ctx, asker.write.ask([1n, input, 1, k - 1, 100_000], { value: price }))
    requestId++
    if (k === 1)
      record(section, 'request via ExampleConsumer', gas, '64-byte input, event + input event')
    const signatures = await sign(requestId, everyone.slice(0, k))
    record(
      section,
      `fulfill, ${k} signature(s)`,
      await gasOf(ctx, contracts(ctx, EXECUTOR).hub.write.fulfill([requestId, output, signatures])),
      'incl. callback storing a 32-byte result',
    )
  }
  await gasOf(ctx, asker.write.ask([2n, input, 2, 0, 100_000], { value: price }))
  requestId++
  const proof = encodePacked(
    ['string', 'bytes32', 'bytes32'],
    ['verity-test-proof', keccak256(input), keccak256(output)],
  )
  record(
    section,
    'fulfillWithProof',
    await gasOf(
      ctx,
      contracts(ctx, EXECUTOR).hub.write.fulfillWithProof([requestId, output, proof]),
    ),
    'test verifier (a hash check), not Groth16',
  )
  await gasOf(ctx, asker.write.ask([1n, input, 1, 0, 100_000], { value: price }))
  requestId++
  await advance(ctx, 3601)
  record(
    section,
    'refund',
    await gasOf(ctx, contracts(ctx, 0).hub.write.refund([requestId])),
    'credits the consumer',
  )
  record(
    section,
    'withdrawEarnings',
    await gasOf(ctx, contracts(ctx, EXECUTOR).hub.write.withdrawEarnings()),
  )
}

// ------------------------------------------------------------------ one signature on-chain

async function signatureCost(ctx: Context) {
  const deploy = await ctx.wallets[0]!.deployContract({
    abi: signatureCostAbi,
    bytecode: signatureCostBytecode,
    args: [],
  })
  const address = (await ctx.publicClient.waitForTransactionReceipt({ hash: deploy }))
    .contractAddress!
  const probe = getContract({
    address,
    abi: signatureCostAbi,
    client: { public: ctx.publicClient, wallet: ctx.wallets[0]! },
  })
  const payer = ctx.accounts[ACCOUNTS - 1]!
  const request = createInferenceRequest({
    modelCid: 'bafy-digits',
    manifestHash: keccak256(stringToBytes('manifest')),
    inputs: { x: { dtype: 'int32', shape: [1], data: new Int32Array([1]) } },
    mode: 'reexec',
    quorum: 2,
    maxFee: parseEther('0.01'),
    deadline: 4_000_000_000n,
    nonce: keccak256(toHex('probe')),
  })
  const signature = await signInferenceRequest({
    account: payer,
    request,
    domain: { name: 'Verity', version: '1', chainId: ctx.chain.id, verifyingContract: address },
  })
  await gasOf(ctx, probe.write.baseline([request, payer.address, signature])) // warm-up
  const baseline = await gasOf(ctx, probe.write.baseline([request, payer.address, signature]))
  const receipt = await ctx.publicClient.waitForTransactionReceipt({
    hash: await probe.write.verifyRequest([request, payer.address, signature]),
  })
  const [checked] = parseEventLogs({
    abi: signatureCostAbi,
    logs: receipt.logs,
    eventName: 'Checked',
  })
  if (receipt.status !== 'success' || !checked) {
    throw new BaseError('INTERNAL', 'SignatureCost.verifyRequest did not verify the signature.')
  }
  const full = receipt.gasUsed
  const marginal = checked.args.gasUsed
  const section = 'one EIP-712 signature on-chain'
  record(
    section,
    'transaction verifying one InferenceRequest signature',
    full,
    'as mined (EIP-7623 calldata floor applies)',
  )
  record(section, 'same transaction without the check', baseline, 'same calldata')
  record(
    section,
    'execution gas of the check itself',
    marginal,
    'EIP-712 hash + ecrecover, measured with gasleft()',
  )
  return { full, marginal }
}

// ------------------------------------------------------------------ report

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width)
}

function printRows(): void {
  let section = ''
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section
      console.log(`\n${section}`)
    }
    console.log(
      `  ${pad(row.operation, 52)} ${pad(row.gas.toLocaleString('en-US'), 11, true)}  ${row.note}`,
    )
  }
}

type Amortized = { receipts: number; payers: number; batchGas: bigint; perInference: number }

function amortize(byPayers: Map<number, bigint>): Amortized[] {
  const result: Amortized[] = []
  const maxPayers = Math.max(...PAYER_COUNTS)
  for (const receipts of RECEIPT_COUNTS) {
    const cases = new Set([1, Math.min(receipts, maxPayers)])
    for (const payers of cases) {
      // A batch of n receipts from p payers costs what a p-payer batch costs: measured above.
      const batchGas = byPayers.get(payers)
      if (batchGas === undefined) continue
      result.push({ receipts, payers, batchGas, perInference: Number(batchGas) / receipts })
    }
  }
  return result
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'boolean' } } })
  const started = performance.now()
  const anvil = await startAnvil({ accounts: ACCOUNTS, balanceEth: 1_000_000 })
  try {
    const ctx = await setup(anvil.rpcUrl, anvil.privateKeys, anvil.chainId)
    await registrations(ctx)
    await escrow(ctx)
    const byPayers = await batches(ctx)
    await challenges(ctx)
    await hubOperations(ctx)
    const signature = await signatureCost(ctx)
    const amortized = amortize(byPayers)
    if (values.json) {
      console.log(
        JSON.stringify(
          { operations: rows, amortized, signature },
          (_key, value) => (typeof value === 'bigint' ? value.toString() : value),
          2,
        ),
      )
      return
    }
    console.log('Verity gas report (anvil, solc 0.8.37, optimizer 200 runs, devnet parameters)')
    printRows()
    console.log(
      '\namortized settlement gas per inference (commitBatch + finalize, 1 model, 3 verifiers)',
    )
    console.log(
      `  ${pad('receipts', 9, true)} ${pad('payers', 7, true)} ${pad('batch gas', 11, true)} ${pad('gas/inference', 14, true)}  vs one signature on-chain`,
    )
    for (const row of amortized) {
      const ratio = Number(signature.full) / row.perInference
      console.log(
        `  ${pad(row.receipts.toLocaleString('en-US'), 9, true)} ${pad(String(row.payers), 7, true)} ${pad(row.batchGas.toLocaleString('en-US'), 11, true)} ${pad(row.perInference.toFixed(1), 14, true)}  ${ratio >= 1 ? `${ratio.toFixed(1)}× cheaper` : `${(1 / ratio).toFixed(1)}× dearer`}`,
      )
    }
    console.log(
      `\n  one signature checked on-chain per inference: ${signature.full.toLocaleString('en-US')} gas as its own transaction, ` +
        `${signature.marginal.toLocaleString('en-US')} gas marginal inside a batch transaction`,
    )
    console.log(
      `  (a batch of more than ${amortized.at(-1)?.payers ?? 0} payers is split into several batches; each costs the same per payer)`,
    )
    console.log(`\nmeasured in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    await anvil.stop()
  }
}

main().catch((error: unknown) => {
  console.error(isBaseError(error) ? error.message : error)
  process.exitCode = 1
})
