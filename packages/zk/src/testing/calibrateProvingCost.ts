/**
 * Measures compile, setup, contribution, prove time and peak memory for chain circuits of
 * growing size; the numbers behind `estimateProvingCost`'s linear model. Not a test (takes a few
 * minutes). Run: `node packages/zk/src/testing/calibrateProvingCost.ts [sizes…]`.
 * Each prove runs in a fresh child process so its peak RSS is the prover's alone.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileCircom } from '../circom/compileCircom.ts'
import { createGroth16Prover } from '../prover/createGroth16Prover.ts'
import { contribute } from '../setup/contribute.ts'
import { loadPowersOfTau } from '../setup/loadPowersOfTau.ts'
import { startCeremony } from '../setup/startCeremony.ts'
import { chainCircuitSource } from './tinyCircuit.ts'

/** One calibration measurement. */
export type CalibrationRow = {
  constraints: number
  wires: number
  compileMs: number
  setupMs: number
  contributeMs: number
  zkeyBytes: number
  proveMs: number
  witnessMs: number
  totalProveCallMs: number
  peakRssBytes: number
}

const ASSETS = '/work/shared/assets/zk'

async function proveInChild(dir: string): Promise<void> {
  const zkey = new Uint8Array(await readFile(join(dir, 'circuit.zkey')))
  const wasm = new Uint8Array(await readFile(join(dir, 'circuit.wasm')))
  const prover = createGroth16Prover()
  // warm-up run, then the measured one
  await prover.prove({ zkey, wasm, input: { in: ['3', '5'] } })
  const started = performance.now()
  const result = await prover.prove({ zkey, wasm, input: { in: ['3', '5'] } })
  const totalProveCallMs = Math.round(performance.now() - started)
  process.stdout.write(
    JSON.stringify({
      proveMs: result.proveMs,
      witnessMs: result.witnessMs,
      totalProveCallMs,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    }),
  )
}

async function main(sizes: number[]): Promise<void> {
  const rows: CalibrationRow[] = []
  for (const n of sizes) {
    const compiled = await compileCircom({ source: chainCircuitSource(n), name: 'chain' })
    const ptau = await loadPowersOfTau(
      join(ASSETS, n < 16000 ? 'pot14_final.ptau' : 'pot16_final.ptau'),
    )
    let t = performance.now()
    const zkey0 = await startCeremony(compiled.r1cs, ptau)
    const setupMs = Math.round(performance.now() - t)
    t = performance.now()
    const { zkey } = await contribute(zkey0, { name: 'calibration' })
    const contributeMs = Math.round(performance.now() - t)
    const dir = await mkdtemp(join(tmpdir(), 'verity-calibrate-'))
    try {
      await writeFile(join(dir, 'circuit.zkey'), zkey)
      await writeFile(join(dir, 'circuit.wasm'), compiled.wasm)
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dir], {
        encoding: 'utf8',
      })
      const child = JSON.parse(out) as Pick<
        CalibrationRow,
        'proveMs' | 'witnessMs' | 'totalProveCallMs' | 'peakRssBytes'
      >
      const row: CalibrationRow = {
        constraints: compiled.constraints,
        wires: compiled.wires,
        compileMs: compiled.compileMs,
        setupMs,
        contributeMs,
        zkeyBytes: zkey.byteLength,
        ...child,
      }
      rows.push(row)
      console.log(JSON.stringify(row))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  console.table(rows)
}

if (process.argv[2] === '--child') {
  await proveInChild(process.argv[3] ?? '')
} else if (import.meta.main) {
  const sizes = process.argv.slice(2).map(Number)
  await main(sizes.length ? sizes : [1000, 4000, 8000, 16000, 32000, 64000])
}
