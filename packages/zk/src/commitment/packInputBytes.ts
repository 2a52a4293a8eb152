// The packing is the protocol's (verifiers check commitments without this package).
export { packedBytesPerElement, packInputBytes } from '@verity/protocol'
