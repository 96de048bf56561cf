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
  logger.setLogLevel('DEBUG');
  try {
    await fn();
  } finally {
    logger.setLogLevel('SILENT');
    out.mockRestore();
    err.mockRestore();
  }
  return written.join('');
}
