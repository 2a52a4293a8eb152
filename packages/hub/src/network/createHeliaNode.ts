import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createHelia, type HeliaInit } from 'helia'
import type { PeerPrivateKey } from './options.ts'

export type CreateHeliaNodeParameters = {
  blockstore: NonNullable<HeliaInit['blockstore']>
  datastore: NonNullable<HeliaInit['datastore']>
  listen: readonly string[]
  privateKey: PeerPrivateKey
}

/** A started-or-not Helia node with a libp2p instance, as {@link createHeliaNode} builds it. */
export type HeliaNode = ReturnType<typeof createHeliaNode>

/**
 * A Helia node that talks only to peers it is connected to: TCP + Noise + Yamux + identify,
 * bitswap as the block exchange, and nothing that reaches out on its own: no bootstrap list, DHT,
 * mDNS, relay, UPnP, AutoTLS, delegated routing or HTTP gateways (`config: 'replace'` drops every
 * libp2p default that is not listed; the HTTP router and gateway lists are empty, so Helia's
 * trustless-gateway broker finds no gateway to call). Not started.
 *
 * Used by {@link createModelNetwork}; tests use it to stand up raw peers.
 *
 * @example
 * ```ts
 * const helia = createHeliaNode({ blockstore, datastore, listen: ['/ip4/127.0.0.1/tcp/0'], privateKey })
 * await helia.start()
 * ```
 */
export function createHeliaNode(parameters: CreateHeliaNodeParameters) {
  return createHelia({
    blockstore: parameters.blockstore,
    datastore: parameters.datastore,
    http: { delegatedRouters: [], recursiveGateways: [] },
    libp2p: {
      config: 'replace',
      privateKey: parameters.privateKey,
      addresses: { listen: [...parameters.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      services: { identify: identify() },
    },
  })
}
