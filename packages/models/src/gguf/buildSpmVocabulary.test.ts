import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { buildSpmVocabulary, spmSpace, spmTokenTypes } from './buildSpmVocabulary.ts'
import { tinyGgufWords } from './tinyGgufWords.ts'

test('default', () => {
  const vocabulary = buildSpmVocabulary(['to', 'told', 'a'])
  assert.deepEqual(vocabulary.tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>'])
  assert.equal(vocabulary.tokens[3 + 0x0a], '<0x0A>')
  assert.equal(vocabulary.tokens[258], '<0xFF>')
  assert.deepEqual(vocabulary.tokens.slice(259), [
    '▁to',
    '▁told',
    '▁a',
    '▁',
    't',
    'to',
    'tol',
    'told',
    'a',
  ])
  assert.deepEqual(vocabulary.wordTokenIds, [259, 260, 261])
  assert.deepEqual(vocabulary.bareWordTokenIds, [264, 266, 267])
  assert.deepEqual([vocabulary.unkTokenId, vocabulary.bosTokenId, vocabulary.eosTokenId], [0, 1, 2])
  assert.deepEqual(
    [...vocabulary.tokenTypes.slice(0, 4)],
    [spmTokenTypes.unknown, spmTokenTypes.control, spmTokenTypes.control, spmTokenTypes.byte],
  )
  assert.ok(vocabulary.tokenTypes.slice(259).every((type) => type === spmTokenTypes.normal))
  // bare prefixes merge first (higher scores), then ▁<word>; specials, bytes and ▁ score 0
  assert.deepEqual([...vocabulary.scores.slice(259)], [-5, -6, -7, 0, 0, -1, -2, -3, -4])
  assert.ok(vocabulary.scores.slice(0, 259).every((score) => score === 0))
})

test('behavior: the tiny word list gives unique tokens, each word reachable by prefix merges', () => {
  const vocabulary = buildSpmVocabulary(tinyGgufWords)
  assert.equal(new Set(vocabulary.tokens).size, vocabulary.tokens.length)
  assert.equal(vocabulary.tokens.length, 1112)
  const tokens = new Set(vocabulary.tokens)
  for (const [index, word] of tinyGgufWords.entries()) {
    assert.equal(vocabulary.tokens[vocabulary.wordTokenIds[index]!], `${spmSpace}${word}`)
    assert.equal(vocabulary.tokens[vocabulary.bareWordTokenIds[index]!], word)
    for (let length = 1; length <= word.length; length++)
      assert.ok(tokens.has(word.slice(0, length)), `${word.slice(0, length)} is missing`)
  }
})

test('error: words that cannot be single tokens', () => {
  for (const [words, pattern] of [
    [['Once'], /lowercase ASCII letters/],
    [['a b'], /lowercase ASCII letters/],
    [[''], /lowercase ASCII letters/],
    [['to', 'to'], /repeats/],
  ] as const)
    assert.throws(
      () => buildSpmVocabulary(words),
      (error) =>
        isBaseError(error) && error.code === 'INVALID_ARGUMENT' && pattern.test(error.message),
    )
})
