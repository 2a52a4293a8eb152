import type { Comparison } from './manifest.ts'
import { encodeTensor, type NamedTensors } from './tensor.ts'

export type CompareOutputsReturnType = {
  equal: boolean
  /** Why not, naming the first differing tensor and element. */
  reason?: string
  /** Largest |actual − expected| over float elements (0 for exact matches). */
  maxAbsoluteError: number
}

/**
 * Compares a re-execution with the executor's output under the manifest's rule: `exact` compares
 * canonical bytes; `tolerance` needs the same names, dtypes and shapes, integer elements equal and
 * every float element within `absolute + relative × |expected|` (NaN matches NaN).
 *
 * @example
 * ```ts
 * const { equal } = compareOutputs(manifest.comparison, executorOutputs, myOutputs)
 * ```
 */
export function compareOutputs(
  comparison: Comparison,
  expected: NamedTensors,
  actual: NamedTensors,
): CompareOutputsReturnType {
  const names = Object.keys(expected).sort()
  const actualNames = Object.keys(actual).sort()
  if (names.join('\0') !== actualNames.join('\0'))
    return {
      equal: false,
      reason: `outputs [${actualNames}] differ from [${names}]`,
      maxAbsoluteError: Number.NaN,
    }
  let maxAbsoluteError = 0
  for (const name of names) {
    const e = expected[name]!
    const a = actual[name]!
    if (e.dtype !== a.dtype || e.shape.join(',') !== a.shape.join(','))
      return {
        equal: false,
        reason: `${name}: ${a.dtype}[${a.shape}] instead of ${e.dtype}[${e.shape}]`,
        maxAbsoluteError: Number.NaN,
      }
    const isFloat = e.dtype === 'float32' || e.dtype === 'float64'
    if (comparison.kind === 'exact' || !isFloat) {
      const left = encodeTensor(e)
      const right = encodeTensor(a)
      if (Buffer.compare(left, right) !== 0)
        return {
          equal: false,
          reason: `${name}: bytes differ (${comparison.kind} comparison)`,
          maxAbsoluteError: Number.NaN,
        }
      continue
    }
    const ev = e.data as Float32Array | Float64Array
    const av = a.data as Float32Array | Float64Array
    for (let i = 0; i < ev.length; i++) {
      const x = av[i]!
      const y = ev[i]!
      if (Number.isNaN(x) && Number.isNaN(y)) continue
      const error = Math.abs(x - y)
      if (!(error <= comparison.absolute + comparison.relative * Math.abs(y)))
        return {
          equal: false,
          reason: `${name}[${i}] is ${x}, expected ${y} within ${comparison.absolute} + ${comparison.relative}×|expected|`,
          maxAbsoluteError: Math.max(maxAbsoluteError, error),
        }
      maxAbsoluteError = Math.max(maxAbsoluteError, error)
    }
  }
  return { equal: true, maxAbsoluteError }
}
