import { clearCaches } from '@aws-lambda-powertools/parameters';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { slackBotToken, slackSigningSecret } from '../../../functions/slack/secrets';

const ssm = mockClient(SSMClient);
const NAME = '/failover/example/slack-bot-token';
const TOKEN = 'xoxb-1111-2222-abcdefghijklmnop';

beforeEach(() => {
  ssm.reset();
  clearCaches();
});

describe('slack secrets', () => {
  it('reads the SecureString decrypted from SSM', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Value: TOKEN } });

    await expect(slackBotToken(NAME)).resolves.toBe(TOKEN);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: true });
  });

  it('keeps the value in memory: a second read within five minutes does not call SSM again', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Value: TOKEN } });

    await slackBotToken(NAME);
    await slackBotToken(NAME);

    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('fails with ConfigurationError naming the parameter when it does not exist', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: '', $metadata: {} }));

    await expect(slackSigningSecret('/failover/example/slack-signing-secret')).rejects.toMatchObject({
      name: 'ConfigurationError',
      message: 'SSM parameter /failover/example/slack-signing-secret does not exist',
    });
  });

  it('fails with ConfigurationError when the parameter is empty', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Value: ' ' } });

    await expect(slackBotToken(NAME)).rejects.toMatchObject({ name: 'ConfigurationError', message: `SSM parameter ${NAME} is empty` });
  });
});
