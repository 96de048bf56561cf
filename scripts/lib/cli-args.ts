/**
 * What was wrong with a command line, from node:util parseArgs' error, in one line naming the option:
 * "Unknown option '--force'", "Option '--stage <value>' argument missing". Node appends advice on
 * positionals that start with '-' to the unknown-option message; none of our CLIs take such
 * positionals, so it is dropped.
 */
export function argsErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Under some runners (jest's vm context) the message also carries the class and code: drop them.
  return message.replace(/^\w*Error \[ERR_PARSE_ARGS_\w+\]: /, '').split('. To specify a positional argument')[0] ?? message;
}
