import { constants } from 'node:fs'
import { mkdir, open, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { BaseError } from '@verity/protocol'
import { isAddressEqual, isHex, type LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'

/** The on-disk key file (written with mode 0600). */
export type KeyFile = { version: 1; address: `0x${string}`; privateKey: `0x${string}` }

const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** Validates a hex private key and returns its account; throws `KEY_INVALID` without echoing the key. */
export function accountFromPrivateKey(privateKey: unknown, source: string): LocalAccount {
  if (typeof privateKey !== 'string' || !isHex(privateKey) || privateKey.length !== 66)
    throw new BaseError(
      'KEY_INVALID',
      `The private key in ${source} is not 32 bytes of 0x-prefixed hex.`,
    )
  const value = BigInt(privateKey)
  if (value === 0n || value >= secp256k1Order)
    throw new BaseError(
      'KEY_INVALID',
      `The private key in ${source} is outside the secp256k1 range.`,
    )
  return privateKeyToAccount(privateKey)
}

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

/**
 * Loads the signing key: `--key FILE`, else `$VERITY_PRIVATE_KEY`, else the default key file.
 * Keys never come from argv.
 *
 * @example
 * ```ts
 * const account = await loadAccount({ file: paths.key, env: process.env })
 * ```
 */
export async function loadAccount(parameters: {
  file: string
  explicitFile?: boolean
  env?: NodeJS.ProcessEnv
}): Promise<LocalAccount> {
  const fromEnv = parameters.env?.VERITY_PRIVATE_KEY
  if (fromEnv !== undefined && !parameters.explicitFile)
    return accountFromPrivateKey(fromEnv, 'VERITY_PRIVATE_KEY')
  let text: string
  try {
    text = await readFile(parameters.file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BaseError('KEY_NOT_FOUND', `No key file at ${parameters.file}.`, {
        metaMessages: ['Create one with `verity keys new`, or set VERITY_PRIVATE_KEY.'],
      })
    throw error
  }
  let key: Partial<KeyFile>
  try {
    key = JSON.parse(text)
  } catch {
    throw new BaseError('KEY_INVALID', `The key file ${parameters.file} is not JSON.`, {
      metaMessages: [
        'Expected {"version": 1, "address": "0x…", "privateKey": "0x…"} as written by `verity keys new`.',
      ],
    })
  }
  if (typeof key !== 'object' || key === null || key.version !== 1)
    throw new BaseError(
      'KEY_INVALID',
      `The key file ${parameters.file} is not a version 1 Verity key file.`,
    )
  const account = accountFromPrivateKey(key.privateKey, parameters.file)
  if (
    typeof key.address !== 'string' ||
    !isHex(key.address) ||
    !isAddressEqual(key.address, account.address)
  )
    throw new BaseError(
      'KEY_INVALID',
      `The key file ${parameters.file} names an address that does not match its key.`,
    )
  return account
}
