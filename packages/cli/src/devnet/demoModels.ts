import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { computeCid } from '@verity/hub'
import {
  buildTinyGguf,
  type DemoModelsProgress,
  demoCnnFiles,
  demoModelFiles,
  writeDemoCnn,
  writeDemoModels,
  writeTinyGguf,
} from '@verity/models'
import type { Hash } from '@verity/protocol'
import { type Client, listModels, publishModel } from '@verity/sdk'

/**
 * One demo model as the devnet publishes it.
 *
 * @example
 * ```ts
 * const model: DemoModelFile = { name: 'digits-mlp-int8', file: '/d/demo-models/digits-mlp-int8.onnx', description: '…' }
 * ```
 */
export type DemoModelFile = { name: string; file: string; description: string }

/**
 * The demo models in a folder written by `writeDemoModels`, and whether they were built now.
 *
 * @example
 * ```ts
 * const { models, samples } = await ensureDemoModels('/d/demo-models')
 * ```
 */
export type EnsureDemoModelsReturnType = {
  models: DemoModelFile[]
  /** `samples/` with one PNG and JSON inputs per digit. */
  samples: string
  built: boolean
}

const version = '1.0.0'
const license = 'Apache-2.0'

type RecipeJson = { models?: Record<string, { file?: string; sha256?: string }> }

async function intact(dir: string): Promise<boolean> {
  let recipe: RecipeJson
  try {
    recipe = JSON.parse(await readFile(join(dir, demoModelFiles.recipe), 'utf8'))
  } catch {
    return false
  }
  for (const [key, file] of [
    ['float', demoModelFiles.floatModel],
    ['int8', demoModelFiles.int8Model],
  ] as const) {
    const expected = recipe.models?.[key]?.sha256
    let bytes: Buffer
    try {
      bytes = await readFile(join(dir, file))
    } catch {
      return false
    }
    if (createHash('sha256').update(bytes).digest('hex') !== expected) return false
  }
  return true
}

/**
 * The project's demo models in `dir`: reused when `recipe.json` and both ONNX files are there and
 * match their recorded sha256, else built from the recipe (`writeDemoModels`, ≈10 s).
 *
 * @example
 * ```ts
 * await ensureDemoModels(dir, (event) => console.error(event.phase))
 * ```
 */
export async function ensureDemoModels(
  dir: string,
  onProgress?: (event: DemoModelsProgress) => void,
): Promise<EnsureDemoModelsReturnType> {
  const built = !(await intact(dir))
  if (built) await writeDemoModels(dir, {}, onProgress ? { onProgress } : {})
  // the demo CNN (zk mode's second demo): rebuilt unless its recorded sha256 still matches
  const cnnRecipe = await readFile(join(dir, demoCnnFiles.recipe), 'utf8')
    .then((text) => JSON.parse(text) as RecipeJson)
    .catch(() => undefined)
  const cnnBytes = await readFile(join(dir, demoCnnFiles.int8Onnx)).catch(() => undefined)
  if (
    cnnBytes === undefined ||
    createHash('sha256').update(cnnBytes).digest('hex') !== cnnRecipe?.models?.int8?.sha256
  )
    await writeDemoCnn(dir)
  // the project's own tiny LLM (byte-reproducible): rewritten unless it is intact
  const tinyFile = join(dir, 'tiny-llama.gguf')
  const expected = createHash('sha256').update(buildTinyGguf()).digest('hex')
  const existing = await readFile(tinyFile).catch(() => undefined)
  if (existing === undefined || createHash('sha256').update(existing).digest('hex') !== expected)
    await writeTinyGguf(tinyFile)
  return {
    built,
    samples: join(dir, demoModelFiles.samples),
    models: [
      {
        name: 'digits-mlp-int8',
        file: join(dir, demoModelFiles.int8Model),
        description:
          'Verity demo digit classifier, integer-only (uint8 image → int32 logits), bit-exact everywhere',
      },
      {
        name: 'digits-mlp',
        file: join(dir, demoModelFiles.floatModel),
        description: 'Verity demo digit classifier, float32 (image / 255 → logits)',
      },
      {
        name: 'digits-cnn-int8',
        file: join(dir, demoCnnFiles.int8Onnx),
        description:
          'Verity demo digit classifier, small integer CNN (conv 3×3×4 stride 2, max pool, dense): provable in zero knowledge',
      },
      {
        name: 'tiny-llama',
        file: tinyFile,
        description:
          'Verity tiny test LLM (GGUF, llama architecture, 891 KB): recites its word list; for trying the chat API',
      },
    ],
  }
}

/**
 * A model a node serves after {@link publishToNode}.
 *
 * @example
 * ```ts
 * const published: PublishedModel = { name: 'digits-mlp-int8', version: '1.0.0', cid, manifestHash, uploaded: true }
 * ```
 */
export type PublishedModel = {
  name: string
  version: string
  cid: string
  manifestHash: Hash
  /** False when the node already had it (nothing was sent). */
  uploaded: boolean
}

/**
 * Makes a node serve the demo models through the SDK: `listModels`, then `publishModel` for each
 * one whose CID (computed here) the node does not serve yet. The bytes go to every node: IPFS
 * fetch-on-first-use is not wired into the node yet.
 *
 * @example
 * ```ts
 * const published = await publishToNode(client, models)
 * ```
 */
export async function publishToNode(
  client: Client,
  models: readonly DemoModelFile[],
  signal?: AbortSignal,
): Promise<PublishedModel[]> {
  const present = await listModels(client, { signal })
  const out: PublishedModel[] = []
  for (const model of models) {
    const bytes = await readFile(model.file)
    const cid = await computeCid(bytes)
    const have = present.find((entry) => entry.cid === cid)
    if (have) {
      out.push({
        name: have.name,
        version: have.version,
        cid,
        manifestHash: have.manifestHash,
        uploaded: false,
      })
      continue
    }
    const added = await publishModel(client, {
      bytes,
      name: model.name,
      version,
      license,
      description: model.description,
      signal,
    })
    out.push({
      name: model.name,
      version,
      cid: added.cid,
      manifestHash: added.manifestHash,
      uploaded: added.added,
    })
  }
  return out
}
