import {
  BaseError,
  computeJobId,
  createInferenceRequest,
  type Hash,
  hashTensors,
  type Mode,
  type NamedTensors,
  type NamedTensorsJson,
  namedTensorsFromJson,
  namedTensorsToJson,
  type Receipt,
  type ReceiptVerdict,
  signInferenceRequest,
  type Tensor,
  type TensorJson,
  verifyReceipt,
} from '@verity/protocol'
import { isAddressEqual, zeroAddress } from 'viem'
import type { Client } from '../createClient.ts'
import type { NetworkInfo } from '../types.ts'
import { getModel } from './getModel.ts'
import { getNetwork } from './getNetwork.ts'

/**
 * Parameters of {@link infer}.
 *
 * @example
 * ```ts
 * const parameters: InferParameters = {
 *   model: 'digits-int8',
 *   inputs: { image: { dtype: 'uint8', shape: [1, 1, 28, 28], data: pixels } },
 * }
 * ```
 */
export type InferParameters = {
  /** A CID, a name (highest version) or `name@version`. */
  model: string
  /** Tensors, or their JSON forms (`{ dtype, shape, data | base64 }`). */
  inputs: NamedTensors | NamedTensorsJson
  /**
   * Verification mode (default `none`; other modes need a node that offers them): `reexec`
   * (verifiers re-execute and co-sign, with `quorum`) or `zk` (a Groth16 proof, for models whose
   * manifest has a `zk` section; takes no quorum).
   */
  mode?: Mode | undefined
  quorum?: number | undefined
  /** The most the requester pays, in wei (default: the price the node reports for the model, else 0). */
  maxFee?: bigint | undefined
  /** Unix seconds after which no node may execute the request (default now + 1 hour). */
  deadline?: bigint | undefined
  /** 32 bytes that make the job unique (default random). Reuse it to retry idempotently. */
  nonce?: Hash | undefined
  /** Embed the outputs in the receipt (default true); the response carries them either way. */
  includeOutput?: boolean | undefined
  signal?: AbortSignal | undefined
}

/**
 * What {@link infer} returns: the verified receipt, the outputs (checked against the receipt's
 * output hash), the verdict of every check, the job id and whether the node answered from its store
 * (a repeated request).
 *
 * @example
 * ```ts
 * const { receipt, outputs }: InferReturnType = await infer(client, { model, inputs })
 * ```
 */
export type InferReturnType = {
  receipt: Receipt
  outputs: Record<string, Tensor>
  verdict: ReceiptVerdict
  jobId: Hash
  replayed: boolean
}

function isTensor(value: Tensor | TensorJson): value is Tensor {
  return ArrayBuffer.isView((value as Tensor).data)
}

function toTensors(inputs: NamedTensors | NamedTensorsJson): NamedTensors {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
    throw new BaseError('TENSOR_INVALID', 'inputs must map input names to tensors.')
  const values = Object.values(inputs)
  if (values.length > 0 && values.every((value) => isTensor(value as Tensor)))
    return inputs as NamedTensors
  return namedTensorsFromJson(
    Object.fromEntries(
      Object.entries(inputs).map(([name, value]) => [
        name,
        isTensor(value as Tensor) ? namedTensorsToJson({ [name]: value as Tensor })[name] : value,
      ]),
    ),
  )
}

function checkDomain(client: Client, network: NetworkInfo): void {
  const expected = client.domain
  if (expected === undefined) return
  const { domain } = network
  const ok =
    (expected.chainId === undefined || expected.chainId === domain.chainId) &&
    (expected.verifyingContract === undefined ||
      (domain.verifyingContract !== undefined &&
        isAddressEqual(expected.verifyingContract, domain.verifyingContract)))
  if (!ok)
    throw new BaseError(
      'RECEIPT_DOMAIN_MISMATCH',
      `The node signs for chain ${domain.chainId} ${domain.verifyingContract ?? ''}, the client expects ${expected.chainId ?? ''} ${expected.verifyingContract ?? ''}.`.replace(
        /\s+/g,
        ' ',
      ),
      { metaMessages: ['Nothing was signed or sent. Use a node of the expected network.'] },
    )
}

/**
 * Runs a model on the node and returns a receipt that was verified offline before it is returned.
 *
 * 1. `getModel` (manifest validated and re-hashed) and `getNetwork` (the node's signing domain,
 *    cached on the client; refused if the client pins another domain).
 * 2. Builds the `InferenceRequest` (model CID, manifest hash, input hash, mode, fee, nonce,
 *    deadline) and signs it with the client's account; without an account it goes unsigned.
 * 3. `POST /v1/infer`.
 * 4. Verifies the receipt: every check of protocol's `verifyReceipt` against the manifest, the
 *    inputs, the node's address and domain; plus the job id equals the request's and the returned
 *    outputs hash to the receipt's output hash. Any failure throws with the failing check's code.
 *    In mode `zk` that includes the Groth16 proof (`zk.proof`), the proven outputs being the
 *    signed ones (`zk.output`), the proof's input commitment being these inputs' (`zk.input`) and
 *    its verification key being the one the manifest pins (`zk.model`); a model whose manifest has
 *    no `zk` section is refused before anything is signed (`MODE_UNSUPPORTED`).
 *
 * Error codes: the node's (`MODEL_NOT_FOUND`, `TENSOR_*`, `SIGNATURE_INVALID`, `ENGINE_TIMEOUT`, …),
 * `RECEIPT_*` for a receipt that does not verify, `ABORTED` when the node cannot be reached.
 *
 * @example
 * ```ts
 * const client = createClient({ transport: http(url), account })
 * const { outputs, receipt } = await infer(client, { model: 'digits-int8', inputs: { image } })
 * const proven = await infer(client, { model: 'digits-int8', inputs: { image }, mode: 'zk' })
 * proven.receipt.zk?.proof // Groth16, already verified offline
 * ```
 */
export async function infer(client: Client, parameters: InferParameters): Promise<InferReturnType> {
  const inputs = toTensors(parameters.inputs)
  const { signal } = parameters
  const [model, network] = await Promise.all([
    getModel(client, { model: parameters.model, cache: true, signal }),
    getNetwork(client, { cache: true, signal }),
  ])
  checkDomain(client, network)
  if (parameters.mode === 'zk' && model.manifest.zk === undefined)
    throw new BaseError(
      'MODE_UNSUPPORTED',
      `Model ${model.manifest.name}@${model.manifest.version} cannot be proven: its manifest has no zk section.`,
      {
        metaMessages: [
          'Nothing was signed or sent. Ask for mode none or reexec, or use a version of the model compiled for zk (verity zk compile).',
        ],
      },
    )
  const request = createInferenceRequest({
    modelCid: model.cid,
    manifestHash: model.manifestHash,
    inputs,
    ...(parameters.mode === undefined ? {} : { mode: parameters.mode }),
    ...(parameters.quorum === undefined ? {} : { quorum: parameters.quorum }),
    // by default the requester accepts the model's on-chain price, as the node reports it; the
    // signed maxFee caps what a settlement can charge whatever the node claims
    ...(parameters.maxFee === undefined
      ? model.price === undefined
        ? {}
        : { maxFee: model.price }
      : { maxFee: parameters.maxFee }),
    ...(parameters.deadline === undefined ? {} : { deadline: parameters.deadline }),
    ...(parameters.nonce === undefined ? {} : { nonce: parameters.nonce }),
  })
  const { account } = client
  const requester = account?.address ?? zeroAddress
  const signature = account
    ? await signInferenceRequest({ account, request, domain: network.domain })
    : undefined
  const jobId = computeJobId(requester, request)
  const { data, headers } = await client.transport.request<{ receipt: unknown; output: unknown }>({
    method: 'POST',
    path: '/v1/infer',
    json: {
      model: model.cid,
      inputs: namedTensorsToJson(inputs),
      request: {
        ...request,
        maxFee: request.maxFee.toString(),
        deadline: request.deadline.toString(),
      },
      ...(account ? { requester, signature } : {}),
      ...(parameters.includeOutput === undefined
        ? {}
        : { includeOutput: parameters.includeOutput }),
    },
    signal,
  })

  const verdict = await verifyReceipt(data?.receipt, {
    manifest: model.manifest,
    inputs,
    expectedExecutor: network.address,
    domain: {
      chainId: network.domain.chainId,
      ...(network.domain.verifyingContract
        ? { verifyingContract: network.domain.verifyingContract }
        : {}),
    },
  })
  const receipt = verdict.receipt
  if (!verdict.valid || receipt === undefined) {
    const failed = verdict.checks.filter((check) => check.status === 'fail')
    throw new BaseError(
      verdict.code ?? 'RECEIPT_INVALID',
      `The node's receipt for job ${jobId} does not verify.`,
      {
        metaMessages: failed.map((check) => `${check.name}: ${check.reason}`),
      },
    )
  }
  if (receipt.job.id !== jobId)
    throw new BaseError(
      'RECEIPT_JOB_ID_MISMATCH',
      `The node answered with a receipt for job ${receipt.job.id}, not the requested ${jobId}.`,
      { metaMessages: ['The node executed another request than the one sent: do not trust it.'] },
    )
  let outputs: Record<string, Tensor>
  try {
    outputs = namedTensorsFromJson(data.output)
  } catch (cause) {
    throw new BaseError(
      'RECEIPT_OUTPUT_HASH_MISMATCH',
      'The node sent outputs that are not valid tensors.',
      {
        cause,
      },
    )
  }
  if (hashTensors(outputs) !== receipt.result.outputHash)
    throw new BaseError(
      'RECEIPT_OUTPUT_HASH_MISMATCH',
      "The outputs the node sent do not hash to the receipt's outputHash.",
      { metaMessages: ['The signed receipt binds other outputs: do not trust these.'] },
    )
  return { receipt, outputs, verdict, jobId, replayed: headers.get('verity-replayed') === 'true' }
}
