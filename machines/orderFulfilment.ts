import { assign, setup } from 'xstate';
import { fromEffect, RetryableError, TerminalError, withRetry, type EffectArgs, type RetryPolicy } from '../src/index.js';

/**
 * Order fulfilment as a saga: reserve the stock, charge the card, ship; when a step fails for
 * good, undo what was done, in reverse order.
 *
 * - `reserving` → `charging` → `shipping` → `fulfilled`: each step is a durable effect
 *   (`reserveStock`, `chargeCard`, `ship`), so it starts only once the transition that reached it
 *   is committed, and its result is committed before the order moves on. After a crash a step
 *   whose result was recorded is not called again; one that was in flight is called again with
 *   the same idempotency `key`, which every simulated service deduplicates on. `chargeCard`
 *   passes its key to the payment service as the charge's idempotency key: a card is charged
 *   once per order whatever happens to the process or to the network.
 * - A transient failure (`RetryableError`: a 503, a timeout, a lost response) is retried by the
 *   step's policy ({@link ORDER_RETRY}, exponential backoff on the runtime's clock). A
 *   `TerminalError` (out of stock, card declined, carrier refuses the parcel), or a transient
 *   failure that outlasts its attempts, reaches the step's `onError`: the order goes to
 *   `compensating`.
 * - `compensating` undoes the completed steps in reverse order: `refund` the charge if there is
 *   one, then `releaseStock` if stock was reserved (both durable effects, retried generously).
 *   Nothing done, nothing undone: an order out of stock goes straight to `compensated`.
 *   A compensation that still fails after its attempts is not handled: the execution fails
 *   (status `failed`, the error recorded) for an operator to look at, rather than pretending
 *   that the money went back. Once the cause is dealt with, `rt.retry(id)` runs that
 *   compensation again from the last good snapshot. That is a new invocation with a new key, so
 *   the compensations are idempotent by what they undo: the payment service refunds a charge
 *   once, the inventory releases a reservation once, whatever the key.
 * - Final states: `fulfilled` (output: reservation, charge and tracking number) or
 *   `compensated` (output: which step failed, why, and what was undone in which order).
 *
 * The three services (`simulatedOrderServices.inventory`, `.payments`, `.carrier`) are
 * deterministic, in-memory SIMULATIONS with knobs for the failures above and one call log
 * (`simulatedOrderServices.calls`), shared so that the order of calls across services can be
 * checked: no network.
 *
 * States: `reserving`, `charging`, `shipping`, `fulfilled` (final); `compensating`
 * (`deciding` → `refunding` → `releasing` → `done`), `compensated` (final). No external events:
 * the order is driven by its effects alone.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ machines: [orderFulfilmentMachine] });
 * const { id } = await rt.start('orderFulfilment', {
 *   input: { orderId: 'o-1', sku: 'SKU-1', qty: 2, amount: 4_000, card: 'tok_visa', address: '1 Main St' },
 * });
 * await rt.wait(id); // { orderId: 'o-1', outcome: 'fulfilled', reservationId: 'res-1', chargeId: 'ch-1', trackingNumber: 'TRK-1' }
 * simulatedOrderServices.payments.decline = 'insufficient funds';
 * // ...the next order ends { outcome: 'compensated', failedStep: 'chargeCard', reason: 'card declined: insufficient funds', compensated: ['releaseStock'] }
 * ```
 */

/** The forward steps, named after their effects. */
export type OrderStep = 'reserveStock' | 'chargeCard' | 'ship';
/** The compensating steps, named after their effects. */
export type CompensationStep = 'refund' | 'releaseStock';

export interface OrderInput {
  orderId: string;
  sku: string;
  qty: number;
  /** In cents. */
  amount: number;
  /** A card token. */
  card: string;
  address: string;
}

export interface OrderContext extends OrderInput {
  reservationId: string | null;
  chargeId: string | null;
  trackingNumber: string | null;
  /** The step that failed for good, and why; null while none has. */
  failure: { step: OrderStep; reason: string } | null;
  /** Compensations done, in the order they were done. */
  compensated: CompensationStep[];
}

export type OrderOutput =
  | { orderId: string; outcome: 'fulfilled'; reservationId: string; chargeId: string; trackingNumber: string }
  | { orderId: string; outcome: 'compensated'; failedStep: OrderStep; reason: string; compensated: CompensationStep[] };

/**
 * Retry policy of each step (no jitter, so that tests know when a retry falls due; keep some
 * jitter in production). Compensations try harder than the forward steps: giving up on a
 * refund leaves money taken.
 */
export const ORDER_RETRY = {
  reserveStock: { attempts: 3, initialDelay: 500, factor: 2, maxDelay: 10_000, jitter: 0 },
  chargeCard: { attempts: 4, initialDelay: 1_000, factor: 2, maxDelay: 30_000, jitter: 0 },
  ship: { attempts: 3, initialDelay: 2_000, factor: 2, maxDelay: 30_000, jitter: 0 },
  refund: { attempts: 8, initialDelay: 1_000, factor: 2, maxDelay: 60_000, jitter: 0 },
  releaseStock: { attempts: 8, initialDelay: 1_000, factor: 2, maxDelay: 60_000, jitter: 0 },
} as const satisfies Record<OrderStep | CompensationStep, RetryPolicy>;

/** One call to a simulated service, as it was made. */
export interface ServiceCall {
  /** 1, 2, ...: the order of calls across the three services. */
  n: number;
  service: 'inventory' | 'payments' | 'carrier';
  op: 'reserve' | 'release' | 'charge' | 'refund' | 'ship';
  /** The durable effect's idempotency key. */
  key: string;
  attempt: number;
  /**
   * What the call did: `ok` (done now), `replayed` (a repeated key: the first result again),
   * `retryable` / `terminal` (it threw that kind of error), `pending` (no answer yet, or never).
   */
  outcome: 'ok' | 'replayed' | 'retryable' | 'terminal' | 'pending';
}

/** How a durable effect reached the service: its key, attempt and abort signal. */
export interface CallContext {
  key: string;
  attempt: number;
  signal?: AbortSignal;
}

export interface Reservation {
  key: string;
  reservationId: string;
  orderId: string;
  sku: string;
  qty: number;
  released: boolean;
}

export interface Charge {
  key: string;
  chargeId: string;
  orderId: string;
  card: string;
  amount: number;
  refunded: boolean;
}

export interface Refund {
  key: string;
  refundId: string;
  chargeId: string;
  amount: number;
}

export interface Shipment {
  key: string;
  trackingNumber: string;
  orderId: string;
  sku: string;
  qty: number;
  address: string;
}

/** Stock of a SKU the simulated inventory has not been told about. */
export const DEFAULT_STOCK = 100;

/** Never resolves; rejects when `signal` aborts (a process that dies while waiting for an answer). */
function hangUntilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (!signal) return;
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

function newState() {
  return {
    calls: [] as ServiceCall[],
    inventory: {
      /** Available units per SKU ({@link DEFAULT_STOCK} when not set). */
      stock: {} as Record<string, number>,
      reservations: [] as Reservation[],
      /** Knob: every reservation is refused as out of stock (a TerminalError). */
      outOfStock: false,
      /** Knob: how many of the next calls fail with a RetryableError (503). */
      unavailable: 0,
    },
    payments: {
      charges: [] as Charge[],
      refunds: [] as Refund[],
      /** Knob: every charge is declined with this reason (a TerminalError); null: none is. */
      decline: null as string | null,
      /** Knob: how many of the next calls (charges and refunds) fail with a RetryableError (503) before doing anything. */
      unavailable: 0,
      /** Knob: how many of the next charges go through but their answer is lost (a RetryableError: timeout). */
      lostResponses: 0,
      /** Knob: how many of the next charges go through and then never answer (until the effect is aborted). */
      hang: 0,
      /** Knob: refunds fail with this reason (a TerminalError); null: they do not. */
      refundFails: null as string | null,
    },
    carrier: {
      shipments: [] as Shipment[],
      /** Knob: the carrier refuses every parcel with this reason (a TerminalError); null: it does not. */
      refuse: null as string | null,
      /** Knob: how many of the next calls fail with a RetryableError (503). */
      unavailable: 0,
    },
  };
}

/**
 * SIMULATED inventory, payment and carrier services, in memory, deterministic, no network. Like
 * real providers that take idempotency keys, each does a key's work once and answers a repeated
 * key with the first result. The knobs (`inventory.outOfStock`, `payments.decline`,
 * `carrier.refuse`, the `unavailable` / `lostResponses` / `hang` counts) make them fail the way
 * real ones do; `calls` logs every call to any of them, in order. `reset()` restores the
 * defaults.
 */
export const simulatedOrderServices = {
  ...newState(),

  reset(): void {
    Object.assign(this, newState());
  },

  available(sku: string): number {
    return this.inventory.stock[sku] ?? DEFAULT_STOCK;
  },

  log(service: ServiceCall['service'], op: ServiceCall['op'], ctx: CallContext): ServiceCall {
    const call: ServiceCall = { n: this.calls.length + 1, service, op, key: ctx.key, attempt: ctx.attempt, outcome: 'pending' };
    this.calls.push(call);
    return call;
  },

  /** Reserves `qty` of `sku`; throws a TerminalError when there is not enough. */
  async reserve(input: { orderId: string; sku: string; qty: number }, ctx: CallContext): Promise<{ reservationId: string }> {
    const call = this.log('inventory', 'reserve', ctx);
    const inv = this.inventory;
    if (inv.unavailable > 0) {
      inv.unavailable--;
      call.outcome = 'retryable';
      throw new RetryableError('simulated inventory unavailable (503)');
    }
    const earlier = inv.reservations.find((r) => r.key === ctx.key);
    if (earlier) {
      call.outcome = 'replayed';
      return { reservationId: earlier.reservationId };
    }
    const available = this.available(input.sku);
    if (inv.outOfStock || available < input.qty) {
      call.outcome = 'terminal';
      throw new TerminalError(`out of stock: ${input.sku} (${inv.outOfStock ? 0 : available} available, ${input.qty} wanted)`);
    }
    inv.stock[input.sku] = available - input.qty;
    const reservationId = `res-${inv.reservations.length + 1}`;
    inv.reservations.push({ key: ctx.key, reservationId, ...input, released: false });
    call.outcome = 'ok';
    return { reservationId };
  },

  /** Puts a reservation's units back; releasing one twice does nothing. */
  async release(input: { reservationId: string }, ctx: CallContext): Promise<{ released: number }> {
    const call = this.log('inventory', 'release', ctx);
    const inv = this.inventory;
    if (inv.unavailable > 0) {
      inv.unavailable--;
      call.outcome = 'retryable';
      throw new RetryableError('simulated inventory unavailable (503)');
    }
    const reservation = inv.reservations.find((r) => r.reservationId === input.reservationId);
    if (!reservation) {
      call.outcome = 'terminal';
      throw new TerminalError(`no reservation ${input.reservationId}`);
    }
    if (reservation.released) {
      call.outcome = 'replayed';
      return { released: reservation.qty };
    }
    reservation.released = true;
    inv.stock[reservation.sku] = this.available(reservation.sku) + reservation.qty;
    call.outcome = 'ok';
    return { released: reservation.qty };
  },

  /** Charges the card once per idempotency key: a repeated key gets the first charge back. */
  async charge(input: { orderId: string; card: string; amount: number }, ctx: CallContext): Promise<{ chargeId: string }> {
    const call = this.log('payments', 'charge', ctx);
    const pay = this.payments;
    if (pay.unavailable > 0) {
      pay.unavailable--;
      call.outcome = 'retryable';
      throw new RetryableError('simulated payments unavailable (503)');
    }
    const earlier = pay.charges.find((c) => c.key === ctx.key);
    if (earlier) {
      call.outcome = 'replayed';
      return { chargeId: earlier.chargeId };
    }
    if (pay.decline !== null) {
      call.outcome = 'terminal';
      throw new TerminalError(`card declined: ${pay.decline}`);
    }
    const chargeId = `ch-${pay.charges.length + 1}`;
    pay.charges.push({ key: ctx.key, chargeId, ...input, refunded: false });
    if (pay.lostResponses > 0) {
      pay.lostResponses--;
      call.outcome = 'retryable';
      throw new RetryableError('simulated payments: timeout (the charge went through, its answer was lost)');
    }
    if (pay.hang > 0) {
      pay.hang--;
      return hangUntilAborted(ctx.signal);
    }
    call.outcome = 'ok';
    return { chargeId };
  },

  /** Refunds a charge once, whatever the key: a charge already refunded gets its refund back. */
  async refund(input: { chargeId: string; amount: number }, ctx: CallContext): Promise<{ refundId: string }> {
    const call = this.log('payments', 'refund', ctx);
    const pay = this.payments;
    if (pay.unavailable > 0) {
      pay.unavailable--;
      call.outcome = 'retryable';
      throw new RetryableError('simulated payments unavailable (503)');
    }
    if (pay.refundFails !== null) {
      call.outcome = 'terminal';
      throw new TerminalError(`refund refused: ${pay.refundFails}`);
    }
    const charge = pay.charges.find((c) => c.chargeId === input.chargeId);
    if (!charge) {
      call.outcome = 'terminal';
      throw new TerminalError(`no charge ${input.chargeId}`);
    }
    const earlier = pay.refunds.find((r) => r.chargeId === input.chargeId);
    if (earlier) {
      call.outcome = 'replayed';
      return { refundId: earlier.refundId };
    }
    charge.refunded = true;
    const refundId = `re-${pay.refunds.length + 1}`;
    pay.refunds.push({ key: ctx.key, refundId, chargeId: input.chargeId, amount: input.amount });
    call.outcome = 'ok';
    return { refundId };
  },

  /** Hands the parcel to the carrier; throws a TerminalError when the carrier refuses it. */
  async ship(input: { orderId: string; sku: string; qty: number; address: string }, ctx: CallContext): Promise<{ trackingNumber: string }> {
    const call = this.log('carrier', 'ship', ctx);
    const car = this.carrier;
    if (car.unavailable > 0) {
      car.unavailable--;
      call.outcome = 'retryable';
      throw new RetryableError('simulated carrier unavailable (503)');
    }
    const earlier = car.shipments.find((s) => s.key === ctx.key);
    if (earlier) {
      call.outcome = 'replayed';
      return { trackingNumber: earlier.trackingNumber };
    }
    if (car.refuse !== null) {
      call.outcome = 'terminal';
      throw new TerminalError(`carrier refused: ${car.refuse}`);
    }
    const trackingNumber = `TRK-${car.shipments.length + 1}`;
    car.shipments.push({ key: ctx.key, trackingNumber, ...input });
    call.outcome = 'ok';
    return { trackingNumber };
  },
};

const services = simulatedOrderServices;

/** An error's message, for the output (a recovered error arrives as a plain Error with the recorded message). */
function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const orderFulfilmentMachine = setup({
  types: {
    context: {} as OrderContext,
    input: {} as OrderInput,
    output: {} as OrderOutput,
  },
  actors: {
    reserveStock: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<{ orderId: string; sku: string; qty: number }>) => services.reserve(input, { key, attempt, signal })),
      ORDER_RETRY.reserveStock,
    ),
    chargeCard: withRetry(
      // The durable effect's key is the payment's idempotency key.
      fromEffect(({ input, key, attempt, signal }: EffectArgs<{ orderId: string; card: string; amount: number }>) => services.charge(input, { key, attempt, signal })),
      ORDER_RETRY.chargeCard,
    ),
    ship: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<{ orderId: string; sku: string; qty: number; address: string }>) => services.ship(input, { key, attempt, signal })),
      ORDER_RETRY.ship,
    ),
    refund: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<{ chargeId: string; amount: number }>) => services.refund(input, { key, attempt, signal })),
      ORDER_RETRY.refund,
    ),
    releaseStock: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<{ reservationId: string }>) => services.release(input, { key, attempt, signal })),
      ORDER_RETRY.releaseStock,
    ),
  },
  guards: {
    needsRefund: ({ context }) => context.chargeId !== null && !context.compensated.includes('refund'),
    needsRelease: ({ context }) => context.reservationId !== null && !context.compensated.includes('releaseStock'),
  },
}).createMachine({
  id: 'orderFulfilment',
  context: ({ input }) => ({ ...input, reservationId: null, chargeId: null, trackingNumber: null, failure: null, compensated: [] }),
  initial: 'reserving',
  states: {
    reserving: {
      invoke: {
        src: 'reserveStock',
        input: ({ context }) => ({ orderId: context.orderId, sku: context.sku, qty: context.qty }),
        onDone: { target: 'charging', actions: assign({ reservationId: ({ event }) => event.output.reservationId }) },
        onError: { target: 'compensating', actions: assign({ failure: ({ event }) => ({ step: 'reserveStock' as const, reason: reasonOf(event.error) }) }) },
      },
    },
    charging: {
      invoke: {
        src: 'chargeCard',
        input: ({ context }) => ({ orderId: context.orderId, card: context.card, amount: context.amount }),
        onDone: { target: 'shipping', actions: assign({ chargeId: ({ event }) => event.output.chargeId }) },
        onError: { target: 'compensating', actions: assign({ failure: ({ event }) => ({ step: 'chargeCard' as const, reason: reasonOf(event.error) }) }) },
      },
    },
    shipping: {
      invoke: {
        src: 'ship',
        input: ({ context }) => ({ orderId: context.orderId, sku: context.sku, qty: context.qty, address: context.address }),
        onDone: { target: 'fulfilled', actions: assign({ trackingNumber: ({ event }) => event.output.trackingNumber }) },
        onError: { target: 'compensating', actions: assign({ failure: ({ event }) => ({ step: 'ship' as const, reason: reasonOf(event.error) }) }) },
      },
    },
    fulfilled: { type: 'final' },
    compensating: {
      initial: 'deciding',
      states: {
        // Undo in reverse order of the forward steps: the charge, then the reservation.
        deciding: {
          always: [{ guard: 'needsRefund', target: 'refunding' }, { guard: 'needsRelease', target: 'releasing' }, { target: 'done' }],
        },
        // No onError on the compensations: one that fails after its retries fails the execution.
        refunding: {
          invoke: {
            src: 'refund',
            input: ({ context }) => ({ chargeId: context.chargeId ?? '', amount: context.amount }),
            onDone: { target: 'deciding', actions: assign({ compensated: ({ context }) => [...context.compensated, 'refund' as const] }) },
          },
        },
        releasing: {
          invoke: {
            src: 'releaseStock',
            input: ({ context }) => ({ reservationId: context.reservationId ?? '' }),
            onDone: { target: 'deciding', actions: assign({ compensated: ({ context }) => [...context.compensated, 'releaseStock' as const] }) },
          },
        },
        done: { type: 'final' },
      },
      onDone: 'compensated',
    },
    compensated: { type: 'final' },
  },
  output: ({ context }): OrderOutput =>
    context.failure === null
      ? {
          orderId: context.orderId,
          outcome: 'fulfilled',
          // Set by the steps on the way to `fulfilled`.
          reservationId: context.reservationId ?? '',
          chargeId: context.chargeId ?? '',
          trackingNumber: context.trackingNumber ?? '',
        }
      : { orderId: context.orderId, outcome: 'compensated', failedStep: context.failure.step, reason: context.failure.reason, compensated: context.compensated },
});
