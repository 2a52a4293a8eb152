/**
 * Stable error codes. Tests assert on them, the CLI prints them and the HTTP layer maps them to a
 * status in one place. Never rename a code: add a new one.
 */
export const ErrorCode = {
  // generic input
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  INVALID_JSON: 'INVALID_JSON',
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  FILE_TOO_LARGE: 'FILE_TOO_LARGE',
  SCHEMA_INVALID: 'SCHEMA_INVALID',
  CANONICAL_JSON_INVALID: 'CANONICAL_JSON_INVALID',
  // tensors
  TENSOR_INVALID: 'TENSOR_INVALID',
  TENSOR_DTYPE_UNSUPPORTED: 'TENSOR_DTYPE_UNSUPPORTED',
  TENSOR_DTYPE_MISMATCH: 'TENSOR_DTYPE_MISMATCH',
  TENSOR_SHAPE_MISMATCH: 'TENSOR_SHAPE_MISMATCH',
  TENSOR_TOO_LARGE: 'TENSOR_TOO_LARGE',
  TENSOR_ENCODING_INVALID: 'TENSOR_ENCODING_INVALID',
  INPUT_MISSING: 'INPUT_MISSING',
  INPUT_UNEXPECTED: 'INPUT_UNEXPECTED',
  INPUT_FORMAT_UNSUPPORTED: 'INPUT_FORMAT_UNSUPPORTED',
  // keys and signatures
  KEY_INVALID: 'KEY_INVALID',
  KEY_NOT_FOUND: 'KEY_NOT_FOUND',
  KEY_EXISTS: 'KEY_EXISTS',
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  // models and the hub
  MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
  MODEL_AMBIGUOUS: 'MODEL_AMBIGUOUS',
  MODEL_INVALID: 'MODEL_INVALID',
  MODEL_TOO_LARGE: 'MODEL_TOO_LARGE',
  MODEL_EXTERNAL_DATA: 'MODEL_EXTERNAL_DATA',
  MODEL_UNSUPPORTED_OPERATOR: 'MODEL_UNSUPPORTED_OPERATOR',
  MODEL_DIM_TOO_LARGE: 'MODEL_DIM_TOO_LARGE',
  MODEL_CID_MISMATCH: 'MODEL_CID_MISMATCH',
  MANIFEST_INVALID: 'MANIFEST_INVALID',
  MANIFEST_HASH_MISMATCH: 'MANIFEST_HASH_MISMATCH',
  // engine
  ENGINE_LOAD_FAILED: 'ENGINE_LOAD_FAILED',
  ENGINE_RUN_FAILED: 'ENGINE_RUN_FAILED',
  ENGINE_TIMEOUT: 'ENGINE_TIMEOUT',
  ENGINE_ABORTED: 'ENGINE_ABORTED',
  ENGINE_CLOSED: 'ENGINE_CLOSED',
  ENGINE_OUTPUT_UNSUPPORTED: 'ENGINE_OUTPUT_UNSUPPORTED',
  // receipts
  RECEIPT_INVALID: 'RECEIPT_INVALID',
  RECEIPT_VERSION_UNSUPPORTED: 'RECEIPT_VERSION_UNSUPPORTED',
  RECEIPT_JOB_ID_MISMATCH: 'RECEIPT_JOB_ID_MISMATCH',
  RECEIPT_OUTPUT_HASH_MISMATCH: 'RECEIPT_OUTPUT_HASH_MISMATCH',
  RECEIPT_INPUT_HASH_MISMATCH: 'RECEIPT_INPUT_HASH_MISMATCH',
  RECEIPT_MANIFEST_HASH_MISMATCH: 'RECEIPT_MANIFEST_HASH_MISMATCH',
  RECEIPT_ENGINE_HASH_MISMATCH: 'RECEIPT_ENGINE_HASH_MISMATCH',
  RECEIPT_SIGNATURE_INVALID: 'RECEIPT_SIGNATURE_INVALID',
  RECEIPT_SIGNER_MISMATCH: 'RECEIPT_SIGNER_MISMATCH',
  RECEIPT_REQUEST_SIGNATURE_INVALID: 'RECEIPT_REQUEST_SIGNATURE_INVALID',
  RECEIPT_MODE_UNSUPPORTED: 'RECEIPT_MODE_UNSUPPORTED',
  RECEIPT_DOMAIN_MISMATCH: 'RECEIPT_DOMAIN_MISMATCH',
  RECEIPT_QUORUM_MISSING: 'RECEIPT_QUORUM_MISSING',
  RECEIPT_QUORUM_NOT_MET: 'RECEIPT_QUORUM_NOT_MET',
  RECEIPT_ATTESTATION_INVALID: 'RECEIPT_ATTESTATION_INVALID',
  RECEIPT_SETTLEMENT_INVALID: 'RECEIPT_SETTLEMENT_INVALID',
  RECEIPT_NOT_SETTLED: 'RECEIPT_NOT_SETTLED',
  RECEIPT_CHAIN_MISMATCH: 'RECEIPT_CHAIN_MISMATCH',
  RECEIPT_ZK_MISSING: 'RECEIPT_ZK_MISSING',
  RECEIPT_ZK_PROOF_INVALID: 'RECEIPT_ZK_PROOF_INVALID',
  RECEIPT_ZK_OUTPUT_MISMATCH: 'RECEIPT_ZK_OUTPUT_MISMATCH',
  RECEIPT_ZK_INPUT_MISMATCH: 'RECEIPT_ZK_INPUT_MISMATCH',
  RECEIPT_ZK_MODEL_MISMATCH: 'RECEIPT_ZK_MODEL_MISMATCH',
  // verification by re-execution
  OUTPUT_MISMATCH: 'OUTPUT_MISMATCH',
  SELECTION_INVALID: 'SELECTION_INVALID',
  // chain
  CHAIN_UNAVAILABLE: 'CHAIN_UNAVAILABLE',
  CHAIN_TRANSACTION_FAILED: 'CHAIN_TRANSACTION_FAILED',
  // settlement and payment
  FEE_TOO_LOW: 'FEE_TOO_LOW',
  ESCROW_INSUFFICIENT: 'ESCROW_INSUFFICIENT',
  MODEL_NOT_REGISTERED: 'MODEL_NOT_REGISTERED',
  CHALLENGE_FAILED: 'CHALLENGE_FAILED',
  // peers
  PEER_UNREACHABLE: 'PEER_UNREACHABLE',
  // node API (server and SDK)
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  CONTEXT_OVERFLOW: 'CONTEXT_OVERFLOW',
  REQUEST_EXPIRED: 'REQUEST_EXPIRED',
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  INPUT_HASH_MISMATCH: 'INPUT_HASH_MISMATCH',
  MODE_UNSUPPORTED: 'MODE_UNSUPPORTED',
  RECEIPT_NOT_FOUND: 'RECEIPT_NOT_FOUND',
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  BATCH_NOT_FOUND: 'BATCH_NOT_FOUND',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  NODE_UNAVAILABLE: 'NODE_UNAVAILABLE',
  PUBLISH_DISABLED: 'PUBLISH_DISABLED',
  HTTP_ERROR: 'HTTP_ERROR',
  NOT_SUPPORTED: 'NOT_SUPPORTED',
  // zk prover (packages/zk: circom compile, witness, Groth16 prove/verify, trusted setup)
  ZK_CIRCUIT_COMPILE_FAILED: 'ZK_CIRCUIT_COMPILE_FAILED',
  ZK_CIRCUIT_INVALID: 'ZK_CIRCUIT_INVALID',
  ZK_WITNESS_FAILED: 'ZK_WITNESS_FAILED',
  ZK_PROVE_FAILED: 'ZK_PROVE_FAILED',
  ZK_PROOF_INVALID: 'ZK_PROOF_INVALID',
  ZK_VKEY_INVALID: 'ZK_VKEY_INVALID',
  ZK_ZKEY_INVALID: 'ZK_ZKEY_INVALID',
  ZK_PTAU_INVALID: 'ZK_PTAU_INVALID',
  ZK_PTAU_CHECKSUM_MISMATCH: 'ZK_PTAU_CHECKSUM_MISMATCH',
  ZK_PTAU_TOO_SMALL: 'ZK_PTAU_TOO_SMALL',
  ZK_CEREMONY_INVALID: 'ZK_CEREMONY_INVALID',
  ZK_CONTRIBUTION_UNAUTHORIZED: 'ZK_CONTRIBUTION_UNAUTHORIZED',
  ZK_TRANSCRIPT_MISMATCH: 'ZK_TRANSCRIPT_MISMATCH',
  ZK_BUDGET_EXCEEDED: 'ZK_BUDGET_EXCEEDED',
  ZK_ARTIFACT_NOT_FOUND: 'ZK_ARTIFACT_NOT_FOUND',
  ZK_ARTIFACT_INVALID: 'ZK_ARTIFACT_INVALID',
  // end zk prover
  // zk compiler (packages/zk/src/compiler and commitment: ONNX → integer graph → Circom)
  ZK_UNSUPPORTED_OPERATORS: 'ZK_UNSUPPORTED_OPERATORS',
  ZK_GRAPH_UNSUPPORTED: 'ZK_GRAPH_UNSUPPORTED',
  ZK_DYNAMIC_SHAPE: 'ZK_DYNAMIC_SHAPE',
  ZK_TENSOR_TOO_LARGE: 'ZK_TENSOR_TOO_LARGE',
  ZK_VALUE_RANGE_TOO_LARGE: 'ZK_VALUE_RANGE_TOO_LARGE',
  ZK_CALIBRATION_INVALID: 'ZK_CALIBRATION_INVALID',
  // end zk compiler
  // generic
  ABORTED: 'ABORTED',
  NOT_STARTED: 'NOT_STARTED',
  // internal
  INTERNAL: 'INTERNAL',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export type BaseErrorParameters = {
  /** Extra lines (hints) printed under the short message. */
  metaMessages?: readonly string[] | undefined
  /** Free-form details, usually the underlying error's message. */
  details?: string | undefined
  /** Where the user can read more (a path inside the repository docs). */
  docsPath?: string | undefined
  cause?: unknown
}

/**
 * The only error class thrown by Verity code. Its `code` is stable; its message says what was
 * expected, what was found and what to do.
 *
 * @example
 * ```ts
 * throw new BaseError('TENSOR_SHAPE_MISMATCH', 'Input "x" has shape [2,3], expected [1,3].', {
 *   metaMessages: ['Reshape the tensor or check the model manifest.'],
 * })
 * ```
 */
export class BaseError extends Error {
  override name = 'VerityError'
  readonly code: ErrorCode
  readonly shortMessage: string
  readonly details: string | undefined
  readonly metaMessages: readonly string[]
  readonly docsPath: string | undefined

  constructor(code: ErrorCode, shortMessage: string, parameters: BaseErrorParameters = {}) {
    const lines = [shortMessage]
    if (parameters.metaMessages?.length) lines.push('', ...parameters.metaMessages)
    if (parameters.details) lines.push('', `Details: ${parameters.details}`)
    if (parameters.docsPath) lines.push(`Docs: ${parameters.docsPath}`)
    super(
      lines.join('\n'),
      parameters.cause === undefined ? undefined : { cause: parameters.cause },
    )
    this.code = code
    this.shortMessage = shortMessage
    this.details = parameters.details
    this.metaMessages = parameters.metaMessages ?? []
    this.docsPath = parameters.docsPath
  }

  /** A plain-object form for `--json` output and HTTP bodies. */
  toJSON(): { code: ErrorCode; message: string; details?: string; hints?: readonly string[] } {
    return {
      code: this.code,
      message: this.shortMessage,
      ...(this.details ? { details: this.details } : {}),
      ...(this.metaMessages.length ? { hints: this.metaMessages } : {}),
    }
  }
}

/** Narrows an unknown value to a Verity error, optionally with a given code. */
export function isBaseError(value: unknown, code?: ErrorCode): value is BaseError {
  return value instanceof BaseError && (code === undefined || value.code === code)
}

/** Wraps anything thrown into a `BaseError`, keeping Verity errors as they are. */
export function toBaseError(value: unknown, code: ErrorCode = 'INTERNAL'): BaseError {
  if (value instanceof BaseError) return value
  const message = value instanceof Error ? value.message : String(value)
  return new BaseError(code, message.split('\n')[0] ?? message, { cause: value })
}
