import { type Address, type Hex, type LocalAccount, recoverMessageAddress } from 'viem'
import { BaseError } from './errors.ts'

/**
 * What a participant of a Groth16 phase-2 ceremony signs for its contribution: the circuit, the
 * proving key it extended (sha256), its contribution as snarkjs hashes it, and the key it
 * returned (sha256). A signature over it names who made the contribution; the transcript records
 * it and anyone re-verifying the transcript checks it.
 *
 * @example
 * ```ts
 * const statement: ZkContributionStatement = { circuitHash, previousZkeySha256, contributionHash, zkeySha256 }
 * ```
 */
export type ZkContributionStatement = {
  /** snarkjs's circuit hash (blake2b-512), the same in every key of the ceremony. */
  circuitHash: Hex
  previousZkeySha256: Hex
  contributionHash: Hex
  zkeySha256: Hex
}

const hex = /^0x[0-9a-f]+$/

/**
 * The text a contributor signs (EIP-191 `personal_sign`): one field per line, lower-case hex, so
 * a wallet shows what it signs.
 *
 * @example
 * ```ts
 * zkContributionMessage(statement) // 'Verity zk ceremony contribution\ncircuit: 0x…\n…'
 * ```
 */
export function zkContributionMessage(statement: ZkContributionStatement): string {
  const fields = [
    ['circuit', statement.circuitHash],
    ['previous key sha256', statement.previousZkeySha256],
    ['contribution', statement.contributionHash],
    ['key sha256', statement.zkeySha256],
  ] as const
  for (const [name, value] of fields)
    if (typeof value !== 'string' || !hex.test(value.toLowerCase()) || value.length > 258)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `A zk contribution statement needs ${name} as 0x-prefixed hex; got ${JSON.stringify(value)?.slice(0, 80)}.`,
      )
  return [
    'Verity zk ceremony contribution',
    ...fields.map(([name, value]) => `${name}: ${value.toLowerCase()}`),
  ].join('\n')
}

/**
 * Signs a contribution statement with the contributor's key.
 *
 * @example
 * ```ts
 * const signature = await signZkContribution({ account, statement })
 * ```
 */
export function signZkContribution(parameters: {
  account: Pick<LocalAccount, 'signMessage'>
  statement: ZkContributionStatement
}): Promise<Hex> {
  return parameters.account.signMessage({ message: zkContributionMessage(parameters.statement) })
}

/**
 * Whether `signature` is `signer`'s signature over the statement; `false` for any malformed or
 * foreign signature (it is untrusted input).
 *
 * @example
 * ```ts
 * if (!(await verifyZkContribution({ signer, signature, statement }))) throw …
 * ```
 */
export async function verifyZkContribution(parameters: {
  signer: Address
  signature: Hex
  statement: ZkContributionStatement
}): Promise<boolean> {
  const { signer, signature, statement } = parameters
  return signedBy(signer, signature, () => zkContributionMessage(statement))
}

/** Whether `signature` (EIP-191) over `message()` recovers `signer`; false for anything malformed. */
async function signedBy(signer: unknown, signature: unknown, message: () => string) {
  if (typeof signer !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(signer)) return false
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) return false
  try {
    const recovered = await recoverMessageAddress({
      message: message(),
      signature: signature as Hex,
    })
    return recovered.toLowerCase() === signer.toLowerCase()
  } catch {
    return false
  }
}

/**
 * A ceremony coordinator's request that one node add its contribution to one proving key: the
 * node asked (its address), the key (sha256) and an expiry (unix seconds). A node takes ceremony
 * turns only from the coordinators it is configured with, so a stranger cannot make it spend
 * seconds of CPU per call, and a signed request cannot be sent to another node or reused later.
 *
 * @example
 * ```ts
 * const request: ZkContributionRequest = { node, zkeySha256, expires: now + 600 }
 * ```
 */
export type ZkContributionRequest = {
  node: Address
  zkeySha256: Hex
  /** Unix seconds after which the node refuses the request. */
  expires: number
}

/**
 * The text a coordinator signs (EIP-191) to ask for a contribution.
 *
 * @example
 * ```ts
 * zkContributionRequestMessage(request) // 'Verity zk ceremony turn\nnode: 0x…\n…'
 * ```
 */
export function zkContributionRequestMessage(request: ZkContributionRequest): string {
  if (typeof request.node !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(request.node))
    throw new BaseError('INVALID_ARGUMENT', 'A zk contribution request needs the node address.')
  if (typeof request.zkeySha256 !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(request.zkeySha256))
    throw new BaseError('INVALID_ARGUMENT', 'A zk contribution request needs the key’s sha256.')
  if (!Number.isSafeInteger(request.expires) || request.expires < 0)
    throw new BaseError('INVALID_ARGUMENT', 'A zk contribution request needs an expiry (unix s).')
  return [
    'Verity zk ceremony turn',
    `node: ${request.node.toLowerCase()}`,
    `key sha256: ${request.zkeySha256.toLowerCase()}`,
    `expires: ${request.expires}`,
  ].join('\n')
}

/**
 * Signs a contribution request with the coordinator's key.
 *
 * @example
 * ```ts
 * const signature = await signZkContributionRequest({ account: coordinator, request })
 * ```
 */
export function signZkContributionRequest(parameters: {
  account: Pick<LocalAccount, 'signMessage'>
  request: ZkContributionRequest
}): Promise<Hex> {
  return parameters.account.signMessage({
    message: zkContributionRequestMessage(parameters.request),
  })
}

/**
 * The HTTP headers that carry a coordinator's request with a key sent to `POST /v1/zk/contribute`.
 *
 * @example
 * ```ts
 * request.header(zkCoordinatorHeaders.signature)
 * ```
 */
export const zkCoordinatorHeaders = {
  coordinator: 'verity-coordinator',
  signature: 'verity-coordinator-signature',
  expires: 'verity-coordinator-expires',
} as const

/**
 * Signs `request` as the coordinator `account` and returns the {@link zkCoordinatorHeaders} that
 * carry it. The node's address and the key's hash are not sent: the node checks the signature
 * against its own address and the sha256 of the key in the body.
 *
 * @example
 * ```ts
 * await fetch(`${url}/v1/zk/contribute`, { method: 'POST', headers: await signedZkContributionHeaders({ account, request }), body: zkey })
 * ```
 */
export async function signedZkContributionHeaders(parameters: {
  account: Pick<LocalAccount, 'address' | 'signMessage'>
  request: ZkContributionRequest
}): Promise<Record<string, string>> {
  return {
    [zkCoordinatorHeaders.coordinator]: parameters.account.address,
    [zkCoordinatorHeaders.signature]: await signZkContributionRequest(parameters),
    [zkCoordinatorHeaders.expires]: String(parameters.request.expires),
  }
}

/**
 * Whether `signature` is `coordinator`'s signature over the request; `false` for anything
 * malformed (it is untrusted input). Expiry and the node address are the caller's to check.
 *
 * @example
 * ```ts
 * if (!(await verifyZkContributionRequest({ coordinator, signature, request }))) throw …
 * ```
 */
export async function verifyZkContributionRequest(parameters: {
  coordinator: Address
  signature: Hex
  request: ZkContributionRequest
}): Promise<boolean> {
  const { coordinator, signature, request } = parameters
  return signedBy(coordinator, signature, () => zkContributionRequestMessage(request))
}
