/**
 * The data-plane flip: Route 53 ARC routing controls, against the cluster's regional endpoints in turn.
 * ARC developer guide, "Getting and updating routing control states using the ARC API":
 *   https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.update.api.html (try each endpoint)
 * API reference, UpdateRoutingControlStates (errors):
 *   https://docs.aws.amazon.com/routing-control/latest/APIReference/API_UpdateRoutingControlStates.html
 */
import {
  AccessDeniedException,
  ConflictException,
  EndpointTemporarilyUnavailableException,
  GetRoutingControlStateCommand,
  InternalServerException,
  ResourceNotFoundException,
  Route53RecoveryClusterClient,
  ThrottlingException,
  UpdateRoutingControlStateCommand,
  UpdateRoutingControlStatesCommand,
  ValidationException,
} from '@aws-sdk/client-route53-recovery-cluster';
import { mockClient } from 'aws-sdk-client-mock';
import { endpointOrder, pointsAtRecovery } from '../../../functions/adapters/arc-routing-control';
import { resetClients } from '../../../functions/core/clients';
import type { Mode, ResourceStep } from '../../../functions/core/contract';
import type { ArcRoutingControlResource, Plan } from '../../../functions/core/plan';
import { flipTraffic } from '../../../functions/flip-traffic';
import { examplePlan } from '../../helpers/plan';
import { previousStep, reconcileInput, regionOf, stageContext } from '../../helpers/stage';
import { commandNames } from '../../helpers/commands';

const arc = mockClient(Route53RecoveryClusterClient);

const PRIMARY = 'arn:aws:route53-recovery-control::111122223333:controlpanel/0123abcd/routingcontrol/api-use1';
const RECOVERY = 'arn:aws:route53-recovery-control::111122223333:controlpanel/0123abcd/routingcontrol/api-euw1';
const SAFETY_RULE = 'arn:aws:route53-recovery-control::111122223333:controlpanel/0123abcd/safetyrule/at-least-one-on';
/** The example plan lists us-east-1 first; the flip tries it last. */
const ORDER = ['us-west-2', 'eu-west-1', 'ap-northeast-1', 'ap-southeast-2', 'us-east-1'];

const meta = { $metadata: {} };
const timeout = () => Object.assign(new Error('Request timed out after 3000 ms'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { name: 'Error', code: 'ECONNREFUSED' });

let states: Record<string, 'On' | 'Off'>;
/** Per region: what its endpoint fails with (absent: it answers). */
let failing: Record<string, () => Error>;

const api = (mode?: Mode, previous?: ResourceStep, plan?: Plan) => reconcileInput((p) => p.traffic[0] as ArcRoutingControlResource, { mode, previous, plan });
const ctx = stageContext();

async function regions(command: typeof GetRoutingControlStateCommand | typeof UpdateRoutingControlStatesCommand): Promise<string[]> {
  return Promise.all(arc.commandCalls(command as never).map((c) => regionOf(c)));
}

beforeEach(() => {
  resetClients();
  arc.reset();
  states = { [PRIMARY]: 'On', [RECOVERY]: 'Off' };
  failing = {};
  arc.on(GetRoutingControlStateCommand).callsFake(async (input, getClient) => {
    const region = await regionOf({ thisValue: getClient() });
    if (failing[region]) throw failing[region]!();
    const state = states[input.RoutingControlArn!];
    if (!state) throw new ResourceNotFoundException({ message: 'not found', resourceId: input.RoutingControlArn!, resourceType: 'RoutingControl', ...meta });
    return { RoutingControlArn: input.RoutingControlArn, RoutingControlState: state };
  });
  arc.on(UpdateRoutingControlStatesCommand).callsFake(async (input, getClient) => {
    const region = await regionOf({ thisValue: getClient() });
    if (failing[region]) throw failing[region]!();
    for (const e of input.UpdateRoutingControlStateEntries ?? []) states[e.RoutingControlArn!] = e.RoutingControlState!;
    return {};
  });
});

describe('arc-routing-control flip', () => {
  it('turns the recovery control On and the primary Off in ONE UpdateRoutingControlStates call, so the safety rules judge the pair', async () => {
    const step = await flipTraffic(api('failover'), ctx);

    expect(arc).toHaveReceivedCommandTimes(UpdateRoutingControlStatesCommand, 1);
    expect(arc).toHaveReceivedCommandWith(UpdateRoutingControlStatesCommand, {
      UpdateRoutingControlStateEntries: [
        { RoutingControlArn: RECOVERY, RoutingControlState: 'On' },
        { RoutingControlArn: PRIMARY, RoutingControlState: 'Off' },
      ],
    });
    expect(arc.commandCalls(UpdateRoutingControlStatesCommand)[0]!.args[0].input.SafetyRulesToOverride).toBeUndefined();
    expect(arc).not.toHaveReceivedCommand(UpdateRoutingControlStateCommand);
    expect(commandNames(arc)).toEqual(
      ['GetRoutingControlStateCommand', 'GetRoutingControlStateCommand', 'UpdateRoutingControlStatesCommand'] /* read both, then one write for the pair */,
    );
    expect(step).toMatchObject({ resource: 'api', kind: 'arc-routing-control', done: false, phase: 'started', mutated: true });
  });

  it('is done when a read shows the recovery control On and the primary Off, and says DNS follows through the health checks', async () => {
    states = { [PRIMARY]: 'Off', [RECOVERY]: 'On' };

    const step = await flipTraffic(api('failover', previousStep({ resource: 'api', kind: 'arc-routing-control' })), ctx);

    expect(step).toMatchObject({ done: true, phase: 'flipped', mutated: true, finishedAt: ctx.now().toISOString() });
    expect(step.detail).toContain('api-euw1=On, api-use1=Off');
    expect(step.detail).toContain('health checks');
    expect(arc).not.toHaveReceivedCommand(UpdateRoutingControlStatesCommand);
  });

  it('is not done while the primary control is still On (recovery On too): it sends the pair again', async () => {
    states = { [PRIMARY]: 'On', [RECOVERY]: 'On' };

    const step = await flipTraffic(api('failover'), ctx);

    expect(arc).toHaveReceivedCommandTimes(UpdateRoutingControlStatesCommand, 1);
    expect(commandNames(arc)).toEqual(['GetRoutingControlStateCommand', 'GetRoutingControlStateCommand', 'UpdateRoutingControlStatesCommand']);
    expect(step).toMatchObject({ done: false, mutated: true });
  });

  it('signs each call for its endpoint region: endpoints outside the primary region first, the primary region (us-east-1) last', async () => {
    const plan = examplePlan();
    expect(endpointOrder(plan.traffic[0] as ArcRoutingControlResource, plan.primaryRegion).map((e) => e.region)).toEqual(ORDER);
    for (const r of ORDER) failing[r] = timeout;

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });

    // Two reads (both controls) per endpoint, in this order.
    expect(await regions(GetRoutingControlStateCommand)).toEqual(ORDER.flatMap((r) => [r, r]));
  });

  it('does not call the primary region endpoint when another endpoint answers', async () => {
    await flipTraffic(api('failover'), ctx);

    expect(await regions(GetRoutingControlStateCommand)).toEqual(['us-west-2', 'us-west-2']);
    expect(await regions(UpdateRoutingControlStatesCommand)).toEqual(['us-west-2']);
  });

  it('uses the endpoint URL of the plan for each region', async () => {
    failing['us-west-2'] = timeout;

    await flipTraffic(api('failover'), ctx);

    const call = arc.commandCalls(UpdateRoutingControlStatesCommand)[0]!;
    const endpoint = await (call.thisValue as { config: { endpoint: () => Promise<{ hostname: string }> } }).config.endpoint();
    expect(endpoint.hostname).toBe('cccccccc.route53-recovery-cluster.eu-west-1.amazonaws.com');
  });

  it.each([
    [
      'EndpointTemporarilyUnavailableException',
      () => new EndpointTemporarilyUnavailableException({ message: 'The cluster endpoint is not available. Try another cluster endpoint.', ...meta }),
    ],
    ['ThrottlingException', () => new ThrottlingException({ message: 'Rate exceeded', ...meta })],
    ['InternalServerException', () => new InternalServerException({ message: 'internal error', ...meta })],
    ['a timeout (hanging endpoint)', timeout],
    ['a refused connection', refused],
  ])('tries the next endpoint after %s', async (_what, error) => {
    failing['us-west-2'] = error;

    const step = await flipTraffic(api('failover'), ctx);

    expect(step).toMatchObject({ mutated: true, detail: expect.stringContaining('accepted by the eu-west-1 endpoint') });
    expect(await regions(UpdateRoutingControlStatesCommand)).toEqual(['eu-west-1']);
    expect(states).toEqual({ [PRIMARY]: 'Off', [RECOVERY]: 'On' });
  });

  it('sends the update first to the endpoint that answered the read, not to one that just failed', async () => {
    failing['us-west-2'] = timeout;
    failing['eu-west-1'] = timeout;

    await flipTraffic(api('failover'), ctx);

    expect(await regions(GetRoutingControlStateCommand)).toEqual(['us-west-2', 'us-west-2', 'eu-west-1', 'eu-west-1', 'ap-northeast-1', 'ap-northeast-1']);
    expect(await regions(UpdateRoutingControlStatesCommand)).toEqual(['ap-northeast-1']);
  });

  it('tries every endpoint for the update when the one that answered the read fails, and fails with TransientAwsError naming each failure', async () => {
    // Reads answer everywhere; updates fail everywhere (e.g. the cluster lost its quorum between calls).
    arc.on(UpdateRoutingControlStatesCommand).callsFake(async (_input, getClient) => {
      const region = await regionOf({ thisValue: getClient() });
      throw region === 'us-east-1' ? timeout() : new EndpointTemporarilyUnavailableException({ message: `${region} unavailable`, ...meta });
    });

    const failure = await flipTraffic(api('failover'), ctx).catch((e: Error) => e);

    expect(failure).toMatchObject({ name: 'TransientAwsError' });
    expect(await regions(UpdateRoutingControlStatesCommand)).toEqual(ORDER);
    for (const r of ORDER) expect((failure as Error).message).toContain(`${r} (https://`);
    expect((failure as Error).message).toContain('us-east-1 (https://aaaaaaaa.route53-recovery-cluster.us-east-1.amazonaws.com/v1): TimeoutError');
    expect((failure as Error).message).toContain('EndpointTemporarilyUnavailableException: us-west-2 unavailable');
  });

  it.each([
    ['ValidationException', () => new ValidationException({ message: 'bad request', ...meta })],
    ['ResourceNotFoundException', () => new ResourceNotFoundException({ message: 'no such routing control', resourceId: RECOVERY, resourceType: 'RoutingControl', ...meta })],
    ['AccessDeniedException', () => new AccessDeniedException({ message: 'not authorized to perform route53-recovery-cluster:UpdateRoutingControlStates', ...meta })],
  ])('stops at the first endpoint on %s (another endpoint would answer the same): ResourceStateError', async (name, error) => {
    arc.on(UpdateRoutingControlStatesCommand).rejects(error());

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'ResourceStateError', message: expect.stringContaining(name) });
    expect(arc).toHaveReceivedCommandTimes(UpdateRoutingControlStatesCommand, 1);
  });

  it('stops when a safety rule blocks the change (ConflictException) and names the rule; it never overrides safety rules', async () => {
    arc
      .on(UpdateRoutingControlStatesCommand)
      .rejects(new ConflictException({ message: `The request was blocked by safety rule ${SAFETY_RULE}.`, resourceId: RECOVERY, resourceType: 'RoutingControl', ...meta }));

    const failure = await flipTraffic(api('failover'), ctx).catch((e: Error) => e);

    expect(failure).toMatchObject({ name: 'ResourceStateError' });
    expect((failure as Error).message).toContain(`safety rule ${SAFETY_RULE} blocked the routing control change`);
    expect(arc).toHaveReceivedCommandTimes(UpdateRoutingControlStatesCommand, 1);
    expect(arc.commandCalls(UpdateRoutingControlStatesCommand)[0]!.args[0].input.SafetyRulesToOverride).toBeUndefined();
  });

  it('fails with TransientAwsError (the state machine retries) when no endpoint can be read', async () => {
    for (const r of ORDER) failing[r] = refused;

    await expect(flipTraffic(api('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('no cluster endpoint') });
    expect(arc).not.toHaveReceivedCommand(UpdateRoutingControlStatesCommand);
  });

  it('in a drill, reads the controls, says what it would do and sends no update', async () => {
    const step = await flipTraffic(api('drill'), ctx);

    expect(step).toMatchObject({
      done: true,
      phase: 'drill',
      mutated: false,
      wouldDo:
        'api.payments.example.com routing controls api-euw1=On, api-use1=Off in one UpdateRoutingControlStates call (endpoints in turn: us-west-2, eu-west-1, ap-northeast-1, ap-southeast-2, us-east-1)',
    });
    expect(arc).toHaveReceivedCommand(GetRoutingControlStateCommand);
    expect(arc).not.toHaveReceivedCommand(UpdateRoutingControlStatesCommand);
    expect(arc).not.toHaveReceivedCommand(UpdateRoutingControlStateCommand);
  });

  it('pointsAtRecovery reads the pair (from outside the primary region when given the plan)', async () => {
    const plan = examplePlan();
    const rec = plan.traffic[0] as ArcRoutingControlResource;

    await expect(pointsAtRecovery(rec, plan)).resolves.toBe(false);
    states = { [PRIMARY]: 'Off', [RECOVERY]: 'On' };
    await expect(pointsAtRecovery(rec, plan)).resolves.toBe(true);
    expect(await regions(GetRoutingControlStateCommand)).not.toContain('us-east-1');
  });
});
