import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { parseVerifyBody } from './parseVerifyBody.ts'

function rejects(value: unknown, code: string, hint: RegExp): void {
  assert.throws(
    () => parseVerifyBody(value),
    (error: unknown) =>
      isBaseError(error, code as never) && hint.test(String((error as Error).message)),
  )
}

test('error: a text receipt takes no inputs and only the methods replay and reexec', () => {
  const receipt = { text: { input: { prompt: 'x' } } }
  rejects({ receipt, inputs: {} }, 'SCHEMA_INVALID', /inputs: not allowed/)
  rejects({ receipt, method: 'guess' }, 'SCHEMA_INVALID', /method: expected "replay" or "reexec"/)
})

test('error: a tensor receipt needs inputs and takes no method', () => {
  rejects({ receipt: {} }, 'SCHEMA_INVALID', /inputs: required/)
  rejects({ receipt: {}, inputs: {}, method: 'replay' }, 'SCHEMA_INVALID', /method: only for text/)
  rejects({ receipt: {}, inputs: {}, extra: 1 }, 'SCHEMA_INVALID', /extra: unknown field/)
})
