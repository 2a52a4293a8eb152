import { BaseError } from '@verity/protocol'
import poseidonSolidity from 'poseidon-solidity'
import {
  type Account,
  type Address,
  type Chain,
  getAddress,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'

const { PoseidonT6, proxy } = poseidonSolidity

/**
 * Where poseidon-solidity's PoseidonT6 (Poseidon over 5 BN254 field elements) lives on every EVM
 * chain: deployed through the deterministic deployment proxy with a fixed salt, so the address does
 * not depend on the chain or the deployer. `ZkModelVerifier` calls it at this address.
 *
 * @example
 * ```ts
 * poseidonT6Address // '0x666333F371685334CdD69bdDdaFBABc87CE7c7Db'
 * ```
 */
export const poseidonT6Address: Address = getAddress(PoseidonT6.address)

/** Clients of {@link deployPoseidonT6}: the wallet pays for the deployment when one is needed. */
export type DeployPoseidonT6Parameters = {
  publicClient: PublicClient<Transport, Chain>
  walletClient: WalletClient<Transport, Chain, Account>
}

/** What {@link deployPoseidonT6} found or did. */
export type DeployPoseidonT6ReturnType = {
  address: Address
  /** Whether this call deployed the deterministic deployment proxy (absent on the chain). */
  deployedProxy: boolean
  /** Whether this call deployed PoseidonT6 (false: it was already there). */
  deployedPoseidon: boolean
}

async function hasCode(publicClient: PublicClient<Transport, Chain>, address: Address) {
  const code = await publicClient.getCode({ address })
  return code !== undefined && code !== '0x'
}

async function confirm(publicClient: PublicClient<Transport, Chain>, hash: Hex, what: string) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success')
    throw new BaseError('CHAIN_TRANSACTION_FAILED', `Deploying ${what} failed in ${hash}.`, {
      metaMessages: ['Check that the wallet holds enough ether for gas.'],
    })
}

/**
 * Makes sure PoseidonT6 exists at {@link poseidonT6Address}, deploying it if needed: first the
 * deterministic deployment proxy (anvil and most public chains already have it; otherwise its
 * keyless pre-signed transaction is funded and sent), then PoseidonT6 through the proxy. Idempotent;
 * deploy it before any `ZkModelVerifier`.
 *
 * @example
 * ```ts
 * const { address } = await deployPoseidonT6({ publicClient, walletClient })
 * ```
 */
export async function deployPoseidonT6(
  parameters: DeployPoseidonT6Parameters,
): Promise<DeployPoseidonT6ReturnType> {
  const { publicClient, walletClient } = parameters
  if (await hasCode(publicClient, poseidonT6Address))
    return { address: poseidonT6Address, deployedProxy: false, deployedPoseidon: false }

  const proxyAddress = getAddress(proxy.address)
  let deployedProxy = false
  if (!(await hasCode(publicClient, proxyAddress))) {
    // Nick's method: the proxy's creation transaction is signed by a key nobody holds, without a
    // chain id (pre-EIP-155), so its sender only needs the gas money
    const funding = await walletClient.sendTransaction({
      to: getAddress(proxy.from),
      value: BigInt(proxy.gas),
    })
    await confirm(publicClient, funding, 'the deployment proxy (funding its deployer)')
    const hash = await publicClient.request({
      method: 'eth_sendRawTransaction',
      params: [proxy.tx as Hex],
    })
    await confirm(publicClient, hash, 'the deterministic deployment proxy')
    deployedProxy = true
  }

  const hash = await walletClient.sendTransaction({
    to: proxyAddress,
    data: PoseidonT6.data as Hex,
  })
  await confirm(publicClient, hash, 'PoseidonT6')
  if (!(await hasCode(publicClient, poseidonT6Address)))
    throw new BaseError(
      'CHAIN_TRANSACTION_FAILED',
      `PoseidonT6 was deployed through ${proxyAddress} but ${poseidonT6Address} has no code.`,
      { metaMessages: ['The proxy at that address is not the deterministic deployment proxy.'] },
    )
  return { address: poseidonT6Address, deployedProxy, deployedPoseidon: true }
}
