import { bytesToHex, getAddress, type LocalAccount } from 'viem'
import {
  computeJobId,
  type ExecutionReceiptMessage,
  type InferenceRequestMessage,
  localDomain,
  type Mode,
  modeIds,
  toTypedDataDomain,
  type VerityDomain,
  verityTypes,
} from './eip712.ts'
import { BaseError } from './errors.ts'
import { type Hash, hashCanonicalJson } from './hash.ts'
import type { EngineDescriptor } from './manifest.ts'
import { hashEngineDescriptor } from './manifest.ts'
import type { Attestation, Receipt } from './receipt.ts'
import { hashTensors, type NamedTensors } from './tensor.ts'
import { namedTensorsToJson } from './tensorJson.ts'
import {
  type GenerationParams,
  hashGenerationParams,
  hashTextInput,
  hashTextOutput,
  type TextInput,
  type TextSection,
} from './textGeneration.ts'

export type CreateInferenceRequestParameters = {
  modelCid: string
  manifestHash: Hash
  /** The input tensors (tensor models); or `text` for a text generation. */
  inputs?: NamedTensors | undefined
  /**
   * A text generation (GGUF models): its input hashes to `inputHash` and its parameters (defaults
   * filled in) to `paramsHash`.
   */
  text?: { input: TextInput; params: GenerationParams } | undefined
  /** Generation-affecting parameters (empty for plain ONNX calls); hashed as canonical JSON. */
  params?: Record<string, unknown>
  mode?: Mode
  quorum?: number
  maxFee?: bigint
  /** Unix seconds after which no node may execute the request (default: now + 1 hour). */
  deadline?: bigint
  /** 32 random bytes unless given (tests pass one for reproducibility). */
  nonce?: Hash
  now?: () => number
}

/**
 * Builds the message a requester signs: model, input hash, params hash, mode, fee cap, nonce and
 * deadline.
 *
 * @example
 * ```ts
 * const request = createInferenceRequest({ modelCid, manifestHash, inputs })
 * ```
 */
export function createInferenceRequest(
  parameters: CreateInferenceRequestParameters,
): InferenceRequestMessage {
  const now = parameters.now ?? Date.now
  const quorum = parameters.quorum ?? 0
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > 255)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Quorum ${quorum} is out of range; expected an integer 0–255.`,
    )
  const { inputs, text } = parameters
  if ((inputs === undefined) === (text === undefined))
    throw new BaseError('INVALID_ARGUMENT', 'A request has either input tensors or a text input.')
  return {
    modelCid: parameters.modelCid,
    manifestHash: parameters.manifestHash,
    inputHash: text ? hashTextInput(text.input) : hashTensors(inputs as NamedTensors),
    paramsHash: text
      ? hashGenerationParams(text.params)
      : hashCanonicalJson(parameters.params ?? {}),
    mode: modeIds[parameters.mode ?? 'none'],
    quorum,
    maxFee: parameters.maxFee ?? 0n,
    nonce: parameters.nonce ?? bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
    deadline: parameters.deadline ?? BigInt(Math.floor(now() / 1000) + 3600),
  }
}

/**
 * The requester's EIP-712 signature over an inference request.
 *
 * @example
 * ```ts
 * const signature = await signInferenceRequest({ account, request })
 * ```
 */
export async function signInferenceRequest(parameters: {
  account: LocalAccount
  request: InferenceRequestMessage
  domain?: VerityDomain
}): Promise<Hash> {
  return parameters.account.signTypedData({
    domain: toTypedDataDomain(parameters.domain ?? localDomain),
    types: verityTypes,
    primaryType: 'InferenceRequest',
    message: parameters.request,
  })
}

/** Converts the receipt's job section back into the signed request message. */
export function requestMessageFromReceipt(receipt: Receipt): InferenceRequestMessage {
  const { job } = receipt
  return {
    modelCid: job.model.cid,
    manifestHash: job.model.manifestHash as Hash,
    inputHash: job.inputHash as Hash,
    paramsHash: job.paramsHash as Hash,
    mode: modeIds[job.mode],
    quorum: job.quorum,
    maxFee: BigInt(job.maxFee),
    nonce: job.nonce as Hash,
    deadline: BigInt(job.deadline),
  }
}

/** Converts a receipt into the message its executor signed. */
export function executionMessageFromReceipt(receipt: Receipt): ExecutionReceiptMessage {
  const { job, result } = receipt
  return {
    jobId: job.id as Hash,
    requester: job.requester as `0x${string}`,
    modelCid: job.model.cid,
    manifestHash: job.model.manifestHash as Hash,
    inputHash: job.inputHash as Hash,
    paramsHash: job.paramsHash as Hash,
    mode: modeIds[job.mode],
    outputHash: result.outputHash as Hash,
    engineSettingsHash: result.engine.settingsHash as Hash,
    executedAt: BigInt(result.executedAt),
  }
}

const modeById = Object.fromEntries(
  Object.entries(modeIds).map(([mode, id]) => [id, mode]),
) as Record<number, Mode>

export type CreateReceiptParameters = {
  /** The executor's key. */
  account: LocalAccount
  requester: `0x${string}`
  request: InferenceRequestMessage
  /** The requester's signature over `request`, when the request came signed. */
  requestSignature?: Hash
  /** The output tensors (tensor models); exactly one of `outputs` and `text`. */
  outputs?: NamedTensors | undefined
  /** The text generation (GGUF models): input, parameters and output, embedded as `text`. */
  text?: TextSection | undefined
  engine: EngineDescriptor
  /** Embed the output tensors (default true); the signed hash binds them either way. */
  includeOutput?: boolean
  domain?: VerityDomain
  now?: () => number
}

/**
 * Builds and signs a Receipt v1 for an executed job (mode `none`: executor signature only).
 *
 * @example
 * ```ts
 * const receipt = await createReceipt({ account, requester: account.address, request, outputs, engine: engine.descriptor })
 * ```
 */
export async function createReceipt(parameters: CreateReceiptParameters): Promise<Receipt> {
  const { account, request, outputs, text, engine } = parameters
  if ((outputs === undefined) === (text === undefined))
    throw new BaseError(
      'INVALID_ARGUMENT',
      'A receipt has either output tensors or a text generation.',
    )
  if (text) {
    const inputHash = hashTextInput(text.input)
    const paramsHash = hashGenerationParams(text.params)
    if (inputHash !== request.inputHash || paramsHash !== request.paramsHash)
      throw new BaseError(
        'INPUT_HASH_MISMATCH',
        `The text generation does not match the request: input ${inputHash} vs ${request.inputHash}, params ${paramsHash} vs ${request.paramsHash}.`,
      )
  }
  const domain = parameters.domain ?? localDomain
  const requester = getAddress(parameters.requester)
  const mode = modeById[request.mode]
  if (!mode) throw new BaseError('INVALID_ARGUMENT', `Unknown mode id ${request.mode}.`)
  const receipt: Receipt = {
    version: 1,
    domain: { ...domain },
    job: {
      id: computeJobId(requester, request),
      requester,
      model: { cid: request.modelCid, manifestHash: request.manifestHash },
      inputHash: request.inputHash,
      paramsHash: request.paramsHash,
      mode,
      quorum: request.quorum,
      maxFee: request.maxFee.toString(),
      nonce: request.nonce,
      deadline: request.deadline.toString(),
    },
    ...(parameters.requestSignature ? { request: { signature: parameters.requestSignature } } : {}),
    result: {
      outputHash: text ? hashTextOutput(text.output) : hashTensors(outputs as NamedTensors),
      ...(parameters.includeOutput === false || outputs === undefined
        ? {}
        : { output: namedTensorsToJson(outputs) }),
      engine: { ...engine, settingsHash: hashEngineDescriptor(engine) },
      executedAt: Math.floor((parameters.now ?? Date.now)() / 1000),
    },
    executor: { address: account.address, signature: '0x' },
    ...(text ? { text } : {}),
  }
  receipt.executor.signature = await account.signTypedData({
    domain: toTypedDataDomain(domain),
    types: verityTypes,
    primaryType: 'ExecutionReceipt',
    message: executionMessageFromReceipt(receipt),
  })
  return receipt
}

export type SignAttestationParameters = {
  /** The verifier's key. */
  account: LocalAccount
  jobId: Hash
  /** The executor's output hash the verifier judged. */
  outputHash: Hash
  /** Whether the verifier's re-execution matched it under the model's comparison rule. */
  agree: boolean
  domain?: VerityDomain
}

/**
 * A verifier's EIP-712 attestation about a job's output, ready for a receipt's quorum section.
 *
 * @example
 * ```ts
 * const attestation = await signAttestation({ account: verifier, jobId, outputHash, agree: true, domain })
 * ```
 */
export async function signAttestation(parameters: SignAttestationParameters): Promise<Attestation> {
  const { account, jobId, outputHash, agree } = parameters
  const signature = await account.signTypedData({
    domain: toTypedDataDomain(parameters.domain ?? localDomain),
    types: verityTypes,
    primaryType: 'Attestation',
    message: { jobId, outputHash, agree },
  })
  return { verifier: account.address, agree, outputHash, signature }
}
