// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {INodeRegistry, ROLE_EXECUTOR, ROLE_GATEWAY, ROLE_VERIFIER} from "./interfaces/INodeRegistry.sol";

/// @title Staked node operators: endpoint, libp2p peer id, roles, stake, unbonding, slashing.
/// @notice Life of a node: `register` (stake in [MIN_STAKE, MAX_STAKE]) → active → optional
/// `topUp` / partial `requestUnbond` → an unbond that leaves less than MIN_STAKE marks it exiting
/// (`exitingSince = now`, inactive at once, final for this registration) → `withdrawUnbonded`
/// after UNBONDING_DELAY; once stake and unbonding funds are both zero the record is deleted and
/// the address may register again. Stake and unbonding funds stay slashable until withdrawn, so
/// UNBONDING_DELAY must exceed every slasher's challenge window.
///
/// The active set (registered, not exiting, stake ≥ MIN_STAKE) is kept in an array with an index
/// map: O(1) insertion and swap-and-pop removal whenever a node enters or leaves it (registration,
/// exit, a slash below MIN_STAKE, a top-up back above it). `activeNodes` pages over it; the order
/// is not stable across removals.
contract NodeRegistry is INodeRegistry, ReentrancyGuard {
    /// @notice Smallest stake of an active node (wei).
    uint256 public immutable MIN_STAKE;
    /// @notice Largest stake a node may hold (wei).
    uint256 public immutable MAX_STAKE;
    /// @notice Cap of a node's selection weight (wei).
    uint256 public immutable WEIGHT_CAP;
    /// @notice Seconds between `requestUnbond` and `withdrawUnbonded`.
    uint64 public immutable UNBONDING_DELAY;
    /// @notice The only address that may call `setSlashers`, once.
    address public immutable DEPLOYER;

    /// @notice The slashers (Settlement and InferenceHub); zero until `setSlashers`.
    address public settlement;
    address public hub;
    bool public slashersSet;

    mapping(address node => Node) private _nodes;
    address[] private _active;
    /// @dev Position in `_active` plus one; 0 when not in the active set.
    mapping(address node => uint256) private _activeSlot;

    error NodeExiting(address node, uint64 exitingSince);
    error NotDeployer(address caller);
    error TransferFailed(address to, uint256 amount);
    error InvalidParameter(string name);

    /// @param minStake Smallest stake of an active node (wei, > 0).
    /// @param maxStake Largest stake per node (wei, ≥ minStake).
    /// @param weightCap Cap of the selection weight (wei, > 0).
    /// @param unbondingDelay Seconds unbonded funds stay locked (and slashable).
    constructor(uint256 minStake, uint256 maxStake, uint256 weightCap, uint64 unbondingDelay) {
        if (minStake == 0) revert InvalidParameter("minStake");
        if (maxStake < minStake) revert InvalidParameter("maxStake");
        if (weightCap == 0) revert InvalidParameter("weightCap");
        MIN_STAKE = minStake;
        MAX_STAKE = maxStake;
        WEIGHT_CAP = weightCap;
        UNBONDING_DELAY = unbondingDelay;
        DEPLOYER = msg.sender;
        emit ParametersSet(minStake, maxStake, weightCap, unbondingDelay);
    }

    // ------------------------------------------------------------------ operators

    /// @inheritdoc INodeRegistry
    function register(string calldata endpoint, string calldata peerId, uint8 roles) external payable {
        Node storage node = _nodes[msg.sender];
        if (node.registeredAt != 0) revert AlreadyRegistered(msg.sender);
        _checkRoles(roles);
        if (msg.value < MIN_STAKE) revert StakeTooLow(msg.value, MIN_STAKE);
        if (msg.value > MAX_STAKE) revert StakeAboveCap(msg.value, MAX_STAKE);
        node.endpoint = endpoint;
        node.peerId = peerId;
        node.roles = roles;
        node.stake = msg.value;
        node.registeredAt = uint64(block.timestamp);
        _syncActive(msg.sender, node);
        emit NodeRegistered(msg.sender, endpoint, peerId, roles, msg.value);
    }

    /// @inheritdoc INodeRegistry
    function topUp() external payable {
        Node storage node = _registered(msg.sender);
        if (node.exitingSince != 0) revert NodeExiting(msg.sender, node.exitingSince);
        uint256 stake = node.stake + msg.value;
        if (stake > MAX_STAKE) revert StakeAboveCap(stake, MAX_STAKE);
        node.stake = stake;
        _syncActive(msg.sender, node);
        emit StakeAdded(msg.sender, msg.value, stake);
    }

    /// @inheritdoc INodeRegistry
    function updateNode(string calldata endpoint, string calldata peerId, uint8 roles) external {
        Node storage node = _registered(msg.sender);
        _checkRoles(roles);
        node.endpoint = endpoint;
        node.peerId = peerId;
        node.roles = roles;
        emit NodeUpdated(msg.sender, endpoint, peerId, roles);
    }

    /// @inheritdoc INodeRegistry
    /// @dev Reverts `NothingToWithdraw` for 0 and `StakeTooLow(stake, amount)` above the stake.
    /// Each request restarts the delay for all unbonding funds of the node.
    function requestUnbond(uint256 amount) external {
        Node storage node = _registered(msg.sender);
        if (amount == 0) revert NothingToWithdraw();
        uint256 stake = node.stake;
        if (amount > stake) revert StakeTooLow(stake, amount);
        stake -= amount;
        node.stake = stake;
        node.unbonding += amount;
        uint64 unbondAt = uint64(block.timestamp) + UNBONDING_DELAY;
        node.unbondAt = unbondAt;
        if (stake < MIN_STAKE && node.exitingSince == 0) node.exitingSince = uint64(block.timestamp);
        _syncActive(msg.sender, node);
        emit UnbondRequested(msg.sender, amount, unbondAt, node.exitingSince != 0);
    }

    /// @inheritdoc INodeRegistry
    function withdrawUnbonded() external nonReentrant {
        Node storage node = _registered(msg.sender);
        uint256 amount = node.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < node.unbondAt) revert StillBonded(node.unbondAt);
        node.unbonding = 0;
        node.unbondAt = 0;
        _deleteIfExited(msg.sender, node);
        emit UnbondedWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ slashing

    /// @inheritdoc INodeRegistry
    function setSlashers(address settlement_, address hub_) external {
        if (msg.sender != DEPLOYER) revert NotDeployer(msg.sender);
        if (slashersSet) revert SlashersAlreadySet();
        slashersSet = true;
        settlement = settlement_;
        hub = hub_;
        emit SlashersSet(settlement_, hub_);
    }

    /// @inheritdoc INodeRegistry
    /// @dev Never reverts for an unknown or already-empty node (returns 0), so a fraud proof against
    /// a node that has left still succeeds.
    function slash(address nodeAddress, uint256 amount) external nonReentrant returns (uint256 slashed) {
        if (msg.sender == address(0) || (msg.sender != settlement && msg.sender != hub)) {
            revert NotSlasher(msg.sender);
        }
        Node storage node = _nodes[nodeAddress];
        if (node.registeredAt == 0 || amount == 0) return 0;
        uint256 stake = node.stake;
        uint256 fromStake = amount < stake ? amount : stake;
        uint256 unbonding = node.unbonding;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < unbonding ? rest : unbonding;
        slashed = fromStake + fromUnbonding;
        if (slashed == 0) return 0;
        node.stake = stake - fromStake;
        node.unbonding = unbonding - fromUnbonding;
        _syncActive(nodeAddress, node);
        _deleteIfExited(nodeAddress, node);
        emit Slashed(nodeAddress, msg.sender, slashed);
        _send(msg.sender, slashed);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc INodeRegistry
    /// @dev An unregistered address yields the zero struct (`registeredAt == 0`).
    function getNode(address node) external view returns (Node memory) {
        return _nodes[node];
    }

    /// @inheritdoc INodeRegistry
    function isActive(address node) public view returns (bool) {
        return _activeSlot[node] != 0;
    }

    /// @inheritdoc INodeRegistry
    function wasActiveAt(address nodeAddress, uint64 timestamp) external view returns (bool) {
        Node storage node = _nodes[nodeAddress];
        uint64 registeredAt = node.registeredAt;
        if (registeredAt == 0 || registeredAt > timestamp) return false;
        uint64 exitingSince = node.exitingSince;
        return exitingSince == 0 || exitingSince > timestamp;
    }

    /// @inheritdoc INodeRegistry
    /// @dev True when every bit of `role` is set (and `role` is not 0); says nothing about activity.
    function hasRole(address node, uint8 role) external view returns (bool) {
        return role != 0 && _nodes[node].roles & role == role;
    }

    /// @inheritdoc INodeRegistry
    function selectionWeight(address node) external view returns (uint256) {
        if (!isActive(node)) return 0;
        uint256 stake = _nodes[node].stake;
        return stake < WEIGHT_CAP ? stake : WEIGHT_CAP;
    }

    /// @inheritdoc INodeRegistry
    /// @dev Returns at most `limit` active nodes starting at `offset` (empty past the end).
    function activeNodes(uint256 offset, uint256 limit) external view returns (address[] memory nodes) {
        uint256 total = _active.length;
        if (offset >= total) return new address[](0);
        uint256 count = total - offset;
        if (limit < count) count = limit;
        nodes = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            nodes[i] = _active[offset + i];
        }
    }

    /// @notice Size of the active set (for paging `activeNodes`).
    function activeNodeCount() external view returns (uint256) {
        return _active.length;
    }

    // ------------------------------------------------------------------ internals

    function _registered(address nodeAddress) private view returns (Node storage node) {
        node = _nodes[nodeAddress];
        if (node.registeredAt == 0) revert NotRegistered(nodeAddress);
    }

    function _checkRoles(uint8 roles) private pure {
        if (roles == 0 || roles > (ROLE_GATEWAY | ROLE_EXECUTOR | ROLE_VERIFIER)) revert InvalidRoles(roles);
    }

    /// @dev Puts the node into, or takes it out of, the active set to match its state.
    function _syncActive(address nodeAddress, Node storage node) private {
        bool active = node.registeredAt != 0 && node.exitingSince == 0 && node.stake >= MIN_STAKE;
        uint256 slot = _activeSlot[nodeAddress];
        if (active && slot == 0) {
            _active.push(nodeAddress);
            _activeSlot[nodeAddress] = _active.length;
        } else if (!active && slot != 0) {
            uint256 last = _active.length;
            if (slot != last) {
                address moved = _active[last - 1];
                _active[slot - 1] = moved;
                _activeSlot[moved] = slot;
            }
            _active.pop();
            delete _activeSlot[nodeAddress];
        }
    }

    /// @dev An exiting node with no funds left is forgotten, so the address may register again.
    function _deleteIfExited(address nodeAddress, Node storage node) private {
        if (node.exitingSince != 0 && node.stake == 0 && node.unbonding == 0) delete _nodes[nodeAddress];
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
