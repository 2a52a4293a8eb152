import { BaseError } from '@verity/protocol'

const versionPattern = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/

type Parsed = { core: [bigint, bigint, bigint]; prerelease: string[] }

function parse(version: string): Parsed {
  const match = versionPattern.exec(version)
  if (!match)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(version)} is not a semantic version.`,
      {
        metaMessages: ['Expected MAJOR.MINOR.PATCH with an optional -prerelease or +build suffix.'],
      },
    )
  return {
    core: [BigInt(match[1]!), BigInt(match[2]!), BigInt(match[3]!)],
    prerelease: match[4] === undefined ? [] : match[4].split('.'),
  }
}

function compareIdentifiers(a: string, b: string): number {
  const aNumeric = /^\d+$/.test(a)
  const bNumeric = /^\d+$/.test(b)
  if (aNumeric && bNumeric) {
    const difference = BigInt(a) - BigInt(b)
    return difference === 0n ? 0 : difference < 0n ? -1 : 1
  }
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Semantic-version precedence (semver.org §11): negative when `a` is older, positive when newer,
 * 0 when equal (build metadata is ignored). Throws `INVALID_ARGUMENT` on a malformed version.
 *
 * @example
 * ```ts
 * compareVersions('1.10.0', '1.9.2') // 1
 * compareVersions('2.0.0-rc.1', '2.0.0') // -1
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const left = parse(a)
  const right = parse(b)
  for (let i = 0; i < 3; i++) {
    const difference = left.core[i]! - right.core[i]!
    if (difference !== 0n) return difference < 0n ? -1 : 1
  }
  // A release is newer than any of its prereleases.
  const leftRelease = left.prerelease.length === 0
  const rightRelease = right.prerelease.length === 0
  if (leftRelease || rightRelease) return leftRelease === rightRelease ? 0 : leftRelease ? 1 : -1
  const length = Math.min(left.prerelease.length, right.prerelease.length)
  for (let i = 0; i < length; i++) {
    const order = compareIdentifiers(left.prerelease[i]!, right.prerelease[i]!)
    if (order !== 0) return order
  }
  return Math.sign(left.prerelease.length - right.prerelease.length)
}
