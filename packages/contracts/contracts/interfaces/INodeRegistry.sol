// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

// Role bits of `INodeRegistry.Node.roles` (file-level: Solidity does not allow constants in interfaces).
// Import them with `import {INodeRegistry, ROLE_EXECUTOR} from "./interfaces/INodeRegistry.sol";`.
uint8 constant ROLE_GATEWAY = 1;
uint8 constant ROLE_EXECUTOR = 2;
uint8 constant ROLE_VERIFIER = 4;

/// @title Staked node operators: endpoint, libp2p peer id, roles, stake, unbonding, slashing.
interface INodeRegistry {
    struct Node {
        string endpoint;
        string peerId;
        uint8 roles; // bitmask: 1 gateway, 2 executor, 4 verifier
        uint256 stake;
        uint256 unbonding;
        uint64 unbondAt;
        uint64 registeredAt;
        uint64 exitingSince; // 0 while active
    }

    event NodeRegistered(address indexed node, string endpoint, string peerId, uint8 roles, uint256 stake);
    event NodeUpdated(address indexed node, string endpoint, string peerId, uint8 roles);
    event StakeAdded(address indexed node, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed node, uint256 amount, uint64 unbondAt, bool exiting);
    event UnbondedWithdrawn(address indexed node, uint256 amount);
    event Slashed(address indexed node, address indexed by, uint256 amount);
    event SlashersSet(address settlement, address hub);
    event ParametersSet(uint256 minStake, uint256 maxStake, uint256 weightCap, uint64 unbondingDelay);

    error AlreadyRegistered(address node);
    error NotRegistered(address node);
    error StakeTooLow(uint256 stake, uint256 minStake);
    error StakeAboveCap(uint256 stake, uint256 maxStake);
    error NothingToWithdraw();
    error StillBonded(uint64 unbondAt);
    error NotSlasher(address caller);
    error SlashersAlreadySet();
    error InvalidRoles(uint8 roles);

    function register(string calldata endpoint, string calldata peerId, uint8 roles) external payable;
    function topUp() external payable;
    function updateNode(string calldata endpoint, string calldata peerId, uint8 roles) external;
    function requestUnbond(uint256 amount) external;
    function withdrawUnbonded() external;
    function setSlashers(address settlement, address hub) external;
    /// @notice Takes up to `amount` from the node (stake first, then unbonding funds) and sends it to the caller.
    function slash(address node, uint256 amount) external returns (uint256 slashed);

    function getNode(address node) external view returns (Node memory);
    function isActive(address node) external view returns (bool);
    function wasActiveAt(address node, uint64 timestamp) external view returns (bool);
    function hasRole(address node, uint8 role) external view returns (bool);
    function selectionWeight(address node) external view returns (uint256);
    function activeNodes(uint256 offset, uint256 limit) external view returns (address[] memory nodes);
}
