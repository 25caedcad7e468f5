/**
 * The order-fulfilment saga (machines/orderFulfilment.ts) on a real LMDB store and a simulated
 * clock. Each path checks the calls the simulated services saw (in order, with their idempotency
 * keys and attempts), what they hold afterwards (stock, charges, refunds, shipments), the
 * committed history and the output.
 */
import { describe, expect, it } from 'vitest';
import { ExecutionFailedError, simulatedClock, type Runtime } from '../src/index.js';
import { DEFAULT_STOCK, ORDER_RETRY, orderFulfilmentMachine, simulatedOrderServices as services, type OrderInput } from '../machines/orderFulfilment.js';
import { exampleHarness, info, until, runToEnd } from './fixtures/exampleHarness.js';

const T0 = Date.UTC(2026, 0, 5, 9);

const { storePath, open } = exampleHarness({ prefix: 'durastate-order-', machines: [orderFulfilmentMachine], reset: () => services.reset() });

function order(orderId: string): OrderInput {
  return { orderId, sku: 'SKU-1', qty: 2, amount: 4_000, card: 'tok_visa', address: '1 Main St' };
}

/** The calls the services saw, as [service.op, attempt, outcome]. */
function calls(): Array<[string, number, string]> {
  return services.calls.map((c) => [`${c.service}.${c.op}`, c.attempt, c.outcome]);
}

/** The state values of the committed history, as JSON. */
async function values(rt: Runtime, id: string): Promise<string[]> {
  return (await rt.history(id)).map((h) => JSON.stringify(h.value));
}

describe('order fulfilment saga (machines/orderFulfilment.ts)', () => {
  it('happy path: reserve, charge, ship, each effect once with its own key; fulfilled', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('orderFulfilment', { id: 'o-1', input: order('o-1') });
    const done = await runToEnd(rt, clock, id);
    expect(done).toMatchObject({ status: 'completed', value: 'fulfilled' });
    expect(await rt.wait(id)).toEqual({ orderId: 'o-1', outcome: 'fulfilled', reservationId: 'res-1', chargeId: 'ch-1', trackingNumber: 'TRK-1' });

    expect(calls()).toEqual([
      ['inventory.reserve', 1, 'ok'],
      ['payments.charge', 1, 'ok'],
      ['carrier.ship', 1, 'ok'],
    ]);
    expect(new Set(services.calls.map((c) => c.key)).size).toBe(3);
    // The charge's idempotency key is the durable effect's key.
    expect(services.payments.charges).toEqual([{ key: services.calls[1]!.key, chargeId: 'ch-1', orderId: 'o-1', card: 'tok_visa', amount: 4_000, refunded: false }]);
    expect(done.effects.map((e) => [e.key, e.status, e.attempts])).toEqual(
      expect.arrayContaining(services.calls.map((c) => [c.key, 'done', 1])),
    );
    expect(done.effects).toHaveLength(3);
    expect(services.available('SKU-1')).toBe(DEFAULT_STOCK - 2);
    expect(services.carrier.shipments.map((s) => [s.trackingNumber, s.address])).toEqual([['TRK-1', '1 Main St']]);
    expect(services.payments.refunds).toEqual([]);
    expect(await values(rt, id)).toEqual(['"reserving"', '"charging"', '"shipping"', '"fulfilled"']);
  });

  it('a charge whose answer is lost is retried after the backoff with the same key: one charge, attempt 2 replayed', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.payments.lostResponses = 1; // the first charge goes through, its answer times out
    const { id } = await rt.start('orderFulfilment', { id: 'o-2', input: order('o-2') });
    const done = await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toMatchObject({ outcome: 'fulfilled', chargeId: 'ch-1' });

    const charges = services.calls.filter((c) => c.op === 'charge');
    expect(charges.map((c) => [c.attempt, c.outcome])).toEqual([
      [1, 'retryable'],
      [2, 'replayed'],
    ]);
    expect(charges[1]!.key).toBe(charges[0]!.key);
    // One charge, under that key: the card was charged once.
    expect(services.payments.charges.map((c) => [c.key, c.chargeId, c.amount])).toEqual([[charges[0]!.key, 'ch-1', 4_000]]);
    expect(done.effects.find((e) => e.key === charges[0]!.key)).toMatchObject({ status: 'done', attempts: 2 });
    expect(calls()).toEqual([
      ['inventory.reserve', 1, 'ok'],
      ['payments.charge', 1, 'retryable'],
      ['payments.charge', 2, 'replayed'],
      ['carrier.ship', 1, 'ok'],
    ]);
    // The retry came after the policy's first backoff, in simulated time.
    const history = await rt.history(id);
    expect(history.map((h) => [JSON.stringify(h.value), h.at.getTime() - T0])).toEqual([
      ['"reserving"', 0],
      ['"charging"', 0],
      ['"shipping"', ORDER_RETRY.chargeCard.initialDelay],
      ['"fulfilled"', ORDER_RETRY.chargeCard.initialDelay],
    ]);
  });

  it('a payments outage (503) at the charge is retried: charged once, at attempt 2', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.payments.unavailable = 1;
    const { id } = await rt.start('orderFulfilment', { id: 'o-3', input: order('o-3') });
    await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toMatchObject({ outcome: 'fulfilled', chargeId: 'ch-1' });
    const charges = services.calls.filter((c) => c.op === 'charge');
    expect(charges.map((c) => [c.key, c.attempt, c.outcome])).toEqual([
      [charges[0]!.key, 1, 'retryable'],
      [charges[0]!.key, 2, 'ok'],
    ]);
    expect(services.payments.charges.map((c) => c.key)).toEqual([charges[0]!.key]);
  });

  it('card declined: no retry, the stock is released; compensated with releaseStock only', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.payments.decline = 'insufficient funds';
    const { id } = await rt.start('orderFulfilment', { id: 'o-4', input: order('o-4') });
    const done = await runToEnd(rt, clock, id);
    expect(done).toMatchObject({ status: 'completed', value: 'compensated' });
    expect(await rt.wait(id)).toEqual({
      orderId: 'o-4',
      outcome: 'compensated',
      failedStep: 'chargeCard',
      reason: 'card declined: insufficient funds',
      compensated: ['releaseStock'],
    });
    expect(calls()).toEqual([
      ['inventory.reserve', 1, 'ok'],
      ['payments.charge', 1, 'terminal'], // a TerminalError is not retried
      ['inventory.release', 1, 'ok'],
    ]);
    expect(services.payments.charges).toEqual([]);
    expect(services.inventory.reservations.map((r) => [r.reservationId, r.released])).toEqual([['res-1', true]]);
    expect(services.available('SKU-1')).toBe(DEFAULT_STOCK);
    expect(done.effects.map((e) => e.status).sort()).toEqual(['done', 'done', 'failed']);
    expect(await values(rt, id)).toEqual(['"reserving"', '"charging"', '{"compensating":"releasing"}', '"compensated"']);
  });

  it('carrier refuses: the charge is refunded, then the stock released, in that order; compensated', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.carrier.refuse = 'address outside the delivery area';
    const { id } = await rt.start('orderFulfilment', { id: 'o-5', input: order('o-5') });
    await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toEqual({
      orderId: 'o-5',
      outcome: 'compensated',
      failedStep: 'ship',
      reason: 'carrier refused: address outside the delivery area',
      compensated: ['refund', 'releaseStock'],
    });
    expect(calls()).toEqual([
      ['inventory.reserve', 1, 'ok'],
      ['payments.charge', 1, 'ok'],
      ['carrier.ship', 1, 'terminal'],
      ['payments.refund', 1, 'ok'],
      ['inventory.release', 1, 'ok'],
    ]);
    expect(services.payments.charges.map((c) => [c.chargeId, c.refunded])).toEqual([['ch-1', true]]);
    expect(services.payments.refunds.map((r) => [r.chargeId, r.amount])).toEqual([['ch-1', 4_000]]);
    expect(services.available('SKU-1')).toBe(DEFAULT_STOCK);
    expect(services.carrier.shipments).toEqual([]);
    expect(await values(rt, id)).toEqual([
      '"reserving"',
      '"charging"',
      '"shipping"',
      '{"compensating":"refunding"}',
      '{"compensating":"releasing"}',
      '"compensated"',
    ]);
  });

  it('out of stock: nothing was done, nothing is undone; compensated at once', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.inventory.stock['SKU-1'] = 1;
    const { id } = await rt.start('orderFulfilment', { id: 'o-6', input: order('o-6') });
    await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toEqual({
      orderId: 'o-6',
      outcome: 'compensated',
      failedStep: 'reserveStock',
      reason: 'out of stock: SKU-1 (1 available, 2 wanted)',
      compensated: [],
    });
    expect(calls()).toEqual([['inventory.reserve', 1, 'terminal']]);
    expect(services.available('SKU-1')).toBe(1);
    expect(await values(rt, id)).toEqual(['"reserving"', '"compensated"']);

    // The `outOfStock` knob refuses whatever the stock.
    services.reset();
    services.inventory.outOfStock = true;
    const { id: id2 } = await rt.start('orderFulfilment', { id: 'o-6b', input: order('o-6b') });
    await runToEnd(rt, clock, id2);
    expect(await rt.wait(id2)).toMatchObject({ outcome: 'compensated', failedStep: 'reserveStock', compensated: [] });
    expect(calls()).toEqual([['inventory.reserve', 1, 'terminal']]);
  });

  it('a carrier outage that outlasts the retries compensates; the refund retries through a payments outage', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.carrier.unavailable = ORDER_RETRY.ship.attempts;
    const { id } = await rt.start('orderFulfilment', { id: 'o-7', input: order('o-7') });
    await until(() => services.calls.some((c) => c.op === 'ship'), 'the first shipping attempt');
    services.payments.unavailable = 2; // the refund's first two attempts get a 503
    await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toEqual({
      orderId: 'o-7',
      outcome: 'compensated',
      failedStep: 'ship',
      reason: 'simulated carrier unavailable (503)',
      compensated: ['refund', 'releaseStock'],
    });
    expect(calls()).toEqual([
      ['inventory.reserve', 1, 'ok'],
      ['payments.charge', 1, 'ok'],
      ['carrier.ship', 1, 'retryable'],
      ['carrier.ship', 2, 'retryable'],
      ['carrier.ship', 3, 'retryable'],
      ['payments.refund', 1, 'retryable'],
      ['payments.refund', 2, 'retryable'],
      ['payments.refund', 3, 'ok'],
      ['inventory.release', 1, 'ok'],
    ]);
    expect(services.payments.refunds).toHaveLength(1);
    // Simulated time: ship retried after 2 s and 4 s more; the refund after 1 s and 2 s more.
    const at = (await rt.history(id)).map((h) => [JSON.stringify(h.value), h.at.getTime() - T0]);
    expect(at).toEqual([
      ['"reserving"', 0],
      ['"charging"', 0],
      ['"shipping"', 0],
      ['{"compensating":"refunding"}', 6_000],
      ['{"compensating":"releasing"}', 9_000],
      ['"compensated"', 9_000],
    ]);
  });

  it('a process that dies mid-charge: the charge runs again on recovery with the same key and is not taken twice', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    services.payments.hang = 1; // the charge goes through; its answer never comes
    const { id } = await rt.start('orderFulfilment', { id: 'o-8', input: order('o-8') });
    await until(() => services.payments.charges.length === 1, 'the charge');
    expect(await info(rt, id)).toMatchObject({ status: 'running', value: 'charging', context: { reservationId: 'res-1', chargeId: null } });
    await rt.close();

    clock = simulatedClock(T0 + 60_000);
    rt = await open(path, clock);
    await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toEqual({ orderId: 'o-8', outcome: 'fulfilled', reservationId: 'res-1', chargeId: 'ch-1', trackingNumber: 'TRK-1' });
    const charges = services.calls.filter((c) => c.op === 'charge');
    expect(charges.map((c) => [c.key, c.attempt, c.outcome])).toEqual([
      [charges[0]!.key, 1, 'pending'], // cut off by the close
      [charges[0]!.key, 1, 'replayed'], // the same invocation again, after recovery
    ]);
    expect(services.payments.charges).toHaveLength(1);
    // The reservation, recorded before the close, was not made again.
    expect(services.calls.filter((c) => c.op === 'reserve')).toHaveLength(1);
    expect(services.inventory.reservations).toHaveLength(1);
  });

  it('a refund that fails for good fails the execution (no silent success); rt.retry finishes the compensation', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.carrier.refuse = 'hazardous goods';
    services.payments.refundFails = 'charge disputed';
    const { id } = await rt.start('orderFulfilment', { id: 'o-9', input: order('o-9') });
    const done = await runToEnd(rt, clock, id);
    expect(done).toMatchObject({ status: 'failed' });
    expect(done.error?.message).toContain('refund refused: charge disputed');
    await expect(rt.wait(id)).rejects.toBeInstanceOf(ExecutionFailedError);
    expect(services.calls.filter((c) => c.op === 'release')).toEqual([]);
    expect(services.inventory.reservations.map((r) => r.released)).toEqual([false]);
    expect(services.payments.charges.map((c) => c.refunded)).toEqual([false]);

    // Once the cause is dealt with, an operator retries it: the refund runs again (a new
    // invocation, so a new key; the payment service refunds a charge once whatever the key).
    services.payments.refundFails = null;
    await rt.retry(id);
    const after = await runToEnd(rt, clock, id);
    expect(after).toMatchObject({ status: 'completed', value: 'compensated' });
    expect(await rt.wait(id)).toEqual({
      orderId: 'o-9',
      outcome: 'compensated',
      failedStep: 'ship',
      reason: 'carrier refused: hazardous goods',
      compensated: ['refund', 'releaseStock'],
    });
    expect(calls()).toEqual([
      ['inventory.reserve', 1, 'ok'],
      ['payments.charge', 1, 'ok'],
      ['carrier.ship', 1, 'terminal'],
      ['payments.refund', 1, 'terminal'],
      ['payments.refund', 1, 'ok'],
      ['inventory.release', 1, 'ok'],
    ]);
    expect(services.payments.refunds).toHaveLength(1);
    expect(services.available('SKU-1')).toBe(DEFAULT_STOCK);
  });
});
