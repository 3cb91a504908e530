export { DockerRuntime, type DockerRuntimeOptions, type RuntimeLog } from './docker-runtime.js';
export { containerSpec, type ContainerSpecContext } from './container-spec.js';
export { HostFirewall, type Isolation, type CommandRunner } from './host-firewall.js';
export { ensureFlockNetwork, removeFlockNetwork, type FlockNetwork } from './flock-network.js';
export { SANDBOX_UID, SANDBOX_GID, storagePaths } from './shared-storage.js';
export { LABEL, networkName, bridgeInterfaceName, firewallChainNames, containerName } from './names.js';
export { OperatorRuntime, type OperatorRuntimeOptions, type ProxyAcceptor } from './operator-runtime.js';
export { operatorContainerSpec, OPERATOR_CAPABILITIES, type OperatorSpecContext } from './operator-spec.js';
export { ProfileRouter } from './profile-router.js';
