/**
 * EventBridge event-pattern matching, for the patterns this project writes (events/*.pattern.json):
 * exact values, prefix / suffix, anything-but, exists, equals-ignore-case and numeric ranges, over
 * nested objects, with array-valued event fields matching when any element matches.
 *
 * Used by the template tests (do the rules fire on real-shaped CloudWatch events, and on nothing
 * else?) and by the lab, whose health probes raise alarm events that start the state machine only
 * when the project's own patterns match them. An operator we do not implement throws, rather than
 * silently matching.
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function matchesOne(matcher: Json, value: Json | undefined): boolean {
  if (matcher === null || typeof matcher !== 'object' || Array.isArray(matcher)) {
    return value !== undefined && value === matcher;
  }
  const [op, arg] = Object.entries(matcher)[0] ?? [];
  switch (op) {
    case 'exists':
      return arg === (value !== undefined);
    case 'prefix':
      return typeof value === 'string' && typeof arg === 'string' && value.startsWith(arg);
    case 'suffix':
      return typeof value === 'string' && typeof arg === 'string' && value.endsWith(arg);
    case 'equals-ignore-case':
      return typeof value === 'string' && typeof arg === 'string' && value.toLowerCase() === arg.toLowerCase();
    case 'anything-but': {
      if (value === undefined) return false;
      if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) return !matchesOne(arg, value);
      const excluded = Array.isArray(arg) ? arg : [arg as Json];
      return !excluded.some((x) => x === value);
    }
    case 'numeric': {
      if (typeof value !== 'number' || !Array.isArray(arg)) return false;
      for (let i = 0; i < arg.length; i += 2) {
        const bound = arg[i + 1] as number;
        const ok = { '<': value < bound, '<=': value <= bound, '>': value > bound, '>=': value >= bound, '=': value === bound }[arg[i] as string];
        if (!ok) return false;
      }
      return true;
    }
    default:
      throw new Error(`event pattern operator not supported here: ${JSON.stringify(matcher)}`);
  }
}

function matchesField(rule: Json, value: Json | undefined): boolean {
  if (Array.isArray(rule)) {
    const values = Array.isArray(value) ? value : [value];
    return rule.some((m) => values.some((v) => matchesOne(m, v)));
  }
  if (rule !== null && typeof rule === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      // Only `exists: false` leaves can hold under a missing object.
      return Object.values(rule).every((sub) => matchesField(sub, undefined));
    }
    return Object.entries(rule).every(([key, sub]) => matchesField(sub, (value as Record<string, Json>)[key]));
  }
  throw new Error(`event pattern leaves must be arrays, got ${JSON.stringify(rule)}`);
}

/** True when `event` matches the EventBridge `pattern`. */
export function matchesEventPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  return matchesField(pattern as Json, event as Json);
}
