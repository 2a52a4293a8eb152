import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Writes a file atomically (temp file + rename), so a crash never leaves half a receipt.
 *
 * @example
 * ```ts
 * await writeAtomic('receipt.json', `${canonicalJson(receipt)}\n`)
 * ```
 */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, text, { mode: 0o644 })
  await rename(temporary, path)
}
