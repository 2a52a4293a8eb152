import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bitLength, planRequantize } from './planRequantize.ts'

/** The arithmetic of the ZkTruncAdjust + ZkRequant gadgets, with their range conditions checked. */
function simulate(plan: ReturnType<typeof planRequantize>, v: number): number {
  if (plan.kind === 'constant') return plan.value
  assert.equal(plan.kind, 'gadget')
  if (plan.kind !== 'gadget') return v
  const { s, k, base, hasLo, hiMode, j, m, h, truncBits } = plan
  let x = v
  if (truncBits >= 0) {
    const signed = x + 2 ** truncBits
    assert.ok(signed >= 0 && signed < 2 ** (truncBits + 1), `sign decomposition of ${x}`)
    if (x < 0) x += 2 ** s - 1
  }
  const w = x - base * 2 ** s
  assert.ok(w >= 0 && w < 2 ** (s + k + hasLo), `decomposition of ${w} into ${s + k + hasLo} bits`)
  const quotient = Math.floor(w / 2 ** s)
  const low = quotient % 2 ** k
  const sel = hasLo ? Math.floor(quotient / 2 ** k) % 2 : 1
  const ref = base + hasLo * 2 ** k
  if (hiMode === 0) return ref + sel * low
  if (hiMode === 1) {
    const high = Math.floor(low / 2 ** j)
    const t = high === 0 ? (low % 2 ** j) - h : 0
    return ref + sel * (h + t)
  }
  const u = sel * low
  const d = h - u + 2 ** m
  assert.ok(d >= 0 && d < 2 ** (m + 1), `comparison decomposition of ${d}`)
  return ref + h + (d >= 2 ** m ? u - h : 0)
}

describe('planRequantize', () => {
  it('default', () => {
    const plan = planRequantize({
      vMin: -1000,
      vMax: 100_000,
      shift: 7,
      lo: 0,
      hi: 255,
      trunc: false,
    })
    assert.equal(plan.kind, 'gadget')
    assert.ok(plan.kind === 'gadget' && plan.hasLo === 1 && plan.hiMode === 1 && plan.s === 7)
    assert.equal(bitLength(255), 8)
    assert.equal(bitLength(0), 0)
  })

  it('behavior: constants and the identity cost nothing', () => {
    assert.deepEqual(
      planRequantize({ vMin: -50, vMax: -1, shift: 0, lo: 0, hi: 255, trunc: false }),
      { kind: 'constant', value: 0, constraints: 0 },
    )
    assert.deepEqual(
      planRequantize({ vMin: 0, vMax: 255, shift: 0, lo: 0, hi: 255, trunc: false }),
      { kind: 'identity', constraints: 0 },
    )
  })

  it('behavior: the gadget computes clamp(round(v / 2^s)) for every v in range (exhaustive on small cases)', () => {
    let state = 42
    const next = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0
      return state % n
    }
    const bounds = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]
    for (let round = 0; round < 400; round++) {
      const vMin = next(2000) - 1500
      const vMax = vMin + next(3000)
      const shift = next(6)
      const trunc = next(2) === 1
      const lo = next(3) === 0 ? bounds[0]! : next(60) - 40
      const hi =
        next(3) === 0
          ? bounds[1]!
          : Math.max(lo === bounds[0] ? -40 : lo, next(4) === 0 ? 2 ** next(8) - 1 : next(80) - 20)
      const plan = planRequantize({ vMin, vMax, shift, lo, hi, trunc })
      const round_ = trunc ? Math.trunc : Math.floor
      for (let v = vMin; v <= vMax; v++) {
        const expected = Math.min(hi, Math.max(lo, round_(v / 2 ** shift)))
        const actual = plan.kind === 'identity' ? v : simulate(plan, v)
        if (actual !== expected)
          assert.fail(
            `v=${v} ${JSON.stringify({ vMin, vMax, shift, lo, hi, trunc, plan })}: ${actual} != ${expected}`,
          )
      }
    }
  })
})
