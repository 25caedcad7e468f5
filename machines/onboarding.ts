import { assign, fromPromise, setup } from 'xstate';

/**
 * Customer onboarding: four calls to (simulated) services, one after another. Each step is an
 * invoked promise registered in `setup({ actors })`, so durastate can restore it in another
 * process. The services are deterministic fakes with a little latency: no network.
 */

/** Simulated latency of each fake service call, in ms (the demo slows it to be watchable). */
export const serviceLatency = { ms: Number(process.env.DURASTATE_DEMO_LATENCY ?? 20) };

const simulatedService = (name: string) =>
  fromPromise(async ({ input }: { input: { customer: string } }): Promise<string> => {
    await new Promise((resolve) => setTimeout(resolve, serviceLatency.ms));
    return `${name}:${input.customer}`;
  });

export const onboardingMachine = setup({
  types: {
    context: {} as { customer: string; receipts: string[] },
    input: {} as { customer: string },
  },
  actors: {
    createAccount: simulatedService('account'),
    sendWelcomeEmail: simulatedService('welcome-email'),
    provisionWorkspace: simulatedService('workspace'),
    scheduleKickoff: simulatedService('kickoff'),
  },
  actions: {
    keepReceipt: assign({ receipts: ({ context, event }) => [...context.receipts, (event as unknown as { output: string }).output] }),
  },
}).createMachine({
  id: 'onboarding',
  context: ({ input }) => ({ customer: input.customer, receipts: [] }),
  initial: 'creatingAccount',
  states: {
    creatingAccount: {
      invoke: { src: 'createAccount', input: ({ context }) => ({ customer: context.customer }), onDone: { target: 'welcoming', actions: 'keepReceipt' } },
    },
    welcoming: {
      invoke: { src: 'sendWelcomeEmail', input: ({ context }) => ({ customer: context.customer }), onDone: { target: 'provisioning', actions: 'keepReceipt' } },
    },
    provisioning: {
      invoke: { src: 'provisionWorkspace', input: ({ context }) => ({ customer: context.customer }), onDone: { target: 'scheduling', actions: 'keepReceipt' } },
    },
    scheduling: {
      invoke: { src: 'scheduleKickoff', input: ({ context }) => ({ customer: context.customer }), onDone: { target: 'done', actions: 'keepReceipt' } },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ customer: context.customer, receipts: context.receipts }),
});
