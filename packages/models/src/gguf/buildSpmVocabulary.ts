import { BaseError } from '@verity/protocol'

/**
 * Token types of a GGUF vocabulary (`tokenizer.ggml.token_type`, llama.cpp's `llama_token_type`).
 *
 * @example
 * ```ts
 * spmTokenTypes.byte // 6
 * ```
 */
export const spmTokenTypes = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const

/**
 * SentencePiece's whitespace marker (U+2581 LOWER ONE EIGHTH BLOCK): a piece `▁word` is the word
 * with a leading space.
 *
 * @example
 * ```ts
 * `${spmSpace}once` // '▁once'
 * ```
 */
export const spmSpace = '\u2581'

/** A SentencePiece-style vocabulary in the form `tokenizer.ggml.*` stores it. */
export type SpmVocabulary = {
  /** Token texts, indexed by token id. */
  tokens: string[]
  /** Merge priorities (higher merges first), indexed by token id. */
  scores: Float32Array
  /** {@link spmTokenTypes} values, indexed by token id. */
  tokenTypes: Int32Array
  unkTokenId: number
  bosTokenId: number
  eosTokenId: number
  /** Id of `▁<word>` for each input word, in input order. */
  wordTokenIds: number[]
  /** Id of `<word>` (no leading space) for each input word, in input order. */
  bareWordTokenIds: number[]
}

/** Ids of the special tokens, in the usual llama order. */
const unkTokenId = 0
const bosTokenId = 1
const eosTokenId = 2

/**
 * Builds a SentencePiece (llama.cpp `SPM`) vocabulary in which each given word is one token, with
 * a leading space (`▁word`) and without (`word`, as at the very start of a text tokenized without
 * the SentencePiece space prefix):
 *
 * - ids 0–2: `<unk>` (unknown), `<s>` (BOS, control), `</s>` (EOS, control);
 * - ids 3–258: the byte-fallback tokens `<0x00>` … `<0xFF>`, so any text tokenizes and round-trips;
 * - then `▁<word>` for every word, in order (word `k` has id `259 + k`);
 * - then `▁` alone (a space before text that starts no word);
 * - then every prefix `w`, `wo`, …, `word` of the words (whole words included), in order of first
 *   appearance.
 *
 * llama.cpp's SPM tokenizer repeatedly merges the adjacent pair of pieces whose concatenation is
 * the highest-scoring token. Scores are minus the merge rank: all bare prefixes rank above all
 * `▁<word>` pieces (specials, bytes and `▁` score 0 and are never the result of a merge). Within a
 * word the leftmost piece can always absorb its right neighbour (their concatenation is a prefix
 * of the word), so every word first merges into its bare form, and only then `▁` + `word` merges
 * into `▁word`; nothing merges across words because no piece contains an inner `▁`.
 *
 * @example
 * ```ts
 * const vocabulary = buildSpmVocabulary(['once', 'upon'])
 * vocabulary.tokens[vocabulary.wordTokenIds[0]!] // '▁once'
 * vocabulary.tokens[vocabulary.bareWordTokenIds[0]!] // 'once'
 * ```
 */
export function buildSpmVocabulary(words: readonly string[]): SpmVocabulary {
  const seen = new Set<string>()
  for (const word of words) {
    if (!/^[a-z]+$/.test(word))
      throw new BaseError(
        'INVALID_ARGUMENT',
        `Vocabulary words must be non-empty lowercase ASCII letters; got ${JSON.stringify(word)}.`,
        { metaMessages: ['Lowercase the word and drop spaces, digits and punctuation.'] },
      )
    if (seen.has(word))
      throw new BaseError('INVALID_ARGUMENT', `Vocabulary word ${JSON.stringify(word)} repeats.`, {
        metaMessages: ['Each word becomes one token: list it once.'],
      })
    seen.add(word)
  }

  const tokens = ['<unk>', '<s>', '</s>']
  const types: number[] = [spmTokenTypes.unknown, spmTokenTypes.control, spmTokenTypes.control]
  for (let byte = 0; byte < 256; byte++) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`)
    types.push(spmTokenTypes.byte)
  }
  const wordBase = tokens.length
  const spaceWords = words.map((word) => `${spmSpace}${word}`)
  const prefixes = new Set<string>()
  for (const word of words)
    for (let length = 1; length <= word.length; length++) prefixes.add(word.slice(0, length))
  for (const piece of [...spaceWords, spmSpace, ...prefixes]) {
    tokens.push(piece)
    types.push(spmTokenTypes.normal)
  }
  const prefixBase = wordBase + spaceWords.length + 1
  const scores = new Float32Array(tokens.length)
  // merge ranks: bare prefixes 0 … P-1, then the ▁<word> pieces P … P+W-1
  for (let rank = 0; rank < prefixes.size; rank++) scores[prefixBase + rank] = 0 - rank
  for (let index = 0; index < spaceWords.length; index++)
    scores[wordBase + index] = -(prefixes.size + index)
  const prefixIds = new Map([...prefixes].map((prefix, rank) => [prefix, prefixBase + rank]))
  return {
    tokens,
    scores,
    tokenTypes: Int32Array.from(types),
    unkTokenId,
    bosTokenId,
    eosTokenId,
    wordTokenIds: words.map((_, index) => wordBase + index),
    bareWordTokenIds: words.map((word) => prefixIds.get(word)!),
  }
}
