import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { loadNodeAccount } from './loadNodeAccount.ts'
import { tempDir, testAccounts } from './testing/fixtures.ts'

const keyA = `0x${'11'.repeat(32)}` as const
const keyB = `0x${'22'.repeat(32)}` as const
let dir = ''
let remove: () => Promise<void>
let file = ''

before(async () => {
  ;({ dir, remove } = await tempDir('verity-keys-'))
  file = join(dir, 'key.json')
  await writeFile(
    file,
    JSON.stringify({ version: 1, address: testAccounts.node.address, privateKey: keyA }),
  )
})
after(() => remove())

test('default: reads a CLI key file', async () => {
  const account = await loadNodeAccount({ file })
  assert.equal(account.address, testAccounts.node.address)
})

test('behavior: VERITY_PRIVATE_KEY wins over the default file, an explicit file wins over it', async () => {
  const env = { VERITY_PRIVATE_KEY: keyB }
  assert.equal((await loadNodeAccount({ file, env })).address, testAccounts.client.address)
  assert.equal(
    (await loadNodeAccount({ file, env, explicitFile: true })).address,
    testAccounts.node.address,
  )
})

test('error: missing, malformed and inconsistent keys; the key is never echoed', async () => {
  await assert.rejects(loadNodeAccount({ file: join(dir, 'none.json') }), {
    code: 'KEY_NOT_FOUND',
  })
  const cases: [string, string][] = [
    ['not-json.json', '{'],
    ['version.json', JSON.stringify({ version: 2, privateKey: keyA })],
    [
      'short.json',
      JSON.stringify({ version: 1, address: testAccounts.node.address, privateKey: '0x1234' }),
    ],
    [
      'mismatch.json',
      JSON.stringify({ version: 1, address: testAccounts.client.address, privateKey: keyA }),
    ],
  ]
  for (const [name, text] of cases) {
    const path = join(dir, name)
    await writeFile(path, text)
    await assert.rejects(loadNodeAccount({ file: path }), (error: Error & { code: string }) => {
      assert.equal(error.code, 'KEY_INVALID', name)
      assert.doesNotMatch(error.message, /1111111111/)
      return true
    })
  }
  await assert.rejects(
    loadNodeAccount({ file, env: { VERITY_PRIVATE_KEY: `0x${'00'.repeat(32)}` } }),
    {
      code: 'KEY_INVALID',
      message: /VERITY_PRIVATE_KEY/,
    },
  )
})
