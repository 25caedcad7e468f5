import { createHash } from 'node:crypto';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { InvalidMachineError, MachineNotFoundError } from '../errors.js';
import { durableEffect, isPromiseLogic } from './effects.js';
import { DEFAULT_RETRY_POLICY } from './retry.js';
import type { ExecutionMeta } from '../store/Store.js';
import type { BlockedReason } from './types.js';

export interface MachineEntry {
  id: string;
  version: string;
  /** The machine as the runtime runs it: every promise actor wrapped as a durable effect. */
  machine: AnyStateMachine;
  /** The keys in `setup({ actors })` that are durable effects. */
  effects: string[];
}

/**
 * The machines a runtime can run, each validated once at registration: every invoked or spawned
 * child must be registered by string key in `setup({ actors })`, because inline logic cannot be
 * restored in another process. Every promise actor registered there becomes a durable effect
 * (through `machine.provide`), so users write plain XState.
 */
export class MachineRegistry {
  private readonly entries = new Map<string, MachineEntry>();

  constructor(machines: readonly AnyStateMachine[]) {
    for (const machine of machines) this.register(machine);
  }

  register(machine: AnyStateMachine): MachineEntry {
    const id = machine.id;
    const effects: string[] = [];
    const runnable = durableMachine(machine, '', effects);
    const entry = { id, version: machineVersion(machine), machine: runnable, effects };
    this.entries.set(id, entry);
    return entry;
  }

  get(id: string): MachineEntry {
    const entry = this.entries.get(id);
    if (!entry) throw new MachineNotFoundError(id, this.ids());
    return entry;
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** Why a stored execution cannot run here, or undefined when it can. */
  blocked(meta: Pick<ExecutionMeta, 'machineId' | 'machineVersion'>): BlockedReason | undefined {
    const entry = this.entries.get(meta.machineId);
    if (!entry) {
      return { code: 'MACHINE_NOT_REGISTERED', message: `machine "${meta.machineId}" is not registered with this runtime` };
    }
    if (entry.version !== meta.machineVersion) {
      return {
        code: 'MACHINE_VERSION_CHANGED',
        message: `started on version ${meta.machineVersion} of "${meta.machineId}", the registered one is ${entry.version}`,
      };
    }
    return undefined;
  }
}

/**
 * The machine as the runtime runs it: validated, and every promise actor registered in its
 * `setup({ actors })` (and in those of the child machines it registers, recursively) wrapped as
 * a durable effect through `machine.provide`. `effects` collects the wrapped keys as paths.
 */
function durableMachine(machine: AnyStateMachine, prefix: string, effects: string[]): AnyStateMachine {
  validateChildren(machine);
  const replaced: Record<string, unknown> = {};
  for (const [key, logic] of Object.entries(machine.implementations.actors ?? {})) {
    if (isPromiseLogic(logic as never)) {
      replaced[key] = durableEffect(logic as never, DEFAULT_RETRY_POLICY);
      effects.push(`${prefix}${key}`);
    } else if (isMachine(logic)) {
      const child = durableMachine(logic, `${prefix}${key}/`, effects);
      if (child !== logic) replaced[key] = child;
    }
  }
  return Object.keys(replaced).length ? (machine.provide({ actors: replaced as never }) as AnyStateMachine) : machine;
}

function isMachine(logic: unknown): logic is AnyStateMachine {
  return typeof logic === 'object' && logic !== null && 'root' in logic && typeof (logic as { provide?: unknown }).provide === 'function';
}

/** `machine.version` when set, else a hash of the machine's definition. */
export function machineVersion(machine: AnyStateMachine): string {
  if (typeof machine.version === 'string' && machine.version) return machine.version;
  const definition = JSON.stringify(machine.definition);
  return `sha-${createHash('sha256').update(definition).digest('hex').slice(0, 12)}`;
}

function validateChildren(machine: AnyStateMachine): void {
  const registered = new Set(Object.keys(machine.implementations.actors ?? {}));
  const problems: string[] = [];
  const visit = (node: AnyStateNode): void => {
    for (const invoke of node.invoke) {
      if (typeof invoke.src !== 'string' || !registered.has(invoke.src)) {
        problems.push(`state "${node.id}" invokes "${invoke.id}" from inline logic`);
      }
    }
    const actions = [...node.entry, ...node.exit, ...[...node.transitions.values()].flat().flatMap((t) => t.actions ?? [])];
    for (const action of actions) {
      const spawn = action as { type?: unknown; src?: unknown; id?: unknown };
      if (spawn?.type === 'xstate.spawnChild' && (typeof spawn.src !== 'string' || !registered.has(spawn.src))) {
        problems.push(`state "${node.id}" spawns "${String(spawn.id ?? '(no id)')}" from ${typeof spawn.src === 'string' ? `unregistered key "${spawn.src}"` : 'inline logic'}`);
      }
    }
    for (const child of Object.values(node.states)) visit(child as AnyStateNode);
  };
  visit(machine.root);
  if (problems.length) {
    throw new InvalidMachineError(
      machine.id,
      `${problems.join('; ')}. Register every child actor by key in setup({ actors }) and refer to it by that key, so it can be restored in another process.`,
    );
  }
}
