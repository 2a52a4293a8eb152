import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { hubVerifyBodyToJson, parseHubVerifyBody } from './parseHubVerifyBody.ts'

const signer = '0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a'
const signature = `0x${'ab'.repeat(65)}` as const
const valid = { requestId: '7', output: '0x0100AB', executor: { signer, signature } }

test('default: a valid body is decoded (bigint id, checksummed signer, lower-case output) and round-trips', () => {
  const body = parseHubVerifyBody(valid)
  assert.equal(body.requestId, 7n)
  assert.equal(body.output, '0x0100ab')
  assert.equal(body.executor.signer, '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A')
  assert.deepEqual(parseHubVerifyBody(JSON.parse(JSON.stringify(hubVerifyBodyToJson(body)))), body)
  assert.equal(parseHubVerifyBody({ ...valid, requestId: 7 }).requestId, 7n)
})

test('error: wrong shapes are SCHEMA_INVALID and list every problem', () => {
  const cases: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{ ...valid, extra: 1 }, /extra: unknown field/],
    [{ ...valid, requestId: '0' }, /requestId/],
    [{ ...valid, requestId: '-1' }, /requestId/],
    [{ ...valid, requestId: 1.5 }, /requestId/],
    [{ ...valid, requestId: '1'.repeat(79) }, /requestId/],
    [{ ...valid, output: '0x123' }, /output/],
    [{ ...valid, output: 'abcd' }, /output/],
    [{ ...valid, executor: 'me' }, /executor/],
    [{ ...valid, executor: { signer: '0x12', signature } }, /executor.signer/],
    [{ ...valid, executor: { signer, signature: '0x00' } }, /executor.signature/],
    [{ ...valid, executor: { signer, signature, more: 1 } }, /executor.more/],
  ]
  for (const [value, hint] of cases)
    assert.throws(
      () => parseHubVerifyBody(value),
      (error: unknown) => {
        assert.ok(isBaseError(error, 'SCHEMA_INVALID'), JSON.stringify(value))
        assert.match(error.message, hint)
        return true
      },
    )
})

test('error: an output above the limit is TENSOR_TOO_LARGE', () => {
  assert.throws(
    () => parseHubVerifyBody({ ...valid, output: `0x${'00'.repeat(11)}` }, { maxOutputBytes: 10 }),
    (error: unknown) => isBaseError(error, 'TENSOR_TOO_LARGE'),
  )
  assert.equal(
    parseHubVerifyBody({ ...valid, output: `0x${'00'.repeat(10)}` }, { maxOutputBytes: 10 }).output
      .length,
    22,
  )
})
