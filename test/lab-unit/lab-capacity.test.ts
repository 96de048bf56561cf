/**
 * What the lab can hold: the traffic generator's load window (asked vs offered vs achieved, errors,
 * p50/p99, held or not) from synthetic timings, and the client worker's log completeness against a
 * local server. No assertion on speed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dueBy, HOLD_RATIO, loadWindow, TrafficGenerator, type TxRecord } from '../../lab/traffic';

const tx = (n: number, sentAt: number, doneAt: number, status = 201): TxRecord => ({
  id: `tx-${n}`,
  account: 'a',
  amount: 1,
  sentAt,
  doneAt,
  status,
  ok: status === 201,
  ...(status === 201 ? { region: 'us-east-1' } : {}),
});

/** `perSecond` sends a second over [from, to), evenly spaced. */
const sends = (perSecond: number, from: number, to: number): number[] => {
  const out: number[] = [];
  for (let t = from; t < to; t += 1000 / perSecond) out.push(Math.round(t));
  return out;
};

describe('loadWindow', () => {
  it('reports asked, offered and achieved rates, errors and latency percentiles over the window only', () => {
    const sent = sends(100, 0, 3000); // 300 sent; the window [1000, 3000) holds 200 of them
    const log: TxRecord[] = [];
    sent.forEach((at, i) => {
      if (i === 299) return; // still in flight: offered, neither achieved nor an error
      const latency = i % 100 === 0 ? 900 : 10 + (i % 10); // 1 slow one per 100
      log.push(tx(i, at, at + latency, i === 150 ? 503 : 201));
    });
    const w = loadWindow(sent, log, 100, 1000, 3000);
    expect(w).toMatchObject({ seconds: 2, askedPerSecond: 100, sent: 200, offeredPerSecond: 100, errors: 1, holds: false });
    // Answered in [1000, 3000): sent from 990 (latency 10) up to 2980 minus the one in flight and the error.
    const answered = log.filter((r) => r.doneAt >= 1000 && r.doneAt < 3000);
    expect(w.acknowledged).toBe(answered.filter((r) => r.ok).length);
    expect(w.achievedPerSecond).toBe(Math.round((w.acknowledged / 2) * 10) / 10);
    // Nearest rank over the acknowledged latencies in the window: 10..19 ms evenly, and 900 ms for 2 of them.
    const latencies = answered
      .filter((r) => r.ok)
      .map((r) => r.doneAt - r.sentAt)
      .sort((a, b) => a - b);
    expect(latencies.filter((l) => l === 900)).toHaveLength(2);
    expect(w.p50Ms).toBe(latencies[Math.ceil(latencies.length / 2) - 1]);
    expect(w.p50Ms).toBeGreaterThanOrEqual(14);
    expect(w.p50Ms).toBeLessThanOrEqual(15);
    expect(w.p99Ms).toBe(900);
  });

  it('holds only when the asked rate was both sent and acknowledged, without errors', () => {
    const sent = sends(200, 0, 1000);
    const ok = sent.map((at, i) => tx(i, at, at + 5));
    expect(loadWindow(sent, ok, 200, 0, 1000).holds).toBe(true);
    // The lab acknowledged 40% of what was asked (the issue: 400-650 of 1,667): it did not hold.
    expect(
      loadWindow(
        sent,
        ok.filter((_, i) => i % 5 < 2),
        200,
        0,
        1000,
      ),
    ).toMatchObject({ achievedPerSecond: 80, holds: false });
    // The client fell behind its schedule: half the asked rate sent, all acknowledged.
    const half = sent.filter((_, i) => i % 2 === 0);
    expect(
      loadWindow(
        half,
        ok.filter((_, i) => i % 2 === 0),
        200,
        0,
        1000,
      ),
    ).toMatchObject({ offeredPerSecond: 100, achievedPerSecond: 100, holds: false });
    // One error is enough to say so.
    expect(loadWindow(sent, [...ok.slice(1), tx(0, 0, 5, 0)], 200, 0, 1000)).toMatchObject({ errors: 1, holds: false });
    // Just above the tolerance for tick rounding still holds.
    const n = Math.ceil(HOLD_RATIO * 200);
    expect(loadWindow(sent.slice(0, n), ok.slice(0, n), 200, 0, 1000).holds).toBe(true);
    expect(loadWindow(sent.slice(0, n - 1), ok.slice(0, n - 1), 200, 0, 1000).holds).toBe(false);
  });

  it('an empty window is all zeros and does not hold', () => {
    expect(loadWindow([], [], 167, 5000, 6000)).toMatchObject({ sent: 0, acknowledged: 0, errors: 0, p50Ms: 0, p99Ms: 0, holds: false });
  });
});

describe("dueBy (the clients' schedule, ramped)", () => {
  it('sends at the asked rate at once without a ramp', () => {
    expect([0, 1, 500, 1000, 3000].map((ms) => dueBy(ms, 1000))).toEqual([0, 1, 500, 1000, 3000]);
  });

  it('climbs linearly to the asked rate over the ramp (half the requests of a full-rate ramp), then keeps it', () => {
    // 2000 tx/s ramped over 2 s: 1 s in, the rate is 1000/s and 500 are due; at the end of the ramp 2000.
    expect(dueBy(1000, 2000, 2000)).toBe(500);
    expect(dueBy(2000, 2000, 2000)).toBe(2000);
    // After the ramp, exactly the asked rate: 2000 more each second.
    expect(dueBy(3000, 2000, 2000) - dueBy(2000, 2000, 2000)).toBe(2000);
    expect(dueBy(10_000, 2000, 2000) - dueBy(9000, 2000, 2000)).toBe(2000);
  });

  it('never schedules a negative or decreasing count', () => {
    const points = Array.from({ length: 60 }, (_, i) => dueBy(i * 50 - 100, 1667, 2000));
    expect(points.every((n, i) => n >= 0 && (i === 0 || n >= points[i - 1]!))).toBe(true);
  });
});

describe('TrafficGenerator (client worker)', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('logs every request it sent, acknowledged or not, and measures the window from that log', async () => {
    let seen = 0;
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen += 1;
        const status = seen % 4 === 0 ? 503 : 201;
        // Answers take a while, so requests are still in flight when the traffic stops: they must be logged too.
        setTimeout(() => res.writeHead(status, { 'x-region': 'us-east-1', 'x-acknowledged-at': String(Date.now()) }).end('{}'), 120);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const traffic = new TrafficGenerator({ port: (server.address() as AddressInfo).port, ratePerSecond: 100, maxDurationMs: 60_000 });
    const t0 = traffic.start();
    await new Promise((r) => setTimeout(r, 400));
    await traffic.stop();
    const to = Date.now() + 1;

    expect(traffic.sent).toBeGreaterThan(0);
    expect(traffic.log).toHaveLength(traffic.sent);
    expect(traffic.sentTimes).toHaveLength(traffic.sent);
    expect(new Set(traffic.log.map((r) => r.id)).size).toBe(traffic.sent);
    const w = traffic.window(t0, to);
    expect(w.sent).toBe(traffic.sent);
    expect(w.acknowledged + w.errors).toBe(traffic.sent);
    expect(w.errors).toBe(traffic.log.filter((r) => r.status === 503).length);
    expect(traffic.log.filter((r) => r.ok).every((r) => r.region === 'us-east-1' && typeof r.regionAcknowledgedAt === 'number')).toBe(true);
  }, 20_000);
});
