// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Test-only attacker: forwards arbitrary calls, and when it receives wei it calls
/// `target` once with `reentryCall` (e.g. the withdrawal that is paying it) and records the outcome,
/// or refuses the payment when `rejectPayments` is set.
contract ReentrantReceiver {
    address public target;
    bytes public reentryCall;
    uint256 public attempts;
    bool public reentrySucceeded;
    bytes public reentryResult;
    uint256 public received;
    bool public rejectPayments;

    error CallFailed(bytes result);
    error PaymentRejected();

    function setRejectPayments(bool reject) external {
        rejectPayments = reject;
    }

    function setReentry(address target_, bytes calldata call) external {
        target = target_;
        reentryCall = call;
    }

    function execute(address to, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory result) = to.call{value: value}(data);
        if (!ok) revert CallFailed(result);
        return result;
    }

    receive() external payable {
        if (rejectPayments) revert PaymentRejected();
        received += msg.value;
        if (target != address(0) && attempts == 0) {
            attempts = 1;
            (bool ok, bytes memory result) = target.call(reentryCall);
            reentrySucceeded = ok;
            reentryResult = result;
        }
    }
}
