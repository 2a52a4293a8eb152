import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assetPath, assetsAbsent } from '../testing/assets.ts'
import { createMt19937 } from './createMt19937.ts'

test('default', () => {
  // std::mt19937's defining check: the 10000th output of the default seed 5489.
  const rng = createMt19937(5489)
  let last = 0
  for (let i = 0; i < 10_000; i++) last = rng.nextUint32()
  assert.equal(last, 4_123_659_995)
  assert.equal(createMt19937(0).nextUint32(), 2_357_136_044)
})

test('behavior: canonical doubles equal libstdc++ uniform_real_distribution<double>(0, 1)', () => {
  // Printed by g++ 12 (Debian 12) with std::mt19937(42) and %.17g.
  const rng = createMt19937(42)
  assert.deepEqual(
    [rng.nextCanonicalDouble(), rng.nextCanonicalDouble(), rng.nextCanonicalDouble()],
    [0.796542984287846, 0.18343478789336848, 0.77969099761266125],
  )
})

test("behavior: the draws pick the tokens llama.cpp's dist sampler picked", async (t) => {
  const path = assetPath('llm/stories260K.gguf')
  if (!path) return t.skip(assetsAbsent)
  // The real llama.cpp, in this process: sample with a seed, then redo every draw in JavaScript.
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp')
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  t.after(() => llama.dispose())
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
  const context = await model.createContext({ contextSize: 512, batchSize: 512, threads: 1 })
  const sequence = context.getSequence()
  const prompt = [model.tokens.bos!, ...model.tokenize('Once upon a time', false)]
  const seed = 42
  const rng = createMt19937(seed)
  let checked = 0
  const options = { temperature: 0.8, topK: 40, topP: 0.95, seed, yieldEogToken: true }
  for await (const { token, probabilities } of sequence.evaluateWithMetadata(
    prompt,
    { probabilities: true },
    options,
  )) {
    // The candidates in the sampler's order (highest logit first), after top-k/top-p/temperature.
    const draw = rng.nextCanonicalDouble()
    let cumulative = 0
    let picked: number | undefined
    for (const [candidate, probability] of probabilities) {
      cumulative += probability
      if (cumulative >= draw) {
        picked = candidate
        break
      }
    }
    assert.equal(picked, token, `token ${checked}`)
    if (++checked === 200) break
  }
  assert.equal(checked, 200)
})
