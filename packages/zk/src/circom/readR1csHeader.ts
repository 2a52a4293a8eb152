import { BaseError } from '@verity/protocol'

/** The header of a circom `.r1cs` file (format v1): the circuit's size and signal counts. */
export type R1csHeader = {
  /** The field's prime (BN254's scalar field order for circom's default curve). */
  prime: bigint
  /** Number of wires (signals, including the constant `1`). */
  wires: number
  /** Number of R1CS constraints. */
  constraints: number
  /** Public outputs (come first among the public signals). */
  publicOutputs: number
  /** Public inputs. */
  publicInputs: number
  /** Private inputs. */
  privateInputs: number
  /** Number of labels (named signals, including eliminated ones). */
  labels: number
}

const R1CS_MAGIC = 0x73633172 // "r1cs" little-endian

function invalid(found: string): BaseError {
  return new BaseError('ZK_CIRCUIT_INVALID', 'The bytes are not a valid circom .r1cs file.', {
    details: found,
    metaMessages: ['Pass the `.r1cs` produced by `compileCircom` (circom 2, `--r1cs`).'],
  })
}

/**
 * Reads the header section of a circom `.r1cs` file without loading its constraints (fast even
 * for large circuits).
 *
 * @example
 * ```ts
 * const { constraints, wires } = readR1csHeader(compiled.r1cs)
 * ```
 */
export function readR1csHeader(r1cs: Uint8Array): R1csHeader {
  const view = new DataView(r1cs.buffer, r1cs.byteOffset, r1cs.byteLength)
  if (r1cs.byteLength < 12) throw invalid(`${r1cs.byteLength} bytes`)
  if (view.getUint32(0, true) !== R1CS_MAGIC) throw invalid('magic number is not "r1cs"')
  const version = view.getUint32(4, true)
  if (version !== 1) throw invalid(`format version ${version}, expected 1`)
  const sections = view.getUint32(8, true)
  let offset = 12
  for (let i = 0; i < sections; i++) {
    if (offset + 12 > r1cs.byteLength) throw invalid('truncated section table')
    const type = view.getUint32(offset, true)
    const size = Number(view.getBigUint64(offset + 4, true))
    offset += 12
    if (type === 1) {
      if (offset + 4 > r1cs.byteLength) throw invalid('truncated header section')
      const fieldSize = view.getUint32(offset, true)
      const end = offset + 4 + fieldSize + 4 * 4 + 8 + 4
      if (fieldSize === 0 || fieldSize % 8 !== 0 || end > r1cs.byteLength) {
        throw invalid(`header section with field size ${fieldSize}`)
      }
      let prime = 0n
      for (let b = fieldSize - 1; b >= 0; b--) {
        prime = (prime << 8n) | BigInt(r1cs[offset + 4 + b] ?? 0)
      }
      let p = offset + 4 + fieldSize
      const wires = view.getUint32(p, true)
      const publicOutputs = view.getUint32(p + 4, true)
      const publicInputs = view.getUint32(p + 8, true)
      const privateInputs = view.getUint32(p + 12, true)
      p += 16
      const labels = Number(view.getBigUint64(p, true))
      const constraints = view.getUint32(p + 8, true)
      return { prime, wires, constraints, publicOutputs, publicInputs, privateInputs, labels }
    }
    offset += size
  }
  throw invalid('no header section')
}
