import { InvalidPlanError } from '../../../functions/core/errors';
import { parsePlan, planSchema } from '../../../functions/core/plan';
import { examplePlan, rawExamplePlan, route53WeightedTraffic } from '../../helpers/plan';

/** The error `examplePlan(edit)` throws, so a test can look at its name and message. */
function planError(edit: (raw: Record<string, any>) => void): Error {
  try {
    examplePlan(edit);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the plan to be refused');
}

describe('plan', () => {
  it('accepts the example plan and fills in the defaults', () => {
    const plan = examplePlan();

    expect(plan.name).toBe('payments');
    expect(plan.databases.map((d) => d.residency)).toEqual(['any', 'any']);
    expect(plan.traffic[0]).toMatchObject({ kind: 'arc-routing-control', syncTimeoutSeconds: 120 });
    expect(plan.detection).toMatchObject({ lagPeriodSeconds: 60, metricNamespace: 'FailoverOrchestrator/Detection', probeSchedule: 'rate(1 minute)' });
    expect(plan.fence).toEqual({ timeoutSeconds: 20 });
    expect(plan.singleFlight).toEqual({ leaseSeconds: 7200, cooldownSeconds: 1800 });
  });

  it('fills in the fence and single-flight defaults when the plan does not set them', () => {
    const plan = examplePlan((raw) => {
      delete raw.fence;
      delete raw.singleFlight;
      delete raw.detection.lagPeriodSeconds;
    });

    expect(plan.fence).toEqual({ timeoutSeconds: 20 });
    expect(plan.singleFlight).toEqual({ leaseSeconds: 7200, cooldownSeconds: 1800 });
    expect(plan.detection.lagPeriodSeconds).toBe(60);
  });

  it('refuses a lease shorter than two approval gates plus 300 s, so a run parked at its gates cannot outlive its lease', () => {
    const error = planError((raw) => {
      raw.approval.timeoutSeconds = 600;
      raw.singleFlight = { leaseSeconds: 1499, cooldownSeconds: 1800 };
    });

    expect(error.name).toBe('InvalidPlan');
    expect(error.message).toContain('singleFlight.leaseSeconds: must be at least 1500 s: twice approval.timeoutSeconds (two approval gates) plus 300 s for the stages');
  });

  it('accepts a lease of exactly two approval gates plus 300 s', () => {
    const plan = examplePlan((raw) => {
      raw.approval.timeoutSeconds = 600;
      raw.singleFlight = { leaseSeconds: 1500, cooldownSeconds: 1800 };
    });

    expect(plan.singleFlight.leaseSeconds).toBe(1500);
  });

  it('accepts a plan that has already been parsed (the plan travels through the state machine and is parsed again)', () => {
    const once = examplePlan();

    expect(planSchema.parse(once)).toEqual(once);
  });

  it('refuses an unknown region, naming the field and the value', () => {
    const error = planError((raw) => {
      raw.recoveryRegion = 'eu-west-9';
    });

    expect(error.message).toContain('recoveryRegion: eu-west-9 is not an AWS region');
  });

  it('names a nested field with its index: an Aurora cluster ARN outside the primary region', () => {
    const error = planError((raw) => {
      raw.databases[0].primaryClusterArn = 'arn:aws:rds:eu-west-9:111122223333:cluster:payments-ledger-use1';
    });

    expect(error.message).toContain('databases[0].primaryClusterArn: must be in primaryRegion us-east-1');
  });

  it('names a nested field whose format is wrong', () => {
    const error = planError((raw) => {
      raw.databases[0].recoveryClusterArn = 'payments-ledger-euw1';
    });

    expect(error.message).toContain('databases[0].recoveryClusterArn: must be an ARN of rds');
  });

  it('fails with InvalidPlan (the name the state machine matches), saying which plan source was invalid', () => {
    const error = planError((raw) => {
      raw.recoveryRegion = 'eu-west-9';
    });

    expect(error).toBeInstanceOf(InvalidPlanError);
    expect(error.name).toBe('InvalidPlan');
    expect(error.message).toMatch(/^config\/example\.yml is invalid: /);
  });

  it('refuses partition as an automatic classification', () => {
    const error = planError((raw) => {
      raw.approval.automatic = ['region-outage', 'partition'];
    });

    expect(error.name).toBe('InvalidPlan');
    expect(error.message).toContain('approval.automatic[1]');
  });

  it('refuses EU-resident data in a plan whose primary region is in the US', () => {
    const error = planError((raw) => {
      raw.databases[1].residency = 'eu';
    });

    expect(error.message).toContain('databases[1].residency: EU-resident data must never leave the EU, but it replicates between us-east-1 and eu-west-1');
  });

  it('accepts EU-resident data when both regions are in the EU', () => {
    const raw = rawExamplePlan();
    raw.primaryRegion = 'eu-central-1';
    raw.databases = [raw.databases[1]];
    raw.databases[0].residency = 'eu';
    // Only accounts is left: its replication-lag alarm stays, the ledger's goes with the ledger.
    raw.detection.replicationLagAlarms = raw.detection.replicationLagAlarms.filter((a: { database: string }) => a.database === 'accounts');

    expect(parsePlan(raw).databases[0]!.residency).toBe('eu');
  });

  it('refuses the same primary and recovery region', () => {
    const error = planError((raw) => {
      raw.recoveryRegion = 'us-east-1';
      raw.databases = [raw.databases[1]];
    });

    expect(error.message).toContain('recoveryRegion: must differ from primaryRegion (us-east-1)');
  });

  it('refuses a resource name used twice, across layers', () => {
    const error = planError((raw) => {
      raw.compute[1].name = 'ledger';
    });

    expect(error.message).toContain('compute[1].name: ledger is used twice; resource names must be unique');
  });

  it('refuses a weighted record without a setIdentifier', () => {
    const error = planError((raw) => {
      // The example's traffic is an ARC routing control; a Route 53 weighted pair needs both set identifiers.
      const traffic = route53WeightedTraffic();
      delete traffic.recovery.setIdentifier;
      raw.traffic = [traffic];
    });

    expect(error.message).toContain('traffic[0].routing: weighted records need primary.setIdentifier and recovery.setIdentifier');
  });

  it('refuses a failover desired count below the standby count', () => {
    const error = planError((raw) => {
      raw.compute[0].failoverDesiredCount = 5;
    });

    expect(error.message).toContain('compute[0].failoverDesiredCount: must be at least standbyDesiredCount (10)');
  });

  it('lists every problem, one per field', () => {
    const error = planError((raw) => {
      raw.recoveryRegion = 'eu-west-9';
      raw.slack.channel = 'general';
    });

    expect(error.message).toContain('recoveryRegion: eu-west-9 is not an AWS region');
    expect(error.message).toContain('slack.channel: must be a Slack channel id');
  });
});
