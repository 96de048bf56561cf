import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  PriorRequestNotComplete,
  Route53Client,
  ThrottlingException,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode, ResourceStep } from '../../../functions/core/contract';
import type { Plan, Route53RecordResource } from '../../../functions/core/plan';
import { flipTraffic } from '../../../functions/flip-traffic';
import { examplePlan } from '../../helpers/plan';
import { previousStep, reconcileInput, regionOf, stageContext } from '../../helpers/stage';

const route53 = mockClient(Route53Client);

const ZONE = 'Z0123456789ABCDEFGHIJ';
const RECORD = 'api.payments.example.com';

/** The example plan with its traffic as a Route 53 weighted pair (the example's default is ARC). */
function route53Plan(edit?: (traffic: Record<string, any>) => void): Plan {
  return examplePlan((raw) => {
    raw.traffic = [
      {
        kind: 'route53-record',
        name: 'api',
        hostedZoneId: ZONE,
        recordName: RECORD,
        recordType: 'CNAME',
        ttl: 60,
        routing: 'weighted',
        primary: { setIdentifier: 'us-east-1', value: 'api-use1.payments.example.com' },
        recovery: { setIdentifier: 'eu-west-1', value: 'api-euw1.payments.example.com' },
        syncTimeoutSeconds: 300,
      },
    ];
    edit?.(raw.traffic[0]);
  });
}

const api = (mode?: Mode, previous?: ResourceStep, plan: Plan = route53Plan()) => reconcileInput((p) => p.traffic[0] as Route53RecordResource, { mode, previous, plan });

function weighted(weights: { us: number; eu: number }): ResourceRecordSet[] {
  return [
    { Name: `${RECORD}.`, Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: weights.eu, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] },
    { Name: `${RECORD}.`, Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: weights.us, TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] },
    { Name: `auth.payments.example.com.`, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'auth-use1.payments.example.com' }] },
  ];
}

/** The UPSERTed record sets of the (only) change batch. */
function upserted(): ResourceRecordSet[] {
  const calls = route53.commandCalls(ChangeResourceRecordSetsCommand);
  expect(calls).toHaveLength(1);
  const changes = calls[0]!.args[0].input.ChangeBatch?.Changes ?? [];
  expect(changes.every((c) => c.Action === 'UPSERT')).toBe(true);
  return changes.map((c) => c.ResourceRecordSet!);
}

const propagating = (overrides: Partial<ResourceStep> = {}) => previousStep({ resource: 'api', kind: 'route53-record', ref: '/change/C0123456789EXAMPLE', ...overrides });

const ctx = stageContext();

beforeEach(() => {
  route53.reset();
  route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: weighted({ us: 100, eu: 0 }), IsTruncated: false, MaxItems: 100 });
  route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C0123456789EXAMPLE', Status: 'PENDING', SubmittedAt: new Date('2025-03-04T10:05:00Z') } });
});

describe('route53-record flip', () => {
  it('flips a weighted pair with one UPSERT batch of the listed sets: primary weight 0, recovery weight 100, by set identifier', async () => {
    const step = await flipTraffic(api('failover'), ctx);

    expect(route53).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      HostedZoneId: ZONE,
      ChangeBatch: {
        Comment: 'failover to eu-west-1 by the failover orchestrator',
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: { Name: `${RECORD}.`, Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] },
          },
          {
            Action: 'UPSERT',
            ResourceRecordSet: {
              Name: `${RECORD}.`,
              Type: 'CNAME',
              SetIdentifier: 'eu-west-1',
              Weight: 100,
              TTL: 60,
              ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }],
            },
          },
        ],
      },
    });
    expect(route53).toHaveReceivedCommandTimes(ChangeResourceRecordSetsCommand, 1);
    expect(step).toMatchObject({ resource: 'api', done: false, phase: 'started', mutated: true, ref: '/change/C0123456789EXAMPLE' });
  });

  it('reads the record from the hosted zone starting at its name and type', async () => {
    await flipTraffic(api('failover'), ctx);

    expect(route53).toHaveReceivedCommandWith(ListResourceRecordSetsCommand, { HostedZoneId: ZONE, StartRecordName: RECORD, StartRecordType: 'CNAME' });
  });

  it('edits records through the Route 53 control plane in us-east-1', async () => {
    await flipTraffic(api('failover'), ctx);

    await expect(regionOf(route53.commandCalls(ChangeResourceRecordSetsCommand)[0]!)).resolves.toBe('us-east-1');
  });

  // UPSERT replaces the whole set with what is sent (https://docs.aws.amazon.com/Route53/latest/APIReference/API_Change.html):
  // a set rebuilt from the plan would drop the listed health check and TTL.
  it("UPSERT keeps what the zone lists and the plan does not say (HealthCheckId, a TTL other than the plan's): only the weight changes", async () => {
    const listedUs: ResourceRecordSet = {
      Name: `${RECORD}.`,
      Type: 'CNAME',
      SetIdentifier: 'us-east-1',
      Weight: 100,
      TTL: 30,
      HealthCheckId: 'hc-use1-listed',
      ResourceRecords: [{ Value: 'api-use1.payments.example.com' }],
    };
    const listedEu: ResourceRecordSet = {
      Name: `${RECORD}.`,
      Type: 'CNAME',
      SetIdentifier: 'eu-west-1',
      Weight: 0,
      TTL: 300,
      HealthCheckId: 'hc-euw1-listed',
      ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }],
    };
    route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [listedEu, listedUs], IsTruncated: false, MaxItems: 100 });

    await flipTraffic(api('failover'), ctx);

    expect(upserted()).toEqual([
      { ...listedUs, Weight: 0 },
      { ...listedEu, Weight: 100 },
    ]);
  });

  it('keeps weighted alias sets as listed (alias target, EvaluateTargetHealth) and changes only the weight', async () => {
    const alias = (id: string, weight: number, dns: string): ResourceRecordSet => ({
      Name: `${RECORD}.`,
      Type: 'A',
      SetIdentifier: id,
      Weight: weight,
      AliasTarget: { DNSName: dns, HostedZoneId: 'Z32O12XQLNTSW2', EvaluateTargetHealth: false },
    });
    const plan = route53Plan((t) => {
      t.recordType = 'A';
      t.primary = { setIdentifier: 'us-east-1', aliasDnsName: 'use1-alb.example.com', aliasHostedZoneId: 'Z35SXDOTRQ7X7K' };
      t.recovery = { setIdentifier: 'eu-west-1', aliasDnsName: 'euw1-alb.example.com', aliasHostedZoneId: 'Z32O12XQLNTSW2' };
    });
    route53
      .on(ListResourceRecordSetsCommand)
      .resolves({ ResourceRecordSets: [alias('eu-west-1', 0, 'euw1-alb.example.com.'), alias('us-east-1', 100, 'use1-alb.example.com.')], IsTruncated: false, MaxItems: 100 });

    await flipTraffic(api('failover', undefined, plan), ctx);

    expect(upserted()).toEqual([alias('us-east-1', 0, 'use1-alb.example.com.'), alias('eu-west-1', 100, 'euw1-alb.example.com.')]);
  });

  it('fails with ResourceStateError, and changes nothing, when a weighted set of the plan is not in the zone', async () => {
    route53
      .on(ListResourceRecordSetsCommand)
      .resolves({ ResourceRecordSets: weighted({ us: 100, eu: 0 }).filter((s) => s.SetIdentifier !== 'eu-west-1'), IsTruncated: false, MaxItems: 100 });

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({
      name: 'ResourceStateError',
      message: expect.stringContaining('no record set with SetIdentifier eu-west-1'),
    });
    expect(route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  });

  it('reads every page of the record (NextRecordName / NextRecordType / NextRecordIdentifier) before changing it', async () => {
    const [eu, us, auth] = weighted({ us: 100, eu: 0 });
    const usListed = { ...us!, HealthCheckId: 'hc-use1-page2' };
    route53
      .on(ListResourceRecordSetsCommand)
      .resolves({ ResourceRecordSets: [auth!], IsTruncated: false, MaxItems: 1 }) // a listing past the record
      .on(ListResourceRecordSetsCommand, { StartRecordName: RECORD, StartRecordType: 'CNAME', StartRecordIdentifier: undefined })
      .resolves({ ResourceRecordSets: [eu!], IsTruncated: true, NextRecordName: `${RECORD}.`, NextRecordType: 'CNAME', NextRecordIdentifier: 'us-east-1', MaxItems: 1 })
      .on(ListResourceRecordSetsCommand, { StartRecordName: `${RECORD}.`, StartRecordType: 'CNAME', StartRecordIdentifier: 'us-east-1' })
      .resolves({ ResourceRecordSets: [usListed], IsTruncated: true, NextRecordName: 'auth.payments.example.com.', NextRecordType: 'CNAME', MaxItems: 1 });

    await flipTraffic(api('failover'), ctx);

    expect(route53).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 2); // stops once the next set is another record
    expect(upserted()).toEqual([
      { ...usListed, Weight: 0 },
      { ...eu!, Weight: 100 },
    ]);
  });

  it('fails with ResourceStateError when Route 53 paging does not advance, instead of reading forever', async () => {
    route53
      .on(ListResourceRecordSetsCommand)
      .resolves({ ResourceRecordSets: [], IsTruncated: true, NextRecordName: `${RECORD}.`, NextRecordType: 'CNAME', NextRecordIdentifier: 'eu-west-1', MaxItems: 1 });

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'ResourceStateError', message: expect.stringContaining('paging did not advance') });
    expect(route53).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 2);
  });

  it('points a simple record at the recovery target, keeping the listed TTL and health check', async () => {
    const plan = route53Plan((t) => {
      t.routing = 'simple';
      t.primary = { value: 'api-use1.payments.example.com' };
      t.recovery = { value: 'api-euw1.payments.example.com' };
    });
    route53.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: `${RECORD}.`, Type: 'CNAME', TTL: 20, HealthCheckId: 'hc-simple', ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] }],
    });

    await flipTraffic(api('failover', undefined, plan), ctx);

    expect(upserted()).toEqual([{ Name: `${RECORD}.`, Type: 'CNAME', TTL: 20, HealthCheckId: 'hc-simple', ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] }]);
  });

  it('creates a simple record from the plan when the zone does not have it', async () => {
    const plan = route53Plan((t) => {
      t.routing = 'simple';
      t.primary = { value: 'api-use1.payments.example.com' };
      t.recovery = { value: 'api-euw1.payments.example.com' };
    });
    route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [] });

    await flipTraffic(api('failover', undefined, plan), ctx);

    expect(upserted()).toEqual([{ Name: RECORD, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] }]);
  });

  it('is done without a change when the record already points at the recovery region', async () => {
    route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: weighted({ us: 0, eu: 100 }) });

    const step = await flipTraffic(api('failover'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'insync', mutated: false, detail: `${RECORD} already points at eu-west-1` });
    expect(route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  });

  it('reports a PENDING change as not done, without a second change', async () => {
    route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C0123456789EXAMPLE', Status: 'PENDING', SubmittedAt: new Date() } });

    const step = await flipTraffic(api('failover', propagating()), ctx);

    expect(route53).toHaveReceivedCommandWith(GetChangeCommand, { Id: '/change/C0123456789EXAMPLE' });
    expect(step).toMatchObject({ done: false, phase: 'propagating', mutated: true, ref: '/change/C0123456789EXAMPLE' });
    expect(route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  });

  it('is done when the change is INSYNC', async () => {
    route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C0123456789EXAMPLE', Status: 'INSYNC', SubmittedAt: new Date() } });

    const step = await flipTraffic(api('failover', propagating()), ctx);

    expect(step).toMatchObject({ done: true, phase: 'insync', mutated: true, finishedAt: ctx.now().toISOString() });
    expect(route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  });

  it('fails with TrafficFlipDeadlineExceeded when the change is still PENDING after its deadline', async () => {
    route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C0123456789EXAMPLE', Status: 'PENDING', SubmittedAt: new Date() } });
    const previous = propagating({ startedAt: '2025-03-04T09:55:00.000Z', deadline: '2025-03-04T10:00:00.000Z' });

    await expect(flipTraffic(api('failover', previous), ctx)).rejects.toMatchObject({ name: 'TrafficFlipDeadlineExceeded' });
  });

  it('fails with TransientAwsError when Route 53 throttles the change', async () => {
    route53.on(ChangeResourceRecordSetsCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('route53:ChangeResourceRecordSets') });
  });

  it('fails with TransientAwsError when an earlier change to the zone is still being applied', async () => {
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejects(new PriorRequestNotComplete({ message: 'The request was rejected because Route 53 was still processing a prior request.', $metadata: { httpStatusCode: 400 } }));

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });
  });

  it('fails with TransientAwsError when the Route 53 control plane answers with a server error', async () => {
    route53
      .on(ListResourceRecordSetsCommand)
      .rejects(Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } }));

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });
  });

  it('in a drill, says what it would do and makes no change', async () => {
    const step = await flipTraffic(api('drill'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'drill', mutated: false, wouldDo: `${RECORD} CNAME weights us-east-1=0, eu-west-1=100` });
    expect(route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  });
});
