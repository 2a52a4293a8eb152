import { readFile } from 'node:fs/promises'
import { BaseError, type Hex } from '@verity/protocol'
import { BN254_BASE_FIELD } from '../prover/bn254.ts'
import { sha256Hex } from './sha256Hex.ts'

/** A phase-1 (powers of tau) file prepared for phase 2, loaded in memory. */
export type PowersOfTau = {
  /** The `.ptau` bytes. */
  bytes: Uint8Array
  /** sha256 of the bytes (0x-prefixed hex). */
  sha256: Hex
  /** `k` such that the file supports circuits whose domain is at most 2^k (see `assertPtauFits`). */
  power: number
  /** The power the phase-1 ceremony was run at (≥ `power` when the file was truncated). */
  ceremonyPower: number
  /** Where it was read from, if from a file. */
  path?: string | undefined
}

function invalid(found: string, path?: string): BaseError {
  return new BaseError(
    'ZK_PTAU_INVALID',
    `${path ?? 'The file'} is not a usable BN254 powers-of-tau file: ${found}.`,
    {
      metaMessages: [
        'Use a phase-1 file prepared for phase 2 (snarkjs `powersoftau prepare phase2`), e.g. a Hermez `powersOfTau28_hez_final_NN.ptau`.',
      ],
    },
  )
}

/**
 * Reads the header of `.ptau` bytes (`ptau` binfile v1): the power and that it is a BN254 file
 * prepared for phase 2 (has the Lagrange sections).
 *
 * @throws BaseError `ZK_PTAU_INVALID`.
 *
 * @example
 * ```ts
 * const { power } = readPtauHeader(bytes) // 14 for pot14_final.ptau
 * ```
 */
export function readPtauHeader(
  bytes: Uint8Array,
  path?: string,
): { power: number; ceremonyPower: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.byteLength < 12 || new TextDecoder().decode(bytes.subarray(0, 4)) !== 'ptau') {
    throw invalid('missing "ptau" magic', path)
  }
  const sections = view.getUint32(8, true)
  let offset = 12
  let header: { power: number; ceremonyPower: number } | undefined
  const seen = new Set<number>()
  for (let i = 0; i < sections; i++) {
    if (offset + 12 > bytes.byteLength) throw invalid('truncated section table', path)
    const type = view.getUint32(offset, true)
    const size = Number(view.getBigUint64(offset + 4, true))
    const start = offset + 12
    if (start + size > bytes.byteLength) throw invalid(`section ${type} is truncated`, path)
    seen.add(type)
    if (type === 1) {
      const n8 = view.getUint32(start, true)
      if (n8 !== 32 || size !== 4 + n8 + 8) throw invalid(`header with field size ${n8}`, path)
      let q = 0n
      for (let b = n8 - 1; b >= 0; b--) q = (q << 8n) | BigInt(bytes[start + 4 + b] ?? 0)
      if (q !== BN254_BASE_FIELD) throw invalid('the curve is not BN254 (bn128)', path)
      header = {
        power: view.getUint32(start + 4 + n8, true),
        ceremonyPower: view.getUint32(start + 8 + n8, true),
      }
    }
    offset = start + size
  }
  if (!header) throw invalid('no header section', path)
  if (!seen.has(12)) throw invalid('it is not prepared for phase 2 (no Lagrange sections)', path)
  return header
}

/**
 * Loads a prepared phase-1 `.ptau` file (never computes one: preparing 2^16 takes ~43 min),
 * checks its sha256 when `expectedSha256` is given, and reports its power.
 *
 * @throws BaseError `FILE_NOT_FOUND`, `ZK_PTAU_CHECKSUM_MISMATCH`, `ZK_PTAU_INVALID`.
 *
 * @example
 * ```ts
 * const ptau = await loadPowersOfTau('/work/shared/assets/zk/pot14_final.ptau', {
 *   expectedSha256: '5dfbdc6ee6e7c7dc4d30d389badf9f358901203b77d26a56b2efca76b68096db',
 * })
 * ptau.power // 14
 * ```
 */
export async function loadPowersOfTau(
  path: string,
  options: { expectedSha256?: string | undefined } = {},
): Promise<PowersOfTau> {
  let bytes: Uint8Array
  try {
    const buffer = await readFile(path)
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  } catch (cause) {
    throw new BaseError('FILE_NOT_FOUND', `Cannot read the powers-of-tau file ${path}.`, {
      metaMessages: ['Check the path; phase-1 files are prepared offline, never at run time.'],
      cause,
    })
  }
  const sha256 = sha256Hex(bytes)
  if (options.expectedSha256 !== undefined) {
    const expected = options.expectedSha256.toLowerCase().replace(/^0x/, '')
    if (sha256.slice(2) !== expected) {
      throw new BaseError(
        'ZK_PTAU_CHECKSUM_MISMATCH',
        `The powers-of-tau file ${path} has sha256 ${sha256.slice(2)}, expected ${expected}.`,
        { metaMessages: ['The file is corrupt or not the pinned one: download it again.'] },
      )
    }
  }
  const { power, ceremonyPower } = readPtauHeader(bytes, path)
  return { bytes, sha256, power, ceremonyPower, path }
}
