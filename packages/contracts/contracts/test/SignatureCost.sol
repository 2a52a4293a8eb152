// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Test-only gas probe: what it costs to check one EIP-712 InferenceRequest signature
/// on-chain (`verifyRequest`), against the same call doing no verification (`baseline`).
contract SignatureCost is EIP712 {
    struct InferenceRequest {
        string modelCid;
        bytes32 manifestHash;
        bytes32 inputHash;
        bytes32 paramsHash;
        uint8 mode;
        uint8 quorum;
        uint256 maxFee;
        bytes32 nonce;
        uint64 deadline;
    }

    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "InferenceRequest(string modelCid,bytes32 manifestHash,bytes32 inputHash,bytes32 paramsHash,uint8 mode,uint8 quorum,uint256 maxFee,bytes32 nonce,uint64 deadline)"
    );

    /// @param gasUsed Execution gas of the check alone (hashing + ecrecover), 0 in `baseline`.
    event Checked(address signer, uint256 gasUsed);

    error WrongSigner(address recovered);

    constructor() EIP712("Verity", "1") {}

    /// @notice Hashes the request (EIP-712), recovers the signer and checks it.
    function verifyRequest(InferenceRequest calldata r, address signer, bytes calldata signature) external {
        uint256 start = gasleft();
        bytes32 structHash = keccak256(
            abi.encode(
                REQUEST_TYPEHASH,
                keccak256(bytes(r.modelCid)),
                r.manifestHash,
                r.inputHash,
                r.paramsHash,
                r.mode,
                r.quorum,
                r.maxFee,
                r.nonce,
                r.deadline
            )
        );
        address recovered = ECDSA.recoverCalldata(_hashTypedDataV4(structHash), signature);
        if (recovered != signer) revert WrongSigner(recovered);
        emit Checked(recovered, start - gasleft());
    }

    /// @notice Same calldata, no verification: the difference is the cost of the check itself.
    function baseline(InferenceRequest calldata, address signer, bytes calldata) external {
        emit Checked(signer, 0);
    }
}
