import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildDemoModels, type DemoModels } from '@verity/models'
import type { LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

/**
 * Fixed, public test keys (never use them for anything of value).
 *
 * @example
 * ```ts
 * const node = await createVerityNode(options, { account: testAccounts.node })
 * ```
 */
export const testAccounts: { node: LocalAccount; client: LocalAccount } = {
  node: privateKeyToAccount(`0x${'11'.repeat(32)}`),
  client: privateKeyToAccount(`0x${'22'.repeat(32)}`),
}

let demo: Promise<DemoModels> | undefined

/**
 * The demo digit models, built once per test process with a small, fast recipe (the node is under
 * test, not the accuracy).
 *
 * @example
 * ```ts
 * const { int8Model, samples } = await demoModels()
 * ```
 */
export function demoModels(): Promise<DemoModels> {
  demo ??= buildDemoModels({ trainCount: 200, testCount: 20, epochs: 1 })
  return demo
}

/**
 * A fresh temporary folder and its removal.
 *
 * @example
 * ```ts
 * const { dir, remove } = await tempDir('verity-node-')
 * ```
 */
export async function tempDir(
  prefix: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}
