import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The shared third-party test assets (`../shared/assets` beside the repository checkout). Tests
 * read them in place and never copy them into the repository.
 *
 * @example
 * ```ts
 * const bytes = readFileSync(join(assetsDir, 'onnx/onnx-model-zoo-mnist/mnist-8.onnx'))
 * ```
 */
export const assetsDir = fileURLToPath(new URL('../../../../../shared/assets/', import.meta.url))

/**
 * The absolute path of a file in the shared assets, or `undefined` when it is absent (the test
 * then skips with a clear message).
 *
 * @example
 * ```ts
 * test('default', (t) => {
 *   const path = assetPath('onnx/onnx-model-zoo-mnist/mnist-8.onnx')
 *   if (!path) return t.skip('…/shared/assets absent')
 * })
 * ```
 */
export function assetPath(relative: string): string | undefined {
  const path = join(assetsDir, relative)
  return existsSync(path) ? path : undefined
}

/**
 * Message for `t.skip` when the shared assets are missing.
 *
 * @example
 * ```ts
 * if (!assetPath('onnx')) return t.skip(assetsAbsent)
 * ```
 */
export const assetsAbsent = `${assetsDir} absent (shared test assets); skipping`

/**
 * Reads and parses a JSON file from the shared assets.
 *
 * @example
 * ```ts
 * const golden = readAssetJson<{ argmax: number }[]>('onnx/onnx-model-zoo-mnist/LOCAL_golden_outputs_ort1.30.json')
 * ```
 */
export function readAssetJson<T>(relative: string): T {
  return JSON.parse(readFileSync(join(assetsDir, relative), 'utf8')) as T
}
