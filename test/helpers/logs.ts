import { logger } from '../../functions/core/powertools';

/**
 * Runs `fn` with the Powertools logger at DEBUG and returns everything written to stdout and
 * stderr meanwhile, so a test can assert what a log line carries and what it never carries.
 */
export async function captureLogs(fn: () => Promise<unknown>): Promise<string> {
  const written: string[] = [];
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  // Powertools' injectLambdaContext (the stage handlers' middleware) sets each invocation's level back to
  // the initial one (POWERTOOLS_LOG_LEVEL, SILENT in tests) when it refreshes the debug sampling: keep the
  // level raised here for the invocations inside `fn`.
  const refresh = jest.spyOn(logger, 'refreshSampleRateCalculation').mockImplementation(() => undefined);
  logger.setLogLevel('DEBUG');
  try {
    await fn();
  } finally {
    logger.setLogLevel('SILENT');
    refresh.mockRestore();
    out.mockRestore();
    err.mockRestore();
  }
  return written.join('');
}
