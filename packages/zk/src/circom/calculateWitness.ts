import { BaseError } from '@verity/protocol'
import { wtns } from 'snarkjs'

/** A circuit input: signal name → value(s) as decimal strings, bigints or safe integers. */
export type CircuitInput = Record<
  string,
  string | bigint | number | readonly (string | bigint | number)[]
>

function normalise(input: CircuitInput): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [key, value] of Object.entries(input)) {
    const one = (v: string | bigint | number): string => {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) {
        throw new BaseError('INVALID_ARGUMENT', `Input "${key}" holds ${v}, not an integer.`, {
          metaMessages: ['Pass field elements as decimal strings or bigints.'],
        })
      }
      const s = typeof v === 'string' ? v.trim() : v.toString()
      if (!/^-?\d+$/.test(s)) {
        throw new BaseError('INVALID_ARGUMENT', `Input "${key}" holds "${s}", not an integer.`, {
          metaMessages: ['Pass field elements as decimal strings or bigints.'],
        })
      }
      return s
    }
    out[key] = Array.isArray(value)
      ? (value as readonly (string | bigint | number)[]).map(one)
      : one(value as string | bigint | number)
  }
  return out
}

/**
 * Runs a circuit's witness generator (the `.wasm` from `compileCircom`) on an input and returns
 * the binary `.wtns` bytes (what `groth16.prove` takes). Runs in the calling thread.
 *
 * @throws BaseError `ZK_WITNESS_FAILED` when an input is missing/extra or a constraint
 * (assert, range check) fails.
 *
 * @example
 * ```ts
 * const wtnsBytes = await calculateWitnessBinary(compiled.wasm, { in: ['3', '11'] })
 * ```
 */
export async function calculateWitnessBinary(
  wasm: Uint8Array,
  input: CircuitInput,
): Promise<Uint8Array> {
  const normalised = normalise(input)
  const file: { type: 'mem'; data?: Uint8Array } = { type: 'mem' }
  try {
    await wtns.calculate(normalised, { type: 'mem', data: wasm }, file)
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    throw new BaseError(
      'ZK_WITNESS_FAILED',
      `The circuit rejected the input: ${message.split('\n')[0]}`,
      {
        details: message,
        metaMessages: [
          'Check that every input signal is present with the right length and in range.',
        ],
        cause,
      },
    )
  }
  if (!file.data) {
    throw new BaseError('ZK_WITNESS_FAILED', 'The witness generator produced no output.')
  }
  return file.data
}

/**
 * Computes the full witness of a circuit for an input: wire values as bigints, index 0 is the
 * constant `1`, then the public outputs, public inputs, private inputs and internal wires.
 *
 * @throws BaseError `ZK_WITNESS_FAILED` when the circuit rejects the input.
 *
 * @example
 * ```ts
 * const witness = await calculateWitness(compiled.wasm, { in: ['3', '11'] })
 * witness[1] // the first public output, 33n for a multiplier
 * ```
 */
export async function calculateWitness(wasm: Uint8Array, input: CircuitInput): Promise<bigint[]> {
  const binary = await calculateWitnessBinary(wasm, input)
  return wtns.exportJson({ type: 'mem', data: binary })
}
