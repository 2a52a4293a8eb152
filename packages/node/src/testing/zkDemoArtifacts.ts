import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildDemoModels, type DemoModels } from '@verity/models'
import {
  createZkArtifactStore,
  loadPowersOfTau,
  setupZkModel,
  type ZkModelArtifacts,
} from '@verity/zk'

/**
 * The phase-1 file zk tests set up with (2^14, enough for the demo MLP's ~13k constraints).
 * Read in place from the shared assets; tests skip when it is absent.
 *
 * @example
 * ```ts
 * describe('zk', { skip: zkTestPtau.skip }, () => {})
 * ```
 */
export const zkTestPtau: { path: string; skip: string | false } = {
  path: '/work/shared/assets/zk/pot14_final.ptau',
  skip: existsSync('/work/shared/assets/zk/pot14_final.ptau')
    ? false
    : 'the powers-of-tau fixture /work/shared/assets/zk/pot14_final.ptau is absent',
}

/**
 * What {@link zkDemoArtifacts} builds: the demo models (int8 MLP from 2000 training digits, 3
 * epochs), the int8 MLP's zk artifacts (pot14, two contributors, a beacon) and the zk artifact
 * folder they are stored in.
 *
 * @example
 * ```ts
 * const { demo, artifacts, dir } = await zkDemoArtifacts()
 * ```
 */
export type ZkDemoArtifacts = {
  demo: DemoModels
  artifacts: ZkModelArtifacts
  /** A zk artifact folder holding them (`createZkArtifactStore({ dir })`); removed at exit. */
  dir: string
  /** Wall-clock time of the setup (compile, ceremony, verification), in ms. */
  setupMs: number
}

let built: Promise<ZkDemoArtifacts> | undefined

/**
 * Builds the demo int8 MLP's zk artifacts once per test process (~75 s on 2 cores) into a
 * temporary folder, removed when the process exits. Every zk test of a file shares them.
 *
 * @example
 * ```ts
 * const { dir, artifacts } = await zkDemoArtifacts()
 * const node = await createVerityNode({ dataDir, zk: { dir } })
 * ```
 */
export function zkDemoArtifacts(): Promise<ZkDemoArtifacts> {
  built ??= (async () => {
    const started = performance.now()
    const demo = await buildDemoModels({ trainCount: 2000, testCount: 200, epochs: 3 })
    const artifacts = await setupZkModel({
      onnx: demo.int8Model,
      name: 'digits-mlp-int8',
      ptau: await loadPowersOfTau(zkTestPtau.path),
      contributors: [
        { name: 'node-1', entropy: 'test entropy one' },
        { name: 'node-2', entropy: 'test entropy two' },
      ],
      beacon: { hash: `0x${'5a'.repeat(32)}`, iterationsExp: 10 },
    })
    const dir = mkdtempSync(join(tmpdir(), 'verity-zk-artifacts-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    await createZkArtifactStore({ dir }).put(artifacts)
    return { demo, artifacts, dir, setupMs: performance.now() - started }
  })()
  return built
}
