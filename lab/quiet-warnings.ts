/**
 * The AWS SDK warns (once per process) that its 2027 releases will need Node 22, the Lambda
 * runtime; the lab runs on this machine's Node 20. The SDK's own switch turns that one warning
 * off, keeping the terminal for the drill's progress. Imported first by the drill.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export {};
