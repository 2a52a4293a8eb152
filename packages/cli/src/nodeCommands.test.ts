import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type DemoModels, demoModelFiles, writeDemoModels } from '@verity/models'
import { createLogger, createVerityNode, type VerityNode } from '@verity/node'
import { publishModel } from '@verity/sdk'
import { privateKeyToAccount } from 'viem/accounts'
import { createNodeClient } from './nodeClient.ts'
import { createProgress } from './progress.ts'
import { runCli } from './test/runCli.ts'

// `verity infer|models|model publish --node URL` against a real node (in this process, real HTTP
// on loopback), and the error paths of the network-facing flags.

const bin = fileURLToPath(new URL('../bin/verity.ts', import.meta.url))
const requesterKey = `0x${'22'.repeat(32)}` as const
let home = ''
let demo: DemoModels & { outDir: string }
let node: VerityNode
let url = ''
let closedUrl = ''
const cli = (...argv: string[]) => runCli(['--home', home, ...argv])
const int8Model = () => join(demo.outDir, demoModelFiles.int8Model)
const sample = (label: number) => join(demo.outDir, 'samples', `digit-${label}.png`)

/** A loopback URL where nothing listens (a port that was free a moment ago). */
async function closedPortUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

function expectError(run: { code: number; stdout: string; stderr: string }, code: string) {
  assert.equal(run.code, 1, `exit status for ${code}: ${run.stdout}${run.stderr}`)
  assert.match(run.stderr, new RegExp(`^error ${code}: `), run.stderr)
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace without --verbose')
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'verity-cli-node-'))
  demo = await writeDemoModels(join(home, 'demo'), { trainCount: 1000, testCount: 50, epochs: 1 })
  await writeFile(
    join(home, 'key.json'),
    `${JSON.stringify({ version: 1, address: privateKeyToAccount(requesterKey).address, privateKey: requesterKey })}\n`,
    { mode: 0o600 },
  )
  node = await createVerityNode(
    { dataDir: join(home, 'node'), port: 0, network: { chainId: 31337 } },
    {
      account: privateKeyToAccount(`0x${'11'.repeat(32)}`),
      logger: createLogger({ level: 'silent' }),
      env: {},
    },
  )
  url = await node.start()
  closedUrl = await closedPortUrl()
})
after(async () => {
  await node?.stop()
  await rm(home, { recursive: true, force: true })
})

test('default: publish to a node, list it there, infer on it and verify the receipt offline', async () => {
  const published = await cli(
    '--json',
    'model',
    'publish',
    int8Model(),
    '--node',
    url,
    '--name',
    'digits-int8',
  )
  assert.equal(published.code, 0, published.stderr)
  const { cid, added } = published.json()
  assert.equal(added, true)
  assert.equal(published.stderr, '', 'no progress lines when stderr is not a terminal')

  const again = await cli(
    '--json',
    'model',
    'publish',
    int8Model(),
    '--node',
    url,
    '--name',
    'digits-int8',
  )
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.json().cid, cid)
  assert.equal(again.json().added, false, 'same bytes, same CID: nothing new')
  expectError(
    await cli('model', 'publish', int8Model(), '--node', url, '--name', 'other-name'),
    'MODEL_AMBIGUOUS',
  )

  const listed = await cli('--json', 'models', '--node', url)
  assert.equal(listed.code, 0, listed.stderr)
  assert.deepEqual(
    listed.json().map((m: { name: string; cid: string }) => [m.name, m.cid]),
    [['digits-int8', cid]],
  )
  const human = await cli('models', '--node', url)
  assert.match(human.stdout, new RegExp(`digits-int8@1\\.0\\.0\\s+${cid}`))

  const out = join(home, 'remote-receipt.json')
  const infer = await cli(
    '--json',
    'infer',
    'digits-int8',
    '--input',
    sample(4),
    '--node',
    url,
    '--mode',
    'none',
    '--out',
    out,
  )
  assert.equal(infer.code, 0, infer.stderr)
  const result = infer.json()
  assert.equal(result.executor, node.address)
  assert.equal(result.verified, true)
  assert.deepEqual(
    result.outputs.logits.data,
    demo.samples.find((s) => s.label === 4)!.int8Logits,
    'the node computes what the recipe says',
  )
  const receipt = JSON.parse(await readFile(out, 'utf8'))
  assert.equal(receipt.job.requester, privateKeyToAccount(requesterKey).address)
  assert.equal(receipt.job.mode, 'none')
  const verify = await cli('--json', 'verify', out, '--executor', node.address)
  assert.equal(verify.code, 0, verify.stdout)
  assert.equal(verify.json().valid, true)
})

test('behavior: uploads stream in chunks and report monotonic progress up to the full size', async () => {
  const bytes = new Uint8Array(await readFile(join(demo.outDir, demoModelFiles.floatModel)))
  const events: [number, number][] = []
  const client = createNodeClient(url, {
    onUploadProgress: (sent, total) => events.push([sent, total]),
  })
  const published = await publishModel(client, { bytes, name: 'digits-float' })
  assert.ok(events.length >= 1)
  assert.deepEqual(events.at(-1), [bytes.length, bytes.length])
  for (let i = 1; i < events.length; i++) assert.ok(events[i]![0] > events[i - 1]![0])
  const direct = await publishModel(createNodeClient(url), { bytes, name: 'digits-float' })
  assert.equal(direct.cid, published.cid, 'the streamed body is the same bytes')
  assert.equal(direct.added, false)
})

test('behavior: progress redraws one spinner line on a terminal and prints plain lines elsewhere', () => {
  let tty = ''
  const onTty = createProgress({ stdout: () => {}, stderr: (t) => (tty += t) }, { tty: true })
  const step = onTty.step('Uploading m.onnx')
  step.bytes(512, 1024)
  step.done('published')
  const clear = '\r\x1b[K'
  assert.ok(
    tty.includes(
      `${clear}⠋ Uploading m.onnx… [${'#'.repeat(12)}${' '.repeat(12)}] 50% 512 B/1.0 kB`,
    ),
    tty,
  )
  assert.match(tty.split(clear).at(-1)!, /^✓ Uploading m\.onnx \(published, \d+\.\d s\)\n$/)

  let plain = ''
  const onPipe = createProgress({ stdout: () => {}, stderr: (t) => (plain += t) }, { tty: false })
  onPipe.step('Starting anvil').done('http://127.0.0.1:8545')
  onPipe.step('Deploying').fail()
  assert.match(
    plain,
    /^✓ Starting anvil \(http:\/\/127\.0\.0\.1:8545, \d+\.\d s\)\n✗ Deploying \(\d+\.\d s\)\n$/,
  )

  let quiet = ''
  createProgress({ stdout: () => {}, stderr: (t) => (quiet += t) }, { tty: false, plain: false })
    .step('x')
    .done()
  assert.equal(quiet, '')
})

test('error: an unreachable node is a one-line NODE_UNAVAILABLE error with exit 1', async () => {
  expectError(await cli('models', '--node', closedUrl), 'NODE_UNAVAILABLE')
  expectError(
    await cli('infer', 'digits-int8', '--input', sample(1), '--node', closedUrl),
    'NODE_UNAVAILABLE',
  )
  expectError(await cli('model', 'publish', int8Model(), '--node', closedUrl), 'NODE_UNAVAILABLE')
  const json = await cli('--json', 'models', '--node', closedUrl)
  assert.equal(json.code, 1)
  assert.equal(json.json().error.code, 'NODE_UNAVAILABLE')
})

test('error: a failing network command in a real process prints one line and exits 1', async () => {
  const run = await promisify(execFile)(process.execPath, [bin, 'models', '--node', closedUrl], {
    env: { ...process.env, VERITY_HOME: home },
  }).then(
    () => assert.fail('expected exit status 1'),
    (error: { code: number; stdout: string; stderr: string }) => error,
  )
  assert.equal(run.code, 1)
  const [first, ...rest] = run.stderr.trimEnd().split('\n')
  assert.match(
    first!,
    /^error NODE_UNAVAILABLE: Cannot reach the Verity node at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\.$/,
  )
  assert.ok(
    rest.every((line) => line.startsWith('  ')),
    run.stderr,
  )
})

test('error: network flags are checked before anything is sent', async () => {
  expectError(
    await cli('infer', 'digits-int8', '--input', sample(1), '--mode', 'reexec'),
    'INVALID_ARGUMENT',
  )
  expectError(
    await cli('infer', 'digits-int8', '--input', sample(1), '--quorum', '2'),
    'INVALID_ARGUMENT',
  )
  expectError(
    await cli('infer', 'digits-int8', '--input', sample(1), '--node', url, '--quorum', '2'),
    'INVALID_ARGUMENT',
  )
  expectError(
    await cli(
      'infer',
      'digits-int8',
      '--input',
      sample(1),
      '--node',
      url,
      '--mode',
      'reexec',
      '--quorum',
      'two',
    ),
    'INVALID_ARGUMENT',
  )
  expectError(await cli('models', '--node', 'not a url'), 'INVALID_ARGUMENT')
  expectError(await cli('models', '--node', 'ftp://127.0.0.1:1'), 'INVALID_ARGUMENT')
  const usage = await cli('infer', 'digits-int8', '--input', sample(1), '--mode', 'tee')
  assert.equal(usage.code, 2, 'a mode outside the choices is a usage error')
  assert.match(
    usage.stderr,
    /^error INVALID_ARGUMENT: option '--mode <mode>' argument 'tee' is invalid/,
  )
})

test('error: the node answers with its own code for a model it does not serve', async () => {
  expectError(
    await cli('infer', 'no-such-model', '--input', sample(1), '--node', url),
    'MODEL_NOT_FOUND',
  )
})

test('behavior: `verity node` hands its flags to the daemon (usage, usage errors)', async () => {
  const exec = promisify(execFile)
  const help = await exec(process.execPath, [bin, 'node', '--help'])
  assert.match(help.stdout, /--data-dir DIR/)
  assert.match(help.stdout, /--key-file FILE/)
  const bad = await exec(process.execPath, [bin, 'node', '--port', 'eighty']).then(
    () => assert.fail('expected a usage error'),
    (error: { code: number; stderr: string }) => error,
  )
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /^error INVALID_ARGUMENT: --port must be a non-negative integer/)
})

test("error: a model over the node's size limit is refused with the node's code mid-upload", async () => {
  const small = await createVerityNode(
    { dataDir: join(home, 'small-node'), port: 0, maxModelBytes: 4096 },
    {
      account: privateKeyToAccount(`0x${'33'.repeat(32)}`),
      logger: createLogger({ level: 'silent' }),
      env: {},
    },
  )
  const smallUrl = await small.start()
  try {
    const big = join(home, 'big.onnx')
    const bytes = new Uint8Array(3 * 1024 * 1024)
    bytes.set(await readFile(int8Model()))
    await writeFile(big, bytes)
    expectError(await cli('model', 'publish', big, '--node', smallUrl), 'REQUEST_TOO_LARGE')
  } finally {
    await small.stop()
  }
})

test('behavior: `verity node` runs the daemon in the foreground on the home key and stops on SIGINT', {
  timeout: 60_000,
}, async () => {
  // --data-dir defaults to the home, where `verity keys new` wrote key.json
  const child = spawn(process.execPath, [bin, '--home', home, 'node', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VERITY_PRIVATE_KEY: undefined },
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const listening = await new Promise<{ url: string; pid: number; address: string }>(
    (resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line)
        if (entry.msg === 'listening') resolve(entry)
      })
      void exited.then((code) => reject(new Error(`verity node exited (${code}) before listening`)))
    },
  )
  assert.equal(listening.address, privateKeyToAccount(requesterKey).address)
  const listed = await cli('--json', 'models', '--node', listening.url)
  assert.equal(listed.code, 0, listed.stderr)
  child.kill('SIGINT')
  assert.equal(await exited, 0)
  assert.throws(() => process.kill(listening.pid, 0), { code: 'ESRCH' }, 'the daemon is gone')
})
