import {
  type Attestation,
  BaseError,
  type Hash,
  namedTensorsToJson,
  type Quorum,
  type Receipt,
  selectionSeed,
  selectVerifiers,
  toBaseError,
  type VerityDomain,
} from '@verity/protocol'
import type { Verification } from '../executor.ts'
import type { NodeLogger } from '../logger.ts'
import type { VerificationStore } from './createVerificationStore.ts'
import type { TextVerifyMethod } from './parseVerifyBody.ts'
import { hasPeerRole, type NodePeer, type PeerDirectory } from './peerDirectory.ts'
import { type AttestationAnswer, requestAttestation } from './requestAttestation.ts'
import type { SeedSource } from './seedSource.ts'
import type { VerificationMetrics } from './verificationMetrics.ts'

/**
 * Options of {@link createReexecVerification} (plain data, from `NodeOptions`).
 *
 * @example
 * ```ts
 * const options: ReexecVerificationOptions = { domain: localDomain, timeoutMs: 10_000 }
 * ```
 */
export type ReexecVerificationOptions = {
  /** The domain receipts and attestations are signed under. */
  domain: VerityDomain
  /** How long one verifier call may take (answer included) before it is replaced, in ms. */
  timeoutMs: number
}

/**
 * What {@link createReexecVerification} needs from the node.
 *
 * @example
 * ```ts
 * const components: ReexecVerificationComponents = { address, peers, seeds, store, metrics, logger }
 * ```
 */
export type ReexecVerificationComponents = {
  /** This node's address: never drawn as its own verifier. */
  address: `0x${string}`
  peers: Pick<PeerDirectory, 'list'>
  seeds: SeedSource
  store: Pick<VerificationStore, 'addEvidence'>
  metrics: VerificationMetrics
  logger: NodeLogger
  fetch?: typeof fetch | undefined
}

/**
 * The largest quorum: a receipt's quorum section holds at most 64 attestations.
 *
 * @example
 * ```ts
 * request.quorum <= maxQuorum
 * ```
 */
export const maxQuorum = 64

type Answer = AttestationAnswer & { peer: NodePeer }

/**
 * The `reexec` verification: the executor's {@link Verification} for tensor jobs, plus
 * `completeText` for text generations (the receipt's `text` section is the job; verifiers check it
 * by `replay` or `reexec`, see `parseVerifyBody`).
 *
 * @example
 * ```ts
 * const certified = await reexec.completeText({ receipt, method: 'replay', signal })
 * ```
 */
export type ReexecVerification = Verification & {
  mode: 'reexec'
  completeText(parameters: {
    receipt: Receipt
    method: TextVerifyMethod
    signal: AbortSignal
  }): Promise<Receipt>
}

function byVerifier(a: Attestation, b: Attestation): number {
  const x = a.verifier.toLowerCase()
  const y = b.verifier.toLowerCase()
  return x < y ? -1 : x > y ? 1 : 0
}

function checkQuorum(quorum: number): void {
  if (!Number.isInteger(quorum) || quorum < 1 || quorum > maxQuorum)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Mode 'reexec' needs a quorum from 1 to ${maxQuorum}; the request asks for ${quorum}.`,
      { metaMessages: ['Sign the request with quorum ≥ 1 (how many verifiers must agree).'] },
    )
}

function eligible(peers: readonly NodePeer[], self: `0x${string}`): number {
  const addresses = new Set<string>()
  for (const peer of peers)
    if ((peer.weight ?? 1n) > 0n && peer.address.toLowerCase() !== self.toLowerCase())
      addresses.add(peer.address.toLowerCase())
  return addresses.size
}

/**
 * The `reexec` verification (executor side): completes a signed receipt with a quorum certificate.
 *
 * 1. Seed: `selectionSeed(jobId, blockHash)` with `blockHash` from the {@link SeedSource} (chain
 *    block later; without a chain the receipt records no `selection`, see `createLocalSeedSource`).
 * 2. Order: protocol's `selectVerifiers` draws every eligible peer (weights from the directory,
 *    this node excluded) — a deterministic, recomputable sequence; the first `quorum` are asked in
 *    parallel, each with its own timeout.
 * 3. A verifier that fails or times out is replaced by the next draw, until `quorum` agree or
 *    the draws run out (`SELECTION_INVALID`, 503: the job fails and can be retried).
 * 4. A signed `agree: false` escalates: more draws are asked until a committee of `2·quorum + 1`
 *    has answered; the majority (`quorum + 1`) decides. Outvoted → `OUTPUT_MISMATCH` (422) and the
 *    receipt plus every attestation are stored as `output-mismatch` evidence. Winning → the
 *    disagreeing attestations are stored as `verifier-minority` evidence and left out of the
 *    receipt. A dispute the available peers cannot settle is kept as `unresolved` evidence and
 *    fails with `SELECTION_INVALID`.
 *
 * The returned receipt carries `quorum: { threshold, selection?, attestations }` with only
 * agreeing attestations (sorted by verifier address), which protocol's `verifyReceipt` accepts.
 *
 * @example
 * ```ts
 * const reexec = createReexecVerification(
 *   { domain, timeoutMs: 10_000 },
 *   { address: account.address, peers, seeds: createLocalSeedSource(), store, metrics, logger },
 * )
 * const node = await createVerityNode(options, { verifications: [reexec] })
 * ```
 */
export function createReexecVerification(
  options: ReexecVerificationOptions,
  components: ReexecVerificationComponents,
): ReexecVerification {
  const { address, peers: directory, seeds, store, metrics } = components
  const logger = components.logger.child({ module: 'reexec' })

  async function vote(parameters: {
    order: NodePeer[]
    quorum: number
    body: string
    jobId: Hash
    outputHash: Hash
    signal: AbortSignal
  }) {
    const { order, quorum, jobId, outputHash, signal } = parameters
    const log = logger.child({ jobId })
    const agreeing: Answer[] = []
    const disagreeing: Answer[] = []
    const failures: { peer: NodePeer; code: string; message: string }[] = []
    const pending = new Set<Promise<void>>()
    const cancel = new AbortController()
    const callSignal = AbortSignal.any([signal, cancel.signal])
    let next = 0
    let decided = false

    function ask(peer: NodePeer): void {
      const started = performance.now()
      const call: Promise<void> = requestAttestation({
        peer,
        body: parameters.body,
        jobId,
        outputHash,
        domain: options.domain,
        timeoutMs: options.timeoutMs,
        signal: callSignal,
        fetch: components.fetch,
      })
        .then(
          (answer) => {
            if (decided) return
            const ms = Math.round(performance.now() - started)
            if (answer.attestation.agree) {
              agreeing.push({ ...answer, peer })
              metrics.verifications.inc({ outcome: 'agree' })
              log.debug({ verifier: peer.address, ms }, 'verifier agrees')
            } else {
              disagreeing.push({ ...answer, peer })
              metrics.verifications.inc({ outcome: 'disagree' })
              log.warn(
                { verifier: peer.address, ms, observedOutputHash: answer.observedOutputHash },
                'verifier disagrees: escalating',
              )
            }
          },
          (error: unknown) => {
            if (decided || signal.aborted) return
            const failure = toBaseError(error)
            failures.push({ peer, code: failure.code, message: failure.shortMessage })
            metrics.verifications.inc({
              outcome: failure.code === 'REQUEST_TIMEOUT' ? 'timeout' : 'error',
            })
            log.warn(
              { verifier: peer.address, code: failure.code },
              'verifier failed: drawing a replacement',
            )
          },
        )
        .finally(() => pending.delete(call))
      pending.add(call)
    }

    try {
      for (;;) {
        signal.throwIfAborted()
        const disputed = disagreeing.length > 0
        if (!disputed && agreeing.length >= quorum) break
        if (disputed && (agreeing.length > quorum || disagreeing.length > quorum)) break
        const committee = disputed ? 2 * quorum + 1 : quorum
        while (
          agreeing.length + disagreeing.length + pending.size < committee &&
          next < order.length
        )
          ask(order[next++] as NodePeer)
        if (pending.size === 0) break
        await Promise.race(pending)
      }
    } finally {
      decided = true
      cancel.abort(new BaseError('ABORTED', 'The vote is decided.'))
    }
    const disputed = disagreeing.length > 0
    const result: 'met' | 'mismatch' | 'exhausted' = !disputed
      ? agreeing.length >= quorum
        ? 'met'
        : 'exhausted'
      : agreeing.length > quorum
        ? 'met'
        : disagreeing.length > quorum
          ? 'mismatch'
          : 'exhausted'
    return { result, agreeing, disagreeing, failures, asked: next }
  }

  return {
    mode: 'reexec',

    async check({ request }) {
      checkQuorum(request.quorum)
      const count = eligible(
        (await directory.list()).filter((peer) => hasPeerRole(peer, 'verifier')),
        address,
      )
      if (count < request.quorum)
        throw new BaseError(
          'SELECTION_INVALID',
          `Quorum ${request.quorum} needs ${request.quorum} verifier(s) other than this node; its peer directory lists ${count}.`,
          { metaMessages: ['Lower the quorum, or add peers (--peer <address>@<url>).'] },
        )
    },

    async complete({ inputs, outputs, receipt, signal }) {
      const sent: Receipt = {
        ...receipt,
        result: {
          ...receipt.result,
          output: receipt.result.output ?? namedTensorsToJson(outputs),
        },
      }
      return certify({
        receipt,
        sent,
        body: JSON.stringify({ receipt: sent, inputs: namedTensorsToJson(inputs) }),
        signal,
      })
    },

    async completeText({ receipt, method, signal }) {
      if (receipt.text === undefined)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `The receipt of job ${receipt.job.id} has no text section; completeText certifies text generations.`,
          { metaMessages: ['Use complete() for tensor jobs.'] },
        )
      return certify({ receipt, sent: receipt, body: JSON.stringify({ receipt, method }), signal })
    },
  }

  async function certify(parameters: {
    receipt: Receipt
    /** The receipt as verifiers get it (output embedded). */
    sent: Receipt
    /** The `POST /v1/verify` body. */
    body: string
    signal: AbortSignal
  }): Promise<Receipt> {
    const { receipt, sent, body, signal } = parameters
    const started = performance.now()
    const quorum = receipt.job.quorum
    const jobId = receipt.job.id as Hash
    const outputHash = receipt.result.outputHash as Hash
    const log = logger.child({ jobId })
    let outcome: 'met' | 'mismatch' | 'failed' = 'failed'
    try {
      checkQuorum(quorum)
      const { blockHash, selection } = await seeds.seedFor({ jobId, signal })
      const seed = selectionSeed(jobId, blockHash)
      // a peer whose registered roles lack `verifier` is never drawn
      const peers = (await directory.list({ signal })).filter((peer) =>
        hasPeerRole(peer, 'verifier'),
      )
      const count = eligible(peers, address)
      if (count < quorum)
        throw new BaseError(
          'SELECTION_INVALID',
          `Quorum ${quorum} needs ${quorum} verifier(s) other than this node; its peer directory lists ${count}.`,
          { metaMessages: ['The job failed; retry it once more peers are known.'] },
        )
      const byAddress = new Map(peers.map((peer) => [peer.address.toLowerCase(), peer]))
      const order = selectVerifiers({
        seed,
        candidates: peers.map((peer) => ({ address: peer.address, weight: peer.weight ?? 1n })),
        count,
        exclude: [address],
      }).map((drawn) => byAddress.get(drawn.toLowerCase()) as NodePeer)
      log.info(
        { quorum, verifiers: order.slice(0, quorum).map((peer) => peer.address) },
        'quorum round started',
      )
      const { result, agreeing, disagreeing, failures, asked } = await vote({
        order,
        quorum,
        body,
        jobId,
        outputHash,
        signal,
      })
      const attestations = [...disagreeing, ...agreeing].map((answer) => answer.attestation)
      const ms = Math.round(performance.now() - started)

      if (result === 'met') {
        if (disagreeing.length) {
          const accused = disagreeing.map((answer) => answer.peer.address)
          const evidence = store.addEvidence({
            jobId,
            kind: 'verifier-minority',
            accused,
            reason: `${accused.length} verifier(s) signed that output ${outputHash} of job ${jobId} is wrong; ${agreeing.length} re-executed it and agree`,
            receipts: [sent],
            attestations,
          })
          log.warn({ accused, evidence: evidence.id }, 'minority verifiers kept as evidence')
        }
        const certificate: Quorum = {
          threshold: quorum,
          ...(selection ? { selection } : {}),
          attestations: agreeing
            .map((answer) => answer.attestation)
            .sort(byVerifier)
            .slice(0, maxQuorum),
        }
        outcome = 'met'
        log.info({ ms, agree: agreeing.length, asked }, 'quorum met')
        return { ...receipt, quorum: certificate }
      }

      if (result === 'mismatch') {
        outcome = 'mismatch'
        const accusers = disagreeing.map((answer) => answer.peer.address)
        const evidence = store.addEvidence({
          jobId,
          kind: 'output-mismatch',
          accused: [address],
          reason: `${accusers.length} of ${agreeing.length + accusers.length} verifiers signed that this executor's output ${outputHash} is wrong`,
          receipts: [sent],
          attestations,
        })
        log.error({ accusers, evidence: evidence.id, ms }, 'outvoted: output mismatch')
        throw new BaseError(
          'OUTPUT_MISMATCH',
          `Verifiers ${accusers.join(', ')} re-executed job ${jobId} and signed that its output differs (${accusers.length} disagree, ${agreeing.length} agree).`,
          {
            metaMessages: [
              `The job failed; this executor's receipt and the attestations are stored as evidence #${evidence.id} (GET /v1/evidence?jobId=${jobId}).`,
              ...disagreeing
                .filter((answer) => answer.reason || answer.observedOutputHash)
                .slice(0, 3)
                .map((answer) =>
                  `${answer.peer.address}: ${answer.reason ?? ''} ${answer.observedOutputHash ? `(computed ${answer.observedOutputHash})` : ''}`.trim(),
                ),
              "Check this node's engine settings against its peers'.",
            ],
          },
        )
      }

      const failed = failures
        .slice(0, 5)
        .map((failure) => `${failure.peer.address}: ${failure.code}: ${failure.message}`)
      if (disagreeing.length) {
        const evidence = store.addEvidence({
          jobId,
          kind: 'unresolved',
          accused: [],
          reason: `${disagreeing.length} verifier(s) disagree and ${agreeing.length} agree; no majority of ${2 * quorum + 1} could be formed from ${order.length} peer(s)`,
          receipts: [sent],
          attestations,
        })
        log.warn({ evidence: evidence.id, ms }, 'dispute unresolved')
        throw new BaseError(
          'SELECTION_INVALID',
          `Job ${jobId} is disputed (${disagreeing.length} disagree, ${agreeing.length} agree) and its ${order.length} peer(s) cannot form a majority of ${2 * quorum + 1}.`,
          {
            metaMessages: [
              `The job failed; the signed statements are stored as evidence #${evidence.id}.`,
              ...failed,
            ],
          },
        )
      }
      log.warn({ ms, agree: agreeing.length, failed: failures.length }, 'quorum not met')
      throw new BaseError(
        'SELECTION_INVALID',
        `Only ${agreeing.length} of ${quorum} verifier(s) answered for job ${jobId}; all ${order.length} peer(s) were asked.`,
        {
          metaMessages: [
            'The job failed; retry the same request once more peers are reachable, or lower the quorum.',
            ...failed,
          ],
        },
      )
    } finally {
      if (!signal.aborted)
        metrics.quorumDuration.observe({ outcome }, (performance.now() - started) / 1000)
    }
  }
}
