import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isReplayNearTie } from './isReplayNearTie.ts'
import type { TextSampling } from './textEngine.ts'

const greedy: TextSampling = { temperature: 0, topK: 40, topP: 0.95, minP: 0, seed: 0 }
const sampled: TextSampling = { ...greedy, temperature: 1 }

test('default', () => {
  // Greedy: the claimed token is within the tolerance of the best one (seen on stories260K with an F16 cache).
  const candidates = [
    [364, 0.23375646770000458],
    [265, 0.2336064726114273],
    [312, 0.2305561602115631],
  ] as const
  assert.equal(
    isReplayNearTie({ candidates, claimed: 265, sampling: greedy, tolerance: 1e-3 }),
    true,
  )
  assert.equal(
    isReplayNearTie({ candidates, claimed: 312, sampling: greedy, tolerance: 1e-3 }),
    false,
  )
  assert.equal(
    isReplayNearTie({ candidates, claimed: 265, sampling: greedy, tolerance: 1e-4 }),
    false,
  )
})

test('behavior: sampled decoding accepts a claim whose slice holds the draw, within the slack', () => {
  const candidates = [
    [10, 0.5],
    [11, 0.3],
    [12, 0.2],
  ] as const
  const at = (claimed: number, draw: number) =>
    isReplayNearTie({ candidates, claimed, sampling: sampled, draw, tolerance: 1e-3 })
  // Token 11 owns [0.5, 0.8]: a draw at its edge is a near tie, one far inside token 12's slice is not.
  assert.equal(at(11, 0.4995), true)
  assert.equal(at(11, 0.8015), true)
  assert.equal(at(11, 0.9), false)
  assert.equal(at(10, 0.7), false)
  // A token the filters removed, or no draw, is never a near tie.
  assert.equal(at(99, 0.5), false)
  assert.equal(
    isReplayNearTie({ candidates, claimed: 11, sampling: sampled, tolerance: 1e-3 }),
    false,
  )
})

test('behavior: candidates with almost equal probability may come in either order', () => {
  const candidates = [
    [1, 0.40001],
    [2, 0.4],
    [3, 0.19999],
  ] as const
  // In the replay token 1 comes first, but with noise token 2 may have: its slice may start at 0.
  assert.equal(
    isReplayNearTie({ candidates, claimed: 2, sampling: sampled, draw: 0.1, tolerance: 1e-3 }),
    true,
  )
  assert.equal(
    isReplayNearTie({ candidates, claimed: 3, sampling: sampled, draw: 0.1, tolerance: 1e-3 }),
    false,
  )
})
