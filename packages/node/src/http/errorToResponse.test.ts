import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BaseError, ErrorCode } from '@verity/protocol'
import { errorToResponse, httpStatusOf } from './errorToResponse.ts'

test('default: a BaseError becomes its status and a JSON error body', async () => {
  const response = errorToResponse(
    new BaseError('MODEL_NOT_FOUND', 'No model "x".', {
      metaMessages: ['Add it first.'],
      details: 'looked in /store',
    }),
  )
  assert.equal(response.status, 404)
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
  assert.deepEqual(await response.json(), {
    error: {
      code: 'MODEL_NOT_FOUND',
      message: 'No model "x".',
      details: 'looked in /store',
      hints: ['Add it first.'],
    },
  })
})

test('behavior: the status map', () => {
  const expected: Record<string, number> = {
    INVALID_JSON: 400,
    SCHEMA_INVALID: 400,
    INVALID_ARGUMENT: 400,
    TENSOR_INVALID: 400,
    TENSOR_SHAPE_MISMATCH: 422,
    TENSOR_DTYPE_MISMATCH: 422,
    INPUT_MISSING: 422,
    SIGNATURE_INVALID: 422,
    MANIFEST_HASH_MISMATCH: 422,
    RECEIPT_INPUT_HASH_MISMATCH: 422,
    MODEL_INVALID: 422,
    MODEL_NOT_FOUND: 404,
    FILE_NOT_FOUND: 404,
    MODEL_AMBIGUOUS: 409,
    FILE_TOO_LARGE: 413,
    MODEL_TOO_LARGE: 413,
    TENSOR_TOO_LARGE: 413,
    ENGINE_TIMEOUT: 504,
    ENGINE_CLOSED: 503,
    INTERNAL: 500,
  }
  for (const [code, status] of Object.entries(expected))
    assert.equal(httpStatusOf(code), status, code)
  // codes protocol may add later follow the naming rules
  assert.equal(httpStatusOf('RECEIPT_NOT_FOUND'), 404)
  assert.equal(httpStatusOf('REQUEST_TOO_LARGE'), 413)
  assert.equal(httpStatusOf('RECEIPT_QUORUM_NOT_MET'), 422)
})

test('behavior: every protocol code is an error status; input codes are never 5xx', () => {
  for (const code of Object.values(ErrorCode)) {
    const status = httpStatusOf(code)
    assert.ok(status >= 400 && status <= 599, `${code} → ${status}`)
    if (/^(INVALID|TENSOR|INPUT|MANIFEST|SIGNATURE|KEY|FILE)_|_NOT_FOUND$/.test(code))
      assert.ok(status < 500, `${code} → ${status}`)
  }
})

test('error: anything else is a 500 INTERNAL that leaks nothing', async () => {
  const response = errorToResponse(new TypeError('secret /home/op/.verity/key.json'))
  assert.equal(response.status, 500)
  const body = (await response.json()) as { error: { code: string } }
  assert.equal(body.error.code, 'INTERNAL')
  assert.doesNotMatch(JSON.stringify(body), /secret|key\.json/)
})

test('error: 5xx bodies carry no details', async () => {
  const response = errorToResponse(
    new BaseError('ENGINE_TIMEOUT', 'Model "m" ran over 30000 ms.', { details: '/srv/store/x' }),
  )
  assert.equal(response.status, 504)
  assert.deepEqual(await response.json(), {
    error: { code: 'ENGINE_TIMEOUT', message: 'Model "m" ran over 30000 ms.' },
  })
})
