import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type SQLInputValue } from 'node:sqlite'
import {
  BaseError,
  canonicalJson,
  type Hash,
  type InferenceRequestMessage,
  isBaseError,
  type Mode,
} from '@verity/protocol'
import { migrate } from './migrations.ts'

/**
 * Where a job is: stored before execution (`accepted`), executing, or finished.
 *
 * @example
 * ```ts
 * const status: JobStatus = jobs.get(id)?.status ?? 'accepted'
 * ```
 */
export type JobStatus = 'accepted' | 'running' | 'done' | 'failed'

/**
 * The signed request of a job as stored (bigints as decimal strings), with what the node needs to
 * finish it after a crash.
 *
 * @example
 * ```ts
 * const stored: StoredJobRequest = { message: requestToJson(request), includeOutput: true }
 * ```
 */
export type StoredJobRequest = {
  message: InferenceRequestJson
  /** The requester's signature, when the request came signed. */
  signature?: Hash | undefined
  includeOutput: boolean
}

/**
 * An `InferenceRequestMessage` in JSON form: `maxFee` and `deadline` as decimal strings.
 *
 * @example
 * ```ts
 * const json: InferenceRequestJson = requestToJson(request)
 * ```
 */
export type InferenceRequestJson = Omit<InferenceRequestMessage, 'maxFee' | 'deadline'> & {
  maxFee: string
  deadline: string
}

/**
 * A job row.
 *
 * @example
 * ```ts
 * const job: JobRecord | undefined = jobs.get(id)
 * ```
 */
export type JobRecord = {
  id: Hash
  requester: `0x${string}`
  modelCid: string
  mode: Mode
  status: JobStatus
  request: StoredJobRequest
  /** The inputs in the canonical tensor encoding (`encodeTensors`). */
  inputs: Uint8Array
  /** How many times execution started. */
  attempts: number
  /** Unix milliseconds. */
  createdAt: number
  updatedAt: number
  error?: { code: string; message: string } | undefined
}

/**
 * What {@link JobStore.accept} stores.
 *
 * @example
 * ```ts
 * const job: NewJob = { id, requester, modelCid, mode: 'none', request, inputs: encodeTensors(inputs) }
 * ```
 */
export type NewJob = Pick<
  JobRecord,
  'id' | 'requester' | 'modelCid' | 'mode' | 'request' | 'inputs'
>

/**
 * Outcome of {@link JobStore.accept}: `inserted` (a new job, or a failed one reset for another
 * try) or the existing row for a job id that is already accepted, running or done.
 *
 * @example
 * ```ts
 * const result: AcceptJobResult = jobs.accept(job)
 * if (!result.inserted && result.existing.status === 'done') return jobs.getReceipt(job.id)
 * ```
 */
export type AcceptJobResult = { inserted: true } | { inserted: false; existing: JobRecord }

/**
 * A finished job's receipt (canonical JSON, exactly as stored) and its output tensors.
 *
 * @example
 * ```ts
 * const stored: StoredReceipt | undefined = jobs.getReceipt(id)
 * ```
 */
export type StoredReceipt = { receiptJson: string; outputs: Uint8Array; createdAt: number }

/**
 * The node's durable job and receipt store (SQLite via `node:sqlite`, WAL, `synchronous=FULL`):
 * once a call returns, its write survives a crash or power loss.
 *
 * @example
 * ```ts
 * const jobs: JobStore = createJobStore({ path: '/data/node.sqlite' })
 * ```
 */
export type JobStore = {
  /** The database file. */
  readonly path: string
  /** Inserts a job as `accepted` (or resets a `failed` one); returns the row that blocks it otherwise. */
  accept(job: NewJob): AcceptJobResult
  /** `accepted` → `running`, counting the attempt; returns the new attempt count. */
  markRunning(id: string): number
  /** Stores the receipt and marks the job `done`, in one transaction. */
  complete(id: string, receipt: { receiptJson: string; outputs: Uint8Array }): void
  /**
   * Stores a job that ran outside the job queue (a text generation, answered while it streamed)
   * together with its receipt, as `done`, in one transaction. Returns `false` (and stores nothing)
   * when a job with this id is already done.
   */
  recordFinished(job: NewJob, receipt: { receiptJson: string; outputs: Uint8Array }): boolean
  /** Marks the job `failed` with its error. */
  fail(id: string, error: { code: string; message: string }): void
  get(id: string): JobRecord | undefined
  getReceipt(id: string): StoredReceipt | undefined
  /**
   * Replaces the stored receipt JSON of a done job (canonical JSON; the settlement attaches its
   * `settlement` section this way). Throws `RECEIPT_NOT_FOUND` when the job has no receipt and
   * `CANONICAL_JSON_INVALID` when `receiptJson` is not in canonical form.
   */
  replaceReceipt(id: string, receiptJson: string): void
  /** Jobs left `accepted` or `running` (by a crash or a stop that could not drain), oldest first. */
  unfinished(): JobRecord[]
  /** Counts of jobs by status. */
  counts(): Record<JobStatus, number>
  close(): void
}

type JobRow = {
  id: string
  requester: string
  model_cid: string
  mode: string
  status: string
  request: string
  inputs: Uint8Array
  attempts: number
  created_at: number
  updated_at: number
  error: string | null
}

function rowToJob(row: JobRow): JobRecord {
  return {
    id: row.id as Hash,
    requester: row.requester as `0x${string}`,
    modelCid: row.model_cid,
    mode: row.mode as Mode,
    status: row.status as JobStatus,
    request: JSON.parse(row.request) as StoredJobRequest,
    inputs: row.inputs,
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.error === null ? {} : { error: JSON.parse(row.error) }),
  }
}

/**
 * Runs `body` in one `BEGIN IMMEDIATE` transaction of `database`: committed when it returns,
 * rolled back when it throws (the error goes on).
 *
 * @example
 * ```ts
 * const inserted = inTransaction(database, () => insert.run(values).changes)
 * ```
 */
export function inTransaction<T>(database: DatabaseSync, body: () => T): T {
  database.exec('BEGIN IMMEDIATE')
  try {
    const result = body()
    database.exec('COMMIT')
    return result
  } catch (error) {
    database.exec('ROLLBACK')
    throw error
  }
}

/**
 * Opens the node database with its durability settings (WAL, `synchronous=FULL`, foreign keys, a
 * busy timeout) and migrates it to the latest schema. The job store and the verification store
 * each hold a connection to the same file.
 *
 * @example
 * ```ts
 * const database = openNodeDatabase('/data/node.sqlite')
 * ```
 */
export function openNodeDatabase(path: string): DatabaseSync {
  let database: DatabaseSync | undefined
  try {
    database = new DatabaseSync(path)
    database.exec('PRAGMA journal_mode = WAL')
    database.exec('PRAGMA synchronous = FULL')
    database.exec('PRAGMA foreign_keys = ON')
    database.exec('PRAGMA busy_timeout = 5000')
    migrate(database)
    return database
  } catch (cause) {
    if (database?.isOpen) database.close()
    if (isBaseError(cause)) throw cause
    throw new BaseError('INTERNAL', `Cannot open the node database ${path}.`, {
      metaMessages: ['Check that the data directory is writable and that no other node uses it.'],
      details: (cause as Error).message,
      cause,
    })
  }
}

/**
 * Options of {@link createJobStore}.
 *
 * @example
 * ```ts
 * const options: JobStoreOptions = { path: '/data/node.sqlite' }
 * ```
 */
export type JobStoreOptions = {
  /** The SQLite file (created with its folder when missing). */
  path: string
  /** Clock in Unix milliseconds (tests pass a fixed one). */
  now?: () => number
}

/**
 * Opens (creating and migrating) the job store. WAL journal with `synchronous=FULL`: every commit
 * is on disk before the call returns, which is what lets the node acknowledge a receipt only after
 * it is durable.
 *
 * @example
 * ```ts
 * const jobs = createJobStore({ path: '/data/node.sqlite' })
 * if (jobs.accept({ id, requester, modelCid, mode: 'none', request, inputs }).inserted) …
 * jobs.close()
 * ```
 */
export function createJobStore(options: JobStoreOptions): JobStore {
  const now = options.now ?? Date.now
  mkdirSync(dirname(options.path), { recursive: true })
  const database = openNodeDatabase(options.path)

  const statements = {
    get: database.prepare('SELECT * FROM jobs WHERE id = ?'),
    insert: database.prepare(
      `INSERT INTO jobs (id, requester, model_cid, mode, status, request, inputs, attempts, created_at, updated_at)
       VALUES ($id, $requester, $modelCid, $mode, 'accepted', $request, $inputs, 0, $now, $now)`,
    ),
    retry: database.prepare(
      `UPDATE jobs SET status = 'accepted', error = NULL, attempts = 0, updated_at = $now
       WHERE id = $id AND status = 'failed'`,
    ),
    running: database.prepare(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = $now
       WHERE id = $id AND status IN ('accepted', 'running') RETURNING attempts`,
    ),
    insertReceipt: database.prepare(
      'INSERT INTO receipts (job_id, receipt, outputs, created_at) VALUES ($id, $receipt, $outputs, $now)',
    ),
    done: database.prepare(
      `UPDATE jobs SET status = 'done', error = NULL, updated_at = $now WHERE id = $id`,
    ),
    fail: database.prepare(
      `UPDATE jobs SET status = 'failed', error = $error, updated_at = $now
       WHERE id = $id AND status != 'done'`,
    ),
    receipt: database.prepare('SELECT receipt, outputs, created_at FROM receipts WHERE job_id = ?'),
    replaceReceipt: database.prepare('UPDATE receipts SET receipt = $receipt WHERE job_id = $id'),
    unfinished: database.prepare(
      `SELECT * FROM jobs WHERE status IN ('accepted', 'running') ORDER BY created_at, id`,
    ),
    counts: database.prepare('SELECT status, COUNT(*) AS count FROM jobs GROUP BY status'),
  }

  const transaction = <T>(body: () => T): T => inTransaction(database, body)

  function get(id: string): JobRecord | undefined {
    const row = statements.get.get(id) as JobRow | undefined
    return row && rowToJob(row)
  }

  function insert(job: NewJob, at: number): void {
    const values: Record<string, SQLInputValue> = {
      id: job.id,
      requester: job.requester,
      modelCid: job.modelCid,
      mode: job.mode,
      request: JSON.stringify(job.request),
      inputs: job.inputs,
      now: at,
    }
    statements.insert.run(values)
  }

  /** Stores the receipt and marks the job done (inside the caller's transaction). */
  function finish(id: string, receipt: { receiptJson: string; outputs: Uint8Array }, at: number) {
    statements.insertReceipt.run({
      id,
      receipt: receipt.receiptJson,
      outputs: receipt.outputs,
      now: at,
    })
    statements.done.run({ id, now: at })
  }

  return {
    path: options.path,

    accept(job) {
      return transaction((): AcceptJobResult => {
        const existing = get(job.id)
        const at = now()
        if (existing === undefined) {
          insert(job, at)
          return { inserted: true }
        }
        if (existing.status === 'failed') {
          statements.retry.run({ id: job.id, now: at })
          return { inserted: true }
        }
        return { inserted: false, existing }
      })
    },

    markRunning(id) {
      const row = statements.running.get({ id, now: now() }) as { attempts: number } | undefined
      if (row === undefined)
        throw new BaseError('INTERNAL', `Job ${id} cannot start: it is not accepted.`)
      return row.attempts
    },

    complete(id, receipt) {
      transaction(() => finish(id, receipt, now()))
    },

    recordFinished(job, receipt) {
      return transaction(() => {
        const existing = get(job.id)
        if (existing?.status === 'done') return false
        const at = now()
        if (existing === undefined) insert(job, at)
        finish(job.id, receipt, at)
        return true
      })
    },

    fail(id, error) {
      statements.fail.run({
        id,
        error: JSON.stringify({ code: error.code, message: error.message }),
        now: now(),
      })
    },

    get,

    getReceipt(id) {
      const row = statements.receipt.get(id) as
        | { receipt: string; outputs: Uint8Array; created_at: number }
        | undefined
      return row && { receiptJson: row.receipt, outputs: row.outputs, createdAt: row.created_at }
    },

    replaceReceipt(id, receiptJson) {
      let canonical: string | undefined
      try {
        canonical = canonicalJson(JSON.parse(receiptJson))
      } catch {}
      if (canonical !== receiptJson)
        throw new BaseError(
          'CANONICAL_JSON_INVALID',
          `The replacement receipt of job ${id} is not canonical JSON.`,
          {
            metaMessages: [
              'Serialize the receipt with canonicalJson (RFC 8785) before storing it.',
            ],
          },
        )
      const { changes } = statements.replaceReceipt.run({ id, receipt: receiptJson })
      if (changes === 0)
        throw new BaseError('RECEIPT_NOT_FOUND', `Job ${id} has no stored receipt to replace.`, {
          metaMessages: ['Only the receipt of a done job can be replaced.'],
        })
    },

    unfinished() {
      return (statements.unfinished.all() as JobRow[]).map(rowToJob)
    },

    counts() {
      const counts: Record<JobStatus, number> = { accepted: 0, running: 0, done: 0, failed: 0 }
      for (const row of statements.counts.all() as { status: JobStatus; count: number }[])
        counts[row.status] = row.count
      return counts
    },

    close() {
      if (database.isOpen) database.close()
    },
  }
}
