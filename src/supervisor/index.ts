export type { ActorLifecycle, SupervisorDecision } from './lifecycle.js';
export { DEFAULT_SUPERVISOR_POLICY, restartDelay, type SupervisorPolicy } from './policy.js';
export { supervise, type SuperviseOptions } from './supervise.js';
