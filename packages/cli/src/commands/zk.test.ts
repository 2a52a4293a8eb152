import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type DemoModels, demoModelFiles, generateDigits, writeDemoModels } from '@verity/models'
import { createLogger, createVerityNode, type VerityNode } from '@verity/node'
import { privateKeyToAccount } from 'viem/accounts'
import { runCli } from '../test/runCli.ts'

// `verity zk compile` on the demo int8 MLP (pot14, two contributors), then `model add` (the
// manifest gets the zk section), `infer --mode zk` on a node serving the same home, and `verify`
// with --model/--input running every zk check.

const ptau = '/work/shared/assets/zk/pot14_final.ptau'
const unsupported = '/work/shared/assets/onnx/onnxruntime-datasets/logreg_iris.onnx'
const requesterKey = `0x${'22'.repeat(32)}` as const
const beacon = `0x${'5a'.repeat(32)}`

describe('verity zk', { skip: existsSync(ptau) ? false : `${ptau} is absent` }, () => {
  let home = ''
  let demo: DemoModels & { outDir: string }
  let node: VerityNode | undefined
  const cli = (...argv: string[]) => runCli(['--home', home, ...argv])
  const int8Model = () => join(demo.outDir, demoModelFiles.int8Model)
  const sample = (label: number) => join(demo.outDir, 'samples', `digit-${label}.png`)
  // biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON output
  let compiled: any

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'verity-cli-zk-'))
    demo = await writeDemoModels(join(home, 'demo'), {
      trainCount: 2000,
      testCount: 200,
      epochs: 3,
    })
    await writeFile(
      join(home, 'key.json'),
      `${JSON.stringify({ version: 1, address: privateKeyToAccount(requesterKey).address, privateKey: requesterKey })}\n`,
      { mode: 0o600 },
    )
  })
  after(async () => {
    await node?.stop()
    await rm(home, { recursive: true, force: true })
  })

  test('default: zk compile stores the artifacts and verifier; model add, infer --mode zk and verify use them', async (t) => {
    const run = await cli(
      '--json',
      'zk',
      'compile',
      int8Model(),
      '--ptau',
      ptau,
      '--contributor',
      'alice',
      '--contributor',
      'bob',
      '--beacon',
      beacon,
    )
    assert.equal(run.code, 0, run.stderr)
    compiled = run.json()
    assert.deepEqual(compiled.contributors, ['alice', 'bob'])
    assert.ok(compiled.operators.includes('MatMulInteger'), compiled.operators.join(','))
    assert.ok(compiled.constraints > 5_000 && compiled.constraints < 1 << 14)
    assert.equal(compiled.manifestZk.constraints, compiled.constraints)
    assert.ok(compiled.estimate.proveMs > 0 && compiled.estimate.peakMemoryBytes > 0)
    assert.equal(compiled.dir, join(home, 'zk'))
    assert.match(await readFile(compiled.solidityVerifierPath, 'utf8'), /contract Groth16Verifier/)
    for (const cid of Object.values(compiled.manifestZk.artifacts) as string[])
      assert.ok(existsSync(join(home, 'zk', cid)), cid)
    assert.match(run.stderr, /Phase-2 ceremony/, 'progress on stderr')
    t.diagnostic(`zk compile timings ${JSON.stringify(compiled.timings)}`)

    const added = await cli('--json', 'model', 'add', int8Model(), '--name', 'digits-int8')
    assert.equal(added.code, 0, added.stderr)
    assert.deepEqual(added.json().manifest.zk, compiled.manifestZk)
    const shown = await cli('model', 'show', 'digits-int8')
    assert.match(shown.stdout, /^zk {8}groth16, \d+ constraints/m)

    // a node on the same home: same store, same zk folder
    node = await createVerityNode(
      { dataDir: home, port: 0 },
      {
        account: privateKeyToAccount(`0x${'11'.repeat(32)}`),
        logger: createLogger({ level: 'silent' }),
        env: {},
      },
    )
    const url = await node.start()
    const receiptPath = join(home, 'zk-receipt.json')
    const inferred = await cli(
      'infer',
      'digits-int8',
      '--input',
      sample(4),
      '--node',
      url,
      '--mode',
      'zk',
      '--out',
      receiptPath,
    )
    assert.equal(inferred.code, 0, inferred.stderr)
    assert.match(inferred.stdout, /^mode {6}zk$/m)
    assert.match(inferred.stdout, /^proof {5}groth16 over 12 public signals/m)

    const verified = await cli(
      'verify',
      receiptPath,
      '--model',
      'digits-int8',
      '--input',
      sample(4),
    )
    assert.equal(verified.code, 0, verified.stdout)
    for (const check of ['zk.proof', 'zk.output', 'zk.input', 'zk.model'])
      assert.match(verified.stdout, new RegExp(`^✓ ${check.replace('.', '\\.')} `, 'm'), check)

    const bare = await cli('verify', receiptPath)
    assert.equal(bare.code, 0, bare.stdout)
    assert.match(bare.stdout, /^- zk\.input /m)
    assert.match(bare.stdout, /^note: the proof was not tied to an input or a model/m)

    // a changed proof coordinate or another input is caught
    const receipt = JSON.parse(await readFile(receiptPath, 'utf8'))
    receipt.zk.proof.pi_a[0] = String(BigInt(receipt.zk.proof.pi_a[0]) + 1n)
    const tampered = join(home, 'tampered.json')
    await writeFile(tampered, JSON.stringify(receipt))
    const refused = await cli('verify', tampered, '--model', 'digits-int8', '--input', sample(4))
    assert.equal(refused.code, 1)
    assert.match(refused.stdout, /receipt is INVALID \(RECEIPT_ZK_PROOF_INVALID\)/)
    const otherInput = await cli(
      'verify',
      receiptPath,
      '--model',
      'digits-int8',
      '--input',
      sample(5),
    )
    assert.equal(otherInput.code, 1)
    assert.match(otherInput.stdout, /^✗ zk\.input .*\[RECEIPT_ZK_INPUT_MISMATCH\]/m)
  })

  test('error: unsupported operators, float models, bad flags and a budget are refused in one line', async () => {
    if (existsSync(unsupported)) {
      const run = await cli('zk', 'compile', unsupported, '--ptau', ptau)
      assert.equal(run.code, 1)
      assert.match(
        run.stderr,
        /^error ZK_UNSUPPORTED_OPERATORS: .*: LinearClassifier, Normalizer, ZipMap\.\n/,
      )
    }
    const float = await cli(
      'zk',
      'compile',
      join(demo.outDir, demoModelFiles.floatModel),
      '--ptau',
      ptau,
    )
    assert.equal(float.code, 1)
    assert.match(float.stderr, /^error ZK_GRAPH_UNSUPPORTED: This is a float model/)
    const budget = await cli(
      'zk',
      'compile',
      int8Model(),
      '--ptau',
      ptau,
      '--max-constraints',
      '100',
    )
    assert.equal(budget.code, 1)
    assert.match(budget.stderr, /^error ZK_BUDGET_EXCEEDED: .*constraints > 100 allowed/m)
    const sha = await cli('zk', 'compile', int8Model(), '--ptau', ptau, '--ptau-sha256', '00')
    assert.equal(sha.code, 1)
    assert.match(sha.stderr, /^error ZK_PTAU_CHECKSUM_MISMATCH: .*expected 00\./m)
    const badBeacon = await cli('zk', 'compile', int8Model(), '--ptau', ptau, '--beacon', 'xyz')
    assert.match(badBeacon.stderr, /^error INVALID_ARGUMENT: --beacon must be/)
    const missing = await cli('zk', 'compile', int8Model())
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^error INVALID_ARGUMENT: Setting a model up for zk needs --ptau/)
    const local = await cli('infer', 'digits-int8', '--input', sample(4), '--mode', 'zk')
    assert.match(local.stderr, /^error INVALID_ARGUMENT: --mode zk needs --node/)
  })

  test('behavior: a float model with --calibration reports the quantized twin’s agreement, sets nothing up', async (t) => {
    const digits = generateDigits({ count: 300, seed: 7 })
    const header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${digits.images.length}, 1, 28, 28), }`
    const padded = header.padEnd(Math.ceil((header.length + 11) / 64) * 64 - 11, ' ')
    const npy = Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]),
      Buffer.from(Uint16Array.of(padded.length + 1).buffer),
      Buffer.from(`${padded}\n`, 'latin1'),
      ...digits.images.map((image) => Buffer.from(image)),
    ])
    const calibration = join(home, 'calibration.npy')
    await writeFile(calibration, npy)
    const run = await cli(
      '--json',
      'zk',
      'compile',
      join(demo.outDir, demoModelFiles.floatModel),
      '--calibration',
      calibration,
      '--out',
      join(home, 'float-zk'),
    )
    assert.equal(run.code, 0, run.stderr)
    const report = run.json()
    assert.equal(report.float, true)
    assert.equal(report.count, 300)
    assert.ok(report.agreement >= 0.97, `agreement ${report.agreement}`)
    t.diagnostic(
      `float demo MLP quantized for zk: ${report.agreement * 100}% top-1 agreement on 300 digits`,
    )
    assert.ok(report.estimatedConstraints > 1000)
    assert.equal(existsSync(join(home, 'float-zk')), false, 'nothing was set up or stored')
    const integer = await cli('zk', 'compile', int8Model(), '--calibration', calibration)
    assert.match(integer.stderr, /^error INVALID_ARGUMENT: --calibration is for float models/m)
  })
})
