/**
 * The fixed word list of the tiny GGUF model: 194 distinct lowercase words. Every word is one token
 * of the model's vocabulary, and the model is built so that greedy decoding after word `k` yields
 * word `k + 1` (and end-of-sequence after the last word), so the list reads as the model's
 * "training text". Never reorder or edit it: the model bytes and their pinned sha256 depend on it.
 *
 * @example
 * ```ts
 * const prompt = tinyGgufWords.slice(0, 4).join(' ') // 'once upon a time'
 * const expected = ` ${tinyGgufWords.slice(4, 8).join(' ')}` // ' there was little girl'
 * ```
 */
export const tinyGgufWords: readonly string[] = Object.freeze(
  [
    'once upon a time there was little girl who lived in small house near the big green forest',
    'with her old grandmother and one happy dog every morning they walked to river where fish swam',
    'under bright sun but day storm came from north so all animals ran home quickly then rain',
    'stopped soft wind sang through tall trees birds began singing again children played outside',
    'until evening stars appeared above quiet village everyone felt safe warm together that night',
    'mother told stories about brave knights kind dragons clever foxes also magic boats sailing',
    'across endless blue seas at last sleepy eyes closed dreams carried them far away over',
    'mountains valleys golden fields silver lakes hidden caves ancient castles next spring new',
    'flowers opened red yellow purple white pink orange leaves danced gently friends laughed shared',
    'bread cheese honey milk apples years later she became teacher writer painter builder doctor',
    'singer sailor farmer baker explorer helping people learn read count draw grow is are be have',
    'has had do does did can could will would should may might must not no yes this these those',
    'here hello world how you today am fine thanks',
  ]
    .join(' ')
    .split(' '),
)
