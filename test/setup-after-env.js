require('aws-sdk-client-mock-jest');
