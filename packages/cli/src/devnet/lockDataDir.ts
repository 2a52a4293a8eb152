import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { BaseError } from '@verity/protocol'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the devnet lock of a data directory: a file holding this process's pid, created
 * exclusively. A lock left by a process that no longer runs is taken over; a live one is refused
 * (`INVALID_ARGUMENT`: two devnets would share keys, ports and chain state). Returns the release.
 *
 * @example
 * ```ts
 * const release = await lockDataDir('/tmp/devnet/devnet.pid')
 * try { … } finally { await release() }
 * ```
 */
export async function lockDataDir(path: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true })
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644)
      try {
        await handle.writeFile(`${process.pid}\n`)
      } finally {
        await handle.close()
      }
      return async () => {
        await rm(path, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
      throw new BaseError(
        'INVALID_ARGUMENT',
        `A devnet (pid ${pid}) is already running on ${dirname(path)}.`,
        {
          metaMessages: [
            'Stop it (Ctrl+C in its terminal), or pass another --data-dir for a second devnet.',
          ],
        },
      )
    await rm(path, { force: true }) // stale: its process is gone
  }
}
