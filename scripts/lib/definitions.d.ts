export declare const ROOT: string;
export declare const FAILOVER_FUNCTIONS: Record<string, string>;
export declare function substitute<T = unknown>(template: unknown, values: Record<string, unknown>, where?: string): T;
export declare function renderFailoverDefinition(plan: unknown, functionRef: (functionKey: string) => unknown): Record<string, any>;
export declare function renderAlarmPattern(alarmNames: string[]): Record<string, any>;
