import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SQLInputValue } from 'node:sqlite'
import type { Attestation, Hash, Receipt } from '@verity/protocol'
import { openNodeDatabase } from '../db/createJobStore.ts'

/**
 * An attestation this node signed as a verifier, with what it judged: the job, the executor and
 * the executor's output hash, the hash this node's re-execution produced, why it disagreed (if it
 * did) and the executor's signed receipt (canonical JSON).
 *
 * @example
 * ```ts
 * const given: GivenAttestation | undefined = store.findAttestation({ jobId, verifier, outputHash })
 * ```
 */
export type GivenAttestation = {
  jobId: Hash
  executor: `0x${string}`
  attestation: Attestation
  observedOutputHash?: Hash | undefined
  reason?: string | undefined
  receiptJson: string
  /** Unix milliseconds. */
  createdAt: number
}

/**
 * Why signed statements were kept:
 * - `output-mismatch`: this node executed, a majority of its verifiers signed that the output is
 *   wrong (against the executor: this node);
 * - `verifier-minority`: this node executed and won the vote; the verifiers that signed
 *   `agree: false` are in the minority (against them);
 * - `equivocation`: as a verifier, this node received two receipts signed by one executor for one
 *   job with different outputs (against the executor);
 * - `unresolved`: a disagreement the available verifiers could not settle (against no one yet).
 *
 * @example
 * ```ts
 * const kind: EvidenceKind = 'equivocation'
 * ```
 */
export type EvidenceKind = 'output-mismatch' | 'verifier-minority' | 'equivocation' | 'unresolved'

/**
 * One piece of fraud evidence: the conflicting signed statements (executor receipts, verifier
 * attestations) as they were received, for a later on-chain challenge.
 *
 * @example
 * ```ts
 * const [first]: Evidence[] = store.listEvidence({ jobId })
 * ```
 */
export type Evidence = {
  id: number
  jobId: Hash
  kind: EvidenceKind
  /** The addresses the statements incriminate. */
  accused: `0x${string}`[]
  reason: string
  /** Executor receipts (two for an equivocation), outputs embedded. */
  receipts: Receipt[]
  /** Every attestation gathered, agreeing and disagreeing (each says which). */
  attestations: Attestation[]
  /** Unix milliseconds. */
  createdAt: number
}

/**
 * What {@link VerificationStore.addEvidence} stores.
 *
 * @example
 * ```ts
 * const evidence: NewEvidence = { jobId, kind: 'equivocation', accused: [executor], reason, receipts: [a, b], attestations: [] }
 * ```
 */
export type NewEvidence = Omit<Evidence, 'id' | 'createdAt'>

/**
 * The verification tables of the node database (same file as the job store, its own connection):
 * attestations given as a verifier, and fraud evidence. Every write is durable when it returns.
 *
 * @example
 * ```ts
 * const store: VerificationStore = createVerificationStore({ path: '/data/node.sqlite' })
 * ```
 */
export type VerificationStore = {
  /** The attestation given for this job, verifier and judged output hash. */
  findAttestation(key: {
    jobId: string
    verifier: string
    outputHash: string
  }): GivenAttestation | undefined
  /** Every attestation this verifier gave for a job, oldest first. */
  attestationsFor(jobId: string, verifier: string): GivenAttestation[]
  /** Stores an attestation unless one exists for its key; returns the stored one (first wins). */
  putAttestation(given: Omit<GivenAttestation, 'createdAt'>): GivenAttestation
  /**
   * The attestations this node signed with `agree: false`, oldest first: each names an executor
   * whose receipt this node judged wrong (the challenger watches their batches).
   */
  disagreements(query?: {
    executor?: string | undefined
    limit?: number | undefined
  }): GivenAttestation[]
  /** Stores evidence unless the same job already has evidence of this kind. */
  addEvidence(evidence: NewEvidence): { id: number; inserted: boolean }
  /** Evidence by ascending id: all, or one job's; `after` an id, at most `limit` (default 100). */
  listEvidence(query?: {
    jobId?: string | undefined
    after?: number | undefined
    limit?: number | undefined
  }): Evidence[]
  close(): void
}

type AttestationRow = {
  job_id: string
  executor: string
  attestation: string
  observed_output_hash: string | null
  reason: string | null
  receipt: string
  created_at: number
}

type EvidenceRow = {
  id: number
  job_id: string
  kind: string
  accused: string
  reason: string
  statements: string
  created_at: number
}

function rowToAttestation(row: AttestationRow): GivenAttestation {
  return {
    jobId: row.job_id as Hash,
    executor: row.executor as `0x${string}`,
    attestation: JSON.parse(row.attestation) as Attestation,
    ...(row.observed_output_hash === null
      ? {}
      : { observedOutputHash: row.observed_output_hash as Hash }),
    ...(row.reason === null ? {} : { reason: row.reason }),
    receiptJson: row.receipt,
    createdAt: row.created_at,
  }
}

function rowToEvidence(row: EvidenceRow): Evidence {
  const statements = JSON.parse(row.statements) as Pick<Evidence, 'receipts' | 'attestations'>
  return {
    id: row.id,
    jobId: row.job_id as Hash,
    kind: row.kind as EvidenceKind,
    accused: JSON.parse(row.accused) as `0x${string}`[],
    reason: row.reason,
    receipts: statements.receipts,
    attestations: statements.attestations,
    createdAt: row.created_at,
  }
}

/**
 * Opens the verification store on the node database (creating and migrating it when needed).
 *
 * @example
 * ```ts
 * const store = createVerificationStore({ path: '/data/node.sqlite' })
 * store.addEvidence({ jobId, kind: 'equivocation', accused: [executor], reason, receipts, attestations: [] })
 * store.close()
 * ```
 */
export function createVerificationStore(options: {
  path: string
  now?: (() => number) | undefined
}): VerificationStore {
  const now = options.now ?? Date.now
  mkdirSync(dirname(options.path), { recursive: true })
  const database = openNodeDatabase(options.path)
  const statements = {
    find: database.prepare(
      'SELECT * FROM attestations WHERE job_id = $jobId AND verifier = $verifier AND output_hash = $outputHash',
    ),
    forJob: database.prepare(
      'SELECT * FROM attestations WHERE job_id = ? AND verifier = ? ORDER BY created_at, rowid',
    ),
    insertAttestation: database.prepare(
      `INSERT INTO attestations (job_id, verifier, output_hash, executor, agree, attestation, observed_output_hash, reason, receipt, created_at)
       VALUES ($jobId, $verifier, $outputHash, $executor, $agree, $attestation, $observed, $reason, $receipt, $now)
       ON CONFLICT DO NOTHING`,
    ),
    insertEvidence: database.prepare(
      `INSERT INTO evidence (job_id, kind, accused, reason, statements, created_at)
       VALUES ($jobId, $kind, $accused, $reason, $statements, $now)
       ON CONFLICT DO NOTHING RETURNING id`,
    ),
    disagreements: database.prepare(
      'SELECT * FROM attestations WHERE agree = 0 ORDER BY created_at, rowid LIMIT ?',
    ),
    disagreementsWith: database.prepare(
      'SELECT * FROM attestations WHERE agree = 0 AND executor = ? COLLATE NOCASE ORDER BY created_at, rowid LIMIT ?',
    ),
    evidenceId: database.prepare('SELECT id FROM evidence WHERE job_id = ? AND kind = ?'),
    listAll: database.prepare('SELECT * FROM evidence WHERE id > ? ORDER BY id LIMIT ?'),
    listJob: database.prepare(
      'SELECT * FROM evidence WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?',
    ),
  }

  function findAttestation(key: { jobId: string; verifier: string; outputHash: string }) {
    const row = statements.find.get({
      jobId: key.jobId,
      verifier: key.verifier.toLowerCase(),
      outputHash: key.outputHash,
    }) as AttestationRow | undefined
    return row && rowToAttestation(row)
  }

  return {
    findAttestation,

    attestationsFor(jobId, verifier) {
      return (statements.forJob.all(jobId, verifier.toLowerCase()) as AttestationRow[]).map(
        rowToAttestation,
      )
    },

    putAttestation(given) {
      const values: Record<string, SQLInputValue> = {
        jobId: given.jobId,
        verifier: given.attestation.verifier.toLowerCase(),
        outputHash: given.attestation.outputHash,
        executor: given.executor,
        agree: given.attestation.agree ? 1 : 0,
        attestation: JSON.stringify(given.attestation),
        observed: given.observedOutputHash ?? null,
        reason: given.reason ?? null,
        receipt: given.receiptJson,
        now: now(),
      }
      statements.insertAttestation.run(values)
      return findAttestation({
        jobId: given.jobId,
        verifier: given.attestation.verifier,
        outputHash: given.attestation.outputHash,
      }) as GivenAttestation
    },

    disagreements(query = {}) {
      const limit = query.limit ?? 1000
      const rows =
        query.executor === undefined
          ? statements.disagreements.all(limit)
          : statements.disagreementsWith.all(query.executor, limit)
      return (rows as AttestationRow[]).map(rowToAttestation)
    },

    addEvidence(evidence) {
      // checked first so an ignored duplicate does not consume an id (one writer per process)
      const existing = statements.evidenceId.get(evidence.jobId, evidence.kind) as
        | { id: number }
        | undefined
      if (existing) return { id: existing.id, inserted: false }
      const row = statements.insertEvidence.get({
        jobId: evidence.jobId,
        kind: evidence.kind,
        accused: JSON.stringify(evidence.accused),
        reason: evidence.reason,
        statements: JSON.stringify({
          receipts: evidence.receipts,
          attestations: evidence.attestations,
        }),
        now: now(),
      }) as { id: number } | undefined
      if (row) return { id: row.id, inserted: true }
      const raced = statements.evidenceId.get(evidence.jobId, evidence.kind) as { id: number }
      return { id: raced.id, inserted: false }
    },

    listEvidence(query = {}) {
      const after = query.after ?? 0
      const limit = query.limit ?? 100
      const rows =
        query.jobId === undefined
          ? statements.listAll.all(after, limit)
          : statements.listJob.all(query.jobId, after, limit)
      return (rows as EvidenceRow[]).map(rowToEvidence)
    },

    close() {
      if (database.isOpen) database.close()
    },
  }
}
