/**
 * `npm run demo`: the whole first layer of Verity on one machine, as a user would drive it. Builds
 * the project's own demo models from their recipe, adds them to the local content-addressed store,
 * runs them with the pinned engine, and verifies the signed receipts — printing each `verity`
 * command it runs so it can be repeated by hand.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { demoModelFiles, writeDemoModels } from '@verity/models'
import { main } from './main.ts'
import { defaultCliOptions, homePaths } from './options.ts'

async function verity(...argv: string[]): Promise<void> {
  process.stdout.write(`\n$ verity ${argv.join(' ')}\n`)
  const code = await main(argv)
  if (code !== 0) {
    process.stderr.write(`demo stopped: \`verity ${argv.join(' ')}\` exited with ${code}\n`)
    process.exit(code)
  }
}

const { home } = defaultCliOptions()
const models = join(home, 'demo-models')
process.stdout.write(
  `Verity demo — data directory ${home}\n\nBuilding the demo models from their recipe…\n`,
)
const demo = await writeDemoModels(
  models,
  {},
  {
    onProgress: (event) => {
      if (event.phase === 'train')
        process.stdout.write(
          `  epoch ${event.epoch}/${event.epochs} loss ${event.loss.toFixed(4)}\r`,
        )
    },
  },
)
const { metrics } = demo
process.stdout.write(
  [
    '',
    `  float accuracy ${(metrics.floatTestAccuracy * 100).toFixed(2)}%, int8 accuracy ${(metrics.int8TestAccuracy * 100).toFixed(2)}%, int8/float agreement ${(metrics.agreement * 100).toFixed(2)}%`,
    `  ${demoModelFiles.floatModel} sha256 ${demo.sha256.floatModel}`,
    `  ${demoModelFiles.int8Model} sha256 ${demo.sha256.int8Model}`,
    '',
  ].join('\n'),
)

if (!existsSync(homePaths(home).key) && process.env.VERITY_PRIVATE_KEY === undefined)
  await verity('keys', 'new')
await verity(
  'model',
  'add',
  join(models, demoModelFiles.floatModel),
  '--name',
  'digits-mlp',
  '--license',
  'Apache-2.0',
)
await verity(
  'model',
  'add',
  join(models, demoModelFiles.int8Model),
  '--name',
  'digits-mlp-int8',
  '--license',
  'Apache-2.0',
)

const sample = join(models, 'samples', 'digit-7.png')
const receipt = join(home, 'receipts', 'demo-digit-7.json')
await verity('infer', 'digits-mlp', '--input', sample)
await verity('infer', 'digits-mlp-int8', '--input', sample, '--out', receipt)
await verity('verify', receipt)

process.stdout.write(
  [
    '',
    'Try it yourself (from the repository root):',
    `  npx verity model list`,
    `  npx verity infer digits-mlp-int8 --input ${join(models, 'samples', 'digit-3.png')} --out receipt.json`,
    `  npx verity verify receipt.json`,
    `  npx verity model add ../shared/assets/onnx/onnx-model-zoo-mnist/mnist-8.onnx --name mnist-8`,
    '',
  ].join('\n'),
)
