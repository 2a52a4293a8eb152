import assert from 'node:assert/strict'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { computeCid } from '@verity/hub'
import {
  canonicalJson,
  createInferenceRequest,
  hashManifest,
  hashTensors,
  hashVerificationKey,
  type Manifest,
  type NamedTensors,
  namedTensorsFromJson,
  namedTensorsToJson,
  type Receipt,
  type ReceiptVerdict,
  signedZkContributionHeaders,
  verifyReceipt,
  verifyZkContribution,
  type ZkContributionRequest,
  zkCoordinatorHeaders,
} from '@verity/protocol'
import { type Client, createClient, http, infer, publishModel } from '@verity/sdk'
import {
  createZkArtifactStore,
  loadPowersOfTau,
  sha256Hex,
  startCeremony,
  verifyCeremony,
} from '@verity/zk'
import type { LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createVerityNode, type VerityNode } from '../createVerityNode.ts'
import { createLogger } from '../logger.ts'
import { tempDir, testAccounts } from '../testing/fixtures.ts'
import { type ZkDemoArtifacts, zkDemoArtifacts, zkTestPtau } from '../testing/zkDemoArtifacts.ts'

const logger = createLogger({ level: 'silent' })
const coordinator = privateKeyToAccount(`0x${'33'.repeat(32)}`)
type ErrorBody = { error: { code: string; message: string; hints?: string[] } }

describe('mode zk on a node', { skip: zkTestPtau.skip }, () => {
  let zk: ZkDemoArtifacts
  let node: VerityNode
  let url = ''
  let client: Client
  let manifest: Manifest
  let inputs: NamedTensors
  let receipt: Receipt
  const temps: (() => Promise<void>)[] = []

  async function dataDir(): Promise<string> {
    const { dir, remove } = await tempDir('verity-node-zk-')
    temps.push(remove)
    return dir
  }

  before(async () => {
    zk = await zkDemoArtifacts()
    node = await createVerityNode(
      { dataDir: await dataDir(), zk: { dir: zk.dir, coordinators: [coordinator.address] } },
      { account: testAccounts.node, logger },
    )
    url = await node.start()
    client = createClient({ transport: http(url), account: testAccounts.client })
    const published = await publishModel(client, {
      bytes: zk.demo.int8Model,
      name: 'digits-int8',
      license: 'MIT',
    })
    manifest = published.manifest
    inputs = namedTensorsFromJson(zk.demo.samples[3]!.int8Input)
  })
  after(async () => {
    await node?.stop()
    for (const remove of temps) await remove()
  })

  test('default: a published model gets its zk section; a mode-zk job returns a receipt whose proof verifies offline', async (t) => {
    assert.deepEqual(manifest.zk, zk.artifacts.manifestZk)
    const network = (await (await fetch(`${url}/v1/network`)).json()) as { modes: string[] }
    assert.deepEqual(network.modes, ['none', 'zk'])

    const started = performance.now()
    const result = await infer(client, { model: 'digits-int8', inputs, mode: 'zk' })
    const roundTripMs = performance.now() - started
    receipt = result.receipt
    assert.equal(receipt.job.mode, 'zk')
    assert.deepEqual([...(result.outputs.logits?.data ?? [])], zk.demo.samples[3]!.int8Logits)
    const verifyStarted = performance.now()
    const verdict = await verifyReceipt(receipt, { manifest, inputs })
    const verifyMs = performance.now() - verifyStarted
    assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
    const statuses = Object.fromEntries(verdict.checks.map((check) => [check.name, check.status]))
    for (const name of ['zk.proof', 'zk.output', 'zk.input', 'zk.model'])
      assert.equal(statuses[name], 'pass', name)

    const metrics = await (await fetch(`${url}/v1/metrics`)).text()
    assert.match(metrics, /verity_zk_prove_seconds_count\{outcome="ok"\} 1\n/)
    assert.match(metrics, /verity_jobs_total\{mode="zk",status="done"\} 1\n/)
    t.diagnostic(
      `setup ${Math.round(zk.setupMs)} ms, constraints ${manifest.zk?.constraints}, infer+prove round trip ${Math.round(roundTripMs)} ms, receipt ${canonicalJson(receipt).length} bytes (zk section ${canonicalJson(receipt.zk).length}), offline verify ${Math.round(verifyMs)} ms`,
    )
  })

  test('error: a changed input byte, output, public signal or proof coordinate fails offline with its code', async () => {
    assert.ok(receipt, 'needs the receipt of the default test')
    const failed = (verdict: ReceiptVerdict, name: string) =>
      verdict.checks.find((check) => check.name === name && check.status === 'fail')?.code
    const tamper = (change: (copy: Receipt) => void): Receipt => {
      const copy = structuredClone(receipt)
      change(copy)
      return copy
    }

    const image = inputs.image!
    const changedData = Uint8Array.from(image.data as Uint8Array)
    changedData[400] = (changedData[400]! + 1) % 256
    const otherInputs = { image: { ...image, data: changedData } } as NamedTensors
    const byInput = await verifyReceipt(receipt, { manifest, inputs: otherInputs })
    assert.equal(byInput.valid, false)
    assert.equal(failed(byInput, 'zk.input'), 'RECEIPT_ZK_INPUT_MISMATCH')

    // another output than the proven one, signed as the executor's: the proof does not cover it
    const logits = namedTensorsFromJson(receipt.result.output as never).logits!
    const changedLogits = Int32Array.from(logits.data as Int32Array)
    changedLogits[0] = changedLogits[0]! + 1
    const changedOutputs = { logits: { ...logits, data: changedLogits } } as NamedTensors
    const byOutput = tamper((copy) => {
      copy.result.output = namedTensorsToJson(changedOutputs)
      copy.result.outputHash = hashTensors(changedOutputs)
    })
    const outputVerdict = await verifyReceipt(byOutput, { manifest, inputs })
    assert.equal(failed(outputVerdict, 'zk.output'), 'RECEIPT_ZK_OUTPUT_MISMATCH')
    assert.equal(failed(outputVerdict, 'zk.proof'), undefined, 'the proof itself still verifies')
    const outputSignal = tamper((copy) => {
      copy.zk!.publicSignals[0] = String(BigInt(copy.zk!.publicSignals[0]!) + 1n)
    })
    const signalVerdict = await verifyReceipt(outputSignal, { manifest, inputs })
    assert.equal(failed(signalVerdict, 'zk.proof'), 'RECEIPT_ZK_PROOF_INVALID')
    assert.equal(failed(signalVerdict, 'zk.output'), 'RECEIPT_ZK_OUTPUT_MISMATCH')

    const commitmentSignal = tamper((copy) => {
      const at = copy.zk!.publicSignals.length - 2
      copy.zk!.publicSignals[at] = String(BigInt(copy.zk!.publicSignals[at]!) + 1n)
    })
    const commitmentVerdict = await verifyReceipt(commitmentSignal, { manifest, inputs })
    assert.equal(failed(commitmentVerdict, 'zk.proof'), 'RECEIPT_ZK_PROOF_INVALID')
    assert.equal(failed(commitmentVerdict, 'zk.input'), 'RECEIPT_ZK_INPUT_MISMATCH')

    const coordinate = tamper((copy) => {
      copy.zk!.proof.pi_c[0] = String(BigInt(copy.zk!.proof.pi_c[0]!) + 1n)
    })
    const coordinateVerdict = await verifyReceipt(coordinate, { manifest, inputs })
    assert.equal(coordinateVerdict.code, 'RECEIPT_ZK_PROOF_INVALID')

    const otherKey = {
      ...manifest,
      zk: { ...manifest.zk!, verificationKeyHash: `0x${'ab'.repeat(32)}` },
    }
    const keyVerdict = await verifyReceipt(receipt, { manifest: otherKey as Manifest, inputs })
    assert.equal(failed(keyVerdict, 'zk.model'), 'RECEIPT_ZK_MODEL_MISMATCH')
  })

  test('behavior: proofs run one at a time; an unsigned mode-zk request is proven too', async () => {
    const unsigned = createClient({ transport: http(url) })
    const first = infer(client, { model: 'digits-int8', inputs, mode: 'zk' })
    const secondInputs = namedTensorsFromJson(zk.demo.samples[5]!.int8Input)
    const second = infer(unsigned, { model: 'digits-int8', inputs: secondInputs, mode: 'zk' })
    let most = 0
    const watch = setInterval(() => {
      most = Math.max(most, node.zk?.pending ?? 0)
    }, 5)
    const [a, b] = await Promise.all([first, second]).finally(() => clearInterval(watch))
    assert.equal(most, 2, 'the second proof waited in the queue')
    assert.equal(b.receipt.job.requester, '0x0000000000000000000000000000000000000000')
    assert.deepEqual([...(b.outputs.logits?.data ?? [])], zk.demo.samples[5]!.int8Logits)
    for (const [result, given] of [
      [a, inputs],
      [b, secondInputs],
    ] as const) {
      const verdict = await verifyReceipt(result.receipt, { manifest, inputs: given })
      assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
    }
  })

  test('behavior: GET /v1/zk/artifacts/:cid serves the artifacts a manifest names, checked by CID', async () => {
    const { artifacts } = manifest.zk!
    const response = await fetch(`${url}/v1/zk/artifacts/${artifacts.verificationKey}`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'application/octet-stream')
    const bytes = new Uint8Array(await response.arrayBuffer())
    assert.equal(await computeCid(bytes), artifacts.verificationKey)
    const key = JSON.parse(new TextDecoder().decode(bytes))
    assert.equal(hashVerificationKey(key), manifest.zk?.verificationKeyHash)
    const transcript = await fetch(`${url}/v1/zk/artifacts/${artifacts.transcript}`)
    assert.equal(
      await computeCid(new Uint8Array(await transcript.arrayBuffer())),
      artifacts.transcript,
    )

    for (const cid of [manifest.cid, 'models', 'b'.repeat(30), '..%2F..%2Fetc%2Fpasswd']) {
      const missing = await fetch(`${url}/v1/zk/artifacts/${cid}`)
      assert.equal(missing.status, 404, cid)
      assert.equal(((await missing.json()) as ErrorBody).error.code, 'ZK_ARTIFACT_NOT_FOUND')
    }
  })

  test('behavior: the node adds its contribution to a phase-2 ceremony when its coordinator asks; the ceremony verifies; strangers and junk are 4xx', async () => {
    const r1cs = await createZkArtifactStore({ dir: zk.dir }).read(
      zk.artifacts.manifestZk.artifacts.r1cs,
    )
    const ptau = await loadPowersOfTau(zkTestPtau.path)
    const initial = await startCeremony(r1cs, ptau)
    const now = Math.floor(Date.now() / 1000)
    /** POST /v1/zk/contribute with `body`, asked by `by` for `request` (default: this node, this key, in 10 min). */
    const ask = async (
      body: Uint8Array,
      by?: { account: LocalAccount; request?: Partial<ZkContributionRequest> },
    ) => {
      const request: ZkContributionRequest = {
        node: testAccounts.node.address,
        zkeySha256: sha256Hex(body),
        expires: now + 600,
        ...by?.request,
      }
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
      // whoever signs, the request claims to come from the configured coordinator
      if (by)
        Object.assign(
          headers,
          await signedZkContributionHeaders({ account: by.account, request }),
          {
            [zkCoordinatorHeaders.coordinator]: coordinator.address,
          },
        )
      return fetch(`${url}/v1/zk/contribute`, {
        method: 'POST',
        headers,
        body: body as Uint8Array<ArrayBuffer>,
      })
    }
    const refusals = [
      await ask(initial), // nobody asked
      await ask(initial, { account: testAccounts.client }), // a stranger signed as the coordinator
      await ask(initial, { account: coordinator, request: { node: testAccounts.client.address } }),
      await ask(initial, { account: coordinator, request: { zkeySha256: sha256Hex('another') } }),
      await ask(initial, { account: coordinator, request: { expires: now - 1 } }),
      await ask(initial, { account: coordinator, request: { expires: now + 7200 } }),
    ]
    for (const [i, refused] of refusals.entries()) {
      assert.equal(refused.status, 403, `refusal ${i}`)
      assert.equal(((await refused.json()) as ErrorBody).error.code, 'ZK_CONTRIBUTION_UNAUTHORIZED')
    }
    const response = await ask(initial, { account: coordinator })
    assert.equal(response.status, 200, await response.clone().text())
    assert.match(response.headers.get('verity-contribution-hash') ?? '', /^0x[0-9a-f]+$/)
    const extended = new Uint8Array(await response.arrayBuffer())
    const verified = await verifyCeremony(r1cs, ptau, extended)
    assert.equal(verified.ok, true, verified.errors.join('; '))
    assert.deepEqual(
      verified.contributions.map((c) => c.name),
      [`node ${testAccounts.node.address}`],
    )
    // the node signs what it contributed: the transcript records and re-checks the signature
    assert.equal(response.headers.get('verity-contribution-signer'), testAccounts.node.address)
    const statement = {
      circuitHash: verified.circuitHash,
      previousZkeySha256: sha256Hex(initial),
      contributionHash: verified.contributions[0]!.contributionHash,
      zkeySha256: sha256Hex(extended),
    }
    assert.equal(
      await verifyZkContribution({
        signer: testAccounts.node.address,
        signature: response.headers.get('verity-contribution-signature') as `0x${string}`,
        statement,
      }),
      true,
    )
    // a request is good for one turn; a turn that failed leaves it usable
    const again = await ask(initial, { account: coordinator })
    assert.equal(again.status, 403)
    assert.match(((await again.json()) as ErrorBody).error.message, /already used/)
    for (let attempt = 0; attempt < 2; attempt++) {
      const junk = await ask(new TextEncoder().encode('not a proving key'), {
        account: coordinator,
      })
      assert.equal(junk.status, 422)
      assert.equal(((await junk.json()) as ErrorBody).error.code, 'ZK_ZKEY_INVALID')
    }
  })

  test('error: mode zk for a model without a zk section is MODE_UNSUPPORTED before anything is stored', async () => {
    const float = await publishModel(client, { bytes: zk.demo.floatModel, name: 'digits-float' })
    assert.equal(float.manifest.zk, undefined)
    const floatInputs = namedTensorsFromJson(zk.demo.samples[3]!.floatInput)
    const request = createInferenceRequest({
      modelCid: float.cid,
      manifestHash: float.manifestHash,
      inputs: floatInputs,
      mode: 'zk',
    })
    const response = await fetch(`${url}/v1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: float.cid,
        inputs: namedTensorsToJson(floatInputs),
        request: { ...request, maxFee: '0', deadline: request.deadline.toString() },
      }),
    })
    assert.equal(response.status, 422)
    const body = (await response.json()) as ErrorBody
    assert.equal(body.error.code, 'MODE_UNSUPPORTED')
    assert.match(body.error.message, /no zk section/)
    await assert.rejects(
      infer(client, { model: 'digits-float', inputs: floatInputs, mode: 'zk' }),
      {
        code: 'MODE_UNSUPPORTED',
      },
    )
    const metrics = await (await fetch(`${url}/v1/metrics`)).text()
    // the SDK refused the second call itself (nothing signed or sent)
    assert.match(metrics, /verity_jobs_total\{mode="zk",status="rejected"\} 1\n/)
    assert.doesNotMatch(metrics, /verity_zk_prove_seconds_count\{outcome="failed"\}/)
  })

  test('error: over the budget is ZK_BUDGET_EXCEEDED, missing proving artifacts MODE_UNSUPPORTED, zk off is MODE_UNSUPPORTED', async () => {
    const small = await createVerityNode(
      { dataDir: await dataDir(), zk: { dir: zk.dir, budget: { maxConstraints: 1000 } } },
      { account: testAccounts.node, logger },
    )
    // a node holding only the zk section (e.g. it fetched the model) cannot prove it
    const sectionOnly = await dataDir()
    await mkdir(join(sectionOnly, 'models'), { recursive: true })
    const section = `${manifest.zk!.modelCommitment}.json`
    await writeFile(
      join(sectionOnly, 'models', section),
      await readFile(join(zk.dir, 'models', section)),
    )
    const lacking = await createVerityNode(
      { dataDir: await dataDir(), zk: { dir: sectionOnly } },
      { account: testAccounts.node, logger },
    )
    const off = await createVerityNode(
      { dataDir: await dataDir(), zk: { dir: zk.dir, enabled: false } },
      { account: testAccounts.node, logger },
    )
    try {
      for (const [other, code, pattern] of [
        [small, 'ZK_BUDGET_EXCEEDED', /constraints > 1000 allowed/],
        [lacking, 'MODE_UNSUPPORTED', /does not hold the proving artifacts/],
        [off, 'MODE_UNSUPPORTED', /"zk" is not offered/],
      ] as const) {
        const otherUrl = await other.start()
        const otherClient = createClient({
          transport: http(otherUrl),
          account: testAccounts.client,
        })
        const published = await publishModel(otherClient, {
          bytes: zk.demo.int8Model,
          name: 'digits-int8',
          license: 'MIT',
        })
        // the same artifacts give the same manifest on every node
        assert.equal(published.manifestHash, hashManifest(manifest))
        await assert.rejects(
          infer(otherClient, { model: 'digits-int8', inputs, mode: 'zk' }),
          (error: { code?: string; message?: string }) => {
            assert.equal(error.code, code)
            assert.match(String(error.message), pattern)
            return true
          },
        )
        assert.deepEqual(
          Object.values(other.jobs.counts()).reduce((sum, count) => sum + count, 0),
          0,
          'nothing was stored',
        )
        const metrics = await (await fetch(`${otherUrl}/v1/metrics`)).text()
        assert.doesNotMatch(metrics, /verity_jobs_total\{mode="zk",status="(done|failed)"\}/)
      }
      const network = (await (await fetch(`${off.url}/v1/network`)).json()) as { modes: string[] }
      assert.deepEqual(network.modes, ['none'])
      const artifact = await fetch(`${off.url}/v1/zk/artifacts/${manifest.zk!.artifacts.zkey}`)
      assert.equal(artifact.status, 404)
      // a node with no coordinator configured takes no ceremony turns, however the request is signed
      const expires = Math.floor(Date.now() / 1000) + 600
      const turn = await fetch(`${small.url}/v1/zk/contribute`, {
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          ...(await signedZkContributionHeaders({
            account: coordinator,
            request: { node: testAccounts.node.address, zkeySha256: sha256Hex('k'), expires },
          })),
        },
        body: 'k',
      })
      assert.equal(turn.status, 403)
      assert.match(((await turn.json()) as ErrorBody).error.message, /no coordinator configured/)
    } finally {
      await Promise.all([small.stop(), lacking.stop(), off.stop()])
    }
  })

  test('behavior: a node without the artifacts fetches them over IPFS from a peer holding the model, then proves', async (t) => {
    const holderAccount = privateKeyToAccount(`0x${'5a'.repeat(32)}`)
    const holder = await createVerityNode(
      { dataDir: await dataDir(), zk: { dir: zk.dir }, ipfs: true },
      { account: holderAccount, logger },
    )
    const emptyZkDir = await dataDir()
    let prover: VerityNode | undefined
    try {
      const holderUrl = await holder.start()
      const published = await publishModel(
        createClient({ transport: http(holderUrl), account: testAccounts.client }),
        { bytes: zk.demo.int8Model, name: 'digits-int8', license: 'MIT' },
      )
      prover = await createVerityNode(
        {
          dataDir: await dataDir(),
          zk: { dir: emptyZkDir, enabled: true },
          ipfs: true,
          peers: [{ address: holderAccount.address, url: holderUrl }],
        },
        { account: testAccounts.node, logger },
      )
      const proverUrl = await prover.start()
      const proverClient = createClient({
        transport: http(proverUrl),
        account: testAccounts.client,
      })
      const started = performance.now()
      const result = await infer(proverClient, { model: published.cid, inputs, mode: 'zk' })
      const ms = performance.now() - started
      assert.equal(result.receipt.job.mode, 'zk')
      assert.equal(result.receipt.job.model.manifestHash, published.manifestHash)
      const verdict = await verifyReceipt(result.receipt, { manifest: published.manifest, inputs })
      assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
      // every artifact the manifest names is now in the prover's zk folder, intact
      const store = createZkArtifactStore({ dir: emptyZkDir })
      assert.deepEqual(await store.missing(published.manifest.zk!), [])
      for (const cid of Object.values(published.manifest.zk!.artifacts))
        assert.equal(await computeCid(await store.read(cid)), cid)
      const metrics = await (await fetch(`${proverUrl}/v1/metrics`)).text()
      const fetched = Number(/verity_model_fetch_bytes_total (\d+)/.exec(metrics)?.[1] ?? 0)
      assert.ok(fetched > zk.artifacts.zkey.length, `${fetched} bytes fetched`)
      t.diagnostic(
        `model + ${Object.keys(published.manifest.zk!.artifacts).length} artifacts (${fetched} bytes) fetched over IPFS, proven and returned in ${Math.round(ms)} ms`,
      )
    } finally {
      await prover?.stop()
      await holder.stop()
    }
  })
})
