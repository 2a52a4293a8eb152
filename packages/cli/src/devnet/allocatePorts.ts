import { createServer, type Server } from 'node:net'
import { BaseError } from '@verity/protocol'

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server))
  })
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/**
 * The ports of a devnet on 127.0.0.1: `count` consecutive ports from `base`, each checked to be
 * free (`INVALID_ARGUMENT` naming the busy one), or `count` free ports picked by the OS when `base`
 * is 0. All are held at once while checking, so the picked ports are distinct.
 *
 * @example
 * ```ts
 * const [anvilPort, ...nodePorts] = await allocatePorts(0, 5)
 * ```
 */
export async function allocatePorts(base: number, count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const port = base === 0 ? 0 : base + i
      try {
        servers.push(await listen(port))
      } catch (error) {
        throw new BaseError(
          'INVALID_ARGUMENT',
          `Port ${port} on 127.0.0.1 is in use (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
          {
            metaMessages: [
              `The devnet needs ports ${base}–${base + count - 1}: stop what uses it (another devnet?), or pass --port-base P (or 0 for free ports).`,
            ],
            cause: error,
          },
        )
      }
    }
    return servers.map((server) => (server.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map(close))
  }
}
