import type { DatabaseSync } from 'node:sqlite'
import { BaseError } from '@verity/protocol'

/**
 * The schema, as an append-only list: migration `i` takes `PRAGMA user_version` from `i` to `i + 1`.
 * Never edit a migration that has shipped; add a new one.
 *
 * v1: `jobs` (one row per job id, inserted as `accepted` before execution) and `receipts` (the
 * canonical JSON of each finished job's receipt and its output tensors, canonical encoding).
 *
 * v2 (re-execution quorums): `attestations` (what this node signed as a verifier, one row per job,
 * verifier and judged output hash, with the executor's receipt it judged, so a replay returns the
 * same statement) and `evidence` (conflicting signed statements kept for on-chain challenges: an
 * outvoted executor, a verifier in the minority, an executor that signed two outputs for one job).
 *
 * @example
 * ```ts
 * migrations.length // the latest schema version
 * ```
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE jobs (
    id          TEXT    PRIMARY KEY,
    requester   TEXT    NOT NULL,
    model_cid   TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('accepted', 'running', 'done', 'failed')),
    request     TEXT    NOT NULL,
    inputs      BLOB    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    error       TEXT
  ) STRICT;
  CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE status IN ('accepted', 'running');
  CREATE TABLE receipts (
    job_id      TEXT    PRIMARY KEY REFERENCES jobs (id),
    receipt     TEXT    NOT NULL,
    outputs     BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
  ) STRICT;
  `,
  `
  CREATE TABLE attestations (
    job_id                TEXT    NOT NULL,
    verifier              TEXT    NOT NULL,
    output_hash           TEXT    NOT NULL,
    executor              TEXT    NOT NULL,
    agree                 INTEGER NOT NULL CHECK (agree IN (0, 1)),
    attestation           TEXT    NOT NULL,
    observed_output_hash  TEXT,
    reason                TEXT,
    receipt               TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    PRIMARY KEY (job_id, verifier, output_hash)
  ) STRICT;
  CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    accused     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    statements  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (job_id, kind)
  ) STRICT;
  `,
]

/**
 * Brings a database to the latest schema version, one transaction per migration. Refuses a
 * database written by a newer node (`INVALID_ARGUMENT`): downgrades are not supported.
 *
 * @example
 * ```ts
 * const version = migrate(new DatabaseSync('node.sqlite')) // 1
 * ```
 */
export function migrate(database: DatabaseSync): number {
  const row = database.prepare('PRAGMA user_version').get() as { user_version: number }
  const current = row.user_version
  if (current > migrations.length)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The node database is at schema version ${current}; this node knows versions up to ${migrations.length}.`,
      { metaMessages: ['Run a newer version of the node, or point it at another data directory.'] },
    )
  for (let version = current; version < migrations.length; version++) {
    database.exec('BEGIN IMMEDIATE')
    try {
      database.exec(migrations[version] as string)
      database.exec(`PRAGMA user_version = ${version + 1}`)
      database.exec('COMMIT')
    } catch (error) {
      database.exec('ROLLBACK')
      throw error
    }
  }
  return migrations.length
}
