// Latency of one inference through the node vs the engine alone, on the int8 demo model:
//   node packages/node/scripts/benchInfer.ts [runs]
// Prints p50/p90 in ms for: engine.run, POST /v1/infer in-process (app.request, no socket),
// POST /v1/infer over loopback HTTP, and the SDK's infer (getModel + POST + offline verification).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOnnxEngine } from '@verity/engine'
import { buildDemoModels } from '@verity/models'
import { type NamedTensorsJson, namedTensorsFromJson } from '@verity/protocol'
import { createClient, http, infer } from '@verity/sdk'
import { privateKeyToAccount } from 'viem/accounts'
import { createLogger, createVerityNode } from '../src/index.ts'

const runs = Number(process.argv[2] ?? 300)
const warmup = 20

async function measure(name: string, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < warmup; i++) await call()
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    await call()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  const at = (q: number) =>
    (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(3)
  console.log(`${name.padEnd(36)} p50 ${at(0.5)} ms   p90 ${at(0.9)} ms   (${runs} runs)`)
}

const dir = await mkdtemp(join(tmpdir(), 'verity-bench-'))
try {
  const demo = await buildDemoModels({ trainCount: 200, testCount: 20, epochs: 1 })
  const sample = demo.samples[0]?.int8Input as NamedTensorsJson
  const inputs = namedTensorsFromJson(sample)
  const node = await createVerityNode(
    { dataDir: dir },
    {
      account: privateKeyToAccount(`0x${'11'.repeat(32)}`),
      logger: createLogger({ level: 'silent' }),
    },
  )
  const url = await node.start()
  const published = (await (
    await fetch(`${url}/v1/models?name=digits-int8`, { method: 'POST', body: demo.int8Model })
  ).json()) as {
    cid: string
    manifest: Parameters<ReturnType<typeof createOnnxEngine>['load']>[0]['manifest']
  }

  const engine = createOnnxEngine()
  await engine.load({ id: published.cid, bytes: demo.int8Model, manifest: published.manifest })
  await measure('engine.run (worker process)', () => engine.run({ id: published.cid, inputs }))
  await engine.close()

  const body = JSON.stringify({ model: published.cid, inputs: sample })
  await measure('POST /v1/infer in-process', async () => {
    const response = await node.app.request('/v1/infer', { method: 'POST', body })
    await response.arrayBuffer()
  })
  await measure('POST /v1/infer over loopback HTTP', async () => {
    const response = await fetch(`${url}/v1/infer`, { method: 'POST', body })
    await response.arrayBuffer()
  })
  const client = createClient({
    transport: http(url),
    account: privateKeyToAccount(`0x${'22'.repeat(32)}`),
  })
  await measure('sdk infer (signed, verified)', () =>
    infer(client, { model: published.cid, inputs }),
  )
  await node.stop()
} finally {
  await rm(dir, { recursive: true, force: true })
}
