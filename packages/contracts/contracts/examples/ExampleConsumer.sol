// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {InferenceHub} from "../InferenceHub.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title A minimal InferenceHub consumer: asks for inferences and stores every verified result.
/// @notice Anyone may `ask` (paying the fee); only the hub may deliver a result. Refunds of
/// requests nobody fulfilled are credited by the hub to this contract; `withdrawRefunds` passes
/// them on to the owner (the deployer).
contract ExampleConsumer is IInferenceConsumer {
    InferenceHub public immutable HUB;
    address public immutable OWNER;

    /// @notice The last request this contract made (0 before the first).
    uint256 public lastRequestId;
    mapping(uint256 requestId => bytes) private _results;
    mapping(uint256 requestId => bool) public fulfilled;

    event Asked(uint256 indexed requestId, address indexed asker, uint256 indexed modelId, uint256 fee);
    event ResultStored(uint256 indexed requestId, bytes32 outputHash);

    error NotHub(address caller);
    error NotOwner(address caller);
    error NoResult(uint256 requestId);
    error TransferFailed(address to, uint256 amount);

    constructor(InferenceHub hub) {
        HUB = hub;
        OWNER = msg.sender;
    }

    /// @notice Requests an inference of `modelId` on `input`; msg.value is the fee.
    function ask(uint256 modelId, bytes calldata input, uint8 mode, uint8 quorum, uint32 callbackGasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        requestId = HUB.request{value: msg.value}(modelId, input, mode, quorum, callbackGasLimit);
        lastRequestId = requestId;
        emit Asked(requestId, msg.sender, modelId, msg.value);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(HUB)) revert NotHub(msg.sender);
        _results[requestId] = output;
        fulfilled[requestId] = true;
        emit ResultStored(requestId, keccak256(output));
    }

    /// @notice The stored output of a fulfilled request.
    function resultOf(uint256 requestId) external view returns (bytes memory) {
        if (!fulfilled[requestId]) revert NoResult(requestId);
        return _results[requestId];
    }

    /// @notice Withdraws the refunds the hub credited to this contract and sends them to the owner.
    function withdrawRefunds() external {
        if (msg.sender != OWNER) revert NotOwner(msg.sender);
        HUB.withdrawEarnings();
        uint256 amount = address(this).balance;
        (bool ok,) = OWNER.call{value: amount}("");
        if (!ok) revert TransferFailed(OWNER, amount);
    }

    /// @notice Accepts wei from the hub only (refund withdrawals).
    receive() external payable {
        if (msg.sender != address(HUB)) revert NotHub(msg.sender);
    }
}
