import { isAddressEqual, recoverTypedDataAddress } from 'viem'
import { computeJobId, toTypedDataDomain, type VerityDomain, verityTypes } from './eip712.ts'
import { type ErrorCode, isBaseError } from './errors.ts'
import {
  type EngineDescriptor,
  hashEngineDescriptor,
  hashManifest,
  type Manifest,
} from './manifest.ts'
import { parseReceipt, type Receipt } from './receipt.ts'
import { receiptLeafFromReceipt, verifyReceiptLeafProof } from './receiptLeaf.ts'
import { executionMessageFromReceipt, requestMessageFromReceipt } from './signing.ts'
import { hashTensors, type NamedTensors } from './tensor.ts'
import { namedTensorsFromJson } from './tensorJson.ts'
import { hashGenerationParams, hashTextInput, hashTextOutput } from './textGeneration.ts'
import { verifyGroth16 } from './verifyGroth16.ts'
import { computeInputCommitment, fromFieldElement, hashVerificationKey } from './zkEvidence.ts'

export type ReceiptCheckStatus = 'pass' | 'fail' | 'skip'

/** One line of a verdict: what was checked, the outcome, and why. */
export type ReceiptCheck = {
  name: string
  status: ReceiptCheckStatus
  reason: string
  code?: ErrorCode
}

export type ReceiptVerdict = {
  /** True when no check failed. */
  valid: boolean
  /** Code of the first failed check. */
  code?: ErrorCode
  checks: ReceiptCheck[]
  receipt?: Receipt
}

export type VerifyReceiptOptions = {
  /** The model manifest, to check `job.model` against it. */
  manifest?: Manifest
  /** The input tensors, to check `job.inputHash` against them. */
  inputs?: NamedTensors
  /** Require this executor address. */
  expectedExecutor?: `0x${string}`
  /** Require this signing domain (chain id, contract). */
  domain?: Partial<Pick<VerityDomain, 'chainId' | 'verifyingContract'>>
}

// secp256k1 group order / 2: signatures with a larger s are malleable copies and are refused.
const halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

function isLowS(signature: string): boolean {
  return BigInt(`0x${signature.slice(66, 130)}`) <= halfOrder
}

type SignedMessage =
  | { primaryType: 'InferenceRequest'; message: ReturnType<typeof requestMessageFromReceipt> }
  | { primaryType: 'ExecutionReceipt'; message: ReturnType<typeof executionMessageFromReceipt> }
  | {
      primaryType: 'Attestation'
      message: { jobId: `0x${string}`; outputHash: `0x${string}`; agree: boolean }
    }

async function checkSignature(
  name: string,
  code: ErrorCode,
  receipt: Receipt,
  signature: `0x${string}`,
  expected: `0x${string}`,
  signed: SignedMessage,
): Promise<ReceiptCheck> {
  if (!isLowS(signature))
    return {
      name,
      status: 'fail',
      code,
      reason: 'signature has a high s value (malleable form); refuse it',
    }
  try {
    const recovered = await recoverTypedDataAddress({
      domain: toTypedDataDomain(receipt.domain as VerityDomain),
      types: verityTypes,
      ...signed,
      signature,
    } as Parameters<typeof recoverTypedDataAddress>[0])
    if (isAddressEqual(recovered, expected))
      return { name, status: 'pass', reason: `EIP-712 signature recovers to ${expected}` }
    return {
      name,
      status: 'fail',
      code,
      reason: `signature recovers to ${recovered}, not ${expected}: a signed field or the signature was changed`,
    }
  } catch (error) {
    return {
      name,
      status: 'fail',
      code,
      reason: `signature cannot be recovered: ${(error as Error).message.split('\n')[0]}`,
    }
  }
}

function compare(
  name: string,
  code: ErrorCode,
  actual: string,
  expected: string,
  what: string,
): ReceiptCheck {
  return actual === expected
    ? { name, status: 'pass', reason: `${what} matches (${expected.slice(0, 18)}…)` }
    : { name, status: 'fail', code, reason: `${what} is ${actual}, expected ${expected}` }
}

/**
 * Verifies a receipt offline and returns every check with its outcome. Never throws on bad input:
 * a receipt that does not parse yields a verdict with a failed `schema` check.
 *
 * Checks, in order: schema, domain, job id, embedded output vs `outputHash`, engine settings vs
 * `settingsHash`, manifest and inputs (when given), requester signature, executor signature,
 * expected executor, verification mode, and — when the receipt has settled — that its settlement
 * leaf is included under the committed root.
 *
 * @example
 * ```ts
 * const verdict = await verifyReceipt(JSON.parse(text))
 * if (!verdict.valid) console.error(verdict.code, verdict.checks.filter((c) => c.status === 'fail'))
 * ```
 */
export async function verifyReceipt(
  value: unknown,
  options: VerifyReceiptOptions = {},
): Promise<ReceiptVerdict> {
  const checks: ReceiptCheck[] = []
  const verdict = (receipt?: Receipt): ReceiptVerdict => {
    const failed = checks.find((check) => check.status === 'fail')
    return {
      valid: !failed,
      ...(failed?.code ? { code: failed.code } : {}),
      checks,
      ...(receipt ? { receipt } : {}),
    }
  }

  let receipt: Receipt
  try {
    receipt = parseReceipt(value)
    checks.push({ name: 'schema', status: 'pass', reason: 'matches the Receipt v1 schema' })
  } catch (error) {
    const code = isBaseError(error) ? error.code : 'RECEIPT_INVALID'
    const reason = isBaseError(error)
      ? [error.shortMessage, ...error.metaMessages].join(' ')
      : String(error)
    checks.push({ name: 'schema', status: 'fail', code, reason })
    return verdict()
  }

  if (options.domain?.chainId !== undefined || options.domain?.verifyingContract !== undefined) {
    const { chainId, verifyingContract } = options.domain
    const ok =
      (chainId === undefined || chainId === receipt.domain.chainId) &&
      (verifyingContract === undefined ||
        (receipt.domain.verifyingContract !== undefined &&
          isAddressEqual(verifyingContract, receipt.domain.verifyingContract as `0x${string}`)))
    checks.push(
      ok
        ? { name: 'domain', status: 'pass', reason: `signed for chain ${receipt.domain.chainId}` }
        : {
            name: 'domain',
            status: 'fail',
            code: 'RECEIPT_DOMAIN_MISMATCH',
            reason:
              `signed for chain ${receipt.domain.chainId} ${receipt.domain.verifyingContract ?? ''}, expected ${chainId ?? ''} ${verifyingContract ?? ''}`.trim(),
          },
    )
  }

  const jobId = computeJobId(
    receipt.job.requester as `0x${string}`,
    requestMessageFromReceipt(receipt),
  )
  checks.push(
    compare(
      'job.id',
      'RECEIPT_JOB_ID_MISMATCH',
      receipt.job.id,
      jobId,
      'job id recomputed from the request',
    ),
  )

  if (receipt.result.output) {
    let check: ReceiptCheck
    try {
      const outputHash = hashTensors(namedTensorsFromJson(receipt.result.output))
      check = compare(
        'result.output',
        'RECEIPT_OUTPUT_HASH_MISMATCH',
        outputHash,
        receipt.result.outputHash,
        'hash of the embedded output',
      )
    } catch (error) {
      check = {
        name: 'result.output',
        status: 'fail',
        code: 'RECEIPT_OUTPUT_HASH_MISMATCH',
        reason: `embedded output is not a valid tensor map: ${(error as Error).message.split('\n')[0]}`,
      }
    }
    checks.push(check)
  } else
    checks.push({
      name: 'result.output',
      status: 'skip',
      reason: 'no output embedded; only its hash is signed',
    })

  if (receipt.text) checks.push(...checkText(receipt))

  const { settingsHash, ...descriptor } = receipt.result.engine
  checks.push(
    compare(
      'result.engine',
      'RECEIPT_ENGINE_HASH_MISMATCH',
      hashEngineDescriptor(descriptor as EngineDescriptor),
      settingsHash,
      'hash of the recorded engine settings',
    ),
  )

  if (options.manifest) {
    const manifestHash = hashManifest(options.manifest)
    checks.push(
      receipt.job.model.cid !== options.manifest.cid
        ? {
            name: 'job.model',
            status: 'fail',
            code: 'RECEIPT_MANIFEST_HASH_MISMATCH',
            reason: `receipt is for model ${receipt.job.model.cid}, the manifest describes ${options.manifest.cid}`,
          }
        : compare(
            'job.model',
            'RECEIPT_MANIFEST_HASH_MISMATCH',
            receipt.job.model.manifestHash,
            manifestHash,
            'manifest hash',
          ),
    )
  }
  if (options.inputs) {
    checks.push(
      compare(
        'job.inputHash',
        'RECEIPT_INPUT_HASH_MISMATCH',
        receipt.job.inputHash,
        hashTensors(options.inputs),
        'input hash',
      ),
    )
  }

  if (receipt.request)
    checks.push(
      await checkSignature(
        'request.signature',
        'RECEIPT_REQUEST_SIGNATURE_INVALID',
        receipt,
        receipt.request.signature as `0x${string}`,
        receipt.job.requester as `0x${string}`,
        { primaryType: 'InferenceRequest', message: requestMessageFromReceipt(receipt) },
      ),
    )
  else
    checks.push({
      name: 'request.signature',
      status: 'skip',
      reason: 'no requester signature attached',
    })

  checks.push(
    await checkSignature(
      'executor.signature',
      'RECEIPT_SIGNATURE_INVALID',
      receipt,
      receipt.executor.signature as `0x${string}`,
      receipt.executor.address as `0x${string}`,
      { primaryType: 'ExecutionReceipt', message: executionMessageFromReceipt(receipt) },
    ),
  )

  if (options.expectedExecutor)
    checks.push(
      isAddressEqual(options.expectedExecutor, receipt.executor.address as `0x${string}`)
        ? { name: 'executor.address', status: 'pass', reason: 'executor is the expected one' }
        : {
            name: 'executor.address',
            status: 'fail',
            code: 'RECEIPT_SIGNER_MISMATCH',
            reason: `executor is ${receipt.executor.address}, expected ${options.expectedExecutor}`,
          },
    )

  if (receipt.job.mode === 'none' && !receipt.quorum)
    checks.push({
      name: 'mode',
      status: 'pass',
      reason: "mode 'none': accountable to the executor's signature, not re-executed by others",
    })
  else if (receipt.job.mode === 'none' || receipt.job.mode === 'reexec')
    checks.push(...(await checkQuorum(receipt)))
  else if (receipt.job.mode === 'zk') checks.push(...checkZk(receipt, options))
  else
    checks.push({
      name: 'mode',
      status: 'fail',
      code: 'RECEIPT_MODE_UNSUPPORTED',
      reason: `mode '${receipt.job.mode}' needs evidence (a proof or an attestation) this verifier version cannot check yet`,
    })
  if (receipt.settlement) checks.push(checkSettlement(receipt))
  return verdict(receipt)
}

/**
 * Zero-knowledge evidence: the Groth16 proof verifies under the receipt's verification key; its
 * output signals are the output the executor signed (`result.outputHash`); its input commitment is
 * that of the given inputs; its model commitment and key are the ones the manifest pins. Without
 * `inputs` or `manifest` those two checks are skipped (the proof then shows that *some* circuit
 * maps *some* committed input to the signed output).
 */
function checkZk(receipt: Receipt, options: VerifyReceiptOptions): ReceiptCheck[] {
  const { zk } = receipt
  if (!zk)
    return [
      {
        name: 'zk',
        status: 'fail',
        code: 'RECEIPT_ZK_MISSING',
        reason: "mode 'zk' but the receipt carries no zk section (proof and public signals)",
      },
    ]
  const checks: ReceiptCheck[] = []
  const outputCount = zk.output.shape.reduce((product, dim) => product * dim, 1)
  const signals = zk.publicSignals
  if (signals.length !== outputCount + 2 || zk.verificationKey.nPublic !== signals.length)
    return [
      {
        name: 'zk.proof',
        status: 'fail',
        code: 'RECEIPT_ZK_PROOF_INVALID',
        reason: `${signals.length} public signals for ${outputCount} outputs (expected ${outputCount + 2}, the key takes ${zk.verificationKey.nPublic})`,
      },
    ]
  let valid = false
  let reason = 'the Groth16 proof does not verify for these public signals'
  try {
    valid = verifyGroth16({
      verificationKey: zk.verificationKey,
      publicSignals: signals,
      proof: zk.proof,
    })
  } catch (error) {
    reason = isBaseError(error) ? error.shortMessage : String(error)
  }
  checks.push(
    valid
      ? { name: 'zk.proof', status: 'pass', reason: 'Groth16 proof verifies (BN254 pairing check)' }
      : { name: 'zk.proof', status: 'fail', code: 'RECEIPT_ZK_PROOF_INVALID', reason },
  )
  // the output signals, as the int32 tensor they are, hash to the signed output hash
  const values = signals.slice(0, outputCount).map((signal) => fromFieldElement(BigInt(signal)))
  const fits = values.every((value) => value >= -(2n ** 31n) && value < 2n ** 31n)
  const outputHash = fits
    ? hashTensors({
        [zk.output.name]: {
          dtype: 'int32',
          shape: zk.output.shape,
          data: Int32Array.from(values, Number),
        },
      })
    : undefined
  checks.push(
    outputHash === receipt.result.outputHash
      ? { name: 'zk.output', status: 'pass', reason: 'the proven outputs are the signed output' }
      : {
          name: 'zk.output',
          status: 'fail',
          code: 'RECEIPT_ZK_OUTPUT_MISMATCH',
          reason: fits
            ? `the proven outputs hash to ${outputHash}, the executor signed ${receipt.result.outputHash}`
            : 'a proven output is outside int32',
        },
  )
  const inputSignal = BigInt(signals[outputCount]!)
  const modelSignal = signals[outputCount + 1]!
  if (options.inputs) {
    const tensor = options.inputs[zk.input.name]
    const bytes =
      tensor?.dtype === 'uint8' && tensor.data instanceof Uint8Array ? tensor.data : undefined
    checks.push(
      bytes !== undefined && bytes.length > 0 && computeInputCommitment(bytes) === inputSignal
        ? { name: 'zk.input', status: 'pass', reason: 'the proof commits to these input bytes' }
        : {
            name: 'zk.input',
            status: 'fail',
            code: 'RECEIPT_ZK_INPUT_MISMATCH',
            reason:
              bytes === undefined
                ? `no uint8 input "${zk.input.name}" among the given inputs`
                : 'the proof commits to other input bytes (Poseidon commitment differs)',
          },
    )
  } else
    checks.push({
      name: 'zk.input',
      status: 'skip',
      reason: 'pass the inputs to check the proof commits to them',
    })
  const pinned = options.manifest?.zk
  if (modelSignal !== zk.modelCommitment)
    checks.push({
      name: 'zk.model',
      status: 'fail',
      code: 'RECEIPT_ZK_MODEL_MISMATCH',
      reason: `the proof's model commitment ${modelSignal} is not the receipt's ${zk.modelCommitment}`,
    })
  else if (options.manifest && !pinned)
    checks.push({
      name: 'zk.model',
      status: 'fail',
      code: 'RECEIPT_ZK_MODEL_MISMATCH',
      reason: `the manifest of ${options.manifest.name} has no zk section: nothing pins a verification key`,
    })
  else if (pinned) {
    const keyHash = hashVerificationKey(zk.verificationKey)
    checks.push(
      keyHash === pinned.verificationKeyHash && pinned.modelCommitment === zk.modelCommitment
        ? {
            name: 'zk.model',
            status: 'pass',
            reason: 'verification key and model commitment are the ones the manifest pins',
          }
        : {
            name: 'zk.model',
            status: 'fail',
            code: 'RECEIPT_ZK_MODEL_MISMATCH',
            reason:
              keyHash !== pinned.verificationKeyHash
                ? `verification key ${keyHash} is not the manifest's ${pinned.verificationKeyHash}`
                : `model commitment ${zk.modelCommitment} is not the manifest's ${pinned.modelCommitment}`,
          },
    )
  } else
    checks.push({
      name: 'zk.model',
      status: 'skip',
      reason: "pass the manifest to check the key is the model's (manifest.zk.verificationKeyHash)",
    })
  return checks
}

/**
 * The quorum certificate: every attestation is a low-s EIP-712 signature by a distinct verifier
 * other than the executor, about this job and this output; at least `job.quorum` agree and none
 * disagrees. Whether the verifiers were staked and properly selected is an online check.
 */
async function checkQuorum(receipt: Receipt): Promise<ReceiptCheck[]> {
  const { quorum, job, result, executor } = receipt
  if (!quorum)
    return [
      {
        name: 'quorum',
        status: 'fail',
        code: 'RECEIPT_QUORUM_MISSING',
        reason: `mode 'reexec' with quorum ${job.quorum} but the receipt carries no quorum certificate`,
      },
    ]
  const checks: ReceiptCheck[] = []
  const seen = new Set<string>()
  let agreeing = 0
  const disagreeing: string[] = []
  for (const [index, attestation] of quorum.attestations.entries()) {
    const name = `quorum.attestations[${index}]`
    const verifier = attestation.verifier.toLowerCase()
    let problem: string | undefined
    if (verifier === executor.address.toLowerCase())
      problem = 'the executor cannot attest its own result'
    else if (seen.has(verifier)) problem = `verifier ${attestation.verifier} attests twice`
    else if (attestation.outputHash !== result.outputHash)
      problem = `it is about output ${attestation.outputHash}, not this receipt's ${result.outputHash}`
    seen.add(verifier)
    if (problem) {
      checks.push({ name, status: 'fail', code: 'RECEIPT_ATTESTATION_INVALID', reason: problem })
      continue
    }
    const check = await checkSignature(
      name,
      'RECEIPT_ATTESTATION_INVALID',
      receipt,
      attestation.signature as `0x${string}`,
      attestation.verifier as `0x${string}`,
      {
        primaryType: 'Attestation',
        message: {
          jobId: job.id as `0x${string}`,
          outputHash: attestation.outputHash as `0x${string}`,
          agree: attestation.agree,
        },
      },
    )
    checks.push(check)
    if (check.status !== 'pass') continue
    if (attestation.agree) agreeing++
    else disagreeing.push(attestation.verifier)
  }
  const required = Math.max(job.quorum, quorum.threshold)
  if (disagreeing.length)
    checks.push({
      name: 'quorum',
      status: 'fail',
      code: 'OUTPUT_MISMATCH',
      reason: `verifier(s) ${disagreeing.join(', ')} re-executed the job and signed that the output is wrong`,
    })
  else if (agreeing < required)
    checks.push({
      name: 'quorum',
      status: 'fail',
      code: 'RECEIPT_QUORUM_NOT_MET',
      reason: `${agreeing} valid agreeing attestation(s); the request asked for ${required}`,
    })
  else
    checks.push({
      name: 'quorum',
      status: 'pass',
      reason: `${agreeing} distinct verifier(s) re-executed and agree (quorum ${required}); their stake and selection are checked online`,
    })
  return checks
}

/**
 * The settlement section: the leaf rebuilt from the receipt (with its `fee`) is included under
 * `root` by `proof`, and the receipt names the Settlement contract it settled on. Whether that
 * root is batch `batchId`'s on-chain is an online check.
 */
function checkSettlement(receipt: Receipt): ReceiptCheck {
  const settlement = receipt.settlement as NonNullable<Receipt['settlement']>
  const name = 'settlement'
  if (receipt.domain.verifyingContract === undefined)
    return {
      name,
      status: 'fail',
      code: 'RECEIPT_SETTLEMENT_INVALID',
      reason: 'the receipt claims settlement but its domain names no Settlement contract',
    }
  const leaf = receiptLeafFromReceipt(receipt, BigInt(settlement.fee))
  return verifyReceiptLeafProof(
    settlement.root as `0x${string}`,
    leaf,
    settlement.proof as `0x${string}`[],
  )
    ? {
        name,
        status: 'pass',
        reason: `leaf (fee ${settlement.fee} wei) is in batch ${settlement.batchId}'s Merkle root ${settlement.root.slice(0, 18)}…; the root itself is checked online`,
      }
    : {
        name,
        status: 'fail',
        code: 'RECEIPT_SETTLEMENT_INVALID',
        reason: `the leaf rebuilt from this receipt (fee ${settlement.fee} wei) is not under root ${settlement.root} with the given proof`,
      }
}

/**
 * The text section: the input, parameters and output it carries hash to the signed `inputHash`,
 * `paramsHash` and `outputHash`, and its usage counts the generated tokens.
 */
function checkText(receipt: Receipt): ReceiptCheck[] {
  const text = receipt.text as NonNullable<Receipt['text']>
  return [
    compare(
      'text.input',
      'RECEIPT_INPUT_HASH_MISMATCH',
      hashTextInput(text.input),
      receipt.job.inputHash,
      'hash of the prompt or messages',
    ),
    compare(
      'text.params',
      'RECEIPT_INVALID',
      hashGenerationParams(text.params),
      receipt.job.paramsHash,
      'hash of the generation parameters',
    ),
    compare(
      'text.output',
      'RECEIPT_OUTPUT_HASH_MISMATCH',
      hashTextOutput(text.output),
      receipt.result.outputHash,
      'hash of the generated tokens and text',
    ),
    text.usage.completionTokens === text.output.tokens.length
      ? {
          name: 'text.usage',
          status: 'pass',
          reason: `${text.output.tokens.length} completion tokens`,
        }
      : {
          name: 'text.usage',
          status: 'fail',
          code: 'RECEIPT_INVALID',
          reason: `usage says ${text.usage.completionTokens} completion tokens, the output has ${text.output.tokens.length}`,
        },
  ]
}
