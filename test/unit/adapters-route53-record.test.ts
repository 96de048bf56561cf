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
import type { Mode, ResourceStep } from '../../functions/core/contract';
import type { Plan, Route53RecordResource } from '../../functions/core/plan';
import { flipTraffic } from '../../functions/flip-traffic';
import { examplePlan } from '../helpers/plan';
import { previousStep, reconcileInput, regionOf, stageContext } from '../helpers/stage';

const route53 = mockClient(Route53Client);

const ZONE = 'Z0123456789ABCDEFGHIJ';
const RECORD = 'api.payments.example.com';

const api = (mode?: Mode, previous?: ResourceStep, plan?: Plan) => reconcileInput((p) => p.traffic[0] as Route53RecordResource, { mode, previous, plan });

function weighted(weights: { us: number; eu: number }): ResourceRecordSet[] {
  return [
    { Name: `${RECORD}.`, Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: weights.eu, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] },
    { Name: `${RECORD}.`, Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: weights.us, TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] },
    { Name: `auth.payments.example.com.`, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'auth-use1.payments.example.com' }] },
  ];
}

const propagating = (overrides: Partial<ResourceStep> = {}) => previousStep({ resource: 'api', kind: 'route53-record', ref: '/change/C0123456789EXAMPLE', ...overrides });

const ctx = stageContext();

beforeEach(() => {
  route53.reset();
  route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: weighted({ us: 100, eu: 0 }), IsTruncated: false, MaxItems: 10 });
  route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C0123456789EXAMPLE', Status: 'PENDING', SubmittedAt: new Date('2025-03-04T10:05:00Z') } });
});

describe('route53-record flip', () => {
  it('flips a weighted pair with one UPSERT batch: primary weight 0, recovery weight 100, by set identifier', async () => {
    const step = await flipTraffic(api('failover'), ctx);

    expect(route53).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      HostedZoneId: ZONE,
      ChangeBatch: {
        Comment: 'failover to eu-west-1 by the failover orchestrator',
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: { Name: RECORD, Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] },
          },
          {
            Action: 'UPSERT',
            ResourceRecordSet: { Name: RECORD, Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] },
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

  it('keeps the plan health checks on the flipped records', async () => {
    const plan = examplePlan((raw) => {
      raw.traffic[0].healthCheckIds = { primary: 'hc-use1', recovery: 'hc-euw1' };
    });

    await flipTraffic(api('failover', undefined, plan), ctx);

    expect(route53).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      ChangeBatch: expect.objectContaining({
        Changes: [
          { Action: 'UPSERT', ResourceRecordSet: expect.objectContaining({ SetIdentifier: 'us-east-1', Weight: 0, HealthCheckId: 'hc-use1' }) },
          { Action: 'UPSERT', ResourceRecordSet: expect.objectContaining({ SetIdentifier: 'eu-west-1', Weight: 100, HealthCheckId: 'hc-euw1' }) },
        ],
      }),
    });
  });

  it('points a simple record at the recovery target', async () => {
    const plan = examplePlan((raw) => {
      raw.traffic[0].routing = 'simple';
      raw.traffic[0].primary = { value: 'api-use1.payments.example.com' };
      raw.traffic[0].recovery = { value: 'api-euw1.payments.example.com' };
    });
    route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: `${RECORD}.`, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] }] });

    await flipTraffic(api('failover', undefined, plan), ctx);

    expect(route53).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      ChangeBatch: expect.objectContaining({
        Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: RECORD, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] } }],
      }),
    });
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
    route53.on(ChangeResourceRecordSetsCommand).rejects(new PriorRequestNotComplete({ message: 'The request was rejected because Route 53 was still processing a prior request.', $metadata: { httpStatusCode: 400 } }));

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });
  });

  it('fails with TransientAwsError when the Route 53 control plane answers with a server error', async () => {
    route53.on(ListResourceRecordSetsCommand).rejects(Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } }));

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });
  });

  it('in a drill, says what it would do and makes no change', async () => {
    const step = await flipTraffic(api('drill'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'drill', mutated: false, wouldDo: `${RECORD} CNAME weights us-east-1=0, eu-west-1=100` });
    expect(route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  });
});
