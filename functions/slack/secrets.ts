/**
 * Slack credentials: the bot token and the signing secret live in SSM Parameter Store as
 * SecureStrings and are read into memory only (cached five minutes by Powertools Parameters, so a
 * rotated secret is picked up without a deploy). Never in environment variables, never in a log line,
 * never in an error message: errors name the parameter, not its value.
 */
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { ConfigurationError, toNamedAwsError } from '../core/errors';

const MAX_AGE_SECONDS = 300;

const MISSING = new Set(['ParameterNotFound', 'ParameterVersionNotFound']);

/** Reads a SecureString parameter (decrypted). A missing or empty parameter is a `ConfigurationError`. */
export async function readSecret(parameterName: string): Promise<string> {
  let value: string | undefined;
  try {
    value = await getParameter(parameterName, { decrypt: true, maxAge: MAX_AGE_SECONDS });
  } catch (error) {
    // Powertools wraps the SDK error in GetParameterError; the SDK's own name is on `cause`.
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    if (cause instanceof Error && MISSING.has(cause.name)) {
      throw new ConfigurationError(`SSM parameter ${parameterName} does not exist`, { cause: error });
    }
    throw toNamedAwsError(cause, `SSM GetParameter ${parameterName}`);
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigurationError(`SSM parameter ${parameterName} is empty`);
  }
  return value.trim();
}

/** The Slack bot token (`xoxb-…`), used for chat.postMessage / chat.update. */
export function slackBotToken(parameterName: string): Promise<string> {
  return readSecret(parameterName);
}

/** The Slack app's signing secret, used to verify requests to the interactivity endpoint. */
export function slackSigningSecret(parameterName: string): Promise<string> {
  return readSecret(parameterName);
}
