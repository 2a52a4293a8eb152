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
 * v3 (on-chain settlement): `settlement_batches` (the batches this node commits to the Settlement
 * contract: root, leaves in leaf-index order, the exact `commitBatch` arguments, written as
 * `committing` before the transaction is sent, then the on-chain id, transaction, block and commit
 * time) and `settlement_items` (one row per settled job: payer, model, fee, the leaf once the
 * receipt exists, status `quoted` → `pending` → `committing` → `committed` → `finalized`, or
 * `challenged` / `unpaid`).
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
  `
  CREATE TABLE settlement_batches (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    contract           TEXT    NOT NULL,
    executor           TEXT    NOT NULL,
    batch_id           TEXT,
    root               TEXT    NOT NULL,
    count              INTEGER NOT NULL,
    total              TEXT    NOT NULL,
    status             TEXT    NOT NULL
                       CHECK (status IN ('committing', 'committed', 'finalized', 'challenged')),
    call               TEXT    NOT NULL,
    leaves             TEXT    NOT NULL,
    from_block         INTEGER NOT NULL,
    tx_hash            TEXT,
    block_number       INTEGER,
    committed_at       INTEGER,
    receipts_attached  INTEGER NOT NULL DEFAULT 0 CHECK (receipts_attached IN (0, 1)),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX settlement_batches_by_chain_id ON settlement_batches (contract, batch_id)
    WHERE batch_id IS NOT NULL;
  CREATE INDEX settlement_batches_by_status ON settlement_batches (status, id);
  CREATE TABLE settlement_items (
    job_id         TEXT    PRIMARY KEY,
    payer          TEXT    NOT NULL,
    model_id       TEXT    NOT NULL,
    model_cid      TEXT    NOT NULL,
    fee            TEXT    NOT NULL,
    deadline       TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('quoted', 'pending', 'committing',
                           'committed', 'finalized', 'challenged', 'unpaid')),
    leaf           TEXT,
    leaf_hash      TEXT,
    verifiers      TEXT,
    batch          INTEGER REFERENCES settlement_batches (id),
    leaf_index     INTEGER,
    unpaid_reason  TEXT,
    quoted_at      INTEGER NOT NULL,
    recorded_at    INTEGER,
    updated_at     INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX settlement_items_by_status ON settlement_items (status, recorded_at, job_id);
  CREATE INDEX settlement_items_unsettled_by_payer ON settlement_items (payer)
    WHERE status IN ('quoted', 'pending', 'committing');
  CREATE INDEX settlement_items_by_batch ON settlement_items (batch, leaf_index);
  `,
]

/**
 * Brings a database to the latest schema version, one transaction per migration. Refuses a
 * database written by a newer node (`INVALID_ARGUMENT`): downgrades are not supported.
 *
 * @example
 * ```ts
 * const version = migrate(new DatabaseSync('node.sqlite')) // 3
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
