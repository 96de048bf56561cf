// Brings the aws-sdk-client-mock-jest matchers (toHaveReceivedCommandWith, ...) into every test's types;
// test/setup-after-env.js registers them at run time.
import 'aws-sdk-client-mock-jest';
