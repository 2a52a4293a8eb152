import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { bindingName, compileContracts, renderGeneratedFiles } from './compile.ts'
import * as generated from './generated/index.ts'

const generatedDir = new URL('./generated/', import.meta.url)
const fresh = compileContracts()

test('default: committed src/generated matches a fresh compile (run `npm run contracts:build`)', () => {
  const files = renderGeneratedFiles(fresh.contracts)
  const committed = readdirSync(generatedDir)
    .filter((name) => name.endsWith('.ts'))
    .sort()
  assert.deepEqual(committed, [...files.keys()].sort(), 'stale or missing generated files')
  for (const [name, content] of files) {
    assert.equal(readFileSync(new URL(name, generatedDir), 'utf8'), content, `${name} is stale`)
  }
})

test('behavior: the generated modules export the fresh ABIs and bytecode', () => {
  const exports = generated as Record<string, unknown>
  assert.ok(fresh.contracts.length >= 2)
  for (const contract of fresh.contracts) {
    const binding = bindingName(contract.name)
    assert.deepEqual(exports[`${binding}Abi`], contract.abi, `${contract.name} ABI`)
    assert.equal(exports[`${binding}Bytecode`], contract.bytecode, `${contract.name} bytecode`)
  }
  assert.equal(Object.keys(exports).length, fresh.contracts.length * 2)
})

test('behavior: bindingName lowers the leading word or acronym', () => {
  assert.equal(bindingName('NodeRegistry'), 'nodeRegistry')
  assert.equal(bindingName('InferenceHub'), 'inferenceHub')
  assert.equal(bindingName('ERC20Mock'), 'erc20Mock')
  assert.equal(bindingName('ZKVerifier'), 'zkVerifier')
  assert.equal(bindingName('A'), 'a')
})

test('error: compiler errors are all reported in one BaseError', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'verity-solc-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const contracts = join(dir, 'contracts')
  mkdirSync(contracts)
  writeFileSync(
    join(contracts, 'Bad.sol'),
    [
      'pragma solidity ^0.8.28;',
      'contract A { function f() public pure returns (uint256) { return "a"; } }',
      'contract B { function g() public pure returns (bool) { return 1; } }',
    ].join('\n'),
  )
  assert.throws(
    () => compileContracts({ contractsDir: contracts }),
    (error: Error & { code?: string; details?: string }) => {
      assert.equal(error.code, 'INVALID_ARGUMENT')
      assert.match(error.message, /2 error\(s\)/)
      assert.match(
        error.details ?? '',
        /TypeError[\s\S]*Bad\.sol:2[\s\S]*TypeError[\s\S]*Bad\.sol:3/,
      )
      return true
    },
  )
})
