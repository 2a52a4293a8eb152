import {
  BaseError,
  type Hash,
  type InferenceRequestMessage,
  signatureSchema,
  toTypedDataDomain,
  type VerityDomain,
  verityTypes,
} from '@verity/protocol'
import { getAddress, isAddressEqual, recoverTypedDataAddress } from 'viem'

// secp256k1 group order / 2: signatures with a larger s are malleable copies; verifyReceipt
// refuses them, so the node must not accept them either.
const halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * Checks a requester's EIP-712 signature over an `InferenceRequest` under the node's domain and
 * returns the requester's checksummed address. Throws `SIGNATURE_INVALID` for a malformed or
 * high-s signature, one that cannot be recovered, or one that recovers to someone else.
 *
 * @example
 * ```ts
 * const requester = await checkRequestSignature({ request, requester: '0xabc…', signature, domain })
 * ```
 */
export async function checkRequestSignature(parameters: {
  request: InferenceRequestMessage
  requester: `0x${string}`
  signature: Hash
  domain: VerityDomain
}): Promise<`0x${string}`> {
  const { request, requester, signature, domain } = parameters
  const parsedSignature = signatureSchema.safeParse(signature)
  if (!parsedSignature.success || BigInt(`0x${signature.slice(66, 130)}`) > halfOrder)
    throw new BaseError(
      'SIGNATURE_INVALID',
      'The signature is not a 65-byte low-s secp256k1 signature.',
      {
        metaMessages: ['Send it as 0x-prefixed lowercase hex, as viem signTypedData returns it.'],
      },
    )
  let recovered: `0x${string}`
  try {
    recovered = await recoverTypedDataAddress({
      domain: toTypedDataDomain(domain),
      types: verityTypes,
      primaryType: 'InferenceRequest',
      message: request,
      signature,
    })
  } catch (cause) {
    throw new BaseError('SIGNATURE_INVALID', 'The request signature cannot be recovered.', {
      details: (cause as Error).message.split('\n')[0],
      cause,
    })
  }
  if (!isAddressEqual(recovered, requester))
    throw new BaseError(
      'SIGNATURE_INVALID',
      `The request signature recovers to ${recovered}, not the requester ${requester}.`,
      {
        metaMessages: [
          `Sign the InferenceRequest under this node's domain (chain ${domain.chainId}${domain.verifyingContract ? `, contract ${domain.verifyingContract}` : ''}; see GET /v1/network).`,
          'Any changed field (model, hashes, mode, fee, nonce, deadline) changes the signer.',
        ],
      },
    )
  return getAddress(requester)
}
