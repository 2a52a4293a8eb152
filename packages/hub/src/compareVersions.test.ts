import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { compareVersions } from './compareVersions.ts'

describe('compareVersions', () => {
  test('default', () => {
    assert.equal(compareVersions('1.10.0', '1.9.2'), 1)
    assert.equal(compareVersions('1.9.2', '1.10.0'), -1)
    assert.equal(compareVersions('1.0.0', '1.0.0'), 0)
  })

  test('behavior: semver precedence for prereleases, build metadata ignored', () => {
    // semver.org §11 example chain, oldest first.
    const chain = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
    ]
    for (let i = 0; i + 1 < chain.length; i++) {
      assert.equal(compareVersions(chain[i]!, chain[i + 1]!), -1, `${chain[i]} < ${chain[i + 1]}`)
      assert.equal(compareVersions(chain[i + 1]!, chain[i]!), 1)
    }
    assert.equal(compareVersions('1.0.0+build.5', '1.0.0'), 0)
    assert.equal(compareVersions('99999999999999999999.0.0', '99999999999999999998.9.9'), 1)
  })

  test('error: malformed versions', () => {
    for (const version of ['1.0', 'v1.0.0', '1.0.0-', ''])
      assert.throws(
        () => compareVersions(version, '1.0.0'),
        (error) => isBaseError(error, 'INVALID_ARGUMENT'),
      )
  })
})
