import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { buildTinyGguf } from '@verity/models'
import { createLogger, createVerityNode, type VerityNode } from '@verity/node'
import { verifyReceipt } from '@verity/protocol'
import { privateKeyToAccount } from 'viem/accounts'
import { runCli } from '../test/runCli.ts'

// `verity chat` against a real node in this process serving the tiny GGUF the project builds.

let home = ''
let node: VerityNode
let url = ''
const cli = (argv: string[], stdin?: string) =>
  runCli(['--home', home, ...argv], {}, stdin === undefined ? {} : { stdin })

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'verity-cli-chat-'))
  node = await createVerityNode(
    { dataDir: join(home, 'node'), port: 0 },
    {
      account: privateKeyToAccount(`0x${'11'.repeat(32)}`),
      logger: createLogger({ level: 'silent' }),
      env: {},
    },
  )
  url = await node.start()
  const response = await fetch(`${url}/v1/models?name=tiny&license=MIT`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: buildTinyGguf(),
  })
  assert.ok(response.status === 201 || response.status === 200, await response.text())
})

after(async () => {
  await node?.stop()
  await rm(home, { recursive: true, force: true })
})

test('default: chat streams the answer, prints the receipt id and writes the receipt', async () => {
  const out = join(home, 'chat-receipt.json')
  const flags = ['--node', url, '--max-tokens', '8', '--temperature', '0']
  const run = await cli(['chat', 'tiny', 'once upon a time', ...flags, '--out', out])
  assert.equal(run.code, 0, run.stderr)
  const receipt = JSON.parse(await readFile(out, 'utf8'))
  assert.equal(run.stdout, `${receipt.text.output.text}\n`)
  assert.ok(receipt.text.output.text.length > 0)
  assert.match(run.stderr, new RegExp(`receipt ${receipt.job.id} \\(verified offline`))
  assert.equal((await verifyReceipt(receipt)).valid, true)

  const json = await cli(['--json', 'chat', 'tiny', 'once upon a time', ...flags])
  assert.equal(json.code, 0, json.stderr)
  const document = json.json()
  assert.equal(document.text, receipt.text.output.text)
  assert.equal(document.usage.completionTokens, 8)
  assert.equal(document.verified, true)
  assert.equal(document.receipt.job.id, document.jobId)
})

test('behavior: without a prompt, each stdin line is a turn and the history goes with the next', async () => {
  const flags = ['--node', url, '--max-tokens', '6', '--temperature', '0']
  const run = await cli(['--json', 'chat', 'tiny', ...flags], 'once upon a time\n\nthe end\n')
  assert.equal(run.code, 0, run.stderr)
  const { turns, messages } = run.json()
  assert.equal(turns.length, 2)
  assert.deepEqual(turns[1].receipt.text.input.messages, [
    { role: 'user', content: 'once upon a time' },
    { role: 'assistant', content: turns[0].text },
    { role: 'user', content: 'the end' },
  ])
  assert.equal(messages.length, 4)
  assert.notEqual(turns[0].jobId, turns[1].jobId)

  const streamed = await cli(['chat', 'tiny', ...flags], 'once upon a time\n/exit\nnot sent\n')
  assert.equal(streamed.code, 0, streamed.stderr)
  assert.equal(streamed.stdout, `${turns[0].text}\n`)
  assert.equal(streamed.stderr.match(/receipt 0x[0-9a-f]{64}/g)?.length, 1)
})

test('behavior: sampling, stop, system, JSON schema and a signing key go into the signed request and the receipt', async () => {
  const schemaFile = join(home, 'schema.json')
  const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }
  await writeFile(schemaFile, JSON.stringify(schema))
  const keyHex = `0x${'44'.repeat(32)}` as const
  const flags = [
    '--node',
    url,
    '--max-tokens',
    '24',
    '--temperature',
    '0.7',
    '--top-p',
    '0.9',
    '--top-k',
    '20',
    '--seed',
    '5',
    '--stop',
    'zzz',
    '--stop',
    'qqq',
    '--system',
    'Be brief.',
    '--json-schema',
    schemaFile,
  ]
  const signed = await runCli(['--home', home, '--json', 'chat', 'tiny', 'hello', ...flags], {
    VERITY_PRIVATE_KEY: keyHex,
  })
  assert.equal(signed.code, 0, signed.stderr)
  const { receipt, text } = signed.json()
  assert.deepEqual(receipt.text.params, {
    maxTokens: 24,
    temperature: 0.7,
    topP: 0.9,
    topK: 20,
    seed: 5,
    stop: ['zzz', 'qqq'],
    responseFormat: { type: 'json_schema', schema },
  })
  assert.deepEqual(receipt.text.input.messages[0], { role: 'system', content: 'Be brief.' })
  assert.equal(
    receipt.job.requester.toLowerCase(),
    privateKeyToAccount(keyHex).address.toLowerCase(),
  )
  assert.equal(typeof JSON.parse(text).ok, 'boolean')
  const bad = await cli(['chat', 'tiny', 'hi', '--node', url, '--quorum', '2', '--mode', 'none'])
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /--quorum needs --mode reexec/)
})

test('error: bad flags and unknown models exit non-zero with their codes', async () => {
  const bad = await cli(['chat', 'tiny', 'hi', '--node', url, '--temperature', 'hot'])
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /^error INVALID_ARGUMENT: --temperature must be a number/)
  const missing = await cli(['chat', 'nope', 'hi', '--node', url, '--max-tokens', '2'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /^error MODEL_NOT_FOUND: /)
})
