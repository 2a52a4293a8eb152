import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { keccak256, stringToBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { checkHubSignature, hubDomain, signHubResult } from './hubResult.ts'

const account = privateKeyToAccount(`0x${'33'.repeat(32)}`)
const domain = hubDomain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3')
const message = {
  requestId: 3n,
  inputHash: keccak256(stringToBytes('in')),
  outputHash: keccak256(stringToBytes('out')),
}
const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

test('default: a signed HubResult checks out for its signer, message and domain', async () => {
  const signed = await signHubResult(account, domain, message)
  assert.equal(signed.signer, account.address)
  await checkHubSignature(signed, domain, message)
})

test('error: another message, domain, signer, a high-s twin or a short signature is SIGNATURE_INVALID', async () => {
  const signed = await signHubResult(account, domain, message)
  const s = BigInt(`0x${signed.signature.slice(66, 130)}`)
  const v = Number.parseInt(signed.signature.slice(130), 16)
  const highS =
    `${signed.signature.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as `0x${string}`
  const cases: [Parameters<typeof checkHubSignature>, RegExp][] = [
    [[signed, domain, { ...message, requestId: 4n }], /recovers to/],
    [[signed, hubDomain(1, domain.verifyingContract as `0x${string}`), message], /recovers to/],
    [
      [{ ...signed, signer: '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A' }, domain, message],
      /recovers to/,
    ],
    [[{ ...signed, signature: highS }, domain, message], /high s/],
    [[{ ...signed, signature: '0x1234' }, domain, message], /65 bytes/],
  ]
  for (const [parameters, hint] of cases)
    await assert.rejects(checkHubSignature(...parameters), (error: unknown) => {
      assert.ok(isBaseError(error, 'SIGNATURE_INVALID'))
      assert.match(error.message, hint)
      return true
    })
})
