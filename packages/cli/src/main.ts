import { BaseError } from '@verity/protocol'
import { Command, CommanderError, Option } from 'commander'
import { type ChatFlags, chat } from './commands/chat.ts'
import { type DevnetFlags, devnet } from './commands/devnet.ts'
import { infer } from './commands/infer.ts'
import { keysNew, keysShow } from './commands/keys.ts'
import { modelAdd, modelList, modelShow } from './commands/model.ts'
import { modelPublish } from './commands/modelPublish.ts'
import { models } from './commands/models.ts'
import { node } from './commands/node.ts'
import { verify } from './commands/verify.ts'
import { type ZkCompileFlags, zkCompile } from './commands/zk.ts'
import { type CliOptions, defaultCliOptions } from './options.ts'
import { type Io, printError, processIo } from './output.ts'

type GlobalFlags = { json?: boolean; verbose?: boolean; home?: string }

/**
 * Builds the `verity` command tree. Each action returns an exit code; errors are printed once by
 * {@link main}.
 */
export function createProgram(io: Io, setExitCode: (code: number) => void): Command {
  const defaults = defaultCliOptions()
  const program = new Command('verity')
    .description('Verifiable AI inference: run models, get signed receipts, verify them offline.')
    .version('0.1.0')
    .option('--json', 'machine-readable output on stdout')
    .option('--verbose', 'print stack traces and error details')
    .addOption(
      new Option('--home <dir>', 'data directory (keys, models, receipts)')
        .default(defaults.home)
        .env('VERITY_HOME'),
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} })
    .showHelpAfterError(false)

  const cliOptions = (command: Command): CliOptions => {
    const flags = command.optsWithGlobals<GlobalFlags>()
    return {
      home: flags.home ?? defaults.home,
      json: flags.json ?? false,
      verbose: flags.verbose ?? false,
    }
  }
  const action =
    <A extends unknown[]>(run: (options: CliOptions, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command
      setExitCode(await run(cliOptions(command), ...(args.slice(0, -1) as A)))
    }

  const keys = program.command('keys').description('manage the local signing key')
  keys
    .command('new')
    .description('create a new secp256k1 key file (mode 0600)')
    .option('--out <file>', 'where to write it (default: <home>/key.json)')
    .option('--force', 'replace an existing key file')
    .action(
      action((options, flags: { out?: string; force?: boolean }) => keysNew(io, options, flags)),
    )
  keys
    .command('show')
    .description('print the address of the active key')
    .option('--key <file>', 'key file (default: $VERITY_PRIVATE_KEY or <home>/key.json)')
    .action(action((options, flags: { key?: string }) => keysShow(io, options, flags)))

  const model = program.command('model').description('the local content-addressed model store')
  model
    .command('add')
    .argument('<file>', 'an ONNX model file')
    .description('validate a model, compute its CID and manifest, and store it')
    .option('--name <name>', 'model name (default: from the file name)')
    .option('--model-version <semver>', 'model version (default 1.0.0)')
    .option('--license <spdx>', 'licence of the model')
    .option('--description <text>', 'one-line description')
    .action(
      action(
        (
          options,
          file: string,
          flags: { name?: string; modelVersion?: string; license?: string; description?: string },
        ) =>
          modelAdd(io, options, file, {
            ...(flags.name ? { name: flags.name } : {}),
            ...(flags.modelVersion ? { version: flags.modelVersion } : {}),
            ...(flags.license ? { license: flags.license } : {}),
            ...(flags.description ? { description: flags.description } : {}),
          }),
      ),
    )
  model
    .command('publish')
    .argument('<file>', 'an ONNX model file')
    .description('upload a model to a node (which validates, stores and serves it)')
    .requiredOption('--node <url>', 'the node, e.g. http://127.0.0.1:8546')
    .option('--name <name>', 'model name (default: from the file name)')
    .option('--model-version <semver>', 'model version (default 1.0.0)')
    .option('--license <spdx>', 'licence of the model')
    .option('--description <text>', 'one-line description')
    .action(
      action(
        (
          options,
          file: string,
          flags: {
            node: string
            name?: string
            modelVersion?: string
            license?: string
            description?: string
          },
        ) =>
          modelPublish(io, options, file, {
            node: flags.node,
            ...(flags.name ? { name: flags.name } : {}),
            ...(flags.modelVersion ? { version: flags.modelVersion } : {}),
            ...(flags.license ? { license: flags.license } : {}),
            ...(flags.description ? { description: flags.description } : {}),
          }),
      ),
    )
  model
    .command('list')
    .description('list stored models')
    .action(action((options) => modelList(io, options)))
  model
    .command('show')
    .argument('<model>', 'a CID, a name or name@version')
    .description('print a stored model and its manifest')
    .action(action((options, reference: string) => modelShow(io, options, reference)))

  program
    .command('models')
    .description('list the models a node serves (--node), or the local store')
    .option('--node <url>', 'the node, e.g. http://127.0.0.1:8546')
    .action(action((options, flags: { node?: string }) => models(io, options, flags)))

  program
    .command('infer')
    .argument('<model>', 'a CID, a name or name@version')
    .description(
      'run a model and write a signed receipt: locally (mode none), or on a node with --node',
    )
    .requiredOption('--input <file>', 'JSON tensors, a .npy array or a .png image')
    .option('--node <url>', 'run on this node through the SDK; the receipt is verified offline')
    .addOption(
      new Option(
        '--mode <mode>',
        'verification mode (with --node): reexec = verifiers re-execute, zk = a Groth16 proof',
      ).choices(['none', 'reexec', 'zk']),
    )
    .option('--quorum <k>', 'verifiers that must re-execute and co-sign (--mode reexec)')
    .option('--out <file>', 'where to write the receipt (default: <home>/receipts/<job id>.json)')
    .option('--key <file>', 'key file (default: $VERITY_PRIVATE_KEY or <home>/key.json)')
    .option('--raw-pixels', 'PNG input: keep float pixels in 0–255 instead of 0–1')
    .option('--invert', 'PNG input: invert the image')
    .option('--omit-output', 'keep only the output hash in the receipt')
    .option(
      '--wait-settled [seconds]',
      'with --node: wait until the receipt is committed on-chain (default up to 120 s)',
    )
    .action(
      action((options, reference: string, flags: Parameters<typeof infer>[3]) =>
        infer(io, options, reference, flags),
      ),
    )

  const zk = program.command('zk').description('zero-knowledge mode: make models provable')
  zk.command('compile')
    .argument('<model>', 'an integer (quantized) ONNX model file')
    .description(
      'compile a model to a circuit, run its phase-2 ceremony and store the artifacts (then `model add` gives its manifest a zk section)',
    )
    .option('--ptau <file>', 'phase-1 powers-of-tau file prepared for phase 2 (required to set up)')
    .option('--ptau-sha256 <hex>', 'refuse the ptau file unless it has this sha256')
    .option(
      '--contributor <name>',
      'a phase-2 contributor, in order (repeatable; default one: local)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--beacon <hex>',
      'the final public beacon, e.g. a block hash (default: random, recorded)',
    )
    .option('--out <dir>', 'where to store the artifacts (default: <home>/zk)')
    .option('--max-constraints <n>', 'refuse larger circuits')
    .option(
      '--calibration <file.npy>',
      'float models: quantize with these inputs ([N, …] uint8/float32) and report top-1 agreement; no setup',
    )
    .action(
      action((options, file: string, flags: ZkCompileFlags) => zkCompile(io, options, file, flags)),
    )

  program
    .command('chat')
    .argument('<model>', 'a text (GGUF) model on the node: a CID, a name or name@version')
    .argument(
      '[prompt]',
      'one message; without it, chat interactively (one message per stdin line)',
    )
    .description(
      'chat with a text model on a node: streams the answer, then the id of its receipt (verified offline)',
    )
    .requiredOption('--node <url>', 'the node, e.g. http://127.0.0.1:8546')
    .option('--max-tokens <n>', 'most tokens per answer (node default 256)')
    .option('--temperature <t>', 'sampling temperature, 0 = greedy (node default 1)')
    .option('--seed <s>', 'sampler seed (node default 0)')
    .option('--top-p <p>', 'nucleus sampling (node default 1)')
    .option('--top-k <k>', 'top-k sampling (node default 40)')
    .option(
      '--stop <text>',
      'stop string (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--system <text>', 'a system message before the conversation')
    .addOption(new Option('--mode <mode>', 'verification mode').choices(['none', 'reexec']))
    .option('--quorum <k>', 'verifiers that re-check each answer (implies --mode reexec)')
    .option('--json-object', 'constrain answers to a JSON object')
    .option('--json-schema <file>', 'constrain answers to JSON of this schema')
    .option('--key <file>', 'sign requests with this key file (or $VERITY_PRIVATE_KEY)')
    .option('--out <file>', "write the receipt here (interactive: the last answer's)")
    .action(
      action((options, model: string, prompt: string | undefined, flags: ChatFlags) =>
        chat(io, options, model, prompt, flags),
      ),
    )

  program
    .command('verify')
    .argument('<receipt>', 'a receipt JSON file')
    .description('check a receipt offline (and on-chain with --rpc); exit 0 only if no check fails')
    .option('--model <model>', 'also check it against this stored model')
    .option('--input <file>', 'also check its input hash against this input (needs --model)')
    .option('--executor <address>', 'require this executor')
    .option(
      '--rpc <url>',
      "also check it on-chain through this JSON-RPC URL of the receipt's chain (stakes, model, settlement)",
    )
    .action(
      action((options, file: string, flags: Parameters<typeof verify>[3]) =>
        verify(io, options, file, flags),
      ),
    )

  program
    .command('devnet')
    .description(
      'run a whole Verity network here: anvil, contracts, staked nodes, demo models (Ctrl+C stops)',
    )
    .option('--nodes <n>', 'number of nodes', '4')
    .option('--data-dir <dir>', 'devnet data; a second run reuses it (default: <home>/devnet)')
    .option('--port-base <port>', 'anvil on P, node i on P+i; 0 picks free ports', '8545')
    .option('--no-zk', 'skip the zero-knowledge setup of the demo models (faster first start)')
    .action(action((options, flags: DevnetFlags) => devnet(io, options, flags)))

  program
    .command('node')
    .description(
      "run the node daemon in the foreground (flags as the daemon's --help lists them; --data-dir defaults to <home>)",
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[flags...]', 'daemon flags, e.g. --port 8080 --key-file key.json')
    .action(action((options, args: string[]) => node(options, args)))

  return program
}

/**
 * Runs the CLI with the given arguments and returns the process exit code: 0 success, 1 failure
 * (bad input, failed verification), 2 usage error.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['verify', 'receipt.json'])
 * ```
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = 0
  const json = argv.includes('--json')
  const verbose = argv.includes('--verbose')
  const program = createProgram(io, (code) => {
    exitCode = code
  })
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return exitCode
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0 // --help, --version
      printError(
        io,
        { json, verbose },
        new BaseError('INVALID_ARGUMENT', error.message.replace(/^error: /, '')),
      )
      return 2
    }
    printError(io, { json, verbose }, error)
    return 1
  }
}
