import { constants } from 'node:fs'
import { mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { accountFromPrivateKey, loadNodeAccount } from '@verity/node'
import { BaseError } from '@verity/protocol'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'

/** The on-disk key file (written with mode 0600). */
export type KeyFile = { version: 1; address: `0x${string}`; privateKey: `0x${string}` }

/**
 * Creates a secp256k1 key file (mode 0600) holding a new random key, or `privateKey` when given
 * (the devnet's test keys); refuses to overwrite an existing file unless `force`.
 *
 * @example
 * ```ts
 * const { address } = await createKeyFile('/home/me/.verity/key.json')
 * ```
 */
export async function createKeyFile(
  path: string,
  options: { force?: boolean; privateKey?: `0x${string}` } = {},
): Promise<KeyFile> {
  const privateKey = options.privateKey ?? generatePrivateKey()
  accountFromPrivateKey(privateKey, 'the key to write')
  const key: KeyFile = { version: 1, address: privateKeyToAccount(privateKey).address, privateKey }
  await mkdir(dirname(path), { recursive: true })
  const flags =
    constants.O_WRONLY | constants.O_CREAT | (options.force ? constants.O_TRUNC : constants.O_EXCL)
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, flags, 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new BaseError('KEY_EXISTS', `A key file already exists at ${path}.`, {
        metaMessages: [
          'Pass --force to replace it (the old key is lost), or --out to write elsewhere.',
        ],
      })
    throw error
  }
  try {
    await handle.writeFile(`${JSON.stringify(key, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  return key
}

/** Loads the signing key (`--key FILE`, else `$VERITY_PRIVATE_KEY`, else the default key file). */
export const loadAccount = loadNodeAccount
