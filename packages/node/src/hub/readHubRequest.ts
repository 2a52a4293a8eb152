import { inferenceHubAbi, modelRegistryAbi } from '@verity/contracts'
import { BaseError, type Hash } from '@verity/protocol'
import { keccak256, type PublicClient, stringToBytes } from 'viem'
import { revertName } from '../chain/createNodeChain.ts'

/**
 * A request's state as the hub stores it now (`InferenceHub.getRequest`).
 *
 * @example
 * ```ts
 * const state: HubRequestState = await readHubRequest({ publicClient, hub, requestId })
 * if (state.status !== 'pending') return
 * ```
 */
export type HubRequestState = {
  requestId: bigint
  consumer: `0x${string}`
  status: 'pending' | 'fulfilled' | 'refunded'
  /** Unix seconds after which it can no longer be fulfilled (and can be refunded). */
  deadline: bigint
  /** 1 re-execution, 2 zero-knowledge. */
  mode: number
  quorum: number
  inputHash: Hash
  modelId: bigint
  callbackGasLimit: number
  fee: bigint
}

/**
 * A request as announced by `InferenceRequested`, with where it was mined (the block hash seeds the
 * executor and verifier draws).
 *
 * @example
 * ```ts
 * const request: HubRequestEvent | undefined = await findHubRequest({ publicClient, hub, requestId, fromBlock: 0n })
 * ```
 */
export type HubRequestEvent = {
  requestId: bigint
  consumer: `0x${string}`
  modelId: bigint
  /** The model version's CID at request time. */
  cid: string
  inputHash: Hash
  mode: number
  quorum: number
  fee: bigint
  callbackGasLimit: number
  deadline: bigint
  blockNumber: bigint
  blockHash: Hash
}

type HubReadParameters = { publicClient: PublicClient; hub: `0x${string}` }

const statuses = { 1: 'pending', 2: 'fulfilled', 3: 'refunded' } as const

/**
 * Reads a request's current state from the hub. Throws `JOB_NOT_FOUND` for an unknown id and
 * `CHAIN_UNAVAILABLE` when the RPC fails.
 *
 * @example
 * ```ts
 * const { status, deadline } = await readHubRequest({ publicClient, hub: contracts.inferenceHub, requestId: 1n })
 * ```
 */
export async function readHubRequest(
  parameters: HubReadParameters & { requestId: bigint },
): Promise<HubRequestState> {
  const { publicClient, hub, requestId } = parameters
  const read = () =>
    publicClient.readContract({
      address: hub,
      abi: inferenceHubAbi,
      functionName: 'getRequest',
      args: [requestId],
    })
  let r: Awaited<ReturnType<typeof read>>
  try {
    r = await read()
  } catch (cause) {
    if (revertName(cause) === 'UnknownRequest')
      throw new BaseError('JOB_NOT_FOUND', `InferenceHub ${hub} has no request ${requestId}.`, {
        metaMessages: ['Request ids start at 1 and are assigned by InferenceHub.request.'],
        cause,
      })
    throw chainUnavailable(`reading request ${requestId}`, cause)
  }
  const status = statuses[r.status as 1 | 2 | 3]
  if (status === undefined)
    throw new BaseError('JOB_NOT_FOUND', `InferenceHub ${hub} has no request ${requestId}.`)
  return {
    requestId,
    consumer: r.consumer,
    status,
    deadline: r.deadline,
    mode: r.mode,
    quorum: r.quorum,
    inputHash: r.inputHash,
    modelId: r.modelId,
    callbackGasLimit: r.callbackGasLimit,
    fee: r.fee,
  }
}

/**
 * Wraps an RPC failure as `CHAIN_UNAVAILABLE` (kept as is when it is already a Verity error).
 *
 * @example
 * ```ts
 * throw chainUnavailable('reading block 7', error)
 * ```
 */
export function chainUnavailable(what: string, cause: unknown): BaseError {
  if (cause instanceof BaseError) return cause
  return new BaseError('CHAIN_UNAVAILABLE', `The chain did not answer while ${what}.`, {
    details: (cause as Error)?.message?.split('\n')[0],
    metaMessages: ['It is tried again on the next poll.'],
    cause,
  })
}

/**
 * Converts a decoded `InferenceRequested` log into a {@link HubRequestEvent}.
 *
 * @example
 * ```ts
 * const request = hubRequestFromLog(log)
 * ```
 */
export function hubRequestFromLog(log: {
  args: {
    requestId?: bigint | undefined
    consumer?: `0x${string}` | undefined
    modelId?: bigint | undefined
    cid?: string | undefined
    inputHash?: Hash | undefined
    mode?: number | undefined
    quorum?: number | undefined
    fee?: bigint | undefined
    callbackGasLimit?: number | undefined
    deadline?: bigint | undefined
  }
  blockNumber: bigint | null
  blockHash: Hash | null
}): HubRequestEvent {
  const { args } = log
  if (
    args.requestId === undefined ||
    args.consumer === undefined ||
    args.modelId === undefined ||
    args.cid === undefined ||
    args.inputHash === undefined ||
    args.mode === undefined ||
    args.quorum === undefined ||
    args.fee === undefined ||
    args.callbackGasLimit === undefined ||
    args.deadline === undefined ||
    log.blockNumber === null ||
    log.blockHash === null
  )
    throw new BaseError(
      'INTERNAL',
      'An InferenceRequested log is incomplete (pending or not decoded).',
    )
  return {
    requestId: args.requestId,
    consumer: args.consumer,
    modelId: args.modelId,
    cid: args.cid,
    inputHash: args.inputHash,
    mode: args.mode,
    quorum: args.quorum,
    fee: args.fee,
    callbackGasLimit: args.callbackGasLimit,
    deadline: args.deadline,
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
  }
}

/**
 * Finds a request's `InferenceRequested` log by its (indexed) id, scanning backwards from the latest
 * block to `fromBlock` in ranges of `maxBlockRange` (recent requests are found in the first call).
 * Returns undefined when there is none; throws `CHAIN_UNAVAILABLE` when the RPC fails.
 *
 * @example
 * ```ts
 * const request = await findHubRequest({ publicClient, hub, requestId: 3n, fromBlock: 0n })
 * ```
 */
export async function findHubRequest(
  parameters: HubReadParameters & {
    requestId: bigint
    fromBlock: bigint
    maxBlockRange?: number | undefined
  },
): Promise<HubRequestEvent | undefined> {
  const { publicClient, hub, requestId, fromBlock } = parameters
  const range = BigInt(Math.max(1, parameters.maxBlockRange ?? 5_000))
  try {
    let to = await publicClient.getBlockNumber({ cacheTime: 0 })
    while (to >= fromBlock) {
      const from = to - range + 1n > fromBlock ? to - range + 1n : fromBlock
      const logs = await publicClient.getContractEvents({
        address: hub,
        abi: inferenceHubAbi,
        eventName: 'InferenceRequested',
        args: { requestId },
        fromBlock: from,
        toBlock: to,
        strict: true,
      })
      const found = logs.find((log) => log.args.requestId === requestId && !log.removed)
      if (found) return hubRequestFromLog(found)
      to = from - 1n
    }
    return undefined
  } catch (cause) {
    throw chainUnavailable(`looking for request ${requestId}`, cause)
  }
}

/**
 * Reads a request's input bytes from its `InferenceInput` log (mined in the same block as
 * `InferenceRequested`). Throws `JOB_NOT_FOUND` when the block has none and `CHAIN_UNAVAILABLE`
 * when the RPC fails.
 *
 * @example
 * ```ts
 * const input = await readHubInput({ publicClient, hub, requestId, blockNumber: request.blockNumber })
 * ```
 */
export async function readHubInput(
  parameters: HubReadParameters & { requestId: bigint; blockNumber: bigint },
): Promise<Hash> {
  const { publicClient, hub, requestId, blockNumber } = parameters
  let logs: { args: { requestId?: bigint; input?: `0x${string}` }; removed: boolean }[]
  try {
    logs = await publicClient.getContractEvents({
      address: hub,
      abi: inferenceHubAbi,
      eventName: 'InferenceInput',
      args: { requestId },
      fromBlock: blockNumber,
      toBlock: blockNumber,
      strict: true,
    })
  } catch (cause) {
    throw chainUnavailable(`reading the input of request ${requestId}`, cause)
  }
  const found = logs.find((log) => log.args.requestId === requestId && !log.removed)
  if (found?.args.input === undefined)
    throw new BaseError(
      'JOB_NOT_FOUND',
      `Block ${blockNumber} has no InferenceInput log for request ${requestId}.`,
      { metaMessages: ['The chain may have reorganized; the request is looked up again later.'] },
    )
  return found.args.input
}

/**
 * The `ModelRegistry` entry of a model version by its CID: model id, version and the registered
 * manifest hash (versions are immutable). Throws `MODEL_NOT_REGISTERED` for an unknown CID and
 * `CHAIN_UNAVAILABLE` when the RPC fails.
 *
 * @example
 * ```ts
 * const { manifestHash } = await readModelVersion({ publicClient, modelRegistry, cid: request.cid })
 * ```
 */
export async function readModelVersion(parameters: {
  publicClient: PublicClient
  modelRegistry: `0x${string}`
  cid: string
}): Promise<{ modelId: bigint; version: number; manifestHash: Hash }> {
  const { publicClient, modelRegistry, cid } = parameters
  try {
    const [modelId, version] = await publicClient.readContract({
      address: modelRegistry,
      abi: modelRegistryAbi,
      functionName: 'modelByCid',
      args: [keccak256(stringToBytes(cid))],
    })
    if (modelId === 0n)
      throw new BaseError('MODEL_NOT_REGISTERED', `No model version with CID ${cid} is registered.`)
    const [, manifestHash] = await publicClient.readContract({
      address: modelRegistry,
      abi: modelRegistryAbi,
      functionName: 'getVersion',
      args: [modelId, version],
    })
    return { modelId, version, manifestHash }
  } catch (cause) {
    throw chainUnavailable(`reading the registration of model ${cid}`, cause)
  }
}
