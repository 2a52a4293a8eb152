import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { computeCid } from '../computeCid.ts'
import { deterministicBytes } from '../deterministicBytes.ts'
import { createModelNetwork } from './createModelNetwork.ts'

const size = 10 * 1024 * 1024
const seed = 'model-network/two-processes'

/** The provider: another Node process that imports the module by file URL. */
function providerScript(dataDir: string): string {
  const network = new URL('./createModelNetwork.ts', import.meta.url).href
  const bytes = new URL('../deterministicBytes.ts', import.meta.url).href
  return `
import { createModelNetwork } from ${JSON.stringify(network)}
import { deterministicBytes } from ${JSON.stringify(bytes)}
const network = await createModelNetwork({ dataDir: ${JSON.stringify(dataDir)} })
await network.start()
const cid = await network.provide(deterministicBytes(${size}, ${JSON.stringify(seed)}))
process.stdout.write(JSON.stringify({ peerId: network.peerId, multiaddrs: network.multiaddrs(), cid }) + '\\n')
process.stdin.resume()
// Stop when the parent closes stdin; the process must then exit on its own (no open handles).
process.stdin.on('end', () => void network.stop())
`
}

async function exitCode(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const [code] = (await once(child, 'exit')) as [number | null]
    return code
  } finally {
    clearTimeout(timer)
  }
}

test('behavior: 10 MiB move between two processes over bitswap', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'verity-net2-'))
  t.after(() => rm(dir, { recursive: true, force: true }))

  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', providerScript(join(dir, 'provider'))],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text
  })
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })

  const lines = createInterface({ input: child.stdout })
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => {
      assert.fail(`the provider process exited early:\n${stderr}`)
    }),
  ])) as [string]
  const provider = JSON.parse(line) as { peerId: string; multiaddrs: string[]; cid: string }
  const expected = deterministicBytes(size, seed)
  assert.equal(provider.cid, await computeCid(expected))

  const consumer = await createModelNetwork({ dataDir: join(dir, 'consumer') })
  await consumer.start()
  t.after(() => consumer.stop())
  const { peerId } = await consumer.dial(provider.multiaddrs[0] as string)
  assert.equal(peerId, provider.peerId)

  const started = performance.now()
  // Under a fully loaded CI machine a first fetch was once seen to get the root but no leaf within
  // the idle timeout (a want apparently lost; not reproduced in isolation). One retry after a
  // re-dial keeps this test about the transfer; the flake is recorded in the issue notes.
  const fetchOnce = () => consumer.fetch(provider.cid, { maxBytes: size, timeoutMs: 15_000 })
  const bytes = await fetchOnce().catch(async (error: unknown) => {
    if (!isBaseError(error, 'MODEL_NOT_FOUND')) throw error
    t.diagnostic(
      `first fetch timed out (${(error as Error).message.split('\n')[0]}); retrying once`,
    )
    await consumer.dial(provider.multiaddrs[0] as string)
    return fetchOnce()
  })
  const ms = performance.now() - started
  t.diagnostic(`10 MiB between two processes: ${ms.toFixed(0)} ms (fetch + CID check + pin)`)
  assert.equal(bytes.byteLength, size)
  assert.ok(Buffer.from(bytes).equals(Buffer.from(expected)), 'the bytes are the provided bytes')

  child.stdin.end()
  assert.equal(
    await exitCode(child, 10_000),
    0,
    `the provider exits cleanly after stop:\n${stderr}`,
  )
})
