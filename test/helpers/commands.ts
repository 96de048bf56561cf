/**
 * The commands an aws-sdk-client-mock client received, by name, in the order sent. Tests compare it
 * to an exact list: `toHaveReceivedCommandTimes(X, 1)` still passes when another command (a second
 * promotion, a stray flip, a SendTaskFailure next to the SendTaskSuccess) is sent as well.
 */
import type { AwsStub } from 'aws-sdk-client-mock';

export function commandNames(client: AwsStub<any, any, any>): string[] {
  return client.calls().map((c) => (c.args[0] as object).constructor.name);
}
