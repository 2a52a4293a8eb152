import { readFile } from 'node:fs/promises'
import { BaseError } from '@verity/protocol'
import { isAddressEqual, isHex, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

// The key-file format written by `verity keys new`: {"version":1,"address","privateKey"}. The CLI
// reads keys with this loader too.

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
 * Parameters of {@link loadNodeAccount}.
 *
 * @example
 * ```ts
 * const parameters: LoadNodeAccountParameters = { file: '/data/key.json', env: process.env }
 * ```
 */
export type LoadNodeAccountParameters = {
  /** The key file to read when the environment has no key (or when `explicitFile`). */
  file: string
  /** The file was named by the operator (`--key-file`): it wins over the environment. */
  explicitFile?: boolean | undefined
  /** Where `VERITY_PRIVATE_KEY` is looked up (default: none). */
  env?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * Loads the node's signing key: an explicit key file, else `$VERITY_PRIVATE_KEY`, else the default
 * key file. Keys never come from argv and are never echoed in errors. Throws `KEY_NOT_FOUND` or
 * `KEY_INVALID`.
 *
 * @example
 * ```ts
 * const account = await loadNodeAccount({ file: '/data/key.json', env: process.env })
 * ```
 */
export async function loadNodeAccount(
  parameters: LoadNodeAccountParameters,
): Promise<LocalAccount> {
  const fromEnv = parameters.env?.VERITY_PRIVATE_KEY
  if (fromEnv !== undefined && fromEnv !== '' && !parameters.explicitFile)
    return accountFromPrivateKey(fromEnv, 'VERITY_PRIVATE_KEY')
  let text: string
  try {
    text = await readFile(parameters.file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BaseError('KEY_NOT_FOUND', `No key file at ${parameters.file}.`, {
        metaMessages: [
          'Create one with `verity keys new --home <dataDir>`, pass --key-file, or set VERITY_PRIVATE_KEY.',
        ],
      })
    throw new BaseError('KEY_INVALID', `The key file ${parameters.file} cannot be read.`, {
      details: (error as Error).message,
    })
  }
  let key: { version?: unknown; address?: unknown; privateKey?: unknown } | null
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
    key.address.length !== 42 ||
    !isAddressEqual(key.address, account.address)
  )
    throw new BaseError(
      'KEY_INVALID',
      `The key file ${parameters.file} names an address that does not match its key.`,
    )
  return account
}
