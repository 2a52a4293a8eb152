import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createOnnxEngine } from '@verity/engine'
import { type DemoModels, demoModelFiles, writeDemoModels } from '@verity/models'
import { namedTensorsFromJson, namedTensorsToJson } from '@verity/protocol'
import { runCli } from './test/runCli.ts'

const bin = fileURLToPath(new URL('../bin/verity.ts', import.meta.url))
let home = ''
let demo: DemoModels & { outDir: string }
const floatModel = () => join(demo.outDir, demoModelFiles.floatModel)
const int8Model = () => join(demo.outDir, demoModelFiles.int8Model)
const sample = (label: number, kind: 'png' | 'float.json' | 'int8.json') =>
  join(demo.outDir, 'samples', `digit-${label}.${kind}`)
const cli = (...argv: string[]) => runCli(['--home', home, ...argv])

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'verity-cli-'))
  // a small, fast build of the real recipe: the CLI is under test here, not the accuracy
  demo = await writeDemoModels(join(home, 'demo'), { trainCount: 2000, testCount: 200, epochs: 2 })
  assert.equal((await cli('keys', 'new')).code, 0)
  assert.equal((await cli('model', 'add', floatModel(), '--name', 'digits')).code, 0)
  assert.equal((await cli('model', 'add', int8Model(), '--name', 'digits-int8')).code, 0)
})
after(async () => {
  await rm(home, { recursive: true, force: true })
})

function expectError(run: { code: number; stdout: string; stderr: string }, code: string) {
  assert.equal(run.code, 1, `exit status for ${code}: ${run.stdout}${run.stderr}`)
  assert.match(run.stderr, new RegExp(`^error ${code}: `), run.stderr)
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace without --verbose')
}

test('default: runs on the pinned Node (>= 24)', () => {
  assert.ok(Number(process.versions.node.split('.')[0]) >= 24, process.versions.node)
})

test('default: infer writes a receipt that verify accepts', async () => {
  const out = join(home, 'receipt-default.json')
  const infer = await cli(
    '--json',
    'infer',
    'digits-int8',
    '--input',
    sample(3, 'png'),
    '--out',
    out,
  )
  assert.equal(infer.code, 0, infer.stderr)
  const result = infer.json()
  assert.equal(result.receiptPath, out)
  assert.deepEqual(result.outputs.logits.data, demo.samples.find((s) => s.label === 3)!.int8Logits)
  const verify = await cli(
    '--json',
    'verify',
    out,
    '--model',
    'digits-int8',
    '--input',
    sample(3, 'png'),
  )
  assert.equal(verify.code, 0, verify.stdout)
  assert.equal(verify.json().valid, true)
  const human = await cli('verify', out)
  assert.match(human.stdout, /✓ executor\.signature/)
  assert.match(human.stdout, /receipt is valid/)
})

test('behavior: PNG, JSON and .npy forms of the same input give the same input hash and output', async () => {
  const [png, json] = await Promise.all([
    cli(
      '--json',
      'infer',
      'digits-int8',
      '--input',
      sample(5, 'png'),
      '--out',
      join(home, 'r-png.json'),
    ),
    cli(
      '--json',
      'infer',
      'digits-int8',
      '--input',
      sample(5, 'int8.json'),
      '--out',
      join(home, 'r-json.json'),
    ),
  ])
  const inputs = namedTensorsFromJson(JSON.parse(await readFile(sample(5, 'int8.json'), 'utf8')))
  const image = inputs.image!
  const header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${image.shape.join(', ')}), }`
  const padded = `${header}${' '.repeat(63 - ((10 + header.length) % 64))}\n`
  const npy = Buffer.concat([
    Buffer.from([
      0x93,
      0x4e,
      0x55,
      0x4d,
      0x50,
      0x59,
      1,
      0,
      padded.length & 0xff,
      padded.length >> 8,
    ]),
    Buffer.from(padded, 'latin1'),
    Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength),
  ])
  await writeFile(join(home, 'five.npy'), npy)
  const fromNpy = await cli('--json', 'infer', 'digits-int8', '--input', join(home, 'five.npy'))
  for (const run of [png, json, fromNpy]) assert.equal(run.code, 0, run.stderr)
  const receipts = [png, json, fromNpy].map((run) => run.json().receipt)
  assert.equal(receipts[0].job.inputHash, receipts[1].job.inputHash)
  assert.equal(receipts[0].job.inputHash, receipts[2].job.inputHash)
  assert.equal(receipts[0].result.outputHash, receipts[1].result.outputHash)
  assert.equal(receipts[0].result.outputHash, receipts[2].result.outputHash)
  assert.notEqual(receipts[0].job.id, receipts[1].job.id, 'every request has its own nonce')
})

test('behavior: the same model and input give the same output hash in separate processes', async () => {
  const run = promisify(execFile)
  const env = { ...process.env, VERITY_HOME: home }
  const hashes = await Promise.all(
    [1, 2].map(async () => {
      const { stdout } = await run(
        process.execPath,
        [bin, '--json', 'infer', 'digits', '--input', sample(8, 'png')],
        { env },
      )
      return JSON.parse(stdout).receipt.result.outputHash as string
    }),
  )
  assert.equal(hashes[0], hashes[1])
})

test('behavior: the integer demo model gives identical bytes with 1 and 2 threads', async () => {
  const model = JSON.parse((await cli('--json', 'model', 'show', 'digits-int8')).stdout)
  const bytes = await readFile(int8Model())
  const outputs: string[] = []
  for (const intraOpNumThreads of [1, 2]) {
    const engine = createOnnxEngine({ intraOpNumThreads })
    try {
      await engine.load({ id: 'm', bytes, manifest: model.manifest })
      for (const s of demo.samples) {
        const { outputs: out } = await engine.run({
          id: 'm',
          inputs: namedTensorsFromJson(s.int8Input),
        })
        outputs[s.label] = `${outputs[s.label] ?? ''}|${JSON.stringify(namedTensorsToJson(out))}`
      }
    } finally {
      await engine.close()
    }
  }
  for (const line of outputs) {
    const [, one, two] = line.split('|')
    assert.equal(one, two)
  }
})

test('behavior: keys never leak and are written private', async () => {
  const mode = (await stat(join(home, 'key.json'))).mode & 0o777
  assert.equal(mode, 0o600)
  const show = await cli('--json', 'keys', 'show')
  assert.match(show.json().address, /^0x[0-9a-fA-F]{40}$/)
  assert.doesNotMatch(show.stdout, /privateKey/)
  const fromEnv = await runCli(['--home', home, '--json', 'keys', 'show'], {
    VERITY_PRIVATE_KEY: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  })
  assert.equal(fromEnv.json().address, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8')
})

test('error: key problems have their own codes', async () => {
  expectError(await cli('keys', 'new'), 'KEY_EXISTS')
  const bad = join(home, 'bad-key.json')
  await writeFile(bad, '{"version": 1, "address": "0x00", "privateKey": "0x1234"}')
  expectError(await cli('keys', 'show', '--key', bad), 'KEY_INVALID')
  await writeFile(bad, 'not json')
  expectError(await cli('keys', 'show', '--key', bad), 'KEY_INVALID')
  expectError(await cli('keys', 'show', '--key', join(home, 'missing.json')), 'KEY_NOT_FOUND')
  const run = await runCli(['--home', home, 'keys', 'show'], { VERITY_PRIVATE_KEY: '0x00' })
  expectError(run, 'KEY_INVALID')
  assert.doesNotMatch(run.stderr, /0x00/, 'the key itself is never echoed')
})

test('error: bad model files are refused and nothing is stored', async () => {
  const before = (await cli('--json', 'model', 'list')).json().length
  const bytes = await readFile(floatModel())
  await writeFile(join(home, 'truncated.onnx'), bytes.subarray(0, bytes.length / 2))
  expectError(await cli('model', 'add', join(home, 'truncated.onnx')), 'MODEL_INVALID')
  let seed = 7
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed >>> 24
  }
  const random = Buffer.from(Array.from({ length: 4096 }, next))
  await writeFile(join(home, 'random.onnx'), random)
  expectError(await cli('model', 'add', join(home, 'random.onnx')), 'MODEL_INVALID')
  expectError(await cli('model', 'add', join(home, 'nope.onnx')), 'FILE_NOT_FOUND')
  expectError(
    await cli('model', 'add', int8Model(), '--name', 'digits', '--model-version', '1.0.0'),
    'MODEL_AMBIGUOUS',
  )
  expectError(await cli('model', 'add', floatModel(), '--name', 'Bad Name!'), 'MANIFEST_INVALID')
  assert.equal((await cli('--json', 'model', 'list')).json().length, before)
})

test('error: bad inputs get one-line messages with stable codes', async () => {
  const write = async (name: string, text: string) => {
    const path = join(home, name)
    await writeFile(path, text)
    return path
  }
  const image = (shape: number[], dtype = 'uint8') =>
    JSON.stringify({
      image: { dtype, shape, data: Array(shape.reduce((a, b) => a * b, 1)).fill(0) },
    })
  expectError(
    await cli('infer', 'digits-int8', '--input', await write('bad.json', '{"image": ')),
    'INVALID_JSON',
  )
  expectError(
    await cli(
      'infer',
      'digits-int8',
      '--input',
      await write('dtype.json', image([1, 1, 28, 28], 'float32')),
    ),
    'TENSOR_DTYPE_MISMATCH',
  )
  expectError(
    await cli('infer', 'digits-int8', '--input', await write('shape.json', image([1, 1, 28, 27]))),
    'TENSOR_SHAPE_MISMATCH',
  )
  expectError(
    await cli(
      'infer',
      'digits-int8',
      '--input',
      await write('name.json', JSON.stringify({ x: JSON.parse(image([1, 1, 28, 28])).image })),
    ),
    'INPUT_MISSING',
  )
  expectError(
    await cli(
      'infer',
      'digits-int8',
      '--input',
      await write(
        'range.json',
        JSON.stringify({ image: { dtype: 'uint8', shape: [1], data: [256] } }),
      ),
    ),
    'TENSOR_INVALID',
  )
  expectError(
    await cli('infer', 'digits-int8', '--input', await write('fake.png', 'not a png')),
    'INPUT_FORMAT_UNSUPPORTED',
  )
  expectError(
    await cli('infer', 'digits-int8', '--input', join(home, 'missing.json')),
    'FILE_NOT_FOUND',
  )
  expectError(await cli('infer', 'no-such-model', '--input', sample(1, 'png')), 'MODEL_NOT_FOUND')
  const usage = await cli('infer', 'digits-int8')
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /^error INVALID_ARGUMENT: .*--input/)
})

test('error: a tampered receipt fails verify with the matching code and exit status 1', async () => {
  const out = join(home, 'receipt-tamper.json')
  assert.equal((await cli('infer', 'digits', '--input', sample(2, 'png'), '--out', out)).code, 0)
  const receipt = JSON.parse(await readFile(out, 'utf8'))
  const cases: [string, (r: typeof receipt) => void, string][] = [
    [
      'output',
      (r) => (r.result.output.logits.base64 = Buffer.alloc(40).toString('base64')),
      'RECEIPT_OUTPUT_HASH_MISMATCH',
    ],
    ['input hash', (r) => (r.job.inputHash = `0x${'0'.repeat(64)}`), 'RECEIPT_JOB_ID_MISMATCH'],
    [
      'signature',
      (r) => (r.executor.signature = `${r.executor.signature.slice(0, -4)}ab1b`),
      'RECEIPT_SIGNATURE_INVALID',
    ],
    [
      'engine',
      (r) => (r.result.engine.settings.intraOpNumThreads = 4),
      'RECEIPT_ENGINE_HASH_MISMATCH',
    ],
  ]
  for (const [name, mutate, code] of cases) {
    const tampered = structuredClone(receipt)
    mutate(tampered)
    const path = join(home, `tampered-${name.replace(' ', '-')}.json`)
    await writeFile(path, JSON.stringify(tampered))
    const run = await cli('--json', 'verify', path)
    assert.equal(run.code, 1, name)
    assert.equal(run.json().code, code, name)
  }
  const other = await cli('--json', 'verify', out, '--model', 'digits', '--input', sample(4, 'png'))
  assert.equal(other.json().code, 'RECEIPT_INPUT_HASH_MISMATCH')
  expectError(await cli('verify', sample(2, 'png')), 'INVALID_JSON')
})

test('error: a failing command in a real process prints no stack trace and exits 1', async () => {
  const run = promisify(execFile)
  const failure = await run(process.execPath, [bin, 'verify', join(home, 'missing.json')], {
    env: { ...process.env, VERITY_HOME: home },
  }).catch((error: { code: number; stderr: string }) => error)
  assert.equal((failure as { code: number }).code, 1)
  assert.equal((failure as { stderr: string }).stderr.trim().split('\n').length, 1)
  assert.match((failure as { stderr: string }).stderr, /^error FILE_NOT_FOUND: /)
})
