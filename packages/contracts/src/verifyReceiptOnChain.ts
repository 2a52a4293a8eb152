import {
  type ErrorCode,
  type Receipt,
  type ReceiptCheck,
  type ReceiptVerdict,
  receiptLeafFromReceipt,
  type VerifyReceiptOptions,
  verifyReceipt,
} from '@verity/protocol'
import {
  BlockNotFoundError,
  type Chain,
  type Client,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  HttpRequestError,
  isAddressEqual,
  keccak256,
  parseEventLogs,
  SocketClosedError,
  stringToBytes,
  TimeoutError,
  TransactionReceiptNotFoundError,
  type Transport,
  BaseError as ViemError,
  zeroAddress,
} from 'viem'
import {
  getBlock,
  getBlockNumber,
  getChainId,
  getTransactionReceipt,
  readContract,
} from 'viem/actions'
import { modelRegistryAbi, nodeRegistryAbi, settlementAbi } from './generated/index.ts'

/**
 * Parameters of {@link verifyReceiptOnChain}: the receipt (untrusted JSON is fine), a client for
 * the chain it claims, and the offline options of protocol's `verifyReceipt`.
 *
 * @example
 * ```ts
 * const parameters: VerifyReceiptOnChainParameters = { receipt, publicClient }
 * ```
 */
export type VerifyReceiptOnChainParameters = VerifyReceiptOptions & {
  receipt: unknown
  /** Any viem client with a transport to the chain (a `PublicClient` is fine). */
  publicClient: Client<Transport, Chain | undefined>
  /** Fail with `RECEIPT_NOT_SETTLED` (instead of skipping) when the receipt has not settled. */
  requireSettlement?: boolean | undefined
}

/**
 * What {@link verifyReceiptOnChain} returns: protocol's verdict (offline checks first, then the
 * chain checks) and, when the chain answered, which chain and block the state was read at.
 *
 * @example
 * ```ts
 * const { valid, code, checks, chain }: VerifyReceiptOnChainReturnType = await verifyReceiptOnChain({ receipt, publicClient })
 * ```
 */
export type VerifyReceiptOnChainReturnType = ReceiptVerdict & {
  chain?: { chainId: number; blockNumber: number } | undefined
}

/** Settlement's `BatchStatus`. */
const batchStatus = { none: 0, pending: 1, reverted: 2, finalized: 3 } as const

type Failure = {
  kind: 'unavailable' | 'revert' | 'no-contract' | 'not-found' | 'other'
  /** Custom error name of a revert. */
  name?: string | undefined
  message: string
}

type Read<T> = { ok: true; value: T } | { ok: false; failure: Failure }

function classify(error: unknown): Failure {
  const message = (error as Error)?.message?.split('\n')[0] ?? String(error)
  if (error instanceof ViemError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
    if (reverted instanceof ContractFunctionRevertedError)
      return {
        kind: 'revert',
        name: reverted.data?.errorName ?? reverted.reason ?? 'reverted',
        message,
      }
    if (error.walk((e) => e instanceof ContractFunctionZeroDataError))
      return { kind: 'no-contract', message }
    if (
      error.walk(
        (e) => e instanceof BlockNotFoundError || e instanceof TransactionReceiptNotFoundError,
      )
    )
      return { kind: 'not-found', message }
    if (
      error.walk(
        (e) =>
          e instanceof HttpRequestError ||
          e instanceof TimeoutError ||
          e instanceof SocketClosedError,
      )
    )
      return { kind: 'unavailable', message }
  }
  if (/ECONNREFUSED|fetch failed|socket hang up|ETIMEDOUT|ENOTFOUND/i.test(message))
    return { kind: 'unavailable', message }
  return { kind: 'other', message }
}

async function attempt<T>(read: () => Promise<T>): Promise<Read<T>> {
  try {
    return { ok: true, value: await read() }
  } catch (error) {
    return { ok: false, failure: classify(error) }
  }
}

/** A check failed because the chain could not answer (the RPC is down or returned an error). */
function chainFailure(name: string, what: string, failure: Failure): ReceiptCheck {
  return {
    name,
    status: 'fail',
    code: 'CHAIN_UNAVAILABLE',
    reason:
      failure.kind === 'unavailable'
        ? `the RPC does not answer while reading ${what}: ${failure.message}`
        : `the chain returned an error while reading ${what}: ${failure.message}`,
  }
}

function pass(name: string, reason: string): ReceiptCheck {
  return { name, status: 'pass', reason }
}

function fail(name: string, code: ErrorCode, reason: string): ReceiptCheck {
  return { name, status: 'fail', code, reason }
}

function isoTime(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace('.000Z', 'Z')
}

/**
 * Verifies a receipt offline (protocol's `verifyReceipt`) and then against the chain it names,
 * and returns every check. Never throws on a bad receipt or an unreachable RPC: those are failed
 * checks (`CHAIN_UNAVAILABLE` for the RPC). All state is read at one block (`chain.blockNumber`).
 *
 * Chain checks, in order (the first two stop the rest when they fail, since nothing after them
 * would mean anything):
 * - `chain.id`: the RPC's chain id is the receipt's `domain.chainId` (`RECEIPT_CHAIN_MISMATCH`);
 * - `chain.contract`: `domain.verifyingContract` is a Verity Settlement on this chain: its
 *   EIP-712 domain is `Verity`/`1`/this chain/itself, and the NodeRegistry it names
 *   (`NODE_REGISTRY()`) names it back as its slasher. The registries are taken from the
 *   Settlement's immutables only (`RECEIPT_CHAIN_MISMATCH`);
 * - `model.registry`: the model CID is registered (`MODEL_NOT_REGISTERED`), that version's
 *   manifest hash is the receipt's (`RECEIPT_MANIFEST_HASH_MISMATCH`), not deprecated;
 * - `executor.stake` and `quorum.attestations[i].stake`: registered and active when the batch was
 *   committed (`wasActiveAt`) or, before settlement, now (`isActive`)
 *   (`RECEIPT_SIGNER_MISMATCH`, `RECEIPT_ATTESTATION_INVALID`);
 * - `quorum.selection`: the seed block exists with that hash (`SELECTION_INVALID`);
 * - settled receipts: `settlement.batch` (same root and executor), `settlement.status` (pending or
 *   finalized; reverted by a challenge fails), `settlement.inclusion` (`verifyInclusion` of the
 *   leaf rebuilt from the receipt), `settlement.transaction` (the commit transaction emitted that
 *   batch), all `RECEIPT_SETTLEMENT_INVALID`; otherwise `settlement` is skipped ('not settled
 *   yet'), or fails with `RECEIPT_NOT_SETTLED` under `requireSettlement`.
 *
 * Not checked: that the attesting verifiers are the ones the seed draws (the draw depends on the
 * peers the executor could reach), and that the contract's code is Verity's byte for byte.
 *
 * @example
 * ```ts
 * import { createPublicClient, http } from 'viem'
 * const publicClient = createPublicClient({ transport: http('http://127.0.0.1:8545') })
 * const verdict = await verifyReceiptOnChain({ receipt: JSON.parse(text), publicClient })
 * if (!verdict.valid) console.error(verdict.code, verdict.checks.filter((c) => c.status === 'fail'))
 * ```
 */
export async function verifyReceiptOnChain(
  parameters: VerifyReceiptOnChainParameters,
): Promise<VerifyReceiptOnChainReturnType> {
  const { receipt: value, publicClient: client, requireSettlement, ...options } = parameters
  const offline = await verifyReceipt(value, options)
  const checks: ReceiptCheck[] = [...offline.checks]
  let chain: VerifyReceiptOnChainReturnType['chain']
  const finish = (): VerifyReceiptOnChainReturnType => {
    const failed = checks.find((check) => check.status === 'fail')
    return {
      valid: !failed,
      ...(failed?.code ? { code: failed.code } : {}),
      checks,
      ...(offline.receipt ? { receipt: offline.receipt } : {}),
      ...(chain ? { chain } : {}),
    }
  }
  const receipt = offline.receipt
  if (!receipt) {
    checks.push({
      name: 'chain',
      status: 'skip',
      reason: 'the receipt does not parse: nothing to look up on-chain',
    })
    return finish()
  }
  await checkOnChain(client, receipt, checks, requireSettlement === true, (c) => {
    chain = c
  })
  return finish()
}

async function checkOnChain(
  client: Client<Transport, Chain | undefined>,
  receipt: Receipt,
  checks: ReceiptCheck[],
  requireSettlement: boolean,
  setChain: (chain: { chainId: number; blockNumber: number }) => void,
): Promise<void> {
  // ---------------------------------------------------------------- chain.id
  const head = await attempt(async () => ({
    chainId: await getChainId(client),
    blockNumber: await getBlockNumber(client, { cacheTime: 0 }),
  }))
  if (!head.ok) {
    checks.push(chainFailure('chain.id', 'the chain id', head.failure))
    return
  }
  const { chainId, blockNumber } = head.value
  setChain({ chainId, blockNumber: Number(blockNumber) })
  if (chainId !== receipt.domain.chainId) {
    checks.push(
      fail(
        'chain.id',
        'RECEIPT_CHAIN_MISMATCH',
        `the receipt is signed for chain ${receipt.domain.chainId} but the RPC serves chain ${chainId}: use an RPC of chain ${receipt.domain.chainId}`,
      ),
    )
    return
  }
  checks.push(
    pass('chain.id', `the RPC serves chain ${chainId} (state read at block ${blockNumber})`),
  )

  // ---------------------------------------------------------------- chain.contract
  const settlement = receipt.domain.verifyingContract as `0x${string}` | undefined
  if (settlement === undefined) {
    checks.push(
      fail(
        'chain.contract',
        'RECEIPT_CHAIN_MISMATCH',
        "the receipt's domain names no Settlement contract (it was signed outside any Verity deployment), so nothing on-chain vouches for its executor, model or settlement",
      ),
    )
    return
  }
  const at = { blockNumber }
  const notSettlement = (failure: Failure, what: string): ReceiptCheck =>
    failure.kind === 'unavailable' || failure.kind === 'other'
      ? chainFailure('chain.contract', what, failure)
      : fail(
          'chain.contract',
          'RECEIPT_CHAIN_MISMATCH',
          `${what} on chain ${chainId} is not a Verity contract (${failure.kind === 'revert' ? `it reverted with ${failure.name}` : 'no code or no such function'})`,
        )
  const [domain, nodeRegistryRead, modelRegistryRead] = await Promise.all([
    attempt(() =>
      readContract(client, {
        address: settlement,
        abi: settlementAbi,
        functionName: 'eip712Domain',
        ...at,
      }),
    ),
    attempt(() =>
      readContract(client, {
        address: settlement,
        abi: settlementAbi,
        functionName: 'NODE_REGISTRY',
        ...at,
      }),
    ),
    attempt(() =>
      readContract(client, {
        address: settlement,
        abi: settlementAbi,
        functionName: 'MODEL_REGISTRY',
        ...at,
      }),
    ),
  ])
  if (!domain.ok) {
    checks.push(notSettlement(domain.failure, `Settlement ${settlement}`))
    return
  }
  if (!nodeRegistryRead.ok) {
    checks.push(notSettlement(nodeRegistryRead.failure, `Settlement ${settlement}`))
    return
  }
  if (!modelRegistryRead.ok) {
    checks.push(notSettlement(modelRegistryRead.failure, `Settlement ${settlement}`))
    return
  }
  const [, name, version, domainChainId, verifyingContract] = domain.value
  const nodeRegistry = nodeRegistryRead.value
  const modelRegistry = modelRegistryRead.value
  if (
    name !== 'Verity' ||
    version !== '1' ||
    domainChainId !== BigInt(chainId) ||
    !isAddressEqual(verifyingContract, settlement) ||
    nodeRegistry === zeroAddress ||
    modelRegistry === zeroAddress
  ) {
    checks.push(
      fail(
        'chain.contract',
        'RECEIPT_CHAIN_MISMATCH',
        `${settlement} signs under EIP-712 domain ${name}/${version}/chain ${domainChainId}/${verifyingContract}, not Verity/1/chain ${chainId}/itself: it is not the Settlement the receipt claims`,
      ),
    )
    return
  }
  const slasher = await attempt(() =>
    readContract(client, {
      address: nodeRegistry,
      abi: nodeRegistryAbi,
      functionName: 'settlement',
      ...at,
    }),
  )
  if (!slasher.ok) {
    checks.push(notSettlement(slasher.failure, `NodeRegistry ${nodeRegistry}`))
    return
  }
  if (!isAddressEqual(slasher.value, settlement)) {
    checks.push(
      fail(
        'chain.contract',
        'RECEIPT_CHAIN_MISMATCH',
        `NodeRegistry ${nodeRegistry} takes its slashing orders from ${slasher.value}, not from ${settlement}: the receipt's contract is not that network's Settlement`,
      ),
    )
    return
  }
  checks.push(
    pass(
      'chain.contract',
      `${settlement} is a Verity Settlement on chain ${chainId} (NodeRegistry ${nodeRegistry}, ModelRegistry ${modelRegistry})`,
    ),
  )

  // ---------------------------------------------------------------- model.registry
  checks.push(await checkModel(client, modelRegistry, receipt, blockNumber))

  // ---------------------------------------------------------------- the batch (read first: its commit time dates the stake checks)
  const settled = receipt.settlement
  const batchId = settled ? BigInt(settled.batchId) : 0n
  const batch = settled
    ? await attempt(() =>
        readContract(client, {
          address: settlement,
          abi: settlementAbi,
          functionName: 'getBatch',
          args: [batchId],
          ...at,
        }),
      )
    : undefined
  const committedAt = batch?.ok ? batch.value.committedAt : undefined

  // ---------------------------------------------------------------- stakes
  const stake = async (name: string, address: `0x${string}`, role: string, code: ErrorCode) => {
    const [node, active] = await Promise.all([
      attempt(() =>
        readContract(client, {
          address: nodeRegistry,
          abi: nodeRegistryAbi,
          functionName: 'getNode',
          args: [address],
          ...at,
        }),
      ),
      attempt(() =>
        committedAt === undefined
          ? readContract(client, {
              address: nodeRegistry,
              abi: nodeRegistryAbi,
              functionName: 'isActive',
              args: [address],
              ...at,
            })
          : readContract(client, {
              address: nodeRegistry,
              abi: nodeRegistryAbi,
              functionName: 'wasActiveAt',
              args: [address, committedAt],
              ...at,
            }),
      ),
    ])
    if (!node.ok) return chainFailure(name, `node ${address}`, node.failure)
    if (!active.ok) return chainFailure(name, `node ${address}`, active.failure)
    const [verb, when] =
      committedAt === undefined
        ? ['is', 'now (the receipt has not settled)']
        : ['was', `when batch ${batchId} was committed (${isoTime(committedAt)})`]
    if (node.value.registeredAt === 0n)
      return fail(
        name,
        code,
        `${role} ${address} is not registered in NodeRegistry ${nodeRegistry}: no stake backs it`,
      )
    if (!active.value)
      return fail(
        name,
        code,
        `${role} ${address} is registered but ${verb === 'is' ? '' : 'was '}not active ${when}${node.value.exitingSince !== 0n ? `: it started exiting at ${isoTime(node.value.exitingSince)}` : ''}`,
      )
    return pass(name, `${role} ${address} ${verb} staked and active ${when}`)
  }
  const attestations = receipt.quorum?.attestations ?? []
  const stakes = await Promise.all([
    stake(
      'executor.stake',
      receipt.executor.address as `0x${string}`,
      'executor',
      'RECEIPT_SIGNER_MISMATCH',
    ),
    ...attestations.map((attestation, index) =>
      stake(
        `quorum.attestations[${index}].stake`,
        attestation.verifier as `0x${string}`,
        'verifier',
        'RECEIPT_ATTESTATION_INVALID',
      ),
    ),
  ])
  checks.push(...stakes)

  // ---------------------------------------------------------------- quorum.selection
  const selection = receipt.quorum?.selection
  if (selection) {
    const block = await attempt(() =>
      getBlock(client, { blockNumber: BigInt(selection.blockNumber) }),
    )
    if (!block.ok)
      checks.push(
        block.failure.kind === 'not-found'
          ? fail(
              'quorum.selection',
              'SELECTION_INVALID',
              `chain ${chainId} has no block ${selection.blockNumber} (its head is ${blockNumber}): the seed block is made up`,
            )
          : chainFailure('quorum.selection', `block ${selection.blockNumber}`, block.failure),
      )
    else if (block.value.hash?.toLowerCase() !== selection.blockHash.toLowerCase())
      checks.push(
        fail(
          'quorum.selection',
          'SELECTION_INVALID',
          `block ${selection.blockNumber} has hash ${block.value.hash}, not the recorded ${selection.blockHash}: the verifiers were not drawn from this chain's block`,
        ),
      )
    else
      checks.push(
        pass(
          'quorum.selection',
          `seed block ${selection.blockNumber} exists with the recorded hash (mined ${isoTime(block.value.timestamp)})`,
        ),
      )
  } else if (receipt.quorum)
    checks.push({
      name: 'quorum.selection',
      status: 'skip',
      reason: 'no seed block recorded: the verifiers were drawn from a local seed, not the chain',
    })

  // ---------------------------------------------------------------- settlement
  if (!settled || !batch) {
    checks.push(
      requireSettlement
        ? fail(
            'settlement',
            'RECEIPT_NOT_SETTLED',
            'the receipt has no settlement section: it is not settled yet',
          )
        : { name: 'settlement', status: 'skip', reason: 'not settled yet' },
    )
    return
  }
  if (!batch.ok) {
    checks.push(
      batch.failure.kind === 'revert'
        ? fail(
            'settlement.batch',
            'RECEIPT_SETTLEMENT_INVALID',
            `Settlement ${settlement} has no batch ${batchId} (${batch.failure.name})`,
          )
        : chainFailure('settlement.batch', `batch ${batchId}`, batch.failure),
    )
    return
  }
  const onChain = batch.value
  const problems: string[] = []
  if (onChain.root.toLowerCase() !== settled.root.toLowerCase())
    problems.push(`its root is ${onChain.root}, the receipt says ${settled.root}`)
  if (!isAddressEqual(onChain.executor, receipt.executor.address as `0x${string}`))
    problems.push(
      `it was committed by ${onChain.executor}, not by the receipt's executor ${receipt.executor.address}`,
    )
  checks.push(
    problems.length
      ? fail(
          'settlement.batch',
          'RECEIPT_SETTLEMENT_INVALID',
          `batch ${batchId}: ${problems.join('; ')}`,
        )
      : pass(
          'settlement.batch',
          `batch ${batchId} has root ${onChain.root.slice(0, 18)}… and executor ${onChain.executor} (${onChain.count} receipt(s))`,
        ),
  )
  const status = Number(onChain.status)
  if (status === batchStatus.finalized)
    checks.push(
      pass(
        'settlement.status',
        `batch ${batchId} is finalized: fees were split and cannot be challenged any more`,
      ),
    )
  else if (status === batchStatus.pending)
    checks.push(
      pass(
        'settlement.status',
        `batch ${batchId} is pending: it can be challenged until ${isoTime(onChain.challengeDeadline)}${onChain.openDisputes ? ` (${onChain.openDisputes} open dispute(s))` : ''}`,
      ),
    )
  else
    checks.push(
      fail(
        'settlement.status',
        'RECEIPT_SETTLEMENT_INVALID',
        status === batchStatus.reverted
          ? `batch ${batchId} was reverted by a successful challenge (fraud proven): its receipts are void`
          : `batch ${batchId} has unknown status ${status}`,
      ),
    )
  const leaf = receiptLeafFromReceipt(receipt, BigInt(settled.fee))
  const included = await attempt(() =>
    readContract(client, {
      address: settlement,
      abi: settlementAbi,
      functionName: 'verifyInclusion',
      args: [batchId, leaf, settled.proof as `0x${string}`[]],
      ...at,
    }),
  )
  checks.push(
    !included.ok
      ? chainFailure(
          'settlement.inclusion',
          `the inclusion of the leaf in batch ${batchId}`,
          included.failure,
        )
      : included.value
        ? pass(
            'settlement.inclusion',
            `the contract confirms the receipt's leaf (fee ${settled.fee} wei) is in batch ${batchId}`,
          )
        : fail(
            'settlement.inclusion',
            'RECEIPT_SETTLEMENT_INVALID',
            `the contract says the leaf rebuilt from this receipt (fee ${settled.fee} wei) is not in batch ${batchId} with the given proof`,
          ),
  )
  checks.push(await checkCommitTransaction(client, settlement, receipt, batchId))
}

async function checkModel(
  client: Client<Transport, Chain | undefined>,
  modelRegistry: `0x${string}`,
  receipt: Receipt,
  blockNumber: bigint,
): Promise<ReceiptCheck> {
  const name = 'model.registry'
  const { cid, manifestHash } = receipt.job.model
  const at = { blockNumber }
  const byCid = await attempt(() =>
    readContract(client, {
      address: modelRegistry,
      abi: modelRegistryAbi,
      functionName: 'modelByCid',
      args: [keccak256(stringToBytes(cid))],
      ...at,
    }),
  )
  if (!byCid.ok) return chainFailure(name, `model ${cid}`, byCid.failure)
  const [modelId, version] = byCid.value
  if (modelId === 0n)
    return fail(
      name,
      'MODEL_NOT_REGISTERED',
      `model ${cid} is not registered in ModelRegistry ${modelRegistry}`,
    )
  const [registered, model] = await Promise.all([
    attempt(() =>
      readContract(client, {
        address: modelRegistry,
        abi: modelRegistryAbi,
        functionName: 'getVersion',
        args: [modelId, version],
        ...at,
      }),
    ),
    attempt(() =>
      readContract(client, {
        address: modelRegistry,
        abi: modelRegistryAbi,
        functionName: 'getModel',
        args: [modelId],
        ...at,
      }),
    ),
  ])
  if (!registered.ok)
    return chainFailure(name, `model #${modelId} version ${version}`, registered.failure)
  if (!model.ok) return chainFailure(name, `model #${modelId}`, model.failure)
  const [, registeredHash] = registered.value
  if (registeredHash.toLowerCase() !== manifestHash.toLowerCase())
    return fail(
      name,
      'RECEIPT_MANIFEST_HASH_MISMATCH',
      `model ${cid} (#${modelId} version ${version}) is registered with manifest hash ${registeredHash}, the receipt says ${manifestHash}`,
    )
  if (model.value.deprecated)
    return fail(
      name,
      'MODEL_NOT_REGISTERED',
      `model #${modelId} (${model.value.name}) is deprecated by its creator`,
    )
  return pass(
    name,
    `model #${modelId} "${model.value.name}" version ${version} is registered with this CID and manifest hash`,
  )
}

async function checkCommitTransaction(
  client: Client<Transport, Chain | undefined>,
  settlement: `0x${string}`,
  receipt: Receipt,
  batchId: bigint,
): Promise<ReceiptCheck> {
  const name = 'settlement.transaction'
  const settled = receipt.settlement as NonNullable<Receipt['settlement']>
  const hash = settled.transactionHash as `0x${string}`
  const mined = await attempt(() => getTransactionReceipt(client, { hash }))
  if (!mined.ok)
    return mined.failure.kind === 'not-found'
      ? fail(name, 'RECEIPT_SETTLEMENT_INVALID', `no transaction ${hash} on this chain`)
      : chainFailure(name, `transaction ${hash}`, mined.failure)
  const committed = parseEventLogs({
    abi: settlementAbi,
    eventName: 'BatchCommitted',
    logs: mined.value.logs,
  }).find((log) => isAddressEqual(log.address, settlement) && log.args.batchId === batchId)
  if (mined.value.status !== 'success' || !committed)
    return fail(
      name,
      'RECEIPT_SETTLEMENT_INVALID',
      `transaction ${hash} did not commit batch ${batchId} on ${settlement}`,
    )
  if (Number(mined.value.blockNumber) !== settled.blockNumber)
    return fail(
      name,
      'RECEIPT_SETTLEMENT_INVALID',
      `transaction ${hash} was mined in block ${mined.value.blockNumber}, the receipt says ${settled.blockNumber}`,
    )
  return pass(
    name,
    `transaction ${hash.slice(0, 18)}… committed batch ${batchId} in block ${settled.blockNumber}`,
  )
}
