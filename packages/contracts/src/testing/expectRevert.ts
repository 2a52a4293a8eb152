import assert from 'node:assert/strict'
import {
  type Abi,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Hex,
  isHex,
  BaseError as ViemBaseError,
} from 'viem'

/**
 * Awaits `action` and asserts it reverted with the custom error `errorName` (decoded by viem from
 * the ABI), optionally with exactly `args`. Returns the decoded args. Test-only. Pass `abi` for
 * actions viem cannot decode itself (contract deployments): the raw revert data is decoded with it.
 *
 * @example
 * ```ts
 * await expectRevert(registry.write.deprecate([1n], { account: other }), 'NotCreator', [1n, other.address])
 * ```
 */
export async function expectRevert(
  action: Promise<unknown>,
  errorName: string,
  args?: readonly unknown[],
  abi?: Abi,
): Promise<readonly unknown[]> {
  let caught: unknown
  try {
    await action
  } catch (error) {
    caught = error
  }
  assert.ok(caught !== undefined, `expected a revert with ${errorName}, but the call succeeded`)
  assert.ok(caught instanceof ViemBaseError, `expected a viem error, got ${String(caught)}`)
  const reverted = caught.walk((e) => e instanceof ContractFunctionRevertedError)
  if (!reverted && abi) {
    const raw = caught.walk((e) => isHex((e as { data?: unknown }).data)) as { data?: Hex } | null
    assert.ok(raw?.data, `expected revert data for ${errorName}, got: ${caught.shortMessage}`)
    const decoded = decodeErrorResult({ abi, data: raw.data })
    assert.equal(decoded.errorName, errorName)
    if (args !== undefined) assert.deepEqual(decoded.args ?? [], args)
    return decoded.args ?? []
  }
  assert.ok(
    reverted instanceof ContractFunctionRevertedError,
    `expected a contract revert with ${errorName}, got: ${caught.shortMessage}`,
  )
  assert.equal(reverted.data?.errorName, errorName, reverted.shortMessage)
  const decoded = reverted.data?.args ?? []
  if (args !== undefined) assert.deepEqual(decoded, args)
  return decoded
}
