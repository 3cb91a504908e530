export { DockerRuntime, type DockerRuntimeOptions } from './docker-runtime.js';
export { containerSpec, type ContainerSpecContext } from './container-spec.js';
export { HostFirewall, type CommandRunner } from './host-firewall.js';
export { ensureFlockNetwork, removeFlockNetwork, type FlockNetwork } from './flock-network.js';
export { LABEL, networkName, bridgeInterfaceName, firewallChainNames, containerName } from './names.js';
export { OperatorRuntime, type OperatorRuntimeOptions } from './operator-runtime.js';
export { operatorContainerSpec, OPERATOR_CAPABILITIES, type OperatorSpecContext } from './operator-spec.js';
export { dockerRuntimeFactory } from './factory.js';
