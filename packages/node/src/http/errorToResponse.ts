import { BaseError, type ErrorCode, isBaseError } from '@verity/protocol'
import type { NodeLogger } from '../logger.ts'

/**
 * HTTP status of each error code that is not covered by the rules in {@link httpStatusOf}.
 * 400: the request cannot be read; 402: the payer's escrow cannot cover the fee; 422: it was read
 * and is refused; 409: it conflicts with what is
 * stored; 503: the node cannot serve it now; 504: the model ran out of time.
 */
const statusByCode: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_JSON: 400,
  SCHEMA_INVALID: 400,
  CANONICAL_JSON_INVALID: 400,
  TENSOR_INVALID: 400,
  TENSOR_ENCODING_INVALID: 400,
  TENSOR_DTYPE_UNSUPPORTED: 400,
  INPUT_FORMAT_UNSUPPORTED: 400,
  REQUEST_EXPIRED: 400,
  CONTEXT_OVERFLOW: 400,
  // zero-knowledge mode
  ZK_PROOF_INVALID: 422,
  ZK_VKEY_INVALID: 422,
  ZK_UNSUPPORTED_OPERATORS: 422,
  ZK_GRAPH_UNSUPPORTED: 422,
  ZK_DYNAMIC_SHAPE: 422,
  ZK_VALUE_RANGE_TOO_LARGE: 422,
  ZK_CALIBRATION_INVALID: 400,
  ZK_BUDGET_EXCEEDED: 422,
  ZK_PTAU_TOO_SMALL: 422,
  ZK_ARTIFACT_INVALID: 500,
  ZK_WITNESS_FAILED: 422,
  ZK_PROVE_FAILED: 500,
  ZK_ZKEY_INVALID: 422,
  ZK_CEREMONY_INVALID: 422,
  TENSOR_DTYPE_MISMATCH: 422,
  TENSOR_SHAPE_MISMATCH: 422,
  INPUT_MISSING: 422,
  INPUT_UNEXPECTED: 422,
  KEY_INVALID: 422,
  SIGNATURE_INVALID: 422,
  MODEL_INVALID: 422,
  MODEL_EXTERNAL_DATA: 422,
  MODEL_UNSUPPORTED_OPERATOR: 422,
  MODEL_DIM_TOO_LARGE: 422,
  MANIFEST_INVALID: 422,
  MANIFEST_HASH_MISMATCH: 422,
  ENGINE_LOAD_FAILED: 422,
  ENGINE_RUN_FAILED: 422,
  ENGINE_OUTPUT_UNSUPPORTED: 422,
  INPUT_HASH_MISMATCH: 422,
  MODE_UNSUPPORTED: 422,
  OUTPUT_MISMATCH: 422,
  FEE_TOO_LOW: 422,
  MODEL_NOT_REGISTERED: 422,
  ESCROW_INSUFFICIENT: 402,
  PUBLISH_DISABLED: 403,
  ZK_CONTRIBUTION_UNAUTHORIZED: 403,
  NOT_SUPPORTED: 404,
  MODEL_AMBIGUOUS: 409,
  KEY_EXISTS: 409,
  FILE_TOO_LARGE: 413,
  MODEL_TOO_LARGE: 413,
  TENSOR_TOO_LARGE: 413,
  ENGINE_TIMEOUT: 504,
  REQUEST_TIMEOUT: 504,
  ENGINE_CLOSED: 503,
  NODE_UNAVAILABLE: 503,
  NOT_STARTED: 503,
  PEER_UNREACHABLE: 503,
  SELECTION_INVALID: 503,
  ENGINE_ABORTED: 503,
  ABORTED: 503,
  MODEL_CID_MISMATCH: 503,
  CHAIN_UNAVAILABLE: 503,
  CHAIN_TRANSACTION_FAILED: 503,
  INTERNAL: 500,
}

/**
 * The HTTP status for an error code: the table above, else `*_NOT_FOUND` → 404, `*_TOO_LARGE` →
 * 413, `RECEIPT_*` → 422 (a receipt or request that does not check out), and 500 for anything else
 * (codes added to protocol later land on 500 until they are placed).
 *
 * @example
 * ```ts
 * httpStatusOf('MODEL_NOT_FOUND') // 404
 * httpStatusOf('ENGINE_TIMEOUT')  // 504
 * ```
 */
export function httpStatusOf(code: string): number {
  const status = statusByCode[code as ErrorCode]
  if (status !== undefined) return status
  if (code.endsWith('_NOT_FOUND')) return 404
  if (code.endsWith('_TOO_LARGE')) return 413
  if (code.startsWith('RECEIPT_')) return 422
  return 500
}

/**
 * The one place where errors become HTTP responses (Hono's `onError` and `notFound` call it):
 * status from {@link httpStatusOf}, body `{ "error": { "code", "message", "hints"?, "details"? } }`.
 * Anything that is not a `BaseError` is logged and answered with a generic `INTERNAL` body that
 * leaks nothing; 5xx answers are logged at `error` (`warn` for 503/504), 4xx at `debug`.
 *
 * @example
 * ```ts
 * app.onError((error) => errorToResponse(error, logger))
 * ```
 */
export function errorToResponse(error: unknown, logger?: NodeLogger): Response {
  let body: BaseError
  if (isBaseError(error)) body = error
  else {
    logger?.error({ err: error }, 'unexpected error')
    body = new BaseError('INTERNAL', 'The node failed unexpectedly while handling the request.', {
      metaMessages: ['This is a bug in the node; its log has the details.'],
    })
  }
  const status = httpStatusOf(body.code)
  if (isBaseError(error)) {
    if (status === 500) logger?.error({ err: error, code: body.code }, body.shortMessage)
    else if (status >= 500) logger?.warn({ code: body.code }, body.shortMessage)
    else logger?.debug({ code: body.code, status }, body.shortMessage)
  }
  const json = body.toJSON()
  // details of server-side failures may name internal paths: only client errors carry them
  const { details, ...rest } = json
  return new Response(JSON.stringify({ error: status < 500 && details ? json : rest }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  })
}
