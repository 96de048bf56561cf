declare module 'asl-validator' {
  interface Result {
    isValid: boolean;
    errors: Array<{ message?: string; [k: string]: unknown }>;
  }
  export default function aslValidator(definition: unknown, options?: Record<string, unknown>): Result;
}
