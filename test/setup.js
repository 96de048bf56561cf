// Powertools: quiet, deterministic logs and metrics in tests.
process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL || 'SILENT';
process.env.POWERTOOLS_DEV = 'false';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'FailoverOrchestrator';
process.env.POWERTOOLS_SERVICE_NAME = 'failover-orchestrator';
process.env.POWERTOOLS_TRACE_ENABLED = 'false';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_REGION = process.env.AWS_REGION || 'eu-west-1';
// The SDK's once-per-process notice that its 2027 releases need Node 22 (the Lambda runtime); tests run on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';
