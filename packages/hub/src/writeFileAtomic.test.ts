import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { writeFileAtomic } from './writeFileAtomic.ts'

describe('writeFileAtomic', () => {
  test('default', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-atomic-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'file.json')
    await writeFileAtomic(path, '{"a":1}')
    await writeFileAtomic(path, new TextEncoder().encode('{"a":2}'))
    assert.equal(await readFile(path, 'utf8'), '{"a":2}')
    assert.deepEqual(await readdir(dir), ['file.json'])
  })

  test('error: a failed rename leaves no temporary file behind', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-atomic-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const target = join(dir, 'occupied')
    await mkdir(join(target, 'child'), { recursive: true }) // renaming a file over a non-empty dir fails
    await assert.rejects(writeFileAtomic(target, 'data'))
    assert.deepEqual(await readdir(dir), ['occupied'])
  })
})
