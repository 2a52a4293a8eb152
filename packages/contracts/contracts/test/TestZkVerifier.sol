// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IZkVerifier} from "../interfaces/IZkVerifier.sol";

/// @title Test-only IZkVerifier: accepts exactly the proof
/// `abi.encodePacked("verity-test-proof", inputHash, outputHash)` and reverts on an empty proof.
contract TestZkVerifier is IZkVerifier {
    error EmptyProof();

    function verifyProof(bytes calldata proof, bytes32 inputHash, bytes32 outputHash) external pure returns (bool) {
        if (proof.length == 0) revert EmptyProof();
        return keccak256(proof) == keccak256(abi.encodePacked("verity-test-proof", inputHash, outputHash));
    }
}
