import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canonicalJson } from './canonicalJson.ts'
import { isBaseError } from './errors.ts'
import { hashCanonicalJson } from './hash.ts'

test('default: RFC 8785 section 3.2.2 example', () => {
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
  )
  assert.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  )
})

test('behavior: keys sort by UTF-16 code units (RFC 8785 section 3.2.3)', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  }
  const text = canonicalJson(input)
  const order = ['Carriage', 'One', 'Control', 'Latin', 'Euro', 'Emoji', 'Hebrew'].map((word) =>
    text.indexOf(word),
  )
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  )
})

test('behavior: key order does not change the hash', () => {
  assert.equal(hashCanonicalJson({ a: 1, b: [1, 2] }), hashCanonicalJson({ b: [1, 2], a: 1 }))
  assert.notEqual(hashCanonicalJson({ a: 1 }), hashCanonicalJson({ a: 2 }))
})

test('error: values without a JSON form are refused', () => {
  for (const value of [
    Number.NaN,
    Number.POSITIVE_INFINITY,
    { a: 1n },
    { d: new Date(0) },
    [() => 1],
  ]) {
    assert.throws(
      () => canonicalJson(value),
      (error) => isBaseError(error, 'CANONICAL_JSON_INVALID'),
    )
  }
})
