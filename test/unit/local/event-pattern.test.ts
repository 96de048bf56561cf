import { matchesEventPattern } from '../../../local/event-pattern';

describe('matchesEventPattern', () => {
  const event = { source: 'aws.cloudwatch', detail: { alarmName: 'a-1', state: { value: 'ALARM' }, tags: ['x', 'y'], n: 5 } };

  it('matches exact values in nested objects', () => {
    expect(matchesEventPattern({ source: ['aws.cloudwatch'], detail: { state: { value: ['ALARM'] } } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { state: { value: ['OK'] } } }, event)).toBe(false);
  });

  it('matches an array-valued field when any element matches', () => {
    expect(matchesEventPattern({ detail: { tags: ['y'] } }, event)).toBe(true);
  });

  it('supports prefix, anything-but, exists and numeric', () => {
    expect(matchesEventPattern({ detail: { alarmName: [{ prefix: 'a-' }] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { alarmName: [{ 'anything-but': 'a-1' }] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { missing: [{ exists: false }] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { alarmName: [{ exists: false }] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { n: [{ numeric: ['>', 1, '<=', 5] }] } }, event)).toBe(true);
  });

  it('does not match a field the event lacks', () => {
    expect(matchesEventPattern({ detail: { previousState: { value: [{ 'anything-but': 'ALARM' }] } } }, event)).toBe(false);
  });

  it('refuses an operator it does not implement instead of guessing', () => {
    expect(() => matchesEventPattern({ detail: { alarmName: [{ wildcard: 'a-*' }] } }, event)).toThrow('not supported');
  });
});
