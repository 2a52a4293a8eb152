// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IZkVerifier} from "../interfaces/IZkVerifier.sol";

/// @title The Poseidon hash of 5 field elements (circomlib-compatible, BN254), as deployed by
/// poseidon-solidity.
/// @notice `PoseidonT6.hash` in poseidon-solidity 0.0.5 is a *public* library function whose
/// assembly overwrites memory from 0x80 and ends with `return`, so it cannot be inlined: it must run
/// in its own call frame. It is `pure`, so it can be called (STATICCALL) like any contract; it is
/// declared `view` here because its code is external to this contract.
interface IPoseidonT6 {
    /// @return The Poseidon hash of the 5 inputs (each must be below the field order).
    function hash(uint256[5] memory inputs) external view returns (uint256);
}

/// @title IZkVerifier adapter for a Groth16 circuit compiled from a quantized model by @verity/zk.
/// @notice InferenceHub calls `verifyProof(proof, keccak256(input), keccak256(output))` where
/// `input` is the raw input tensor bytes and `output` is `abi.encode(int256[] outputs)`. The
/// adapter decodes
/// `proof = abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c, bytes input, int256[] outputs)`,
/// checks both hashes and lengths, computes the Poseidon input commitment on-chain and asks the
/// circuit's generated Groth16 verifier (snarkjs) to check the proof against the public signals
/// `[outputs…, inputCommitment, modelCommitment]`, negative outputs `v` as `p − |v|`. Outputs must be
/// in the canonical signed range |v| ≤ (p − 1) / 2, so one proof stands for one output array.
/// `a`, `b` and `c` are passed on as given, so they must be in the generated verifier's order
/// (snarkjs `exportSolidityCallData`: the coordinates of each element of `b` swapped).
///
/// Every mismatch (hashes, lengths, outputs outside that range, a verifier that rejects, reverts or
/// answers anything but `true`) returns false rather than reverting, so the answer is the same
/// whether the caller catches reverts (InferenceHub does) or not. Only a `proof` that is not a
/// valid ABI encoding of that tuple reverts (in the ABI decoder).
///
/// The Poseidon hasher is poseidon-solidity's PoseidonT6, deployed at the same address on every
/// chain through the deterministic deployment proxy (see `deployPoseidonT6` in the TypeScript
/// package); it must exist before this contract is deployed.
contract ZkModelVerifier is IZkVerifier {
    // ------------------------------------------------------------------ constants

    /// @notice BN254 scalar field order: public signals are integers modulo p.
    uint256 public constant FIELD_ORDER =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Largest magnitude of an output: (p − 1) / 2. Field elements above it are negative
    /// outputs (the convention of `fromFieldElement` in the protocol package).
    uint256 public constant HALF_FIELD = (FIELD_ORDER - 1) / 2;

    /// @notice poseidon-solidity 0.0.5 PoseidonT6 at its deterministic (CREATE2 proxy) address.
    address public constant POSEIDON_T6 = 0x666333F371685334CdD69bdDdaFBABc87CE7c7Db;

    /// @notice Input bytes per field element of the commitment (31 bytes always fit below p).
    uint256 private constant CHUNK_BYTES = 31;

    // ------------------------------------------------------------------ immutables

    /// @notice The circuit's generated Groth16 verifier.
    address public immutable GROTH16_VERIFIER;
    /// @notice The circuit's model commitment (its last public signal).
    uint256 public immutable MODEL_COMMITMENT;
    /// @notice Byte length of every accepted input (784 for a 28×28 uint8 image).
    uint256 public immutable INPUT_LENGTH;
    /// @notice Number of integer outputs of the circuit (the generated verifier takes this + 2 public signals).
    uint256 public immutable OUTPUT_COUNT;
    /// @notice Selector of `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[OUTPUT_COUNT + 2])`.
    bytes4 public immutable VERIFY_PROOF_SELECTOR;

    // ------------------------------------------------------------------ errors

    /// @notice `groth16Verifier` has no code.
    error VerifierNotContract(address groth16Verifier);
    /// @notice PoseidonT6 is not deployed on this chain yet (deploy it first, then this contract).
    error PoseidonNotDeployed(address poseidon);
    /// @notice `modelCommitment` is not below the field order.
    error NotAFieldElement(uint256 value);
    /// @notice Input length and output count must both be at least 1.
    error InvalidShape(uint256 inputLength, uint256 outputCount);
    /// @notice `inputCommitment` of an empty input (length 0 is not a valid input).
    error EmptyInput();

    // ------------------------------------------------------------------ construction

    /// @param groth16Verifier The snarkjs-generated verifier of the model's circuit.
    /// @param modelCommitment The circuit's model commitment (a field element).
    /// @param inputLength Byte length of the model's input tensor.
    /// @param outputCount Number of integer outputs (public signals before the two commitments).
    constructor(address groth16Verifier, uint256 modelCommitment, uint256 inputLength, uint256 outputCount) {
        if (groth16Verifier.code.length == 0) revert VerifierNotContract(groth16Verifier);
        if (POSEIDON_T6.code.length == 0) revert PoseidonNotDeployed(POSEIDON_T6);
        if (modelCommitment >= FIELD_ORDER) revert NotAFieldElement(modelCommitment);
        if (inputLength == 0 || outputCount == 0) revert InvalidShape(inputLength, outputCount);
        GROTH16_VERIFIER = groth16Verifier;
        MODEL_COMMITMENT = modelCommitment;
        INPUT_LENGTH = inputLength;
        OUTPUT_COUNT = outputCount;
        VERIFY_PROOF_SELECTOR = bytes4(
            keccak256(
                abi.encodePacked(
                    "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[",
                    Strings.toString(outputCount + 2),
                    "])"
                )
            )
        );
    }

    // ------------------------------------------------------------------ IZkVerifier

    /// @inheritdoc IZkVerifier
    function verifyProof(bytes calldata proof, bytes32 inputHash, bytes32 outputHash) external view returns (bool) {
        (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c, bytes memory input, int256[] memory outputs)
        = abi.decode(proof, (uint256[2], uint256[2][2], uint256[2], bytes, int256[]));
        if (input.length != INPUT_LENGTH || outputs.length != OUTPUT_COUNT) return false;
        if (keccak256(input) != inputHash || keccak256(abi.encode(outputs)) != outputHash) return false;

        uint256 count = outputs.length;
        uint256[] memory signals = new uint256[](count + 2);
        for (uint256 i = 0; i < count; ++i) {
            (bool ok, uint256 element) = _toField(outputs[i]);
            if (!ok) return false;
            signals[i] = element;
        }
        signals[count] = _inputCommitment(input);
        signals[count + 1] = MODEL_COMMITMENT;

        // the generated verifier's public-signal count is fixed per circuit, so it is called with
        // calldata built here: all arguments are static, i.e. 8 + count + 2 words in order
        (bool success, bytes memory result) = GROTH16_VERIFIER.staticcall(
            abi.encodePacked(VERIFY_PROOF_SELECTOR, abi.encode(a, b, c), signals)
        );
        return success && result.length == 32 && abi.decode(result, (uint256)) == 1;
    }

    // ------------------------------------------------------------------ views

    /// @notice The circuit's input commitment of `input`: the bytes packed big-endian into field
    /// elements of 31 bytes (the last one shorter), then `acc = input.length` and for each group of
    /// 4 elements (zero-padded) `acc = PoseidonT6.hash([acc, e0, e1, e2, e3])`. 784 bytes → 26
    /// elements → 7 hashes. Reverts with `EmptyInput` for an empty input.
    function inputCommitment(bytes memory input) public view returns (uint256) {
        if (input.length == 0) revert EmptyInput();
        return _inputCommitment(input);
    }

    // ------------------------------------------------------------------ internals

    function _inputCommitment(bytes memory input) private view returns (uint256 acc) {
        uint256 length = input.length;
        uint256 elements = (length + CHUNK_BYTES - 1) / CHUNK_BYTES;
        acc = length;
        for (uint256 first = 0; first < elements; first += 4) {
            uint256[5] memory state;
            state[0] = acc;
            for (uint256 j = 0; j < 4 && first + j < elements; ++j) {
                state[j + 1] = _chunk(input, (first + j) * CHUNK_BYTES);
            }
            acc = IPoseidonT6(POSEIDON_T6).hash(state);
        }
    }

    /// @dev Big-endian value of input[offset : offset + min(31, length − offset)]. The 32-byte load
    /// may read past the array's end; those bytes are shifted out.
    function _chunk(bytes memory input, uint256 offset) private pure returns (uint256 element) {
        uint256 remaining = input.length - offset;
        uint256 size = remaining < CHUNK_BYTES ? remaining : CHUNK_BYTES;
        assembly {
            element := shr(mul(8, sub(32, size)), mload(add(add(input, 32), offset)))
        }
    }

    /// @dev A signed output as a field element: v for v ≥ 0, p − |v| for v < 0; false when
    /// |v| > (p − 1) / 2. Only that canonical range is accepted so that each field element stands
    /// for exactly one output: otherwise v and v − p (e.g. −7 and p − 7) would both verify, and an
    /// executor could hand the consumer a huge positive number the circuit proved as −7.
    function _toField(int256 value) private pure returns (bool ok, uint256 element) {
        if (value >= 0) {
            element = uint256(value);
            return (element <= HALF_FIELD, element);
        }
        // −(value + 1) + 1 avoids overflowing at type(int256).min
        uint256 magnitude = uint256(-(value + 1)) + 1;
        if (magnitude > HALF_FIELD) return (false, 0);
        return (true, FIELD_ORDER - magnitude);
    }
}
