export declare const ROOT: string;
export declare const FAILOVER_FUNCTIONS: Record<string, string>;
export declare function substitute<T = unknown>(template: unknown, values: Record<string, unknown>, where?: string): T;
// biome-ignore lint/suspicious/noExplicitAny: ASL JSON, read by the tests and the local runner field by field
export declare function renderFailoverDefinition(plan: unknown, functionRef: (functionKey: string) => unknown): Record<string, any>;
// biome-ignore lint/suspicious/noExplicitAny: an EventBridge pattern, JSON
export declare function renderAlarmPattern(alarmNames: string[]): Record<string, any>;
