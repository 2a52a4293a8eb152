import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { compileCircom } from '../circom/compileCircom.ts'
import { readR1csHeader } from '../circom/readR1csHeader.ts'
import { chainCircuitSource } from '../testing/tinyCircuit.ts'
import { assertPtauFits, maxConstraintsForPower, requiredPtauPower } from './assertPtauFits.ts'
import { loadPowersOfTau, readPtauHeader } from './loadPowersOfTau.ts'
import { startCeremony } from './startCeremony.ts'

const DIR = '/work/shared/assets/zk'
const PTAU14 = join(DIR, 'pot14_final.ptau')
const PTAU16 = join(DIR, 'pot16_final.ptau')
const SHA14 = '5dfbdc6ee6e7c7dc4d30d389badf9f358901203b77d26a56b2efca76b68096db'
const SHA16 = '78b8a832c4ed214ecd0932a4ea1d792379caa116470fda91d7bf93d5d4055a4a'

describe('loadPowersOfTau', { skip: existsSync(DIR) ? false : `${DIR} absent` }, () => {
  it('default', async () => {
    const ptau = await loadPowersOfTau(PTAU14, { expectedSha256: SHA14 })
    assert.equal(ptau.power, 14)
    assert.equal(ptau.ceremonyPower, 14)
    assert.equal(ptau.sha256, `0x${SHA14}`)
    assert.equal(ptau.path, PTAU14)
    const big = await loadPowersOfTau(PTAU16, { expectedSha256: `0x${SHA16.toUpperCase()}` })
    assert.equal(big.power, 16)
  })

  it('behavior: capacity arithmetic matches snarkjs', () => {
    assert.equal(requiredPtauPower({ constraints: 8546, publicSignals: 12 }), 14)
    assert.equal(maxConstraintsForPower(14, 12), 16_371)
    assert.equal(requiredPtauPower({ constraints: 16_371, publicSignals: 12 }), 14)
    assert.equal(requiredPtauPower({ constraints: 16_372, publicSignals: 12 }), 15)
    assertPtauFits({ power: 14 }, { constraints: 16_371, publicOutputs: 12, publicInputs: 0 })
  })

  it('error: a checksum mismatch is ZK_PTAU_CHECKSUM_MISMATCH', async () => {
    await assert.rejects(loadPowersOfTau(PTAU14, { expectedSha256: SHA16 }), (error) =>
      isBaseError(error, 'ZK_PTAU_CHECKSUM_MISMATCH'),
    )
  })

  it('error: missing, non-ptau and unprepared files are refused', async () => {
    await assert.rejects(loadPowersOfTau(join(DIR, 'nope.ptau')), (error) =>
      isBaseError(error, 'FILE_NOT_FOUND'),
    )
    const dir = await mkdtemp(join(tmpdir(), 'verity-ptau-'))
    try {
      const junk = join(dir, 'junk.ptau')
      await writeFile(junk, 'not a ptau file at all')
      await assert.rejects(loadPowersOfTau(junk), (error) => isBaseError(error, 'ZK_PTAU_INVALID'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    // a header-only ptau (sections 1 only: not prepared for phase 2)
    const bytes = new Uint8Array(12 + 12 + 4 + 32 + 8)
    const view = new DataView(bytes.buffer)
    bytes.set(new TextEncoder().encode('ptau'))
    view.setUint32(4, 1, true)
    view.setUint32(8, 1, true)
    view.setUint32(12, 1, true)
    view.setBigUint64(16, 44n, true)
    view.setUint32(24, 32, true)
    const q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n
    for (let i = 0; i < 32; i++) bytes[28 + i] = Number((q >> BigInt(8 * i)) & 0xffn)
    view.setUint32(60, 14, true)
    view.setUint32(64, 14, true)
    assert.throws(
      () => readPtauHeader(bytes),
      (error) => isBaseError(error, 'ZK_PTAU_INVALID') && /not prepared/.test(error.shortMessage),
    )
  })

  it('error: a circuit larger than the ptau is ZK_PTAU_TOO_SMALL', async () => {
    const compiled = await compileCircom({ source: chainCircuitSource(16_400), name: 'chain' })
    const ptau = await loadPowersOfTau(PTAU14)
    assert.throws(
      () => assertPtauFits(ptau, readR1csHeader(compiled.r1cs)),
      (error) => {
        assert.ok(isBaseError(error, 'ZK_PTAU_TOO_SMALL'))
        assert.match(error.shortMessage, /16400 constraints/)
        assert.match(error.shortMessage, /2\^15/)
        return true
      },
    )
    await assert.rejects(startCeremony(compiled.r1cs, ptau), (error) =>
      isBaseError(error, 'ZK_PTAU_TOO_SMALL'),
    )
  })
})
