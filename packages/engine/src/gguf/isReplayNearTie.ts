import type { TextSampling } from './textEngine.ts'

/**
 * What {@link isReplayNearTie} looks at, for one position where the replay chose differently from
 * the claim: the replay's candidates at that position (token and probability, in the order
 * llama.cpp's sampler walks them: highest logit first, after top-k/top-p/min-p and temperature),
 * the claimed token, the sampling, the uniform draw llama.cpp made there (sampled decoding only)
 * and the tolerance.
 *
 * @example
 * ```ts
 * const parameters: ReplayNearTieParameters = { candidates: [[364, 0.2338], [265, 0.2336]], claimed: 265, sampling, tolerance: 1e-3 }
 * ```
 */
export type ReplayNearTieParameters = {
  candidates: readonly (readonly [token: number, probability: number])[]
  claimed: number
  sampling: TextSampling
  draw?: number | undefined
  tolerance: number
}

/**
 * Whether a replay mismatch is only float noise (a near tie) rather than a substituted token.
 * A batched forward pass and token-by-token generation compute logits in different orders, so they
 * differ slightly (about 1e-5 in log-probability with an F32 KV cache); the claimed token is
 * accepted when it could have been chosen had the replay's logits moved by at most `tolerance`:
 *
 * - greedy (`temperature === 0`): the claimed token's log-probability is within `tolerance` of
 *   the best one;
 * - sampled: the claimed token is among the candidates and the draw `u` falls inside its slice of
 *   the cumulative distribution, where candidates whose tempered log-probabilities are within
 *   `tolerance / temperature` of the claim's may come before or after it, and the slice is widened
 *   by `2 * tolerance / temperature` of probability mass.
 *
 * A token that top-k/top-p/min-p removed in the replay is never a near tie.
 *
 * @example
 * ```ts
 * isReplayNearTie({ candidates: [[364, 0.23376], [265, 0.23361]], claimed: 265, sampling: { ...sampling, temperature: 0 }, tolerance: 1e-3 }) // true
 * ```
 */
export function isReplayNearTie(parameters: ReplayNearTieParameters): boolean {
  const { candidates, claimed, sampling, draw, tolerance } = parameters
  const claimedEntry = candidates.find(([token]) => token === claimed)
  const top = candidates[0]
  if (!claimedEntry || !top || !(claimedEntry[1] > 0)) return false
  const logClaimed = Math.log(claimedEntry[1])
  if (sampling.temperature === 0) return Math.log(top[1]) - logClaimed <= tolerance
  if (draw === undefined) return false
  const orderSlack = tolerance / sampling.temperature
  const massSlack = Math.min(1, 2 * orderSlack)
  let surelyBefore = 0
  let maybeBefore = 0
  for (const [token, probability] of candidates) {
    if (token === claimed) continue
    const gap = Math.log(probability) - logClaimed
    if (gap > orderSlack) surelyBefore += probability
    else if (gap >= -orderSlack) maybeBefore += probability
  }
  const low = surelyBefore - massSlack
  const high = surelyBefore + maybeBefore + claimedEntry[1] + massSlack
  return draw >= low && draw <= high
}
