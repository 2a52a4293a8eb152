import { BaseError, type Hash, type HubResultMessage, verityTypes } from '@verity/protocol'
import {
  isAddressEqual,
  type LocalAccount,
  recoverTypedDataAddress,
  type TypedDataDomain,
} from 'viem'

/**
 * One entry of `InferenceHub.fulfill`'s `signatures`: a node's EIP-712 `HubResult` signature.
 *
 * @example
 * ```ts
 * const signed: HubSigned = { signer: account.address, signature: '0x…' }
 * ```
 */
export type HubSigned = { signer: `0x${string}`; signature: Hash }

/**
 * The EIP-712 domain of `HubResult` signatures: the hub contract's own (`EIP712("Verity", "1")`).
 *
 * @example
 * ```ts
 * const domain = hubDomain(31337, contracts.inferenceHub)
 * ```
 */
export function hubDomain(chainId: number, hub: `0x${string}`): TypedDataDomain {
  return { name: 'Verity', version: '1', chainId, verifyingContract: hub }
}

/**
 * Signs `HubResult(requestId, inputHash, outputHash)` with a node key under the hub's domain.
 *
 * @example
 * ```ts
 * const own = await signHubResult(account, hubDomain(chainId, hub), { requestId, inputHash, outputHash })
 * ```
 */
export async function signHubResult(
  account: LocalAccount,
  domain: TypedDataDomain,
  message: HubResultMessage,
): Promise<HubSigned> {
  const signature = await account.signTypedData({
    domain,
    types: verityTypes,
    primaryType: 'HubResult',
    message,
  })
  return { signer: account.address, signature }
}

// secp256k1 group order / 2: OpenZeppelin's ECDSA (the hub's) refuses high-s signatures.
const halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * Checks that `signature` is a 65-byte, low-s `HubResult` signature by `signer` under `domain`,
 * the form `InferenceHub.fulfill` accepts. Throws `SIGNATURE_INVALID` naming what is wrong.
 *
 * @example
 * ```ts
 * await checkHubSignature({ signer, signature }, domain, { requestId, inputHash, outputHash })
 * ```
 */
export async function checkHubSignature(
  signed: HubSigned,
  domain: TypedDataDomain,
  message: HubResultMessage,
): Promise<void> {
  const { signer, signature } = signed
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature))
    throw new BaseError(
      'SIGNATURE_INVALID',
      `The HubResult signature of ${signer} is not 65 bytes of hex.`,
      { metaMessages: ['Sign with viem signTypedData (r ‖ s ‖ v).'] },
    )
  if (BigInt(`0x${signature.slice(66, 130)}`) > halfOrder)
    throw new BaseError(
      'SIGNATURE_INVALID',
      `The HubResult signature of ${signer} has a high s value (malleable form).`,
      { metaMessages: ['The hub refuses it; sign with viem signTypedData (low-s).'] },
    )
  let recovered: `0x${string}`
  try {
    recovered = await recoverTypedDataAddress({
      domain,
      types: verityTypes,
      primaryType: 'HubResult',
      message,
      signature,
    })
  } catch (cause) {
    throw new BaseError(
      'SIGNATURE_INVALID',
      `The HubResult signature of ${signer} cannot be recovered.`,
      { details: (cause as Error).message.split('\n')[0], cause },
    )
  }
  if (!isAddressEqual(recovered, signer))
    throw new BaseError(
      'SIGNATURE_INVALID',
      `The HubResult signature recovers to ${recovered}, not ${signer}.`,
      {
        metaMessages: [
          `Sign HubResult(requestId ${message.requestId}, inputHash, keccak256(output)) under the hub's domain (chain ${String(domain.chainId)}, ${domain.verifyingContract ?? '?'}).`,
        ],
      },
    )
}
