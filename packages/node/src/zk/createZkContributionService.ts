import {
  BaseError,
  signZkContribution,
  verifyZkContributionRequest,
  type ZkContributionRequest,
} from '@verity/protocol'
import { contribute, readZkeyContributions, sha256Hex } from '@verity/zk'
import type { LocalAccount } from 'viem'

/**
 * What a coordinator sends with a proving key (`POST /v1/zk/contribute` headers
 * `verity-coordinator`, `-signature`, `-expires`): untrusted, so every field may be missing.
 *
 * @example
 * ```ts
 * const authorization: ZkContributionAuthorization = { coordinator, signature, expires: '1765000000' }
 * ```
 */
export type ZkContributionAuthorization = {
  coordinator?: string | undefined
  signature?: string | undefined
  /** Unix seconds, as sent (a decimal string). */
  expires?: string | undefined
}

/**
 * A node's phase-2 contribution, signed by the node (`signZkContribution`) so the transcript names
 * it verifiably.
 *
 * @example
 * ```ts
 * const { zkey, signer, signature } = await contributor.contribute(key, authorization)
 * ```
 */
export type ZkContribution = {
  zkey: Uint8Array
  contributionHash: `0x${string}`
  signer: `0x${string}`
  signature: `0x${string}`
}

/**
 * Takes this node's ceremony turns (see {@link createZkContributionService}).
 *
 * @example
 * ```ts
 * const next = await contributor.contribute(zkey, authorization)
 * ```
 */
export type ZkContributionService = {
  contribute(zkey: Uint8Array, authorization: ZkContributionAuthorization): Promise<ZkContribution>
}

/** The longest a coordinator's request may stay valid: a signed request is not a standing order. */
export const maxContributionRequestSeconds = 3600

function unauthorized(message: string, hint: string): BaseError {
  return new BaseError('ZK_CONTRIBUTION_UNAUTHORIZED', message, { metaMessages: [hint] })
}

/**
 * A node's part in phase-2 ceremonies. A contribution costs seconds of CPU, so the node takes turns
 * only asked by a configured coordinator: the request must name this node and this key (sha256),
 * expire within {@link maxContributionRequestSeconds}, and carry the coordinator's EIP-191
 * signature (`signZkContributionRequest`); anything else is `ZK_CONTRIBUTION_UNAUTHORIZED` (403)
 * before any work. Each request is good for one turn (its signature is remembered until it expires;
 * a turn that fails frees it). One contribution runs at a time. The entropy is the node's signature over the
 * key's hash mixed with fresh OS randomness (by `contribute`): it never leaves this process.
 *
 * @example
 * ```ts
 * const contributor = createZkContributionService({ coordinators: [coordinator.address] }, { account })
 * ```
 */
export function createZkContributionService(
  options: { coordinators: readonly `0x${string}`[] },
  components: { account: LocalAccount; now?: (() => number) | undefined },
): ZkContributionService {
  const { account } = components
  const now = components.now ?? Date.now
  let queue: Promise<unknown> = Promise.resolve()
  /** Signatures of requests taken (lowercase) → their expiry: each request is good for one turn. */
  const taken = new Map<string, number>()

  async function authorize(zkeySha256: `0x${string}`, authorization: ZkContributionAuthorization) {
    if (options.coordinators.length === 0)
      throw unauthorized(
        'This node takes no zk ceremony turns: it has no coordinator configured.',
        'Its operator can name ceremony coordinators with --zk-coordinator ADDRESS.',
      )
    const { coordinator, signature, expires } = authorization
    const allowed = options.coordinators.find(
      (address) => address.toLowerCase() === coordinator?.toLowerCase(),
    )
    if (allowed === undefined)
      throw unauthorized(
        `${coordinator === undefined ? 'No coordinator named' : `${coordinator.slice(0, 42)} is not a coordinator of this node`}; it takes ceremony turns only from ${options.coordinators.join(', ')}.`,
        'Send the verity-coordinator, -signature and -expires headers (signZkContributionRequest).',
      )
    const seconds = Math.floor(now() / 1000)
    const expiry = expires !== undefined && /^\d{1,12}$/.test(expires) ? Number(expires) : undefined
    if (
      expiry === undefined ||
      expiry < seconds ||
      expiry > seconds + maxContributionRequestSeconds
    )
      throw unauthorized(
        `The contribution request's expiry ${JSON.stringify(expires?.slice(0, 20))} is not within the next ${maxContributionRequestSeconds} s.`,
        'Sign a fresh request with an expiry a few minutes ahead.',
      )
    const request: ZkContributionRequest = { node: account.address, zkeySha256, expires: expiry }
    if (
      !(await verifyZkContributionRequest({
        coordinator: allowed,
        signature: signature as `0x${string}`,
        request,
      }))
    )
      throw unauthorized(
        `The coordinator's signature does not cover this request (node ${account.address}, this key, expiry ${expiry}).`,
        'The request is signed per node and per key: sign it for this node and the key sent.',
      )
    for (const [used, until] of taken) if (until < seconds) taken.delete(used)
    const id = (signature as string).toLowerCase()
    if (taken.has(id))
      throw unauthorized(
        'This contribution request was already used: a coordinator’s request is good for one turn.',
        'Sign a new request (another expiry) for another turn on the same key.',
      )
    taken.set(id, expiry)
    return id
  }

  return {
    async contribute(zkey, authorization) {
      const previousZkeySha256 = sha256Hex(zkey)
      const request = await authorize(previousZkeySha256, authorization)
      const run = queue.then(async () => {
        const contributed = await contribute(zkey, {
          name: `node ${account.address}`,
          entropy: await account.signMessage({
            message: `verity zk contribution ${previousZkeySha256.slice(2)}`,
          }),
        })
        const signature = await signZkContribution({
          account,
          statement: {
            circuitHash: readZkeyContributions(contributed.zkey).circuitHash,
            previousZkeySha256,
            contributionHash: contributed.contributionHash,
            zkeySha256: sha256Hex(contributed.zkey),
          },
        })
        return { ...contributed, signer: account.address, signature }
      })
      // a turn that failed (a key that is not one, say) leaves the request usable for a retry
      queue = run.catch(() => taken.delete(request))
      return run
    },
  }
}
