/**
 * The simulated host under its first module name; the implementation is in dockerd.ts.
 * Kept so that existing tests and benchmarks import what they always did.
 */
export {
  DOCKER_CLIENT,
  DOCKER_MAJOR,
  DOCKER_VERSION,
  DOCKERD,
  DOCKERD_PATH,
  HOST_UPLINK_IP,
  HOST_UPLINK_IP6,
  OUTSIDE_IP,
  OUTSIDE_IP6,
  startSimulatedHost,
  stopAllSimulatedHosts,
  type DockerOptions,
  type DockerUnderTest,
  type SimulatedHost,
  type SimulatedHostOptions,
} from './dockerd.js';
