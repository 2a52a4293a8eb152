import { BaseError, type Hex } from '@verity/protocol'

/** One phase-2 contribution as recorded in a `.zkey` (section 10, "MPC params"). */
export type ZkeyContribution = {
  /** `contribution` (secret randomness) or `beacon` (public, delayed randomness). */
  type: 'contribution' | 'beacon'
  /** The contributor's name ('' when none was given). */
  name: string
  /** The contribution's transcript hash (blake2b-512, 0x-hex). */
  transcript: Hex
  /** For a beacon: the beacon value (0x-hex) and `log2` of the hash iterations. */
  beaconHash?: Hex | undefined
  iterationsExp?: number | undefined
  /** The raw bytes of the record (for prefix comparisons between zkeys). */
  record: Uint8Array
}

/** The MPC parameters of a `.zkey`: the circuit hash and the contributions so far. */
export type ZkeyMpcParams = {
  /** snarkjs's circuit hash (blake2b-512 of the initial key material, 0x-hex). */
  circuitHash: Hex
  contributions: ZkeyContribution[]
}

const G1_BYTES = 64
const G2_BYTES = 128

function hex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString('hex')}`
}

function invalid(found: string): BaseError {
  return new BaseError('ZK_ZKEY_INVALID', `The bytes are not a valid Groth16 .zkey: ${found}.`, {
    metaMessages: [
      'Pass a proving key produced by `startCeremony`, `contribute` or `applyBeacon`.',
    ],
  })
}

/**
 * Reads the phase-2 contributions recorded in a Groth16 `.zkey` without touching the curve
 * (section 10 of snarkjs's zkey format).
 *
 * @throws BaseError `ZK_ZKEY_INVALID`.
 *
 * @example
 * ```ts
 * const { contributions } = readZkeyContributions(zkey)
 * contributions.map((c) => c.name) // ['alice', 'bob', 'final beacon']
 * ```
 */
export function readZkeyContributions(zkey: Uint8Array): ZkeyMpcParams {
  const view = new DataView(zkey.buffer, zkey.byteOffset, zkey.byteLength)
  if (zkey.byteLength < 12 || new TextDecoder().decode(zkey.subarray(0, 4)) !== 'zkey') {
    throw invalid('missing "zkey" magic')
  }
  const sections = view.getUint32(8, true)
  let offset = 12
  for (let i = 0; i < sections; i++) {
    if (offset + 12 > zkey.byteLength) throw invalid('truncated section table')
    const type = view.getUint32(offset, true)
    const size = Number(view.getBigUint64(offset + 4, true))
    const start = offset + 12
    const end = start + size
    if (end > zkey.byteLength) throw invalid(`section ${type} is truncated`)
    if (type === 10) return readMpc(zkey, view, start, end)
    offset = end
  }
  throw invalid('no MPC parameters section (is it a PLONK/fflonk key?)')
}

function readMpc(zkey: Uint8Array, view: DataView, start: number, end: number): ZkeyMpcParams {
  let p = start
  const need = (n: number) => {
    if (p + n > end) throw invalid('MPC parameters section is truncated')
  }
  need(68)
  const circuitHash = hex(zkey.subarray(p, p + 64))
  p += 64
  const n = view.getUint32(p, true)
  p += 4
  const contributions: ZkeyContribution[] = []
  for (let i = 0; i < n; i++) {
    const recordStart = p
    need(G1_BYTES * 3 + G2_BYTES + 64 + 8)
    p += G1_BYTES * 3 + G2_BYTES
    const transcript = hex(zkey.subarray(p, p + 64))
    p += 64
    const kind = view.getUint32(p, true)
    const paramsLength = view.getUint32(p + 4, true)
    p += 8
    need(paramsLength)
    const paramsEnd = p + paramsLength
    let name = ''
    let beaconHash: Hex | undefined
    let iterationsExp: number | undefined
    while (p < paramsEnd) {
      const tag = zkey[p++]
      if (tag === 1 || tag === 3) {
        const len = zkey[p++] ?? 0
        if (p + len > paramsEnd) throw invalid('contribution parameter overruns its record')
        const value = zkey.subarray(p, p + len)
        if (tag === 1) name = new TextDecoder().decode(value)
        else beaconHash = hex(value)
        p += len
      } else if (tag === 2) {
        iterationsExp = zkey[p++]
      } else {
        throw invalid(`unknown contribution parameter ${tag}`)
      }
    }
    if (p !== paramsEnd) throw invalid('contribution parameters do not match their length')
    contributions.push({
      type: kind === 1 ? 'beacon' : 'contribution',
      name,
      transcript,
      beaconHash,
      iterationsExp,
      record: zkey.slice(recordStart, p),
    })
  }
  return { circuitHash, contributions }
}
